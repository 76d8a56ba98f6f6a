// Sends one small UDP datagram to every address of an IPv4 /16, as a scanner
// does: node udp-scan.mjs A.B PORT. Run inside a lab namespace (a tenant).
import { createSocket } from 'node:dgram';

const [net, port] = process.argv.slice(2);
const s = createSocket('udp4');
const payload = Buffer.from('scan');
let sent = 0;
for (let hi = 0; hi < 256; hi++) {
  await Promise.all(
    Array.from({ length: 256 }, (_, lo) => {
      if ((hi === 0 && lo === 0) || (hi === 255 && lo === 255)) return undefined;
      return new Promise((res) =>
        s.send(payload, Number(port), `${net}.${hi}.${lo}`, (err) => {
          if (!err) sent++;
          res(undefined);
        }),
      );
    }),
  );
}
s.close();
console.log(sent);
