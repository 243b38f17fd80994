/**
 * The Kubernetes path at scale: 1,000 Services × 100 endpoints (100,000
 * servers) through EndpointSlices in the Kubernetes API test server, a
 * real controller with `--source kubernetes` and a real HAProxy. One endpoint
 * change → live in HAProxy (p50/p99), render+plan (slowest of 9) and the
 * controller's peak RSS. The controller runs in a child process
 * (bench/lib/k8s-path-child) so that its RSS is its own; the API server runs
 * in another (bench/lib/k8s-api-child), as a real apiserver runs elsewhere.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HEAP_GROWING_PERCENT } from '../src/heap.js';
import { atMost, writeResult } from './lib/results.js';

const SERVICES = 1000;
const ENDPOINTS = 100;
const CHANGES = 100;
/** The memory target is in MB (10^6 bytes). */
const MB_PER_MIB = 1.048576;

type ChildResult = Record<string, number | string>;

function runChild(without = ''): Promise<ChildResult> {
  const script = fileURLToPath(new URL('./lib/k8s-path-child.js', import.meta.url));
  const args = ['--expose-gc', script, String(SERVICES), String(ENDPOINTS), String(CHANGES), ...(without ? [without] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill('SIGTERM'), 8 * 60_000); // its finally stops HAProxy and the API server
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as ChildResult);
      else reject(new Error(`k8s-path child failed (code ${code}, signal ${signal}): ${out.slice(-500)}`));
    });
  });
}

async function main(): Promise<void> {
  const d = await runChild();
  // Diagnosis: the same run without the state save after each pass (the save is off the path: the two should agree).
  const noSave = await runChild('state-save');
  const n = (k: string, r: ChildResult = d): number => Number(r[k]);
  const mb = Math.round(n('controllerPeakRssMiB') * MB_PER_MIB);
  const live = atMost('endpoint change → live in HAProxy, p99', n('liveP99Ms'), 100, 'ms');
  if (!live.met) {
    live.miss =
      `${Math.round(n('liveP99Ms') - 100)} ms over (p50 ${n('liveP50Ms')} ms, max ${n('liveMaxMs')} ms; load average ${String(d.loadAverage)} during the run). ` +
      `Without the state save: p50 ${n('liveP50Ms', noSave)} ms, p99 ${n('liveP99Ms', noSave)} ms`;
  }
  const rss = atMost(`controller peak RSS (heap growth ${HEAP_GROWING_PERCENT}%, as node-haproxy run sets it)`, mb, 300, 'MB');
  if (!rss.met) {
    rss.miss =
      `${mb - 300} MB over: the live heap after a full GC is ${n('heapAfterFirstLoadGcMiB')} MiB after the first load and ${n('heapAfterGcMiB')} MiB after the changes ` +
      `(bench/scale, files path: ~100 MiB): the Kubernetes client (~90 MB, src/controller.ts) and its caches, every EndpointSlice (100,000 endpoints) and every ` +
      `Frontend/Backend object with its status, beside the members, models and text`;
  }
  writeResult({
    name: 'k8s-path',
    title: 'Kubernetes path: 1,000 Services × 100 endpoints (EndpointSlices)',
    method:
      `The Kubernetes API test server (test/k8s, in a child process) holds ${SERVICES} Services, each with one EndpointSlice of ${ENDPOINTS} ready endpoints, ` +
      `a Backend per Service (spec.service) and one Frontend with ${SERVICES - 1} host rules. A controller with --source kubernetes (no leader election: it writes status) ` +
      `in its own process, with a real HAProxy, lists and watches them (100,000 servers). Then ${CHANGES} endpoint changes, one at a time (an endpoint not ready, then ready again; ` +
      `its EndpointSlice replaced, as the endpoint-slice controller does), each timed from the write to the API server until \`show servers state\` of its backend ` +
      `(polled every ~1 ms) shows it, spaced beyond the debounce window (100 ms, the default). Render+plan is timed alone on 9 more endpoint changes ` +
      `(desired state from the whole store: resolve with the discovered members, model, render; then the plan), with the loop stopped.`,
    settings: {
      services: SERVICES,
      endpointsPerService: ENDPOINTS,
      servers: SERVICES * ENDPOINTS,
      changes: CHANGES,
      debounceMs: 100,
      heapGrowingPercent: HEAP_GROWING_PERCENT,
    },
    targets: [
      atMost('render+plan of 100,000 servers, one endpoint changed (slowest of 9)', n('renderPlanMaxMs'), 20, 'ms'),
      live,
      rss,
      atMost(`reloads during the ${CHANGES} endpoint changes`, n('reloadsDuringChanges'), 0, ''),
    ],
    metrics: {
      'endpoint change → live, p50 (ms)': n('liveP50Ms'),
      'endpoint change → live, p99 (ms)': n('liveP99Ms'),
      'endpoint change → live, max (ms)': n('liveMaxMs'),
      'passes during the changes, by kind': String(d.passKinds),
      'load average (1 min) at the start → end of the changes (CPU noise)': String(d.loadAverage),
      'diagnosis, without the state save: load average': String(noSave.loadAverage),
      'render+plan, median (ms)': n('renderPlanMedianMs'),
      'of which render (resolve, model, text), median (ms)': n('renderMedianMs'),
      'of which plan, median (ms)': n('planMedianMs'),
      'caches synced (list of every kind), from start (ms)': n('syncMs'),
      'first load converged (100,000 servers live), from start (ms)': n('firstLoadMs'),
      'controller peak RSS after the first load / after the changes (MiB)': `${n('peakRssAfterFirstLoadMiB')} / ${n('controllerPeakRssMiB')}`,
      'controller RSS before any resource (MiB)': n('baselineRssMiB'),
      'controller heap after a full GC, after the first load / after the changes (MiB)': `${n('heapAfterFirstLoadGcMiB')} / ${n('heapAfterGcMiB')}`,
      'memory after the changes (MiB)': String(d.memoryAfterChangesMiB),
      'runtime pass through the controller, median (ms, incl. render, plan, runtime API, haproxy.cfg write; the state save follows the pass)':
        n('passMedianMs'),
      'diagnosis, without the state save: live p50 / p99 (ms)': `${n('liveP50Ms', noSave)} / ${n('liveP99Ms', noSave)}`,
      'diagnosis, without the state save: runtime pass median (ms)': n('passMedianMs', noSave),
    },
    notes: [
      'Before (2026-11-26 02:49, committed then): peak RSS 319 MB (304 MiB), heap after a full GC 104 MiB after the first load. What held it, measured by ' +
        'emptying each cache of a synced controller and collecting: the EndpointSlice cache ~15 MiB (each endpoint an object, an addresses array and a ' +
        'conditions object), Services and Frontend/Backend objects ~2 MiB; @kubernetes/client-node itself ~30 MiB of heap (17 MiB of it the source text of its ' +
        'generated API and models, which V8 keeps) and ~70 MiB of RSS, before any resource. The caches now keep only what the source reads (docs/kubernetes.md, ' +
        'Watches): the EndpointSlice cache is ~3 MiB, each listed page is trimmed as it arrives; heap after the first load 91-93 MiB. The state save after each ' +
        'pass wrote pieces of 1 Mi characters, each a large-object-space string freed only by a full GC: ~20 MiB of peak RSS (measured with and without the ' +
        'save); pieces of 32 Ki characters are young-generation garbage (src/reconcile/persist.ts).',
      'The trimmed caches were first measured at load average above 20 (peak RSS 295-296 MB, latencies not comparable); the run recorded here is on a quiet ' +
        'machine with everything merged that day (pending member deletions kept across restarts, the declaring source of each resource in the running state): ' +
        'peak RSS 298 MB, 2 MB under the target, so the margin is thin; the next lever is the Kubernetes client itself (~70 MiB of RSS before any resource).',
      'Before (2026-11-26, bench/results as committed then): live p99 116 ms, peak RSS 675 MB, heap after a full GC 342 MiB. The state save ' +
        '(JSON of the 100,000-server model and text, ~70 ms) ran inside each pass; now the loop saves after the pass, one save at a time, the latest state only, ' +
        "in pieces of ~1 MB that wait for a running pass (src/reconcile/persist.ts). The peak RSS and most of that heap were the benchmark's own: it parsed " +
        "`show servers state` of 100,000 servers (~170 MiB of objects) in the controller's process and held it to the end; it now counts the lines as they stream. " +
        'The Kubernetes source kept the JSON of every declared resource and member list as its change signature (~26 MiB at this scale); it keeps a digest.',
      'Before (measured 2026-11-25 on this machine with the merge cache of model/discovered.ts turned off, as resolve was: every Service-backed Backend a new object on every pass, ' +
        '10 changes): render+plan median 198 ms, slowest 514 ms; endpoint change → live p50 546 ms, p99 934 ms; runtime pass median 706 ms.',
      'An unchanged Service-backed Backend resolves to the same object from pass to pass (model/discovered.ts: keyed by the declared resource and the discovered members), ' +
        'so its model and text come from the caches; an endpoint change re-models and re-renders one backend.',
      'The status writer checks a resource again only when an input of its status changed (by identity); before, every pass checked all 2,000 and stringified ' +
        "every Backend's members, which put ~60 ms before the pass that applies the change (live p50 was ~90 ms, now " +
        n('liveP50Ms') +
        ' ms).',
      'Live includes the watch event to the controller (loopback HTTP, JSON), the EndpointSlice → members step, the pass (render, plan, runtime API) and the poll of show servers state.',
    ],
  });
}

await main();
