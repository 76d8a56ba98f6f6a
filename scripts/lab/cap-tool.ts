// libpcap through the `cap` package, run inside a lab namespace:
//
//   cap-tool.ts capture IFACE FILTER OUT.pcap   capture until SIGTERM/SIGINT, then write OUT.pcap
//   cap-tool.ts inject IFACE IN.pcap            send every frame of IN.pcap out of IFACE, in order
//
// "capture" prints "ready" once libpcap is listening. Injecting into a TAP's
// kernel side is how a test hands frames to the daemon as if a VM sent them.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { emitPcapHeader, emitPcapRecord, LINKTYPE_ETHERNET, parsePcap } from '../../src/wire/pcap.ts';

interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  on(event: 'packet', cb: (nbytes: number, truncated: boolean) => void): void;
  send(buffer: Buffer, size: number): void;
  close(): void;
}
const { Cap } = createRequire(import.meta.url)('cap') as { Cap: new () => CapHandle };

const [mode, iface, a, b] = process.argv.slice(2);
const buffer = Buffer.alloc(65536);
const c = new Cap();

if (mode === 'capture') {
  const records: Buffer[] = [emitPcapHeader(LINKTYPE_ETHERNET)];
  c.open(iface, a, 16 * 1024 * 1024, buffer);
  c.on('packet', (nbytes) => records.push(emitPcapRecord(Date.now(), buffer, 0, nbytes)));
  const finish = () => {
    c.close();
    writeFileSync(b, Buffer.concat(records));
    process.exit(0);
  };
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);
  process.stdout.write('ready\n');
} else if (mode === 'inject') {
  const file = parsePcap(readFileSync(a));
  if (typeof file === 'number') throw new Error(`${a} is not a pcap file`);
  c.open(iface, '', 1024 * 1024, buffer);
  for (const r of file.records) {
    r.data.copy(buffer);
    c.send(buffer, r.data.length);
    await new Promise((res) => setTimeout(res, 5)); // one frame per read, in order
  }
  c.close();
} else {
  process.stderr.write('usage: cap-tool.ts capture IFACE FILTER OUT.pcap | inject IFACE IN.pcap\n');
  process.exit(2);
}
