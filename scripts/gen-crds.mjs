#!/usr/bin/env node
// Writes crds/*.yaml from the one schema (src/model/schema.ts via src/model/crd.ts).
// Usage: npm run build && node scripts/gen-crds.mjs [--check]
// --check exits 1 (and writes nothing) when a committed file differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
let crd;
try {
  crd = await import(join(root, 'dist/src/model/crd.js'));
} catch (err) {
  console.error(`cannot load dist/src/model/crd.js (${err.message}): run "npm run build" first`);
  process.exit(2);
}
const check = process.argv.includes('--check');
let stale = 0;
for (const { kind, file } of crd.CRD_FILES) {
  const path = join(root, 'crds', file);
  const text = crd.crdYaml(kind);
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // missing: written below
  }
  if (current === text) continue;
  stale++;
  if (check) console.error(`crds/${file} is out of date: run "npm run build && node scripts/gen-crds.mjs"`);
  else {
    writeFileSync(path, text);
    console.log(`wrote crds/${file}`);
  }
}
process.exit(check && stale > 0 ? 1 : 0);
