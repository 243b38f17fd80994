/**
 * Kubernetes status writes: the first sync after a start or a leader change,
 * when every Frontend/Backend needs its status written. A StatusWriter on
 * the Kubernetes API test server (through the real @kubernetes/client-node),
 * 2,000 Backends without status, one pass; timed from the pass until every
 * status write has been answered. One at a time (concurrency 1) against the
 * default pool, at several round-trip latencies added by the test server.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_STATUS_CONCURRENCY } from '../src/sources/kubernetes/index.js';
import { startStatusWriter } from '../test/k8s/status-writer-harness.js';
import { startRemoteApiServer } from './lib/k8s-api-child.js';
import { atMost, percentile, round, writeResult } from './lib/results.js';

const BACKENDS = 2000;
const RUNS = 3;
/** Round trip added by the test server to every request: 0, and the low and middle of a real apiserver's ~1-5 ms. */
const LATENCIES_MS = [0, 2, 5];
/** 1 is how it wrote before (one at a time); the others around the default show why it is the default. */
const CONCURRENCIES = [...new Set([1, 4, DEFAULT_STATUS_CONCURRENCY, 16])].sort((a, b) => a - b);
const TARGET_LATENCY_MS = 2;
const MIN_SPEEDUP = 3;
const TIMEOUT_MS = 120_000;

interface Run {
  ms: number;
  patches: number;
  correct: number;
}

/** One first sync: a fresh server with BACKENDS Backends, a writer, a pass, until every status write is answered. */
async function firstSync(latencyMs: number, concurrency: number): Promise<Run> {
  const server = await startRemoteApiServer();
  try {
    await server.applyBackends(BACKENDS);
    const f = await startStatusWriter(server, { concurrency });
    try {
      await server.setLatency(latencyMs); // after the initial lists: only the sync is timed
      const t0 = performance.now();
      f.pass();
      const deadline = Date.now() + TIMEOUT_MS;
      while (f.writer.stats.patches + f.writer.stats.failures < BACKENDS) {
        if (Date.now() > deadline) throw new Error(`${f.writer.stats.patches} of ${BACKENDS} statuses written after ${TIMEOUT_MS} ms`);
        await sleep(1);
      }
      const ms = performance.now() - t0;
      return { ms, patches: f.writer.stats.patches, correct: await server.programmed('Backend') };
    } finally {
      await f.stop();
    }
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const results = new Map<string, number[]>();
  const key = (latency: number, concurrency: number): string => `${latency}/${concurrency}`;
  let incorrect = 0;
  for (const latency of LATENCIES_MS) {
    for (const concurrency of CONCURRENCIES) {
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const r = await firstSync(latency, concurrency);
        if (r.patches !== BACKENDS || r.correct !== BACKENDS) incorrect++;
        times.push(r.ms);
        console.error(`k8s-status: latency ${latency} ms, concurrency ${concurrency}: ${round(r.ms)} ms (${r.patches} patches, ${r.correct} correct)`);
      }
      results.set(key(latency, concurrency), times);
    }
  }
  const median = (latency: number, concurrency: number): number => percentile(results.get(key(latency, concurrency))!, 50);
  const one = median(TARGET_LATENCY_MS, 1);
  const pool = median(TARGET_LATENCY_MS, DEFAULT_STATUS_CONCURRENCY);
  writeResult({
    name: 'k8s-status',
    title: `Kubernetes status writes: first sync of ${BACKENDS.toLocaleString('en')} Backends`,
    method:
      `A StatusWriter against the Kubernetes API test server (test/k8s, through the real @kubernetes/client-node), ${BACKENDS} Backends without status, ` +
      `one reconcile pass (computed from the store, no HAProxy): timed from the pass until every status PATCH has been answered, ` +
      `one at a time (concurrency 1, the behaviour before) and with pools of ${CONCURRENCIES.filter((c) => c > 1).join(', ')} (${DEFAULT_STATUS_CONCURRENCY} is the default). ` +
      `The test server delays every request by a fixed latency (0, 2 and 5 ms; a real apiserver round trip is ~1-5 ms). Median of ${RUNS} runs, each on a fresh server.`,
    settings: { backends: BACKENDS, runs: RUNS, latenciesMs: LATENCIES_MS.join(' '), concurrencies: CONCURRENCIES.join(' ') },
    targets: [
      {
        metric: `first sync at ${TARGET_LATENCY_MS} ms latency, concurrency ${DEFAULT_STATUS_CONCURRENCY} vs 1 (speed-up of the medians)`,
        target: `≥ ${MIN_SPEEDUP}×`,
        value: round(one / pool, 2),
        unit: '×',
        met: one / pool >= MIN_SPEEDUP,
        miss: one / pool >= MIN_SPEEDUP ? undefined : `missed: ${round(one)} ms one at a time, ${round(pool)} ms with the pool`,
      },
      atMost('runs with a status missing, wrong or written twice', incorrect, 0, ''),
    ],
    metrics: {
      [`first sync at ${TARGET_LATENCY_MS} ms latency, concurrency 1 (ms, median)`]: round(one),
      [`first sync at ${TARGET_LATENCY_MS} ms latency, concurrency ${DEFAULT_STATUS_CONCURRENCY} (ms, median)`]: round(pool),
    },
    tables: [
      {
        title: `First sync of ${BACKENDS} Backends (ms; median, min–max of ${RUNS})`,
        columns: [
          'added latency',
          ...CONCURRENCIES.map((c) => `concurrency ${c}`),
          `speed-up ${DEFAULT_STATUS_CONCURRENCY} vs 1`,
          `statuses/s at ${DEFAULT_STATUS_CONCURRENCY}`,
        ],
        rows: LATENCIES_MS.map((l) => {
          const cell = (c: number): string => {
            const xs = results.get(key(l, c))!;
            return `${round(median(l, c))} (${round(Math.min(...xs))}–${round(Math.max(...xs))})`;
          };
          return [
            `${l} ms`,
            ...CONCURRENCIES.map(cell),
            `${round(median(l, 1) / median(l, DEFAULT_STATUS_CONCURRENCY))}×`,
            Math.round(BACKENDS / (median(l, DEFAULT_STATUS_CONCURRENCY) / 1000)),
          ];
        }),
      },
    ],
    notes: [
      'The test server runs in a child process (bench/lib/k8s-api-child), so the measured process does only the controller side: the writer, the client and the watch that brings every written status back.',
      'The latency is added by the test server before it handles each request (KubeApiTestServer latencyMs / setLatency); the initial lists are made before it is set.',
      'At 0 ms the time is what a write costs the client and the test server (loopback; @kubernetes/client-node opens a new connection per request). ' +
        'With few CPUs, the pool is then bound by CPU (the writer process and the test server process each near one core), not by round trips.',
      'Every resource needs a write here: the worst case, as after a start or for a new leader (resync()). Later syncs write only what changed.',
    ],
  });
}

await main();
