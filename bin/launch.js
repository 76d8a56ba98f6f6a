// Starts a command (`vtepd`, `vtepctl`) from the compiled JavaScript in dist/ when `npm run build`
// made it from the sources as they are now, and from the TypeScript sources through tsx otherwise
// (a checkout being edited): what runs is always what src/ says. An installed package has dist/
// and no src/. VTEPD_RUN=src or VTEPD_RUN=dist forces one (dist: an error if it is stale).
//
// "As they are now": the newest modification time and the number of files under src/ (TypeScript,
// and the status page's HTML, CSS and script, which the build copies), written to
// dist/.stamp by the build. Reading them costs a directory walk of about 150 entries (a millisecond
// or two), against half a second and 40 MB that loading tsx costs at every start.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The sources' fingerprint: how many files, and the newest modification time among them. */
function sourcesNow(root) {
  let files = 0;
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        walk(path);
      } else if (/\.(ts|html|css|js)$/.test(e.name)) {
        files++;
        newest = Math.max(newest, statSync(path).mtimeMs);
      }
    }
  };
  walk(join(root, 'src'));
  return { files, newest };
}

/** Whether dist/ holds the sources as they are now ('none': there is no dist/; 'stale': it is older). */
export function compiled(root = ROOT) {
  const stamp = join(root, 'dist', '.stamp');
  if (!existsSync(stamp)) return 'none';
  if (!existsSync(join(root, 'src'))) return 'current'; // an installed package
  let built;
  try {
    built = JSON.parse(readFileSync(stamp, 'utf8'));
  } catch {
    return 'stale';
  }
  const now = sourcesNow(root);
  return now.files === built.files && now.newest <= built.newest ? 'current' : 'stale';
}

/** Loads command `name`'s module, compiled or through tsx, and returns its exports. */
export async function load(name) {
  const want = process.env.VTEPD_RUN;
  const state = compiled();
  if (want === 'dist' && state !== 'current') {
    process.stderr.write(
      `${name}: VTEPD_RUN=dist, but dist/ is ${state === 'none' ? 'missing' : 'older than src/'}: run \`npm run build\`\n`,
    );
    process.exit(1);
  }
  if (want !== 'src' && state === 'current') {
    // Source maps stay off unless asked (NODE_OPTIONS=--enable-source-maps: stack traces name the
    // TypeScript lines): Node reads every map at load, 60 ms and 8 MB of a start. Without them a
    // stack trace still names our functions (the bundle keeps them).
    return loadBundle(join(ROOT, 'dist', 'cli', `${name}.cjs`));
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(join(ROOT, 'src', 'cli', `${name}.ts`)).href);
}

/**
 * Runs a CommonJS bundle of dist/ compiled from its code cache (`BUNDLE.cache`, made by the build):
 * V8 then reads bytecode instead of compiling the source, a fifth of a start. The cache is used only
 * for the very source it was made from (its SHA-256 is the cache's first 32 bytes; V8's own check is
 * the source's length): a bundle edited or rebuilt since is compiled from the source. A cache V8
 * refuses (another Node.js) only costs the compile it would have saved. With source maps asked for,
 * Node's own loader runs the bundle: it alone applies them.
 */
export function loadBundle(file, o = { cache: true }) {
  if (o.cache && process.sourceMapsEnabled) return createRequire(import.meta.url)(file);
  const bytes = readFileSync(file);
  // esbuild writes ASCII only (it escapes the rest), which latin1 reads without UTF-8's checks.
  const source = bytes.toString('latin1');
  const cachedData = o.cache ? codeCacheOf(file, bytes) : undefined;
  const script = new Script(Module.wrap(source), { filename: file, cachedData });
  const module = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  module.loaded = true;
  // The script only for making its cache: kept, it would keep the cache's bytes too.
  if (!o.cache) made.set(module.exports, script);
  return module.exports;
}

/** The scripts loaded to make their caches (makeCodeCache). */
const made = new WeakMap();

const DIGEST_LEN = 32;
/** SHA-256: half a millisecond for a bundle (the CPU's SHA instructions), where MD5 takes 2.5. */
const digest = (bytes) => createHash('sha256').update(bytes).digest();

/** The code cache made for this very bundle (its bytes), or undefined: there is none, or it was made for other bytes. */
export function codeCacheOf(file, bytes = readFileSync(file)) {
  let cache;
  try {
    cache = readFileSync(`${file}.cache`);
  } catch {
    return undefined;
  }
  return cache.subarray(0, DIGEST_LEN).equals(digest(bytes)) ? cache.subarray(DIGEST_LEN) : undefined;
}

/**
 * Makes a bundle's code cache (a step of the build, in a Node.js of its own: `node bin/launch.js
 * --code-cache BUNDLE`, so that no flag of the build's own process is in it): runs the bundle, and its
 * `codeCacheWarmUp` if it has one (what a command does at each run beyond loading), so that the
 * functions they compiled are in the cache too.
 */
export async function makeCodeCache(file) {
  const bundle = loadBundle(file, { cache: false });
  await bundle.codeCacheWarmUp?.();
  writeFileSync(`${file}.cache.tmp`, Buffer.concat([digest(readFileSync(file)), made.get(bundle).createCachedData()]));
  renameSync(`${file}.cache.tmp`, `${file}.cache`);
}

/** Records in dist/ what it was made from: the last step of `npm run build` (`node bin/launch.js --stamp`). */
export function stamp(root = ROOT) {
  writeFileSync(join(root, 'dist', '.stamp'), `${JSON.stringify(sourcesNow(root))}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--stamp') stamp();
  if (process.argv[2] === '--code-cache') await makeCodeCache(process.argv[3]);
}
