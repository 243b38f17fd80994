/**
 * Benchmark: a /metrics scrape at 10,000 servers (100 backends × 100 members,
 * health-checked) against HAProxy's built-in exporter on the same HAProxy in
 * the same run; then the controller's memory over 1,000 scrapes.
 *
 * The controller runs in a child process (this file with the argument
 * "child"), so the scraping client never shares its event loop and its
 * memory is the controller's alone. Results: bench/results/metrics-scrape.{json,md}.
 *
 * Usage: node dist/bench/metrics-scrape.js [--backends 100] [--members 100] [--rounds 30] [--scrapes 1000] [--no-prom-client]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Counter, Gauge, Registry } from 'prom-client';
import { RuntimeApi } from '../src/haproxy/runtime.js';
import { parseExposition } from '../src/observe/exposition.js';
import { STAT_METRICS } from '../src/observe/promex-metrics.js';
import { RowType } from '../src/observe/stat-table.js';
import { StatsReader } from '../src/observe/stats-reader.js';
import { startHarness } from './lib/harness.js';
import { freeLoopbackPort } from './lib/ports.js';
import { backendResource, frontendResource } from './lib/resources.js';
import { atMost, machine, percentile, round, writeResult, type Target } from './lib/results.js';
import { parseHaproxyVersion } from '../src/haproxy/version.js';

interface Ready {
  type: 'ready';
  httpPort: number;
  statsPort: number;
  webPort: number;
  adminSocket: string;
  servers: number;
}

interface Memory {
  type: 'memory';
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

const MiB = 2 ** 20;

// ------------------------------------------------------------------ child

async function child(upstreamPort: number, backends: number, members: number): Promise<void> {
  const statsPort = await freeLoopbackPort();
  const webPort = await freeLoopbackPort();
  const h = await startHarness({
    httpAddress: { address: '127.0.0.1', port: 0 },
    statsListener: { address: '127.0.0.1', port: statsPort },
    // Every scrape reads the stats socket: the cache would hide the cost being measured.
    observe: { statsCacheMs: 0 },
    hardStopAfter: '10s',
    minReloadIntervalMs: 0,
  });
  const resources: unknown[] = [frontendResource('web', webPort, 'be-0')];
  for (let b = 0; b < backends; b++) {
    const list = Array.from({ length: members }, (_, m) => ({ name: `m${m}`, port: upstreamPort }));
    resources.push(backendResource(`be-${b}`, { members: list, healthCheck: { type: 'tcp', interval: '30s' } }));
  }
  const pass = await h.apply(resources, 600_000);
  if (pass.kind === 'failed') throw new Error(`the configuration was not applied: ${pass.error}`);
  const send = (m: unknown): void => void process.send!(m);
  send({
    type: 'ready',
    httpPort: h.controller.httpAddress!.port,
    statsPort,
    webPort,
    adminSocket: h.controller.runtime.socketPath,
    servers: backends * members,
  } satisfies Ready);
  process.on('message', (m: { type: string }) => {
    if (m.type === 'memory') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      send({ type: 'memory', ...process.memoryUsage() } satisfies Memory);
    } else if (m.type === 'stop') {
      void h.stop().finally(() => process.exit(0));
    }
  });
}

// ------------------------------------------------------------------ parent

interface Scrape {
  ms: number;
  firstByteMs: number;
  bytes: number;
}

function scrape(port: number, path = '/metrics'): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = 0;
    let bytes = 0;
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 120_000 }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET ${path} on ${port}: HTTP ${res.statusCode}`));
      res.on('data', (c: Buffer) => {
        if (first === 0) first = performance.now() - t0;
        bytes += c.length;
      });
      res.on('end', () => resolve({ ms: performance.now() - t0, firstByteMs: first, bytes }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('scrape timed out')));
    req.on('error', reject);
    req.end();
  });
}

function text(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

async function traffic(port: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      })
        .on('error', reject)
        .end();
    });
  }
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The same samples through prom-client objects (the design not taken), timed. */
async function promClientScrape(adminSocket: string): Promise<{ populateMs: number; metricsMs: number; bytes: number; heapMiB: number }> {
  const stats = await new StatsReader({ runtime: new RuntimeApi({ socketPath: adminSocket }), cacheMs: 0 }).read();
  const t = stats.table;
  const reg = new Registry();
  const [px, sv, type] = [t.column('pxname'), t.column('svname'), t.column('type')];
  const families = STAT_METRICS.filter((m) => m.scopes.includes('server')).map((m) => {
    const config = { name: `haproxy_server_${m.name}`, help: m.help, labelNames: ['proxy', 'server', 'state', 'code'], registers: [reg] };
    return {
      m,
      col: t.column(m.column),
      gauge: m.type === 'gauge' ? new Gauge(config) : undefined,
      counter: m.type === 'counter' ? new Counter(config) : undefined,
    };
  });
  const t0 = performance.now();
  for (const f of families) {
    const set = (labels: Record<string, string>, v: number): void => {
      if (f.gauge) f.gauge.set(labels, v);
      else f.counter!.inc(labels, Number.isFinite(v) && v > 0 ? v : 0);
    };
    for (let r = 0; r < t.rowCount; r++) {
      if (t.rowType(r, type) !== RowType.Server) continue;
      const labels = { proxy: t.field(r, px), server: t.field(r, sv) };
      const multi = f.m.value === 'status' ? 5 : f.m.value === 'check_status' ? 16 : f.m.value === 'hrsp' ? 6 : 0;
      if (multi > 0) for (let i = 0; i < multi; i++) set({ ...labels, [f.m.value === 'hrsp' ? 'code' : 'state']: String(i) }, 0);
      else set(labels, Number(t.field(r, f.col) || 'NaN'));
    }
  }
  const t1 = performance.now();
  const body = await reg.metrics();
  const t2 = performance.now();
  return { populateMs: t1 - t0, metricsMs: t2 - t1, bytes: Buffer.byteLength(body), heapMiB: process.memoryUsage().heapUsed / MiB };
}

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backends: { type: 'string', default: '100' },
      members: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '30' },
      scrapes: { type: 'string', default: '1000' },
      'no-prom-client': { type: 'boolean', default: false },
    },
  });
  const backends = Number(values.backends);
  const members = Number(values.members);
  const rounds = Number(values.rounds);
  const scrapes = Number(values.scrapes);

  const upstream: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': '2' });
    res.end('ok');
  });
  upstream.keepAliveTimeout = 0;
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
  const upstreamPort = (upstream.address() as AddressInfo).port;

  const self = fileURLToPath(import.meta.url);
  const controller: ChildProcess = fork(self, ['child', String(upstreamPort), String(backends), String(members)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages: { type: string }[] = [];
  const waiters: (() => void)[] = [];
  controller.on('message', (m: { type: string }) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const next = async <T extends { type: string }>(type: string, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = messages.findIndex((m) => m.type === type);
      if (i >= 0) return messages.splice(i, 1)[0] as T;
      if (controller.exitCode !== null) throw new Error(`the controller process exited (${controller.exitCode})`);
      if (Date.now() > deadline) throw new Error(`no "${type}" from the controller process within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  const memory = async (): Promise<Memory> => {
    controller.send({ type: 'memory' });
    return next<Memory>('memory', 30_000);
  };

  let proxy: ChildProcess | undefined;
  try {
    const ready = await next<Ready>('ready', 600_000);
    console.error(`controller ready: ${ready.servers} servers; generating traffic`);
    await traffic(ready.webPort, 2000);
    // Health checks (every 30 s, spread) have all run once after one interval.
    await new Promise((r) => setTimeout(r, 31_000));

    // Same numbers on both sides: check one series.
    const ours = parseExposition(await text(ready.httpPort, '/metrics?scope=frontend')).samples;
    const theirs = parseExposition(await text(ready.statsPort, '/metrics?scope=frontend')).samples;
    const key = 'haproxy_frontend_http_requests_total{proxy="default_web"}';
    if (ours.get(key) !== theirs.get(key)) throw new Error(`${key}: ours ${ours.get(key)}, built-in ${theirs.get(key)}`);

    // The design not taken for following HAProxy versions (docs/decisions/0005):
    // serve the built-in exporter through the controller. A pass-through proxy
    // in a process of its own (no parsing, no filtering: its best case).
    const proxyProcess = fork(self, ['proxy', String(ready.statsPort)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    proxy = proxyProcess;
    const proxyPort = await new Promise<number>((resolve) => proxyProcess.once('message', (m: { port: number }) => resolve(m.port)));

    // Side by side, interleaved (alternating who goes first), after a warm-up.
    for (let i = 0; i < 3; i++) {
      await scrape(ready.statsPort);
      await scrape(ready.httpPort);
      await scrape(proxyPort);
    }
    const builtin: Scrape[] = [];
    const mine: Scrape[] = [];
    const proxied: Scrape[] = [];
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        builtin.push(await scrape(ready.statsPort));
        mine.push(await scrape(ready.httpPort));
        proxied.push(await scrape(proxyPort));
      } else {
        proxied.push(await scrape(proxyPort));
        mine.push(await scrape(ready.httpPort));
        builtin.push(await scrape(ready.statsPort));
      }
    }
    proxyProcess.kill();
    proxy = undefined;
    console.error(`side by side done (${rounds} rounds); ${scrapes} scrapes for memory`);

    // Memory over many scrapes.
    const memRows: (string | number)[][] = [];
    const heap: number[] = [];
    const rss: number[] = [];
    const loopMs: number[] = [];
    const every = Math.max(1, Math.floor(scrapes / 10));
    for (let i = 0; i <= scrapes; i++) {
      if (i % every === 0) {
        const m = await memory();
        heap.push(m.heapUsed / MiB);
        rss.push(rssMiB(controller.pid!));
        memRows.push([i, round(m.heapUsed / MiB, 1), round(m.external / MiB, 1), round(rssMiB(controller.pid!), 1)]);
      }
      if (i < scrapes) loopMs.push((await scrape(ready.httpPort)).ms);
    }

    const controllerMetrics = parseExposition(await text(ready.httpPort, '/metrics?scope=controller')).samples;
    const readSum = controllerMetrics.get('node_haproxy_stats_read_duration_seconds_sum') ?? NaN;
    const readCount = controllerMetrics.get('node_haproxy_stats_read_duration_seconds_count') ?? NaN;

    let promClient: Awaited<ReturnType<typeof promClientScrape>>[] = [];
    if (!values['no-prom-client']) {
      for (let i = 0; i < 3; i++) promClient.push(await promClientScrape(ready.adminSocket));
    }

    const med = (xs: Scrape[], f: (s: Scrape) => number = (s) => s.ms): number => percentile(xs.map(f), 50);
    const heapStart = heap[1] ?? heap[0]!; // after the first batch: caches and JIT warm
    const heapEnd = heap[heap.length - 1]!;
    const rssStart = rss[1] ?? rss[0]!;
    const rssEnd = rss[rss.length - 1]!;
    const targets: Target[] = [
      atMost('median scrape time, node-haproxy vs built-in exporter', med(mine), round(med(builtin), 1), 'ms', 'see notes'),
      atMost(`heap after GC, growth over ${scrapes} scrapes`, heapEnd - heapStart, round(Math.max(2, heapStart * 0.1), 1), 'MiB', 'a leak'),
    ];
    const md = writeResult({
      name: 'metrics-scrape',
      title: `/metrics at ${ready.servers.toLocaleString('en')} servers vs HAProxy's built-in exporter`,
      method:
        `One HAProxy ${haproxyShort()} (${backends} backends × ${members} members, TCP health checks, 2,000 requests of traffic) run by the controller in a child process. ` +
        `${rounds} interleaved rounds each scrape the built-in exporter (HAProxy's stats listener) and node-haproxy's /metrics (time to the last byte, Node.js client, fresh connection), ` +
        `with the stats cache off so every scrape reads the stats socket. Then ${scrapes} more scrapes of /metrics, the controller's heap measured after a forced GC every ${every}.`,
      settings: { backends, members, servers: ready.servers, rounds, scrapes, statsCacheMs: 0 },
      targets,
      metrics: {
        'built-in exporter: median / p90 / min ms': `${round(med(builtin))} / ${round(
          percentile(
            builtin.map((s) => s.ms),
            90,
          ),
        )} / ${round(Math.min(...builtin.map((s) => s.ms)))}`,
        'node-haproxy: median / p90 / min ms': `${round(med(mine))} / ${round(
          percentile(
            mine.map((s) => s.ms),
            90,
          ),
        )} / ${round(Math.min(...mine.map((s) => s.ms)))}`,
        'built-in exporter through a pass-through Node.js proxy (the design not taken): median / p90 / min ms': `${round(med(proxied))} / ${round(
          percentile(
            proxied.map((s) => s.ms),
            90,
          ),
        )} / ${round(Math.min(...proxied.map((s) => s.ms)))}`,
        'built-in exporter: median time to first byte, ms': round(med(builtin, (s) => s.firstByteMs)),
        'node-haproxy: median time to first byte, ms': round(med(mine, (s) => s.firstByteMs)),
        'built-in exporter: body, MiB': round(builtin[0]!.bytes / MiB, 2),
        'node-haproxy: body, MiB (controller metrics included)': round(mine[0]!.bytes / MiB, 2),
        'node-haproxy: stats socket read, server families rendered meanwhile, mean ms': round((readSum / readCount) * 1000),
        [`node-haproxy: median over the ${scrapes} memory scrapes, ms`]: round(percentile(loopMs, 50)),
        'controller heap after GC, start → end, MiB': `${round(heapStart)} → ${round(heapEnd)}`,
        'controller RSS, start → end, MiB': `${round(rssStart)} → ${round(rssEnd)}`,
        ...(promClient.length > 0
          ? {
              'prom-client objects for the server families only: fill + registry.metrics(), median ms': round(
                percentile(
                  promClient.map((p) => p.populateMs + p.metricsMs),
                  50,
                ),
              ),
              'prom-client objects: heap used, MiB': round(Math.max(...promClient.map((p) => p.heapMiB))),
            }
          : {}),
      },
      tables: [
        { title: `Controller memory over ${scrapes} scrapes`, columns: ['scrapes', 'heap after GC (MiB)', 'external (MiB)', 'RSS (MiB)'], rows: memRows },
      ],
      notes: [
        'Both exporters answer from the same HAProxy process; the numbers they report are checked equal before timing (test/integration/observe-metrics.test.ts compares every series).',
        `node-haproxy's time includes reading show info and show stat over the stats socket (HAProxy's own work, on the same CPUs) and writing ${round(mine[0]!.bytes / MiB, 1)} MiB of text; the server families are rendered while show stat streams in, so rendering overlaps HAProxy's work.`,
        'The prom-client row is the design not taken: one prom-client Gauge/Counter sample per series, for the haproxy_server_* families only, filled from the same stats and serialized by registry.metrics(). It is why the HAProxy families are written as text directly.',
        'The machine runs other work (see load); timings are medians of interleaved rounds so both exporters see the same conditions.',
        "The proxy row is the other way to follow HAProxy's versions (docs/decisions/0008-haproxy-versions.md): the built-in exporter served through a Node.js process that only pipes the bytes (no filtering, no controller metrics). It cannot be faster than the built-in exporter it waits for.",
      ],
    });
    process.stdout.write(md);
  } finally {
    proxy?.kill();
    controller.send({ type: 'stop' });
    const exited = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 30_000);
      controller.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!exited) controller.kill('SIGKILL');
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  }
}

/** "2.6", "3.0"... of the HAProxy the benchmark runs. */
function haproxyShort(): string {
  const v = parseHaproxyVersion(machine().haproxy);
  return v ? `${v.major}.${v.minor}` : 'unknown';
}

/** Pipes GET requests to the built-in exporter on `target` (the design not taken). */
async function proxyChild(target: number): Promise<void> {
  const server = createServer((req, res) => {
    const up = request({ host: '127.0.0.1', port: target, path: req.url, agent: false }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    up.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  process.send!({ port: (server.address() as AddressInfo).port });
}

if (process.argv[2] === 'child') {
  await child(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
} else if (process.argv[2] === 'proxy') {
  await proxyChild(Number(process.argv[3]));
} else {
  await parent();
}
