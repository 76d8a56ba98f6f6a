// What `--version` prints and the metrics' build info: the package's version,
// read from package.json once, so that there is one place to bump it.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const VERSION: string = pkg.version;

/** `vtepd 0.1.0 (node v20.20.2, linux x64)`: the line both commands print. */
export function versionLine(command: 'vtepd' | 'vtepctl'): string {
  return `${command} ${VERSION} (node ${process.version}, ${process.platform} ${process.arch})`;
}
