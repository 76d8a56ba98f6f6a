// `npm run build`: src/ to what the commands run (dist/), as one bundle per command.
//
// Why a bundle and not tsc's file-for-file output: Node's ES module loader
// costs about a millisecond per module, and vtepctl reached about 160 of them
// (our own and zod's) before it did anything; one file each is parsed in one
// go. What is shared between vtepd and vtepctl, and what vtepd loads only when
// the config asks (the EVPN speaker, metrics, the status page), are chunks
// beside them that `import()` reaches (code splitting).
//
//   dist/cli/vtepd.js, dist/cli/vtepctl.js   the entry points (bin/launch.js imports them)
//   dist/cli/chunk-*.js, <module>-*.js       shared and lazily loaded code
//   dist/cli/status-page/                    the status page's files, read beside its chunk
//   dist/.stamp                              what the sources were (bin/launch.js)
//
// Outside the bundle stay the packages that read their own files or start
// threads at run time (gRPC and its .proto loader, pino) and prom-client
// (loaded with `metrics` only); the native addon is required from build/ at
// run time. Type checking is `npm run typecheck` (tsc), not this step.
import { build, type Plugin } from 'esbuild';
import { cpSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: plain JavaScript (the launchers run it before anything is compiled)
import { stamp } from '../bin/launch.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'dist', 'cli');

/**
 * zod's messages in English only: its index of 40-odd locales is 400 KB that
 * every start would parse, and vtepd and vtepctl speak English (zod's default).
 */
const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: "export { default as en } from './en.js';",
      resolveDir: dirname(args.path),
    }));
  },
};

rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
await build({
  entryPoints: [join(ROOT, 'src/cli/vtepd.ts'), join(ROOT, 'src/cli/vtepctl.ts')],
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Whitespace and syntax only: a stack trace still names our functions without its source map.
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  sourcemap: true,
  external: ['@grpc/grpc-js', '@grpc/proto-loader', 'pino', 'prom-client'],
  plugins: [zodEnglishOnly],
  // yaml is CommonJS under Node: what it requires of Node's own modules needs a `require` in ESM.
  banner: {
    js: "import { createRequire as __vtepdRequire } from 'node:module'; const require = __vtepdRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
cpSync(join(ROOT, 'src/control/status-page'), join(OUT, 'status-page'), { recursive: true });
stamp(ROOT);
