#!/usr/bin/env node
// Runs every compiled benchmark (dist/bench/*.js) in sequence, each in its own
// process; each writes JSON and a markdown table into bench/results/.
// Usage: node scripts/run-bench.mjs [FILTER...]   (run "npm run build" first)
// Needs HAProxy 2.6+ ($HAPROXY_BIN, else haproxy on PATH) and wrk: on Debian,
// apt-get install haproxy wrk (installed here when missing and running as root).
// HAPROXY_BIN=$(scripts/build-haproxy.sh) runs them on HAProxy 3.0; results of a
// version other than 2.6 go to bench/results/<name>-haproxy-<major.minor>.{json,md}.
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const benchDir = join(root, 'dist', 'bench');
const resultsDir = join(root, 'bench', 'results');
const filters = process.argv.slice(2);

function ensureTool(bin, pkg) {
  if (spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (isRoot && hasApt) {
    console.error(`bench: installing Debian's ${pkg} (apt-get install ${pkg})`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    if (spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { stdio: 'inherit', env }).status === 0) return;
  }
  console.error(`bench: ${bin} is missing; install it (Debian: apt-get install ${pkg}) and run again`);
  process.exit(2);
}
ensureTool('wrk', 'wrk');
if (process.env.HAPROXY_BIN) {
  if (!existsSync(process.env.HAPROXY_BIN)) {
    console.error(`bench: HAPROXY_BIN=${process.env.HAPROXY_BIN} does not exist; build it (scripts/build-haproxy.sh) or unset HAPROXY_BIN`);
    process.exit(2);
  }
} else ensureTool('haproxy', 'haproxy');

let files;
try {
  files = readdirSync(benchDir)
    .filter((f) => f.endsWith('.js'))
    .sort();
} catch {
  console.error(`No compiled benchmarks under ${benchDir}: run "npm run build" first.`);
  process.exit(2);
}
if (filters.length > 0) files = files.filter((f) => filters.some((flt) => f.includes(flt)));
if (files.length === 0) {
  console.error(`No benchmark matches ${filters.join(' ')}`);
  process.exit(2);
}

const summary = [];
let failed = 0;
const started = Date.now();
for (const f of files) {
  const t0 = Date.now();
  console.error(`bench: ${f} ...`);
  const r = spawnSync(process.execPath, [join(benchDir, f)], { stdio: 'inherit', timeout: 10 * 60_000, killSignal: 'SIGINT' });
  const s = Math.round((Date.now() - t0) / 1000);
  const ok = r.status === 0;
  if (!ok) failed++;
  console.error(`bench: ${f} ${ok ? 'done' : `FAILED (${r.signal ?? `exit ${r.status}`})`} in ${s} s`);
  summary.push({ file: f, ok, seconds: s });
}

// One index of every result file, targets first.
const rows = [];
for (const name of readdirSync(resultsDir)
  .filter((n) => n.endsWith('.json'))
  .sort()) {
  let r;
  try {
    r = JSON.parse(readFileSync(join(resultsDir, name), 'utf8'));
  } catch {
    continue;
  }
  for (const t of r.targets ?? [])
    rows.push(
      `| [${r.title ?? name}](${name.replace(/\.json$/, '.md')}) | ${t.metric} | ${t.target} | ${t.value} ${t.unit} | ${t.met ? 'yes' : `**no**: ${t.miss}`} | ${(r.date ?? '').slice(0, 10)} |`,
    );
}
// Sections written by hand below the table (from the first "## " heading on) are kept.
const readmePath = join(resultsDir, 'README.md');
const previous = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : '';
const sections = previous.search(/^## /m);
writeFileSync(
  readmePath,
  [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (scripts/run-bench.mjs); one JSON and one markdown file per benchmark.',
    '',
    '| benchmark | metric | target | measured | met | date |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n') + (sections >= 0 ? '\n' + previous.slice(sections) : ''),
);
console.error(`bench: ${files.length - failed}/${files.length} benchmarks done in ${Math.round((Date.now() - started) / 1000)} s`);
for (const s of summary) console.error(`  ${s.ok ? 'ok    ' : 'FAILED'} ${s.file} (${s.seconds} s)`);
process.exit(failed > 0 ? 1 : 0);
