// The references in docs/reference/ are generated from the code (the config
// schema, the verb registry): they must be what `npm run docs` writes now.
// And every relative link of the README and docs/ must lead to a file.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lab/lab.ts';
import { generated } from '../../scripts/gen-docs.ts';

function markdownFiles(): string[] {
  const docs = join(ROOT, 'docs');
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.md') ? [join(d, e.name)] : [],
    );
  return [join(ROOT, 'README.md'), ...walk(docs)];
}

describe('the docs', () => {
  it.each([...generated()].map(([file, text]) => [relative(ROOT, file), file, text]))(
    '%s is what npm run docs writes from the code now',
    (_name, file, text) => {
      expect(existsSync(file), `${file} is missing: run npm run docs`).toBe(true);
      expect(readFileSync(file, 'utf8') === text, `${file} is stale: run npm run docs`).toBe(true);
    },
  );

  it('links only to files that exist', () => {
    const broken: string[] = [];
    for (const file of markdownFiles()) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/.test(target)) continue; // http:, mailto:
        if (!existsSync(join(dirname(file), target))) broken.push(`${relative(ROOT, file)}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
