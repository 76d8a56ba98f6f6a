// Every control verb, in the order vtepctl's help lists them. Dispatch, the
// privilege check, the requests' schemas (requests.ts), vtepctl's usage and
// unknown-command message, and the reference in docs/ all read this list: a
// new verb is one file of src/control/verbs/ and one line here.
import type { Verb } from './verb.ts';
import { fdbAdd, fdbDel, fdbFlush, fdbReplace, fdbShow } from './verbs/fdb.ts';
import { remoteAdd, remoteDel, remoteShow } from './verbs/remote.ts';
import { neighAdd, neighDel, neighShow } from './verbs/neigh.ts';
import { stats } from './verbs/stats.ts';
import { capture, monitor } from './verbs/streams.ts';
import { reload, upgrade } from './verbs/daemon.ts';
import { trace } from './verbs/trace.ts';
import { evpnRoutes, evpnShow } from './verbs/evpn.ts';
import { dvrMacAdd, dvrMacDel, dvrMacShow, routeAdd, routeDel, routeShow } from './verbs/route.ts';

export const VERBS: readonly Verb[] = [
  fdbShow,
  fdbAdd,
  fdbReplace,
  fdbDel,
  fdbFlush,
  remoteAdd,
  remoteDel,
  remoteShow,
  neighAdd,
  neighDel,
  neighShow,
  routeShow,
  routeAdd,
  routeDel,
  dvrMacShow,
  dvrMacAdd,
  dvrMacDel,
  stats,
  capture,
  monitor,
  reload,
  upgrade,
  trace,
  evpnShow,
  evpnRoutes,
];

/** Every request's `cmd`, as the protocol's unknown-command message lists them. */
export const COMMANDS: readonly string[] = VERBS.map((v) => v.cmd);

const byName = new Map<string, Verb>(VERBS.flatMap((v) => v.names.map((n) => [n, v] as const)));

/** The verb a request names, if any. */
export function verbNamed(cmd: unknown): Verb | undefined {
  return typeof cmd === 'string' ? byName.get(cmd) : undefined;
}

/** The verb vtepctl's words name, and the words after them; undefined when none does. */
export function verbOfWords(words: readonly string[]): { verb: Verb; rest: string[] } | undefined {
  for (const v of VERBS) {
    const n = v.words.length;
    if (words.length >= n && v.words.every((w, i) => words[i] === w)) return { verb: v, rest: words.slice(n) };
    if (v.optionalLast && words.length === n - 1 && v.words.slice(0, -1).every((w, i) => words[i] === w))
      return { verb: v, rest: [] };
  }
  return undefined;
}

/** vtepctl's commands in one line: "fdb show|add|..., remote add|del|show, stats, ...". */
export function commandList(): string {
  const groups = new Map<string, string[]>();
  for (const v of VERBS) {
    const [noun, ...rest] = v.words;
    const list = groups.get(noun) ?? [];
    if (rest.length > 0) list.push(rest.join(' '));
    groups.set(noun, list);
  }
  return [...groups].map(([noun, subs]) => (subs.length === 0 ? noun : `${noun} ${subs.join('|')}`)).join(', ');
}

/** vtepctl's usage: a line a command, its summary beside it. */
export function usage(): string {
  const lines = [
    'usage: vtepctl [--socket PATH] COMMAND     (PATH: /run/vtepd.sock, else /run/vtepd/vtepd.sock)',
    '       vtepctl [--socket PATH] [--json] -batch FILE [-force]   (one command a line; - for standard input)',
    '       vtepctl --version',
    '',
  ];
  for (const v of VERBS) {
    const form = `  ${[...v.words, v.usage].filter(Boolean).join(' ')}`;
    lines.push(form.length <= 44 ? `${form.padEnd(45)}${v.summary}` : `${form}\n${' '.repeat(45)}${v.summary}`);
  }
  return lines.join('\n');
}
