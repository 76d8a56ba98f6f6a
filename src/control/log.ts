// Log lines on stderr, the way a foreground daemon under systemd or a
// terminal is read: "vtepd: warning: ...". Debug lines only with --verbose.
export type Level = 'debug' | 'info' | 'warning' | 'error';

export class Logger {
  constructor(private readonly verbose = false, private readonly write: (line: string) => void = (l) => process.stderr.write(l + '\n')) {}

  debug(msg: string): void {
    if (this.verbose) this.write(`vtepd: debug: ${msg}`);
  }
  info(msg: string): void {
    this.write(`vtepd: ${msg}`);
  }
  warn(msg: string): void {
    this.write(`vtepd: warning: ${msg}`);
  }
  error(msg: string): void {
    this.write(`vtepd: error: ${msg}`);
  }
}
