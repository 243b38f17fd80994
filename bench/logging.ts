/**
 * Logging: 100,000 lines to stderr (redirected to /dev/null) through
 * src/log.ts (pino; pino-pretty for `--log-format pretty`), against the
 * hand-written logger it replaced (JSON.stringify of the line, then
 * process.stderr.write; kept below as the baseline). Each run is a fresh
 * process; 7 runs each, medians. The decision: docs/decisions/0007.
 * Usage: node dist/bench/logging.js  (a child: logging.js child IMPL FORMAT LEVEL)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger, type LogFields, type LogLevel } from '../src/log.js';
import { atMost, round, writeResult } from './lib/results.js';

const LINES = 100_000;
const RUNS = 7;

/** The logger src/log.ts had before pino (same output shape), as the baseline. */
function handWritten(format: 'json' | 'pretty', level: LogLevel, bound: LogFields = {}): Logger {
  const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
  const emit = (l: LogLevel, msg: string, fields?: LogFields): void => {
    if (order[l] < order[level]) return;
    const all: LogFields = { ...bound, ...fields };
    if (format === 'json') {
      process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: l, msg, ...all }) + '\n');
      return;
    }
    const extras = Object.entries(all)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${l.toUpperCase().padEnd(5)} ${msg}${extras ? '  ' + extras : ''}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => handWritten(format, level, { ...bound, ...fields }),
  };
}

function child(impl: string, format: 'json' | 'pretty', level: LogLevel): void {
  const root = impl === 'pino' ? createLogger({ format, level }) : handWritten(format, level);
  const log = root.child({ component: 'reconcile' });
  const t0 = performance.now();
  for (let i = 0; i < LINES; i++) log.info('HAProxy reloaded', { resource: 'Backend/default/app', reasons: ['backend default_app changed'], ms: i % 97 });
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ ms, rssMiB: process.memoryUsage().rss / 2 ** 20 }) + '\n');
}

function measure(impl: string, format: string, level: string): { ms: number; rssMiB: number } {
  const script = fileURLToPath(import.meta.url);
  const ms: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(process.execPath, [script, 'child', impl, format, level], { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' });
    const out = JSON.parse(r.stdout.trim()) as { ms: number; rssMiB: number };
    ms.push(out.ms);
    rss.push(out.rssMiB);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { ms: median(ms), rssMiB: median(rss) };
}

function main(): void {
  const cases: [string, string, string][] = [
    ['json', 'json', 'info'],
    ['pretty', 'pretty', 'info'],
    ['json, level warn (lines dropped)', 'json', 'warn'],
  ];
  const rows: (string | number)[][] = [];
  const results: Record<string, { hand: { ms: number; rssMiB: number }; pino: { ms: number; rssMiB: number } }> = {};
  for (const [name, format, level] of cases) {
    const hand = measure('hand', format, level);
    const pino = measure('pino', format, level);
    results[name] = { hand, pino };
    rows.push([
      name,
      round(hand.ms, 0),
      round(pino.ms, 0),
      round((hand.ms * 1000) / LINES, 2),
      round((pino.ms * 1000) / LINES, 2),
      round(hand.rssMiB, 0),
      round(pino.rssMiB, 0),
    ]);
  }
  const json = results.json!;
  const md = writeResult({
    name: 'logging',
    title: 'Logging: 100,000 lines, pino vs the hand-written logger',
    method: `${LINES.toLocaleString('en')} info lines with a child logger's binding and three fields, written to stderr redirected to /dev/null, each run in a fresh process (median of ${RUNS}). pino is src/log.ts as the controller uses it (synchronous writes; pino-pretty formats \`--log-format pretty\`); the baseline is the logger it replaced (JSON.stringify, process.stderr.write).`,
    settings: { lines: LINES, runs: RUNS },
    targets: [atMost('JSON lines: pino vs the hand-written logger (median time, 100,000 lines)', json.pino.ms, round(json.hand.ms, 1), 'ms')],
    metrics: {},
    tables: [
      {
        title: 'median per case',
        columns: ['case', 'hand-written (ms)', 'pino (ms)', 'hand-written (µs/line)', 'pino (µs/line)', 'hand-written RSS (MiB)', 'pino RSS (MiB)'],
        rows,
      },
    ],
    notes: [
      'pino-pretty is slower than the hand-written pretty line; it is for terminals (the demo, a developer), where a few thousand lines a second is plenty. JSON, the default for `run`, is the one that counts.',
    ],
  });
  console.log(md);
}

if (process.argv[2] === 'child') child(process.argv[3]!, process.argv[4] as 'json' | 'pretty', process.argv[5] as LogLevel);
else main();
