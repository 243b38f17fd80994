/**
 * Child process of bench/scale: a real controller with 1,000 backends × 100
 * members (100,000 servers) on a real HAProxy. Runs in its own process so its
 * peak RSS is the controller's alone. Prints one JSON line with the numbers.
 * Usage: node scale-child.js <backends> <membersPerBackend> [untuned]
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { computeDesired } from '../../src/reconcile/desired.js';
import { plan } from '../../src/reconcile/plan.js';
import { loadRenderer } from '../../src/render/render.js';
import { globalSettings } from '../../src/controller.js';
import { tuneHeap } from '../../src/heap.js';
import { HAPROXY_BIN, startHarness } from './harness.js';
import { backendResource, declared, frontendResource } from './resources.js';
import { freeLoopbackPort } from './ports.js';

const backends = Number(process.argv[2] ?? '1000');
const perBackend = Number(process.argv[3] ?? '100');
// As `node-haproxy run` does at start, unless asked for V8's defaults (the comparison run).
if (process.argv[4] !== 'untuned') tuneHeap();
const ms = (t0: number): number => Math.round((performance.now() - t0) * 10) / 10;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

function timeCheck(file: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(HAPROXY_BIN, ['-c', '-q', '-f', file], { maxBuffer: 16 << 20 }, (err) => (err ? reject(err) : resolve(ms(t0)))),
  );
}

/** Backend `be-<b>`: members m0..m<n-1> on 10.x.y.z:8080, weight 100 except `weights`. */
function backend(b: number, weights: Record<number, number> = {}, serverTimeout = '30s'): unknown {
  const members = [];
  for (let m = 0; m < perBackend; m++) {
    members.push({ name: `m${m}`, address: `10.${(b >> 8) & 255}.${b & 255}.${m + 1}`, port: 8080, weight: weights[m] ?? 100 });
  }
  return backendResource(`be-${b}`, { members, timeouts: { server: serverTimeout } });
}

const out: Record<string, number | string> = { backends, perBackend, servers: backends * perBackend };
const peak = (): number => Math.round(process.resourceUsage().maxRSS / 1024);
// The controller's modules are loaded (static imports), nothing else is: its RSS before any resource.
out.baselineRssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
const port = await freeLoopbackPort();
const SETTINGS = { hardStopAfter: '10s' };
const h = await startHarness(SETTINGS);
try {
  const fe = (extra: Record<string, unknown>) => frontendResource('web', port, 'be-0', extra);
  const rules = Array.from({ length: Math.min(999, backends - 1) }, (_, i) => ({ host: `h${i + 1}.example.com`, backend: `be-${i + 1}` }));
  const frontend = fe({ rules });

  // Sources change one resource at a time (a watch event, one file): the store keeps the others' objects.
  let t0 = performance.now();
  let base: unknown[] | undefined = [frontend, ...Array.from({ length: backends }, (_, b) => backend(b))];
  out.buildMs = ms(t0);
  t0 = performance.now();
  const applying = h.apply(base, 120_000);
  base = undefined; // the store holds its own validated copies
  const first = await applying;
  out.firstLoadPassMs = ms(t0);
  out.firstLoadKind = first.kind;
  out.peakRssAfterFirstLoadMiB = peak();
  const config = h.controller.supervisor.paths.config;
  out.configMiB = Math.round((readFileSync(config).length / 2 ** 20) * 10) / 10;
  const settle = async (raw: unknown, timeoutMs = 60_000) => {
    const pass = h.nextPass((p) => ['runtime', 'reload', 'noop', 'failed'].includes(p.kind) && h.controller.reconciler.isConverged(), timeoutMs);
    h.writer.put(raw);
    return pass;
  };

  // Member changes through the controller: runtime passes, no reload.
  const reloads0 = await h.reloads();
  const passMs: number[] = [];
  const passRenderMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const p = await settle(backend(100 + i, { 3: 10 + i }));
    if (p.kind !== 'runtime') throw new Error(`member change: expected a runtime pass, got ${p.kind} ${p.reasons.join('; ')}`);
    passMs.push(p.durationMs);
    passRenderMs.push(p.renderMs);
  }
  out.memberPassMedianMs = Math.round(median(passMs));
  out.memberPassRenderMedianMs = Math.round(median(passRenderMs));
  out.memberPassReloads = (await h.reloads()) - reloads0;
  out.peakRssAfterMemberPassesMiB = peak();

  // A structural change: one reload of 100,000 servers through the controller.
  t0 = performance.now();
  const s = await settle(backend(0, {}, '20s'), 120_000);
  out.structuralPassMs = ms(t0);
  out.structuralKind = s.kind;
  out.peakRssAfterStructuralMiB = peak();
  // The controller's own peak: everything above (what follows is measurement only).
  out.controllerPeakRssMiB = peak();

  // render+plan exactly as a pass does it (desired from the whole store, planned against
  // what runs), timed alone; the loop is stopped so that it does not do the same meanwhile.
  await h.controller.reconciler.stop();
  const render = loadRenderer();
  const global = globalSettings(h.stateDir, SETTINGS); // what startController gave the reconciler
  let running = computeDesired(h.controller.store.snapshot(), new Map(), global, render);
  const renderMs: number[] = [];
  const planMs: number[] = [];
  const totalMs: number[] = [];
  for (let i = 0; i < 9; i++) {
    h.writer.put(backend(200 + i, { 7: 50 + i }));
    const t1 = performance.now();
    const desired = computeDesired(h.controller.store.snapshot(), new Map(), global, render);
    const t2 = performance.now();
    const p = plan(desired, running, { runtimeUpdates: true });
    const t3 = performance.now();
    if (p.kind !== 'runtime') throw new Error(`expected a runtime plan, got ${p.kind}`);
    renderMs.push(t2 - t1);
    planMs.push(t3 - t2);
    totalMs.push(t3 - t1);
    running = desired;
  }
  out.renderMedianMs = Math.round(median(renderMs));
  out.planMedianMs = Math.round(median(planMs));
  out.renderPlanMedianMs = Math.round(median(totalMs));
  out.renderPlanMaxMs = Math.round(Math.max(...totalMs));

  // Cold: every resource a new object (a relist, a restart), so every backend is modelled and
  // rendered again, then planned against what runs (same content: a no-op after all that work).
  const fresh = h.controller.store.snapshot().declared.map((d) => declared(JSON.parse(JSON.stringify(d.resource)), 'bench'));
  const coldMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const copy = i === 0 ? fresh : fresh.map((d) => declared(JSON.parse(JSON.stringify(d.resource)), 'bench'));
    const t1 = performance.now();
    const desired = computeDesired({ declared: copy }, new Map(), global, loadRenderer());
    const p = plan(desired, running, { runtimeUpdates: true });
    coldMs.push(performance.now() - t1);
    if (p.kind !== 'noop') throw new Error(`cold plan: expected noop, got ${p.kind}`);
  }
  out.coldRenderPlanMedianMs = Math.round(median(coldMs));
  out.coldRenderPlanMaxMs = Math.round(Math.max(...coldMs));

  // HAProxy alone: haproxy -c on the file, and check + reload + confirm through the supervisor.
  const checks = [await timeCheck(config), await timeCheck(config), await timeCheck(config)];
  out.haproxyCheckMs = median(checks);
  const text = readFileSync(config, 'utf8');
  t0 = performance.now();
  const applied = await h.controller.supervisor.apply(text.replace(/timeout server 20s/, 'timeout server 25s'));
  out.supervisorApplyMs = ms(t0);
  out.reloadOnlyMs = Math.round(out.supervisorApplyMs - out.haproxyCheckMs);
  if (!applied.ok) throw new Error(`reload failed: ${applied.output}`);
  const proc = await h.controller.supervisor.showProc();
  out.haproxyMasterRssMiB = rssMiB(proc.master.pid);
  out.haproxyWorkerRssMiB = rssMiB(proc.workers[0]!.pid);
  out.controllerHeapUsedMiB = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
  (globalThis as { gc?: () => void }).gc?.();
  out.controllerHeapAfterGcMiB = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
} finally {
  await h.stop();
}
process.stdout.write(JSON.stringify(out) + '\n');
