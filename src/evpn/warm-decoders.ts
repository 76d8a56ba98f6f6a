// protobufjs writes each message type's decoder the first time it meets the type (code generation,
// then V8 compiles it: about a millisecond a type). GoBGP's EVPN paths carry their route and
// attributes as typed `Any`s, so a type first seen in a running fabric costs that at the moment it
// matters, in every VTEP at once: the first MAC move after a start brings the first MAC Mobility
// community, and in a profile of a bystander VTEP during a move that was about a sixth of its work.
// warmDecoders() has them written beforehand, while vtepd is idle (some 20 ms in a fresh process,
// less once the first snapshot has met the common types).
//
// The sample is written here as protobuf wire bytes, not with protobufjs's encoder: encoding it would
// generate every type's encoder and converter from objects as well (27 ms more).

/** What an EVPN path of GoBGP may carry: its NLRI (route types 1 to 5) and its attributes. */
const ROUTES = [
  'EVPNEthernetAutoDiscoveryRoute',
  'EVPNMACIPAdvertisementRoute',
  'EVPNInclusiveMulticastEthernetTagRoute',
  'EVPNEthernetSegmentRoute',
  'EVPNIPPrefixRoute',
];
const ATTRIBUTES = [
  'OriginAttribute',
  'AsPathAttribute',
  'NextHopAttribute',
  'MultiExitDiscAttribute',
  'LocalPrefAttribute',
  'AtomicAggregateAttribute',
  'AggregatorAttribute',
  'CommunitiesAttribute',
  'OriginatorIdAttribute',
  'ClusterListAttribute',
  'PmsiTunnelAttribute',
  'LargeCommunitiesAttribute',
  'UnknownAttribute',
];
const EXTENDED_COMMUNITIES = [
  'TwoOctetAsSpecificExtended',
  'IPv4AddressSpecificExtended',
  'FourOctetAsSpecificExtended',
  'OpaqueExtended',
  'EncapExtended',
  'DefaultGatewayExtended',
  'ESILabelExtended',
  'MacMobilityExtended',
  'RouterMacExtended',
  'UnknownExtended',
];

/** Field `n`, length-delimited (wire type 2), holding `bytes`. */
function field(n: number, bytes: Buffer): Buffer {
  const len: number[] = [];
  let v = bytes.length;
  do {
    len.push((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    v >>>= 7;
  } while (v > 0);
  return Buffer.concat([Buffer.from([(n << 3) | 2, ...len]), bytes]);
}

/** google.protobuf.Any of apipb.`type`: its type_url (field 1) and `value` (field 2). */
function any(type: string, value: Buffer = Buffer.alloc(0)): Buffer {
  const url = field(1, Buffer.from(`type.googleapis.com/apipb.${type}`));
  return value.length === 0 ? url : Buffer.concat([url, field(2, value)]);
}

/**
 * A WatchEventResponse (table, field 3) whose TableEvent has one path (field 2) per route type, each
 * with every attribute (Path: nlri 1, pattrs 2), its MP_REACH and MP_UNREACH holding the route (nlris,
 * field 3), and an extended communities attribute holding one community of each type (field 1).
 */
export function watchEventSample(): Buffer {
  const communities = any(
    'ExtendedCommunitiesAttribute',
    Buffer.concat(EXTENDED_COMMUNITIES.map((c) => field(1, any(c)))),
  );
  const paths = ROUTES.map((route) => {
    const attrs = [
      ...ATTRIBUTES.map((a) => any(a)),
      any('MpReachNLRIAttribute', field(3, any(route))),
      any('MpUnreachNLRIAttribute', field(3, any(route))),
      communities,
    ];
    return field(2, Buffer.concat([field(1, any(route)), ...attrs.map((a) => field(2, a))]));
  });
  return field(3, Buffer.concat(paths));
}

let warmed = false;

/** Decodes the sample once per process with the watch's own decoder (`deserialize`): its types are ready after. */
export function warmDecoders(deserialize: (bytes: Buffer) => unknown): void {
  if (warmed) return;
  warmed = true;
  deserialize(watchEventSample());
}
