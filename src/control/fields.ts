// The fields requests are made of, checked where they enter (the daemon when
// it reads a request; vtepctl when it checks one itself) and turned into the
// values the switch works with: a MAC as a number, an address as 16 bytes.
// The verbs make their requests of this kit (`fields: (kit) => ...`), zod
// included, at the first check (requests.ts).
import { z } from 'zod';
import { parsePrefix } from '../route/prefix.ts';
import { isUnicastIp, parseIp } from '../wire/ip-address.ts';
import { isGroupMac, parseMac, type Mac } from '../wire/mac.ts';

export const networkName = z
  .string({ error: 'expected a network name' })
  .min(1, { error: 'expected a network name' })
  .describe("a network's name, as the config names it");

const MAC = 'expected a unicast MAC address such as 52:54:00:12:34:56';
/** A host's MAC: not a group address. */
export const unicastMac = z
  .string({ error: MAC })
  .transform((s, ctx): Mac => {
    const m = parseMac(s);
    if (m === undefined || isGroupMac(m)) {
      ctx.addIssue({ code: 'custom', message: MAC });
      return z.NEVER;
    }
    if (m === 0) {
      // No host sends from it: the data path drops such frames as bad-src-mac.
      ctx.addIssue({ code: 'custom', message: `${MAC}, not 00:00:00:00:00:00 (no host has it)` });
      return z.NEVER;
    }
    return m;
  })
  .describe('a unicast MAC address, such as 52:54:00:12:34:56 (not 00:00:00:00:00:00)');

/** Any MAC, group addresses too (a traced frame's destination). */
export const anyMac = z
  .string({ error: 'expected a MAC address' })
  .transform((s, ctx): Mac => {
    const m = parseMac(s);
    if (m === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected a MAC address' });
      return z.NEVER;
    }
    return m;
  })
  .describe('a MAC address, group addresses too');

const IP = 'expected a unicast IPv4 or IPv6 address';
/** A unicast IPv4 or IPv6 address, as 16 bytes (IPv4 mapped). */
export const unicastIp = z
  .string({ error: IP })
  .transform((s, ctx): Uint8Array => {
    const b = parseIp(s);
    if (b === undefined || !isUnicastIp(b)) {
      ctx.addIssue({ code: 'custom', message: IP });
      return z.NEVER;
    }
    return b;
  })
  .describe('a unicast IPv4 or IPv6 address');

export const positiveInt = z
  .number({ error: 'expected a positive integer' })
  .int({ error: 'expected a positive integer' })
  .positive({ error: 'expected a positive integer' })
  .describe('a positive integer');

export const vrfName = z
  .string({ error: 'expected a VRF name' })
  .min(1, { error: 'expected a VRF name' })
  .describe('a VRF name; may be left out when there is one VRF');

const PREFIX = 'expected a prefix such as 192.168.30.0/24 or fd00:30::/64';
/** An IPv4 or IPv6 prefix, parsed. */
export const prefix = z
  .string({ error: PREFIX })
  .transform((s, ctx) => {
    const p = parsePrefix(s);
    if (p === undefined) {
      ctx.addIssue({ code: 'custom', message: PREFIX });
      return z.NEVER;
    }
    return p;
  })
  .describe('an IPv4 or IPv6 prefix, such as 192.168.30.0/24 or fd00:30::/64');

export { z };
