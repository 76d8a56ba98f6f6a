// GoBGP's gRPC API as vtepd's client speaks it: the service and its messages
// read with protobufjs from the .proto files of the Debian package
// golang-github-osrg-gobgp-dev (they match the gobgpd beside them), and
// made into a grpc-js client.
//
// Requests and replies are plain objects, converted the way
// @grpc/proto-loader converts them: field names as in the .proto, enums by
// name, 64-bit integers as Numbers, every field present, oneofs named, and
// typed Anys as { '@type': url, ...fields }. Two replies are decoded lean,
// for they are the ones that come by the hundred: the route watch's table
// events and ListPath's destinations. Their paths unpack only what a route
// is read from (its NLRI, next hop, PMSI tunnel and extended communities);
// every other attribute stays as { '@type': url }. In a MAC move of a
// 100-VTEP fabric, protobufjs's conversion of every field of every attribute
// was a fifth of each bystander vtepd's work.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { Any, ApiPath } from './gobgp.ts';

const SERVICE = 'apipb.GobgpApi';
const FILES = ['gobgp.proto', 'attribute.proto', 'capability.proto'];
const CONVERSION: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  json: true,
};
/** The attributes a route is read from: unpacked with their fields (routes.ts reads them). */
const READ = new Set([
  'NextHopAttribute',
  'MpReachNLRIAttribute',
  'PmsiTunnelAttribute',
  'ExtendedCommunitiesAttribute',
]);
/** Attributes whose Anys are not unpacked: an UPDATE's NLRIs, which are the path's own nlri already. */
const NLRI_CARRIERS = new Set(['MpReachNLRIAttribute', 'MpUnreachNLRIAttribute']);

/** A path as protobufjs decodes it (fields not on the wire are its prototype's defaults). */
interface DecodedPath {
  nlri: DecodedAny | null;
  pattrs: DecodedAny[];
  family: { afi: number; safi: number } | null;
  is_withdraw: boolean;
  best: boolean;
  neighbor_ip: string;
}

interface DecodedAny {
  type_url: string;
  value: Uint8Array;
}

/** A route watch reply: a table event's paths (lean), or a peer event (whole). */
export interface WatchEvent {
  table?: { paths: ApiPath[] };
  peer?: { type: string; peer?: unknown };
}

export interface GobgpApi {
  /** The client class: one method per RPC, by the .proto's name (AddPath, ListPath, WatchEvent, ...). */
  Client: grpc.ServiceClientConstructor;
  /** WatchEvent's reply decoder, as the client uses it. */
  decodeWatchEvent(bytes: Buffer): WatchEvent;
  /** ListPath's reply decoder, as the client uses it. */
  decodeListPath(bytes: Buffer): ListPathReply;
}

/** A ListPath reply: one destination, its paths lean. */
export interface ListPathReply {
  destination?: { prefix: string; paths: (ApiPath & { best: boolean })[] };
}

/** Reads the API from `dir` (the .proto files) and makes its client. */
export function loadGobgpApi(dir: string): GobgpApi {
  const root = new protobuf.Root();
  // Imports name files of the same directory; google/protobuf/*.proto are protobufjs's own.
  root.resolvePath = (_origin, target) =>
    target.startsWith('/') || target.startsWith('google/') ? target : `${dir}/${target}`;
  root.loadSync(
    FILES.map((f) => `${dir}/${f}`),
    { keepCase: true },
  );
  root.resolveAll();
  const lean = new LeanDecoder(root);
  const service = root.lookupService(SERVICE);
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const m of service.methodsArray) {
    const request = m.resolvedRequestType!;
    const response = m.resolvedResponseType!;
    const decode =
      m.name === 'WatchEvent'
        ? (b: Buffer) => lean.watchEvent(b)
        : m.name === 'ListPath'
          ? (b: Buffer) => lean.listPath(b)
          : (b: Buffer) => response.toObject(response.decode(b), CONVERSION);
    definition[m.name] = {
      path: `/${SERVICE}/${m.name}`,
      requestStream: m.requestStream === true,
      responseStream: m.responseStream === true,
      requestSerialize: (o: object) => encode(request, o),
      requestDeserialize: (b: Buffer) => request.toObject(request.decode(b), CONVERSION),
      responseSerialize: (o: object) => encode(response, o),
      responseDeserialize: decode,
    };
  }
  return {
    Client: grpc.makeGenericClientConstructor(definition, 'GobgpApi'),
    decodeWatchEvent: (b) => lean.watchEvent(b),
    decodeListPath: (b) => lean.listPath(b),
  };
}

function encode(type: protobuf.Type, o: object): Buffer {
  const bytes = type.encode(type.fromObject(o)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

class LeanDecoder {
  private readonly watch: protobuf.Type;
  private readonly listPathReply: protobuf.Type;
  private readonly afi: protobuf.Enum;
  private readonly safi: protobuf.Enum;
  /** Message types by Any type URL, looked up once each. */
  private readonly types = new Map<string, protobuf.Type>();

  constructor(private readonly root: protobuf.Root) {
    this.watch = root.lookupType('apipb.WatchEventResponse');
    this.listPathReply = root.lookupType('apipb.ListPathResponse');
    this.afi = root.lookupEnum('apipb.Family.Afi');
    this.safi = root.lookupEnum('apipb.Family.Safi');
  }

  watchEvent(bytes: Buffer): WatchEvent {
    const m = this.watch.decode(bytes) as unknown as { table?: { paths: DecodedPath[] } };
    if (m.table === undefined || m.table === null) return this.watch.toObject(m as protobuf.Message, CONVERSION);
    return { table: { paths: m.table.paths.map((p) => this.path(p)) } };
  }

  listPath(bytes: Buffer): ListPathReply {
    const m = this.listPathReply.decode(bytes) as unknown as { destination?: { prefix: string; paths: DecodedPath[] } };
    const d = m.destination;
    if (d === undefined || d === null) return {};
    return { destination: { prefix: d.prefix, paths: d.paths.map((p) => this.path(p)) } };
  }

  private path(p: DecodedPath): ApiPath & { best: boolean } {
    const family = p.family ?? { afi: 0, safi: 0 };
    return {
      family: {
        afi: this.afi.valuesById[family.afi] ?? String(family.afi),
        safi: this.safi.valuesById[family.safi] ?? String(family.safi),
      },
      nlri: p.nlri === null ? { '@type': '' } : this.unpack(p.nlri, true),
      pattrs: p.pattrs.map((a) => {
        const name = anyTypeName(a.type_url);
        return READ.has(name) ? this.unpack(a, !NLRI_CARRIERS.has(name)) : { '@type': a.type_url };
      }),
      is_withdraw: p.is_withdraw,
      best: p.best,
      neighbor_ip: p.neighbor_ip,
    };
  }

  /** An Any's message with its '@type'; the Anys within it unpacked too (`nested`), or left as their '@type'. */
  private unpack(any: DecodedAny, nested: boolean): Any {
    const type = this.typeOf(any.type_url);
    if (type === undefined) return { '@type': any.type_url };
    const m = type.decode(any.value) as unknown as Record<string, unknown>;
    for (const f of type.fieldsArray) {
      if (f.resolvedType?.fullName !== '.google.protobuf.Any') continue;
      const v = m[f.name] as DecodedAny | DecodedAny[] | null | undefined;
      if (v === null || v === undefined) continue;
      const open = (a: DecodedAny): Any => (nested ? this.unpack(a, true) : { '@type': a.type_url });
      m[f.name] = Array.isArray(v) ? v.map(open) : open(v);
    }
    m['@type'] = any.type_url;
    return m as Any;
  }

  private typeOf(url: string): protobuf.Type | undefined {
    let t = this.types.get(url);
    if (t === undefined) {
      try {
        t = this.root.lookupType(url.slice(url.lastIndexOf('/') + 1));
      } catch {
        return undefined; // a type this API does not know: left as its '@type'
      }
      this.types.set(url, t);
    }
    return t;
  }
}

/** The message an Any's type URL names: type.googleapis.com/apipb.NextHopAttribute is NextHopAttribute. */
export function anyTypeName(url: string): string {
  return url.slice(url.lastIndexOf('.') + 1);
}
