// `npm run build`: src/ to what the commands run (dist/), as one bundle per command.
//
// Why a bundle and not tsc's file-for-file output: Node's ES module loader
// costs about a millisecond per module, and vtepctl reached about 160 of them
// (our own and zod's) before it did anything; one file each is parsed in one
// go. What vtepd loads only when the config asks (the EVPN speaker, metrics,
// the status page) and what vtepctl loads only for a command (the verbs and
// their schemas) stay in the bundle, evaluated at their first `import()`.
//
// Why CommonJS: Node 20 keeps no compiled code between runs of an ES module,
// and compiling the bundles (zod and yaml are most of them) was a fifth of a
// start. A CommonJS bundle can be compiled from V8's code cache: the build
// runs each bundle once and saves the cache beside it (bin/launch.js).
//
//   dist/cli/vtepd.cjs, dist/cli/vtepctl.cjs   the bundles (bin/launch.js loads them)
//   dist/cli/*.cjs.cache                       their code caches, made by this build
//   dist/cli/status-page/                      the status page's files, read beside the bundle
//   dist/.stamp                                what the sources were (bin/launch.js)
//
// Outside the bundle stay the packages that read their own files or start
// threads at run time (gRPC and its .proto loader, pino) and prom-client
// (loaded with `metrics` only); the native addon is required from build/ at
// run time. Type checking is `npm run typecheck` (tsc), not this step.
import { build, type Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
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
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Whitespace and syntax only: identifiers keep their names, so a stack trace names our functions
  // without its source map. Not keepNames: the __name() call it wraps around every function and class
  // of zod and yaml costs a start 10 ms, for the few names the bundle suffixes (parse2).
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: true,
  external: ['@grpc/grpc-js', 'protobufjs', 'pino', 'prom-client'],
  plugins: [zodEnglishOnly],
  // What the sources find beside them through import.meta.url (package.json, the status page) is found
  // from the bundle's own path.
  define: { 'import.meta.url': '__vtepdBundleUrl' },
  banner: { js: "const __vtepdBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
cpSync(join(ROOT, 'src/control/status-page'), join(OUT, 'status-page'), { recursive: true });
for (const name of ['vtepd', 'vtepctl'])
  execFileSync(process.execPath, [join(ROOT, 'bin/launch.js'), '--code-cache', join(OUT, `${name}.cjs`)], {
    stdio: 'inherit',
  });
stamp(ROOT);
