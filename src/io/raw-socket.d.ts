// The part of the `raw-socket` package (no bundled types) that vtepd uses.
declare module 'raw-socket' {
  import { EventEmitter } from 'node:events';

  export interface SocketOptions {
    protocol?: number;
    addressFamily?: number;
    bufferSize?: number;
  }

  export class Socket extends EventEmitter {
    send(buffer: Buffer, offset: number, length: number, address: string,
      afterCallback: (error: Error | null, bytes: number) => void): this;
    setOption(level: number, option: number, value: number): void;
    pauseRecv(): this;
    resumeRecv(): this;
    close(): this;
    on(event: 'message', listener: (buffer: Buffer, source: string) => void): this;
    on(event: 'error', listener: (error: Error) => void): this;
    on(event: 'close', listener: () => void): this;
  }

  export function createSocket(options: SocketOptions): Socket;
  const raw: { createSocket: typeof createSocket };
  export default raw;
}
