/**
 * Benchmark results: one JSON file and one markdown table per benchmark in
 * bench/results/, each with the machine, the HAProxy version and the date.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, release, platform } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { HAPROXY_BIN } from './harness.js';
import { parseHaproxyVersion } from '../../src/haproxy/version.js';

export interface Target {
  /** What is measured, e.g. "member change live, p99". */
  metric: string;
  /** The target as text, e.g. "≤ 50 ms". */
  target: string;
  value: number;
  unit: string;
  met: boolean;
  /** When missed: by how much, and why (the closing note explains more). */
  miss?: string;
}

export interface BenchResult {
  name: string;
  title: string;
  /** What was done, in one or two sentences. */
  method: string;
  settings: Record<string, string | number | boolean>;
  targets: Target[];
  /** Further measurements: name → value (numbers in the unit the name says). */
  metrics: Record<string, number | string>;
  /** Tables of detail rows (e.g. per connection mode). */
  tables?: { title: string; columns: string[]; rows: (string | number)[][] }[];
  notes: string[];
  /** The result does not depend on the HAProxy on this machine (the image carries its own): one file, whatever HAPROXY_BIN is. */
  haproxyIndependent?: boolean;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  haproxy: string;
  /** 1-minute load average when the result was written (other work on the machine skews timings). */
  loadAvg1m: number;
}

export function machine(): Machine {
  let haproxy = 'unknown';
  try {
    haproxy = execFileSync(HAPROXY_BIN, ['-v'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    // reported as unknown
  }
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    haproxy,
    loadAvg1m: round(loadavg()[0]!, 2),
  };
}

export const resultsDir = (): string => join(packageRoot(), 'bench', 'results');

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** "≤ limit" target on a measured value. */
export function atMost(metric: string, value: number, limit: number, unit: string, why = ''): Target {
  const met = value <= limit;
  const by = value - limit;
  return {
    metric,
    target: limit === 0 ? '0' : `≤ ${limit} ${unit}`.trim(),
    value: round(value, 2),
    unit,
    met,
    miss: met ? undefined : `missed by ${round(by, 2)} ${unit}${limit > 0 ? ` (${round((by / limit) * 100, 0)}% over)` : ''}${why ? `: ${why}` : ''}`,
  };
}

function markdown(r: BenchResult, m: Machine, date: string): string {
  const out: string[] = [];
  out.push(`# ${r.title}`, '');
  out.push(`${date} · ${m.haproxy} · ${m.cpus} × ${m.cpuModel} · ${m.memoryGiB} GiB · ${m.os} · Node ${m.node} · load ${m.loadAvg1m}`, '');
  out.push(r.method, '');
  if (r.targets.length > 0) {
    out.push('| metric | target | measured | met |', '| --- | --- | --- | --- |');
    for (const t of r.targets) out.push(`| ${t.metric} | ${t.target} | ${t.value} ${t.unit} | ${t.met ? 'yes' : `**no**: ${t.miss}`} |`);
    out.push('');
  }
  const metrics = Object.entries(r.metrics);
  if (metrics.length > 0) {
    out.push('| measurement | value |', '| --- | --- |');
    for (const [k, v] of metrics) out.push(`| ${k} | ${v} |`);
    out.push('');
  }
  for (const t of r.tables ?? []) {
    out.push(`**${t.title}**`, '', `| ${t.columns.join(' | ')} |`, `| ${t.columns.map(() => '---').join(' | ')} |`);
    for (const row of t.rows) out.push(`| ${row.join(' | ')} |`);
    out.push('');
  }
  const settings = Object.entries(r.settings);
  if (settings.length > 0) out.push(`Settings: ${settings.map(([k, v]) => `${k}=${v}`).join(', ')}.`, '');
  if (r.notes.length > 0) {
    out.push('Notes:', '');
    for (const n of r.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

/**
 * The result file's base name: the benchmark's name on HAProxy 2.6 (the
 * reference), `<name>-haproxy-<major.minor>` on any other version, so that the
 * results of both versions stay side by side.
 */
export function resultFileName(name: string, haproxyVersionLine: string): string {
  const v = parseHaproxyVersion(haproxyVersionLine);
  return v === undefined || (v.major === 2 && v.minor === 6) ? name : `${name}-haproxy-${v.major}.${v.minor}`;
}

/** Writes bench/results/<name>.json and .md (see resultFileName); returns the markdown. */
export function writeResult(r: BenchResult): string {
  const m = machine();
  const date = new Date().toISOString();
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  const base = r.haproxyIndependent ? r.name : resultFileName(r.name, m.haproxy);
  const withVersion = { ...r, title: base === r.name ? r.title : `${r.title} (HAProxy ${m.haproxy.replace(/^HAProxy version (\S+).*$/, '$1')})` };
  const md = markdown(withVersion, m, date);
  writeFileSync(join(dir, `${base}.json`), JSON.stringify({ ...withVersion, date, machine: m }, null, 2) + '\n');
  writeFileSync(join(dir, `${base}.md`), md);
  return md;
}
