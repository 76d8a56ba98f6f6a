// Starts a command (`vtepd`, `vtepctl`) from the compiled JavaScript in dist/ when `npm run build`
// made it from the sources as they are now, and from the TypeScript sources through tsx otherwise
// (a checkout being edited): what runs is always what src/ says. An installed package has dist/
// and no src/. VTEPD_RUN=src or VTEPD_RUN=dist forces one (dist: an error if it is stale).
//
// "As they are now": the newest modification time and the number of files under src/ (TypeScript,
// and the status page's HTML, CSS and script, which the build copies), written to
// dist/.stamp by the build. Reading them costs a directory walk of about 150 entries (a millisecond
// or two), against half a second and 40 MB that loading tsx costs at every start.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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
    return import(pathToFileURL(join(ROOT, 'dist', 'cli', `${name}.js`)).href);
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(join(ROOT, 'src', 'cli', `${name}.ts`)).href);
}

/** Records in dist/ what it was made from: the last step of `npm run build` (`node bin/launch.js --stamp`). */
export function stamp(root = ROOT) {
  writeFileSync(join(root, 'dist', '.stamp'), `${JSON.stringify(sourcesNow(root))}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--stamp') stamp();
