// The fields requests are made of, checked where they enter (the daemon when
// it reads a request; vtepctl when it checks one itself) and turned into the
// values the switch works with: a MAC as a number, an address as 16 bytes.
// The verbs make their requests of this kit (`fields: (kit) => ...`), zod
// included, at the first check (requests.ts).
import { z } from 'zod';
import { parsePrefix } from '../route/prefix.ts';
import { isUnicastIp, parseIp } from '../wire/ip-address.ts';
import { isGroupMac, parseMac, type Mac } from '../wire/mac.ts';

/** A name that must not be empty: `expected` is the error, `meaning` what the reference says of it. */
function nameField(expected: string, meaning: string) {
  return z.string({ error: expected }).min(1, { error: expected }).describe(meaning);
}

/** Text read by `parse` into the value the switch works with; `expected` is the error when it cannot be. */
function parsedField<T>(expected: string, parse: (s: string) => T | undefined, meaning: string) {
  return z
    .string({ error: expected })
    .transform((s, ctx): T => {
      const v = parse(s);
      if (v === undefined) {
        ctx.addIssue({ code: 'custom', message: expected });
        return z.NEVER;
      }
      return v;
    })
    .describe(meaning);
}

export const networkName = nameField('expected a network name', "a network's name, as the config names it");

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
export const anyMac = parsedField('expected a MAC address', parseMac, 'a MAC address, group addresses too');

/** A unicast IPv4 or IPv6 address, as 16 bytes (IPv4 mapped). */
export const unicastIp = parsedField(
  'expected a unicast IPv4 or IPv6 address',
  (s): Uint8Array | undefined => {
    const b = parseIp(s);
    return b !== undefined && isUnicastIp(b) ? b : undefined;
  },
  'a unicast IPv4 or IPv6 address',
);

export const positiveInt = z
  .number({ error: 'expected a positive integer' })
  .int({ error: 'expected a positive integer' })
  .positive({ error: 'expected a positive integer' })
  .describe('a positive integer');

export const vrfName = nameField('expected a VRF name', 'a VRF name; may be left out when there is one VRF');

/** An IPv4 or IPv6 prefix, parsed. */
export const prefix = parsedField(
  'expected a prefix such as 192.168.30.0/24 or fd00:30::/64',
  parsePrefix,
  'an IPv4 or IPv6 prefix, such as 192.168.30.0/24 or fd00:30::/64',
);

export { z };
