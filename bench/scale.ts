/**
 * Scale: 1,000 backends × 100 members (100,000 servers) through a real
 * controller and HAProxy. Render+plan time of a member change, the
 * controller's peak RSS, `haproxy -c` and reload time. The controller runs in
 * a child process (bench/lib/scale-child) so that its RSS is its own: once
 * as `node-haproxy run` runs (V8's heap growth set to 20% at start,
 * src/heap.ts), once with V8's defaults for comparison.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HEAP_GROWING_PERCENT } from '../src/heap.js';
import { atMost, writeResult } from './lib/results.js';

const BACKENDS = 1000;
const MEMBERS = 100;
const TUNED = `heap growth ${HEAP_GROWING_PERCENT}%, as node-haproxy run sets it`;
/** The memory target is in MB (10^6 bytes). */
const MB_PER_MIB = 1.048576;

type ChildResult = Record<string, number | string>;

function runChild(mode: 'as-cli' | 'untuned'): Promise<ChildResult> {
  const script = fileURLToPath(new URL('./lib/scale-child.js', import.meta.url));
  const child = spawn(process.execPath, [script, String(BACKENDS), String(MEMBERS), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill('SIGTERM'), 5 * 60_000); // its finally stops HAProxy
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as ChildResult);
      else reject(new Error(`scale child failed (code ${code}, signal ${signal}): ${out.slice(-500)}`));
    });
  });
}

async function main(): Promise<void> {
  const d = await runChild('as-cli');
  const u = await runChild('untuned');
  const n = (r: ChildResult, k: string): number => Number(r[k]);
  const mb = (r: ChildResult): number => Math.round(n(r, 'controllerPeakRssMiB') * MB_PER_MIB);
  writeResult({
    name: 'scale',
    title: 'Scale: 1,000 backends × 100 members (100,000 servers)',
    method:
      `A controller in its own process, with the heap policy \`node-haproxy run\` sets at start (V8 heap growth ${HEAP_GROWING_PERCENT}%, src/heap.ts), ` +
      `loads ${BACKENDS} backends × ${MEMBERS} members and one frontend with 999 host rules into a real HAProxy ` +
      `(one reload), then takes 5 member changes (runtime passes) and one structural change (a reload). Render+plan is timed alone on 9 more ` +
      `one-member changes: desired state from the whole store (resolve, model, render) and the plan against what runs, as a pass does it. ` +
      `Sources change one resource at a time (as a watch event does), so the store keeps the other resources' objects. ` +
      `The same run was repeated with V8's defaults, for comparison. RSS is read from /proc (MiB); the target is 300 MB (10^6 bytes).`,
    settings: { backends: BACKENDS, membersPerBackend: MEMBERS, servers: BACKENDS * MEMBERS, heapGrowingPercent: HEAP_GROWING_PERCENT },
    targets: [
      atMost('render+plan of 100,000 servers, one member changed (slowest of 9)', n(d, 'renderPlanMaxMs'), 500, 'ms'),
      atMost(
        'render+plan of 100,000 servers, cold (every resource a new object: all modelled and rendered; slowest of 3)',
        n(d, 'coldRenderPlanMaxMs'),
        500,
        'ms',
      ),
      atMost(`controller peak RSS (${TUNED})`, mb(d), 300, 'MB'),
      atMost('reloads for 5 member changes at 100,000 servers', n(d, 'memberPassReloads'), 0, ''),
    ],
    metrics: {
      'render+plan, one member changed: median (ms)': n(d, 'renderPlanMedianMs'),
      'of which render (resolve, model, text), median (ms)': n(d, 'renderMedianMs'),
      'of which plan, median (ms)': n(d, 'planMedianMs'),
      'runtime pass through the controller, median (ms, incl. render, plan, runtime API, haproxy.cfg write, state save)': n(d, 'memberPassMedianMs'),
      'haproxy.cfg size (MiB)': n(d, 'configMiB'),
      'haproxy -c (ms, median of 3)': n(d, 'haproxyCheckMs'),
      'reload: check + master CLI reload + confirmed by show proc + 250 ms settle (ms)': n(d, 'supervisorApplyMs'),
      'reload without the check (ms)': n(d, 'reloadOnlyMs'),
      'structural change through the controller, store write → pass done (ms)': n(d, 'structuralPassMs'),
      'first load (empty → 100,000 servers), store write → pass done (ms)': n(d, 'firstLoadPassMs'),
      'controller peak RSS after the first load / member passes / structural pass (MiB)': `${n(d, 'peakRssAfterFirstLoadMiB')} / ${n(d, 'peakRssAfterMemberPassesMiB')} / ${n(d, 'peakRssAfterStructuralMiB')}`,
      'same with V8 defaults (MiB)': `${n(u, 'peakRssAfterFirstLoadMiB')} / ${n(u, 'peakRssAfterMemberPassesMiB')} / ${n(u, 'peakRssAfterStructuralMiB')}`,
      'controller peak RSS with V8 defaults (MB)': mb(u),
      'render+plan, one member changed, slowest of 9, with V8 defaults (ms)': n(u, 'renderPlanMaxMs'),
      'controller RSS before any resource (MiB)': n(d, 'baselineRssMiB'),
      'HAProxy worker RSS (MiB)': n(d, 'haproxyWorkerRssMiB'),
      'HAProxy master RSS (MiB)': n(d, 'haproxyMasterRssMiB'),
    },
    notes: [
      'Render is incremental: a backend is rendered once per model object and unchanged backends keep their model (per resource object), so a one-member change re-renders one backend; the planner skips unchanged backends by identity.',
      'Each HAProxy worker of this configuration takes ~570 MiB: during a reload the old and the new worker both hold it until the old one has finished its connections (mworker-max-reloads and hard-stop-after bound how many).',
      `Memory: the process is ${n(d, 'baselineRssMiB')} MiB before any resource (the Kubernetes and etcd clients are loaded only with their source); ` +
        `the live heap after a full GC is ~100 MiB at 100,000 servers, of which ~35 MiB is the servers' data (resources, models, rendered text). ` +
        `With V8's defaults the old generation grows to 3-4× the live heap before a collection (peak ${mb(u)} MB); node-haproxy run sets the growth ` +
        `to ${HEAP_GROWING_PERCENT}% at start (an operator's own node --heap-growing-percent is kept).`,
    ],
  });
}

await main();
