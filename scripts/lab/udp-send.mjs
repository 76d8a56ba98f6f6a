// Sends one UDP datagram: node udp-send.mjs FROM_IP TO_IP PORT HEX_PAYLOAD.
// Run inside a lab namespace to play a misbehaving VTEP.
import { createSocket } from 'node:dgram';

const [from, to, port, hex] = process.argv.slice(2);
const s = createSocket('udp4');
s.bind(0, from, () => {
  s.send(Buffer.from(hex, 'hex'), Number(port), to, (err) => {
    s.close();
    if (err) {
      console.error(err.message);
      process.exitCode = 1;
    }
  });
});
