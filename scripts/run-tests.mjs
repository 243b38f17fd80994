#!/usr/bin/env node
// Runs the compiled test files with Node's built-in test runner.
// Usage: node scripts/run-tests.mjs [unit|integration|e2e|FILTER...]
// Node 20's runner does not expand globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const testDir = join(root, 'dist', 'test');
const filters = process.argv.slice(2);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

let files;
try {
  files = walk(testDir);
} catch {
  console.error(`No compiled tests under ${testDir}: run "npm run build" first.`);
  process.exit(2);
}
if (filters.length > 0) {
  files = files.filter((f) => filters.some((flt) => relative(testDir, f).includes(flt)));
}
if (files.length === 0) {
  console.error(`No test file matches ${filters.join(' ')}`);
  process.exit(2);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
// A test that leaks a handle must not hold CI for its whole budget: each test
// has 5 minutes (TEST_TIMEOUT_MS), and a file's process exits once its tests
// are done, whatever it left open.
const timeoutMs = process.env.TEST_TIMEOUT_MS ?? '300000';
const r = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, '--test-force-exit', '--test-reporter=spec', ...files],
  {
    stdio: 'inherit',
  },
);
process.exit(r.status ?? 1);
