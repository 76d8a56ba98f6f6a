// Starts a command (`vtepd`, `vtepctl`) from the compiled JavaScript in dist/ when `npm run build`
// made it from the sources as they are now, and from the TypeScript sources through tsx otherwise
// (a checkout being edited): what runs is always what src/ says. An installed package has dist/
// and no src/. VTEPD_RUN=src or VTEPD_RUN=dist forces one (dist: an error if it is stale).
//
// "As they are now": the newest modification time and the number of files under src/ (TypeScript,
// and the status page's HTML, CSS and script, which the build copies), written to
// dist/.stamp by the build. Reading them costs a directory walk of about 160 entries (a few
// milliseconds), against half a second and 40 MB that loading tsx costs at every start.
//
// Why CommonJS (bin/package.json), and only Node's built-in modules it loads anyway: this file and
// the commands' entry points run at every start, before anything else. An ES module entry point
// starts Node's ES module loader first (7 ms of a `vtepctl` that takes 130), and `node:crypto`
// would cost another 7 (cachedBundle).
'use strict';
const { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { Script } = require('node:vm');

const ROOT = join(__dirname, '..');

/** The sources' fingerprint: how many files, and the newest modification time among them. */
function sourcesNow(root) {
  let files = 0;
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${e.name}`; // not path.join: its normalising is half of this walk's time
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
function compiled(root = ROOT) {
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
async function load(name) {
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
 * for the very source it was made from (cachedBundle; V8's own check is the source's length): a bundle
 * edited or rebuilt since is compiled from the source. A cache V8 refuses (another Node.js) only
 * costs the compile it would have saved. With source maps asked for, Node's own loader runs the
 * bundle: it alone applies them.
 */
function loadBundle(file, o = { cache: true }) {
  if (o.cache && process.sourceMapsEnabled) return require(file);
  const cached = o.cache ? cachedBundle(file) : undefined;
  // esbuild writes ASCII only (it escapes the rest), which latin1 reads without UTF-8's checks.
  const source = (cached?.source ?? readFileSync(file)).toString('latin1');
  const script = new Script(Module.wrap(source), { filename: file, cachedData: cached?.data });
  const module = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext()(module.exports, Module.createRequire(file), module, file, dirname(file));
  module.loaded = true;
  // The script only for making its cache: kept, it would keep the cache's bytes too.
  if (!o.cache) made.set(module.exports, script);
  return module.exports;
}

/** The scripts loaded to make their caches (makeCodeCache). */
const made = new WeakMap();

/**
 * A cache file is MAGIC, then the bundle it was made from as the build left it (its length, 32 bits,
 * and its modification time in ms, a double, both little-endian), then that bundle's bytes, then
 * V8's data. With the bundle's own bytes in it the check is exact without hashing (`node:crypto`
 * would cost a start 7 ms), and when the bundle still has that length and time, as a build, a copy
 * that keeps times or an untouched install leave it, its bytes are taken from the cache: one file
 * read, not two (reading costs here: 3 ms a megabyte).
 */
const MAGIC = Buffer.from('vtepd-code-cache-2\n', 'latin1');
const HEADER = MAGIC.length + 4 + 8;

/**
 * The code cache made for this very bundle: `{ source, data }` (the bundle's bytes, V8's data), or
 * undefined: there is none, or it was made for other bytes.
 */
function cachedBundle(file) {
  let cache;
  let now;
  try {
    cache = readFileSync(`${file}.cache`);
    now = statSync(file);
  } catch {
    return undefined;
  }
  if (cache.length < HEADER || !cache.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const length = cache.readUInt32LE(MAGIC.length);
  if (length !== now.size || cache.length < HEADER + length) return undefined;
  const found = { source: cache.subarray(HEADER, HEADER + length), data: cache.subarray(HEADER + length) };
  if (cache.readDoubleLE(MAGIC.length + 4) === now.mtimeMs) return found;
  // Touched since (an edit, or a copy that dropped the time, such as a package's whole seconds): the
  // cache still holds if the bytes are the same.
  return readFileSync(file).equals(found.source) ? found : undefined;
}

/** V8's data of the code cache made for this very bundle, or undefined (cachedBundle). */
function codeCacheOf(file) {
  return cachedBundle(file)?.data;
}

/**
 * Makes a bundle's code cache (a step of the build, in a Node.js of its own: `node bin/launch.js
 * --code-cache BUNDLE`, so that no flag of the build's own process is in it): runs the bundle, and its
 * `codeCacheWarmUp` if it has one (what a command does at each run beyond loading), so that the
 * functions they compiled are in the cache too.
 */
async function makeCodeCache(file) {
  const bytes = readFileSync(file);
  const bundle = loadBundle(file, { cache: false });
  await bundle.codeCacheWarmUp?.();
  const header = Buffer.alloc(HEADER);
  MAGIC.copy(header);
  header.writeUInt32LE(bytes.length, MAGIC.length);
  header.writeDoubleLE(statSync(file).mtimeMs, MAGIC.length + 4);
  writeFileSync(`${file}.cache.tmp`, Buffer.concat([header, bytes, made.get(bundle).createCachedData()]));
  renameSync(`${file}.cache.tmp`, `${file}.cache`);
}

/** Records in dist/ what it was made from: the last step of `npm run build` (`node bin/launch.js --stamp`). */
function stamp(root = ROOT) {
  writeFileSync(join(root, 'dist', '.stamp'), `${JSON.stringify(sourcesNow(root))}\n`);
}

module.exports = { codeCacheOf, compiled, load, loadBundle, makeCodeCache, stamp };

if (require.main === module) {
  if (process.argv[2] === '--stamp') stamp();
  if (process.argv[2] === '--code-cache')
    makeCodeCache(process.argv[3]).catch((e) => {
      console.error(e);
      process.exitCode = 1;
    });
}
