#!/usr/bin/env node
// Writes src/model/types.generated.ts from the one schema (src/model/schema.ts via src/model/gen-types.ts).
// Usage: npm run gen (builds, then writes the types and the CRDs), or: npm run build && node scripts/gen-types.mjs [--check]
// --check exits 1 (and writes nothing) when the committed file differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
let gen;
try {
  gen = await import(join(root, 'dist/src/model/gen-types.js'));
} catch (err) {
  console.error(`cannot load dist/src/model/gen-types.js (${err.message}): run "npm run build" first`);
  process.exit(2);
}
const check = process.argv.includes('--check');
const path = join(root, gen.TYPES_GENERATED_FILE);
const text = gen.typesSource();
let current = '';
try {
  current = readFileSync(path, 'utf8');
} catch {
  // missing: written below
}
if (current !== text) {
  if (check) {
    console.error(`${gen.TYPES_GENERATED_FILE} is out of date: run "npm run gen"`);
    process.exit(1);
  }
  writeFileSync(path, text);
  console.log(`wrote ${gen.TYPES_GENERATED_FILE}`);
}
