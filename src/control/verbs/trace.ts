// What vtepd would do with a frame, step by step: `vtepctl trace`.
import type { z } from 'zod';
import type * as FieldKit from '../fields.ts';
import { parseMac, isGroupMac } from '../../wire/mac.ts';
import { isUnicastIp, parseIp } from '../../wire/ip-address.ts';
import { theNetwork, remoteAddress } from '../daemon-view.ts';
import type { TraceReport } from '../protocol.ts';
import { defineVerb, UsageError, type Flags } from '../verb.ts';
import { expectArgs, flagNumber, json, needNetwork } from './cli.ts';

// The frame is described as typed: the report repeats it, so these fields stay text, checked.
const IP = 'expected a unicast IPv4 or IPv6 address';
const MAC = 'expected a unicast MAC address such as 52:54:00:12:34:56';
const VLAN = 'expected a VLAN id from 1 to 4094';

function traceFields({ networkName, z }: typeof FieldKit) {
  const ipText = z.string({ error: IP }).refine(
    (s) => {
      const b = parseIp(s);
      return b !== undefined && isUnicastIp(b);
    },
    { error: IP },
  );
  const hostMac = z.string({ error: MAC }).refine(
    (s) => {
      const m = parseMac(s);
      return m !== undefined && !isGroupMac(m);
    },
    { error: MAC },
  );
  const ipPair = z.tuple([ipText, ipText], { error: 'expected two addresses: source and destination' });
  return {
    network: networkName,
    /** "tap", or the address of the remote VTEP the frame comes from. */
    in: z
      .union([z.literal('tap'), ipText], { error: 'expected tap or the address of a remote VTEP' })
      .describe('where the frame comes from: tap, or the address of a remote VTEP'),
    src: hostMac.describe("the frame's source MAC"),
    dst: z
      .string({ error: 'expected a MAC address' })
      .refine((s) => parseMac(s) !== undefined, { error: 'expected a MAC address' })
      .describe("the frame's destination MAC (a gateway MAC: a routed frame)"),
    vlan: z
      .number({ error: VLAN })
      .int()
      .min(1, { error: VLAN })
      .max(4094, { error: VLAN })
      .optional()
      .describe('an 802.1Q tag'),
    'arp-request': ipText.optional().describe('the frame is an ARP request (NS for IPv6) for this address'),
    ipv4: ipPair.optional().describe('the frame is an ICMP echo request from the first address to the second'),
    ipv6: ipPair.optional().describe('the same, ICMPv6'),
  };
}

export type TraceRequest = z.output<z.ZodObject<ReturnType<typeof traceFields>>>;

export const trace = defineVerb({
  cmd: 'trace',
  example: {
    network: 'blue',
    in: 'tap',
    src: '02:aa:00:00:00:01',
    dst: '02:00:00:00:00:77',
    ipv4: ['192.168.100.1', '192.168.100.77'],
  },
  words: ['trace'],
  usage:
    '--network NAME --in tap|IP --src MAC --dst MAC [--vlan N] [--arp-request IP | --ipv4 SRC,DST | --ipv6 ' +
    'SRC,DST] [--json]',
  summary: 'what vtepd would do with such a frame, step by step',
  access: 'read',
  fields: traceFields,
  check: (t) =>
    [t['arp-request'], t.ipv4, t.ipv6].filter((x) => x !== undefined).length > 1
      ? 'give at most one of arp-request, ipv4 and ipv6'
      : undefined,
  reply: '`{ network, in, frame, steps, result, drop?, wire }`',
  handle(d, req) {
    const run = theNetwork(d, req.network);
    if (req.in !== 'tap') remoteAddress(d, parseIp(req.in)!);
    return { ok: true, data: d.trace(run, req) };
  },
  fromCli(cli) {
    expectArgs(cli, 0, 'trace --network NAME --in tap|IP --src MAC --dst MAC ...');
    const v = cli.flags;
    const pair = (s: string | undefined) => s?.split(',');
    return {
      network: needNetwork(v, 'trace'),
      in: v.in ?? missing('--in tap|IP'),
      src: v.src ?? missing('--src MAC'),
      dst: v.dst ?? missing('--dst MAC'),
      vlan: flagNumber(v.vlan),
      'arp-request': v['arp-request'],
      ipv4: pair(v.ipv4),
      ipv6: pair(v.ipv6),
    };
  },
  print: (report: TraceReport, flags: Flags) => (flags.json ? json(report) : formatTrace(report)),
});

function missing(flag: string): never {
  throw new UsageError(`trace needs ${flag}`);
}

/** One line per step, as `vtepctl trace` prints it without --json. */
export function formatTrace(r: TraceReport): string {
  const lines = [`trace network ${r.network}: ${r.frame}`];
  r.steps.forEach((s, i) => lines.push(`  ${i + 1}. ${s}`));
  for (const w of r.wire) lines.push(`     on the wire: ${w}`);
  lines.push(`  result: ${r.result}${r.drop ? ` (${r.drop})` : ''}`);
  return lines.join('\n');
}
