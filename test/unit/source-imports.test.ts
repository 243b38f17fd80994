/**
 * Layering (issue 10): sources only write the store. Nothing under
 * src/sources imports from src/haproxy or src/render, and the etcd source
 * takes nothing from the REST API's code (ResourceWriter is at the store's
 * level, src/reconcile/resource-writer.ts). Read from the TypeScript sources.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { packageRoot } from '../../src/paths.js';

/** Every module a TypeScript text imports or re-exports (static and dynamic), as written. */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  const patterns = [/\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]!);
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : name.endsWith('.ts') ? [p] : [];
  });
}

/** `from` file imports `spec` → the path below src/ it names (relative imports only). */
function target(src: string, from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return relative(src, resolve(dirname(from), spec)).replace(/\\/g, '/');
}

test('the import scanner finds static, type-only, re-exported and dynamic imports', () => {
  const text = [
    "import { a } from '../../haproxy/x.js';",
    "import type {\n  B,\n  C,\n} from '../../render/y.js';",
    "export { d } from './z.js';",
    "import 'node:fs';",
    "const m = await import('../rest/w.js');",
  ].join('\n');
  assert.deepEqual(importsOf(text).sort(), ['../../haproxy/x.js', '../../render/y.js', '../rest/w.js', './z.js', 'node:fs']);
});

test('src/sources imports nothing from src/haproxy or src/render; etcd nothing from sources/rest', () => {
  const src = join(packageRoot(), 'src');
  const files = tsFiles(join(src, 'sources'));
  assert.ok(files.length > 20, `the sources are found (${files.length} files)`);
  const wrong: string[] = [];
  let seen = 0;
  for (const f of files) {
    const from = relative(src, f).replace(/\\/g, '/');
    for (const spec of importsOf(readFileSync(f, 'utf8'))) {
      const to = target(src, f, spec);
      if (!to) continue;
      seen++;
      if (to.startsWith('haproxy/') || to.startsWith('render/')) wrong.push(`${from} imports ${spec}`);
      if (from.startsWith('sources/etcd/') && to.startsWith('sources/rest/')) wrong.push(`${from} imports ${spec}`);
    }
  }
  assert.ok(seen > 100, `the scan reads the imports (${seen})`);
  assert.deepEqual(wrong, [], 'sources only write the store: move what they need to src/model or src/reconcile');
});
