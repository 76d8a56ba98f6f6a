// A TCP transfer whose bytes can be checked end to end, for the lab:
//   node tcp-blast.mjs serve ADDR PORT        prints the SHA-256 of what it received, then exits
//   node tcp-blast.mjs send ADDR PORT BYTES   sends BYTES of a fixed pseudo-random stream, prints its SHA-256
import { createHash } from 'node:crypto';
import { connect, createServer } from 'node:net';

const [mode, addr, port, bytes] = process.argv.slice(2);
if (mode === 'serve') {
  const server = createServer((c) => {
    const h = createHash('sha256');
    let n = 0;
    c.on('data', (d) => {
      h.update(d);
      n += d.length;
    });
    c.on('end', () => {
      console.log(`${n} ${h.digest('hex')}`);
      c.end();
      server.close();
    });
  }).listen(Number(port), addr, () => console.log('listening'));
} else {
  const total = Number(bytes);
  const chunk = Buffer.alloc(65536);
  let x = 12345;
  const h = createHash('sha256');
  const c = connect(Number(port), addr, () => {
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        for (let i = 0; i < chunk.length; i += 4) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          chunk.writeUInt32BE(x, i);
        }
        const part = chunk.subarray(0, Math.min(chunk.length, total - sent));
        h.update(part);
        sent += part.length;
        if (!c.write(part)) return c.once('drain', pump);
      }
      c.end();
    };
    pump();
  });
  c.on('close', () => console.log(`${total} ${h.digest('hex')}`));
  c.on('error', (e) => {
    console.error(e.message);
    process.exit(1);
  });
}
