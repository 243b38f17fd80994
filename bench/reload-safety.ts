/**
 * Requests failed during 100 reloads under load, in both connection modes.
 *
 * A real controller reloads HAProxy 100 times in a row (a structural change
 * each time, through check + master CLI reload + confirm) while wrk, in its
 * own process, sends requests through it to two upstreams (another process):
 * once with a new connection per request (`Connection: close`), once over
 * keep-alive connections. Every connect, read, write error, timeout and
 * non-2xx answer counts as failed.
 */
import type { ShowProc } from '../src/haproxy/parse.js';
import { atMost, round, writeResult, type Target } from './lib/results.js';
import { startHarness, type Harness } from './lib/harness.js';
import { freeLoopbackPort } from './lib/ports.js';
import { startUpstreams, startWrk, type WrkReport } from './lib/processes.js';
import { backendResource, frontendResource } from './lib/resources.js';
import { sleep } from './lib/wait.js';

const RELOADS = 100;
const CONNECTIONS = 16;
const WARMUP_MS = 1000;
const MODES = [
  { name: 'connection per request', headers: ['Connection: close'] },
  { name: 'keep-alive', headers: [] as string[] },
];
// The controller defaults, stated here so that the result records them.
const SETTINGS = { hardStopAfter: '30s', minReloadIntervalMs: 0, debounceMs: 100 };

interface ModeResult {
  mode: string;
  wrk: WrkReport;
  reloads: number;
  failedPasses: number;
  seconds: number;
  maxOldWorkers: number;
}

async function oldWorkers(h: Harness): Promise<number> {
  const proc: ShowProc | undefined = await h.controller.supervisor.showProc().catch(() => undefined);
  return proc?.oldWorkers.length ?? 0;
}

async function runMode(h: Harness, port: number, upstreamPorts: number[], mode: (typeof MODES)[number]): Promise<ModeResult> {
  const fe = frontendResource('web', port, 'app');
  const app = (timeout: string) =>
    backendResource('app', { members: upstreamPorts.map((p, i) => ({ name: `u${i}`, port: p })), timeouts: { server: timeout } });
  const wrk = startWrk(`http://127.0.0.1:${port}/`, { connections: CONNECTIONS, threads: 1, maxSeconds: 300, headers: mode.headers });
  let report: WrkReport | undefined;
  try {
    await sleep(WARMUP_MS);
    const r0 = await h.reloads();
    const t0 = performance.now();
    let failedPasses = 0;
    let maxOld = 0;
    for (let i = 0; i < RELOADS; i++) {
      const pass = h.nextPass((p) => p.kind === 'reload' || p.kind === 'failed', 60_000);
      h.writer.replaceAll([fe, app(`${30 + (i % 2)}s`)]);
      if ((await pass).kind !== 'reload') failedPasses++;
      maxOld = Math.max(maxOld, await oldWorkers(h));
    }
    const seconds = (performance.now() - t0) / 1000;
    const reloads = (await h.reloads()) - r0;
    await sleep(WARMUP_MS);
    report = await wrk.stop();
    return { mode: mode.name, wrk: report, reloads, failedPasses, seconds, maxOldWorkers: maxOld };
  } finally {
    if (!report) await wrk.stop().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const port = await freeLoopbackPort();
  const upstreams = await startUpstreams(2);
  let h: Harness | undefined;
  try {
    h = await startHarness(SETTINGS);
    const results: ModeResult[] = [];
    for (const mode of MODES) {
      await h.apply([frontendResource('web', port, 'app'), backendResource('app', { members: upstreams.ports.map((p, i) => ({ name: `u${i}`, port: p })) })]);
      results.push(await runMode(h, port, upstreams.ports, mode));
      // Let the old workers of this mode finish before the next one (hard-stop-after bounds this).
      for (let i = 0; i < 100 && (await oldWorkers(h)) > 0; i++) await sleep(100);
    }
    const targets: Target[] = results.map((r) =>
      atMost(`failed requests during ${r.reloads} reloads, ${r.mode}`, r.wrk.failed, 0, '', r.wrk.failed > 0 ? 'see the breakdown' : ''),
    );
    targets.push(...results.map((r) => atMost(`reloads that did not complete, ${r.mode}`, r.failedPasses + (RELOADS - r.reloads), 0, '')));
    writeResult({
      name: 'reload-safety',
      title: 'Requests failed during 100 reloads under load',
      method:
        `wrk (${CONNECTIONS} connections, one thread, its own process) sends GET / through HAProxy to two Node upstreams (their own process) ` +
        `while a running controller reloads HAProxy ${RELOADS} times back to back (a backend timeout toggled; each reload is haproxy -c, ` +
        `master CLI reload, confirmed with show proc). Failed = connect + read + write errors + timeouts + non-2xx/3xx answers, as wrk counts them.`,
      settings: {
        ...SETTINGS,
        reloads: RELOADS,
        connections: CONNECTIONS,
        'option idle-close-on-response': true,
        'mworker-max-reloads': 10,
        'close-spread-time': 'off',
      },
      targets,
      metrics: Object.fromEntries(
        results.flatMap((r) => [
          [`${r.mode}: requests sent`, r.wrk.requests],
          [`${r.mode}: requests failed`, r.wrk.failed],
          [`${r.mode}: requests/s`, round(r.wrk.requests / Math.max(1, r.wrk.durationS))],
        ]),
      ),
      tables: [
        {
          title: 'Per connection mode',
          columns: [
            'mode',
            'reloads',
            'seconds',
            'requests',
            'failed',
            'connect',
            'read',
            'write',
            'timeout',
            'non-2xx',
            'most old workers at once',
            'avg latency',
          ],
          rows: results.map((r) => [
            r.mode,
            r.reloads,
            round(r.seconds, 1),
            r.wrk.requests,
            r.wrk.failed,
            r.wrk.connectErrors,
            r.wrk.readErrors,
            r.wrk.writeErrors,
            r.wrk.timeouts,
            r.wrk.non2xx,
            r.maxOldWorkers,
            r.wrk.latencyAvg,
          ]),
        },
      ],
      notes: [
        'Settings and reasons: docs/decisions/0003-reload-safety.md.',
        ...results.filter((r) => r.wrk.failed > 0).map((r) => `${r.mode}: wrk said:\n\n\`\`\`\n${r.wrk.output.trim()}\n\`\`\``),
      ],
    });
  } finally {
    await h?.stop();
    await upstreams.stop();
  }
}

await main();
