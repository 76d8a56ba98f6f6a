// The TypeScript face of src/native/vtep.cc (built by `npm install`).
import { createRequire } from 'node:module';

export interface Watcher {
  start(): void;
  stop(): void;
  close(): void;
}

export interface NativeAddon {
  tapOpen(name: string, offload: boolean): { fd: number; name: string };
  udpOpen(addr: number, port: number, rcvbuf: number): number;
  rawOpen(protocol: number, addr: number, ttl: number, df: boolean, receive: boolean, sndbuf: number): number;
  mcastOpen(group: number, port: number, ifindex: number, rcvbuf: number): number;
  udpSenderOpen(addr: number, port: number, ttl: number, df: boolean, sndbuf: number): number;
  sendLanes(fds: Int32Array, arena: Buffer, off: Uint32Array, len: Uint32Array, addr: Uint32Array, port: Uint16Array,
    lane: Uint8Array, tos: Uint8Array, n: number): number;
  setMulticast(fd: number, ifindex: number, ttl: number, loop: boolean): void;
  close(fd: number): number;
  ethtoolInfo(ifname: string): { driver: string | null; txChecksum: boolean | null };
  readFrames(fd: number, arena: Buffer, slotSize: number, headroom: number, max: number, len: Uint32Array): number;
  writeFrames(fd: number, arena: Buffer, off: Uint32Array, len: Uint32Array, n: number, vnetHdrLen: number, coalesce: boolean,
    partial?: Uint32Array): number;
  tapFrames(input: Buffer, inSlot: number, inHeadroom: number, n: number, inLen: Uint32Array,
    out: Buffer, outSlot: number, outHeadroom: number, outMax: number, outLen: Uint32Array, stats: Uint32Array): number;
  vnetHdrLen: number;
  spinPoll(fds: Int32Array, usec: number): number;
  recvDatagrams(fd: number, arena: Buffer, slotSize: number, headroom: number, max: number,
    len: Uint32Array, addr: Uint32Array, port: Uint16Array, gro: boolean, ttl: Uint8Array, tos: Uint8Array): number;
  udpGroEnable(fd: number): boolean;
  sendDatagrams(fd: number, arena: Buffer, off: Uint32Array, len: Uint32Array, addr: Uint32Array,
    port: Uint16Array, tos: Uint8Array, n: number): number;
  Watcher: new (fd: number, onReadable: () => void) => Watcher;
  maxBatch: number;
}

function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  try {
    return require('../../build/Release/vtep_native.node') as NativeAddon;
  } catch (e) {
    throw new Error(`the native addon is not built (${(e as Error).message.split('\n')[0]}): run \`npm ci\` or \`npm run build:native\``);
  }
}

export const native: NativeAddon = load();

/** An Error from the addon carries the errno name in `code`. */
export function errnoCode(e: unknown): string | undefined {
  return (e as { code?: string } | null)?.code;
}
