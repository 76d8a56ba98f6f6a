// The daemon itself: `vtepctl reload`, `vtepctl upgrade`.
import { UPGRADE_START_MS, UPGRADE_TAKEOVER_MS, type ReloadReport, type UpgradeReport } from '../protocol.ts';
import { defineVerb, RefusedError } from '../verb.ts';
import { expectArgs, json } from './cli.ts';

export const reload = defineVerb({
  cmd: 'reload',
  example: {},
  words: ['reload'],
  usage: '',
  summary: 're-read the config file and apply the difference',
  access: 'change',
  fields: () => ({}),
  reply: '`{ changes: [ "one line per change" ] }`',
  handle: (d) => ({ ok: true, data: { changes: d.reload() } }),
  fromCli: (cli) => (expectArgs(cli, 0, 'reload'), {}),
  print: (r: ReloadReport, flags) =>
    flags.json ? json(r) : r.changes.length === 0 ? 'no changes' : r.changes.join('\n'),
});

export const upgrade = defineVerb({
  cmd: 'upgrade',
  example: {},
  words: ['upgrade'],
  usage: '[--json]',
  summary: 'hand over to the vtepd on disk: TAPs, sockets and tables, no packet lost',
  access: 'change',
  fields: () => ({}),
  reply: '`{ pid, previous }` once the new vtepd forwards (this daemon then exits)',
  // The daemon gives its successor 30 s to start and 30 s to take over before it answers.
  replyTimeoutMs: UPGRADE_START_MS + UPGRADE_TAKEOVER_MS + 5000,
  handle: (d) =>
    d.upgrade().then(
      (data) => ({ ok: true as const, data }),
      (e: Error) => ({ ok: false as const, error: e.message, ...(e instanceof RefusedError && { invalid: true }) }),
    ),
  fromCli: (cli) => (expectArgs(cli, 0, 'upgrade [--json]'), {}),
  print: (r: UpgradeReport, flags) => (flags.json ? json(r) : `vtepd ${r.pid} took over from vtepd ${r.previous}`),
});
