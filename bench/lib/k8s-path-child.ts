/**
 * Child process of bench/k8s-path: a real controller with `--source
 * kubernetes` on the Kubernetes API test server (in its own child process,
 * bench/lib/k8s-api-child) and a real HAProxy: 1,000 Services × 100
 * endpoints through EndpointSlices. Runs in its own process so that its peak
 * RSS is the controller's alone. Prints one JSON line with the numbers.
 * Usage: node k8s-path-child.js <services> <endpointsPerService> <changes> [without]
 * `without` (diagnosis only, comma-separated): `state-save` turns off saving the
 * controller's state after each pass, `status` stops the status writer, both
 * after the first load, to show what the per-pass work after a change costs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeHeapSnapshot } from 'node:v8';
import { globalSettings, startController, type Controller } from '../../src/controller.js';
import { findProcessesWithArg, signalProcess, waitForExit } from '../../src/haproxy/process.js';
import { streamCommand } from '../../src/haproxy/socket.js';
import { tuneHeap } from '../../src/heap.js';
import { silentLogger } from '../../src/log.js';
import { proxyName } from '../../src/model/naming.js';
import { computeDesired } from '../../src/reconcile/desired.js';
import { plan } from '../../src/reconcile/plan.js';
import { loadRenderer } from '../../src/render/render.js';
import { HAPROXY_BIN } from './harness.js';
import { endpointAddress, serviceBackendName, startRemoteApiServer } from './k8s-api-child.js';
import { freeLoopbackPort } from './ports.js';

const services = Number(process.argv[2] ?? '1000');
const perService = Number(process.argv[3] ?? '100');
const changes = Number(process.argv[4] ?? '100');
const without = new Set((process.argv[5] ?? '').split(',').filter(Boolean));
tuneHeap(); // as `node-haproxy run` does at start
const ms = (t0: number): number => Math.round((performance.now() - t0) * 100) / 100;
const peak = (): number => Math.round(process.resourceUsage().maxRSS / 1024);
/** The debounce window of the controller (its default): changes are spaced beyond it, as in bench/member-change. */
const DEBOUNCE_MS = 100;

const out: Record<string, number | string> = { services, perService, servers: services * perService };
out.baselineRssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
const api = await startRemoteApiServer();
const stateDir = await mkdtemp(join(tmpdir(), 'nh-k8s-bench-'));
let controller: Controller | undefined;
try {
  const port = await freeLoopbackPort();
  await api.applyServices(services, perService, port);
  const settings = { hardStopAfter: '10s' };
  const global = globalSettings(stateDir, settings);
  let t0 = performance.now();
  controller = await startController({
    sources: ['kubernetes'],
    stateDir,
    haproxyBin: HAPROXY_BIN,
    logger: silentLogger(),
    debounceMs: DEBOUNCE_MS,
    ...settings,
    kubernetes: { kubeConfig: api.kubeConfig(), identity: 'bench', leaderElection: false },
  });
  const c = controller;
  await c.kubernetes!.source.whenSynced();
  out.syncMs = ms(t0);
  const deadline = Date.now() + 180_000;
  while (!(c.reconciler.haproxyStarted && c.reconciler.isConverged())) {
    if (Date.now() > deadline)
      throw new Error(`first load not converged after 180 s (last pass: ${c.reconciler.last?.kind} ${c.reconciler.last?.error ?? ''})`);
    await sleep(20);
  }
  await c.reconciler.settled();
  out.firstLoadMs = ms(t0);
  out.peakRssAfterFirstLoadMiB = peak();
  const gcNow = (globalThis as { gc?: () => void }).gc;
  if (gcNow) {
    gcNow();
    out.heapAfterFirstLoadGcMiB = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
  }
  // Counted as the reply streams by: parsed (RuntimeApi.showServersState) the state of 100,000
  // servers is ~170 MiB of heap in this process, which is the controller's. Before 2026-11-26 the
  // bench parsed it and held it to its end: that was the controller's peak RSS after the changes
  // and most of its "heap after a full GC".
  let lines = 0;
  let previous = '\n';
  await streamCommand(global.adminSocket, 'show servers state', (text) => {
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '\n' && previous !== '\n') lines++; // non-empty lines
      previous = text[i]!;
    }
  });
  const liveServers = lines - 2; // the format version and the column header
  out.liveServers = liveServers;
  if (liveServers !== services * perService) throw new Error(`expected ${services * perService} live servers, found ${liveServers}`);

  if (without.has('state-save')) (c.reconciler as unknown as { o: { persistence?: unknown } }).o.persistence = undefined;
  if (without.has('status')) await c.kubernetes!.status.stop();
  out.without = [...without].join(',');
  // One endpoint change at a time: ready → not ready (maint) and back, timed from the
  // write to the API server until `show servers state` of its backend shows it.
  const passKinds: Record<string, number> = {};
  const passMs: number[] = [];
  const passRenderMs: number[] = [];
  c.reconciler.on('pass', (p: { kind: string; durationMs: number; renderMs: number }) => {
    passKinds[p.kind] = (passKinds[p.kind] ?? 0) + 1;
    passMs.push(p.durationMs);
    passRenderMs.push(p.renderMs);
  });
  const reloads0 = await c.supervisor.reloadCount();
  const loadBefore = loadavg()[0]!.toFixed(2);
  const liveMs: number[] = [];
  for (let i = 0; i < changes; i++) {
    const svc = (i * 37) % services;
    const ep = (i * 13) % perService;
    const ready = i % 2 === 1; // odd: back to ready (the same endpoint as the change before)
    const s = ready ? ((i - 1) * 37) % services : svc;
    const e = ready ? ((i - 1) * 13) % perService : ep;
    const backend = proxyName('default', serviceBackendName(s));
    // Timed in the API server's process, from its store write until HAProxy shows the change:
    // this process's event loop (the controller's) does not delay the observation.
    const took = await api.setEndpointReadyUntilLive(s, e, ready, global.adminSocket, backend, 30_000);
    if (took < 0) throw new Error(`${backend} endpoint ${endpointAddress(s, e)} not ${ready ? 'ready' : 'maint'} after 30 s`);
    liveMs.push(took);
    // The next change once this pass is done and the debounce window has passed.
    while (!c.reconciler.isConverged()) await sleep(2);
    await sleep(DEBOUNCE_MS + 20);
  }
  // CPU noise: the 1-minute load average (this machine has few cores, and others may run on it).
  out.loadAverage = `${loadBefore} → ${loadavg()[0]!.toFixed(2)}`;
  const sorted = [...liveMs].sort((a, b) => a - b);
  const pct = (p: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! * 100) / 100;
  out.liveP50Ms = pct(50);
  out.liveP99Ms = pct(99);
  out.liveMaxMs = Math.round(sorted[sorted.length - 1]! * 100) / 100;
  const mid = (xs: number[]): number => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! * 10) / 10;
  out.passMedianMs = mid(passMs);
  out.passRenderMedianMs = mid(passRenderMs);
  out.reloadsDuringChanges = (await c.supervisor.reloadCount()) - reloads0;
  out.passKinds = Object.entries(passKinds)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  out.controllerPeakRssMiB = peak();
  const mem = process.memoryUsage();
  out.memoryAfterChangesMiB = `rss ${Math.round(mem.rss / 2 ** 20)}, heap used ${Math.round(mem.heapUsed / 2 ** 20)} of ${Math.round(mem.heapTotal / 2 ** 20)}, external ${Math.round(mem.external / 2 ** 20)}`;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    out.heapAfterGcMiB = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
  }
  // Diagnosis: K8S_PATH_HEAP_SNAPSHOT=<file> writes a heap snapshot here (after the changes, after a GC).
  if (process.env.K8S_PATH_HEAP_SNAPSHOT) writeHeapSnapshot(process.env.K8S_PATH_HEAP_SNAPSHOT);

  // render+plan as a pass does it (desired from the whole store, planned against what
  // runs), timed alone: the loop is stopped, the Kubernetes source keeps writing the store.
  await c.reconciler.stop();
  const render = loadRenderer();
  let running = computeDesired(c.store.snapshot(), new Map(), global, render);
  const renderMs: number[] = [];
  const planMs: number[] = [];
  const totalMs: number[] = [];
  for (let i = 0; i < 9; i++) {
    const s = (i * 101 + 7) % services;
    const key = `Backend/default/${serviceBackendName(s)}`;
    const before = c.store.snapshot().discoveredMembers.get(key);
    await api.setEndpointReady(s, i, false);
    const wait = Date.now() + 10_000;
    while (c.store.snapshot().discoveredMembers.get(key) === before) {
      if (Date.now() > wait) throw new Error(`the endpoint change of ${key} did not reach the store`);
      await sleep(1);
    }
    const t1 = performance.now();
    const desired = computeDesired(c.store.snapshot(), new Map(), global, render);
    const t2 = performance.now();
    const p = plan(desired, running, { runtimeUpdates: true });
    const t3 = performance.now();
    if (p.kind !== 'runtime') throw new Error(`expected a runtime plan, got ${p.kind}`);
    renderMs.push(t2 - t1);
    planMs.push(t3 - t2);
    totalMs.push(t3 - t1);
    running = desired;
  }
  const median = (xs: number[]): number => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! * 10) / 10;
  out.renderMedianMs = median(renderMs);
  out.planMedianMs = median(planMs);
  out.renderPlanMedianMs = median(totalMs);
  out.renderPlanMaxMs = Math.round(Math.max(...totalMs) * 10) / 10;
} finally {
  await controller?.stop({ stopHaproxy: true }).catch(() => undefined);
  const left = findProcessesWithArg(join(stateDir, 'master.sock'));
  for (const pid of left) signalProcess(pid, 'SIGKILL');
  await waitForExit(left, 2000);
  await rm(stateDir, { recursive: true, force: true });
  await api.stop();
}
process.stdout.write(JSON.stringify(out) + '\n');
