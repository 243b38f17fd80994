/**
 * 1,000 certificates on one bind, through a real controller with the files
 * source: 1,000 `kubernetes.io/tls` Secret documents and one Frontend whose
 * TLS bind references them all (a crt-list of 1,000 lines). Measures the
 * first load, render (warm and cold), `haproxy -c`, reload, and the
 * controller's peak RSS; checks that sampled names get their own
 * certificate. The controller runs in this process with the heap policy of
 * `node-haproxy run` (src/heap.ts); the certificates are made by openssl
 * before it starts (bench/lib/bench-certs.ts, cached between runs).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { globalSettings } from '../src/controller.js';
import { HEAP_GROWING_PERCENT, tuneHeap } from '../src/heap.js';
import { API_VERSION } from '../src/model/types.js';
import { SECRETS, type SecretData } from '../src/model/secrets.js';
import { computeDesired } from '../src/reconcile/desired.js';
import { loadRenderer } from '../src/render/render.js';
import { servedCert } from '../test/helpers/tls-client.js';
import { benchCerts, tlsSecretYaml } from './lib/bench-certs.js';
import { HAPROXY_BIN, startHarness } from './lib/harness.js';
import { freeLoopbackPort } from './lib/ports.js';
import { atMost, round, writeResult } from './lib/results.js';

const CERTIFICATES = 1000;
const SAMPLES = 50;
/** The memory targets are in MB (10^6 bytes). */
const MB_PER_MIB = 1.048576;

tuneHeap(); // as `node-haproxy run` does at start
const ms = (t0: number): number => round(performance.now() - t0);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const peakMiB = (): number => Math.round(process.resourceUsage().maxRSS / 1024);
const rssMiB = (pid: number): number => Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024);

function timeCheck(file: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(HAPROXY_BIN, ['-c', '-q', '-f', file], { maxBuffer: 16 << 20 }, (err) => (err ? reject(err) : resolve(ms(t0)))),
  );
}

function appYaml(port: number, serverTimeout: string): string {
  const refs = Array.from({ length: CERTIFICATES }, (_, i) => `        - {name: cert-${i}}`).join('\n');
  return [
    `apiVersion: ${API_VERSION}\nkind: Backend\nmetadata: {name: app}\nspec:\n  timeouts: {server: ${serverTimeout}}\n  members: [{name: a, address: 127.0.0.1, port: 9}]\n`,
    `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata: {name: web}\nspec:\n  binds:\n    - address: 127.0.0.1\n      port: ${port}\n      tls:\n        certificateRefs:\n${refs}\n  defaultBackend: app\n`,
  ].join('---\n');
}

async function main(): Promise<void> {
  const out: Record<string, number | string> = {};
  const certs = await benchCerts(CERTIFICATES);
  out.certsMadeMs = certs.madeMs;
  const baselineMiB = Math.round(process.memoryUsage().rss / 2 ** 20);

  const sourceDir = await mkdtemp(join(tmpdir(), 'nh-bench-tls-src-'));
  const port = await freeLoopbackPort();
  await writeFile(join(sourceDir, 'secrets.yaml'), certs.leaves.map((c, i) => tlsSecretYaml(`cert-${i}`, c.cert, c.key)).join('---\n'));
  await writeFile(join(sourceDir, 'app.yaml'), appYaml(port, '30s'));
  const SETTINGS = { hardStopAfter: '10s' };

  // First load: controller start → HAProxy serving 1,000 certificates (files read, validated, rendered, checked, started).
  let t0 = performance.now();
  const h = await startHarness({ sources: [sourceDir], ...SETTINGS });
  try {
    out.firstLoadMs = ms(t0);
    const start = h.controller.reconciler.last;
    out.firstPassRenderMs = round(start?.renderMs ?? NaN);
    out.peakAfterFirstLoadMiB = peakMiB();
    const config = h.controller.supervisor.paths.config;
    const text = readFileSync(config, 'utf8');
    const crtList = readFileSync(join(h.stateDir, 'certs', 'default_web.0.crtlist'), 'utf8');
    if (crtList.trim().split('\n').length !== CERTIFICATES) throw new Error('the crt-list does not have one line per certificate');

    // Each sampled name gets its own certificate (SNI through the crt-list); an unknown one the first.
    let wrong = 0;
    for (let s = 0; s < SAMPLES; s++) {
      const i = Math.floor((s * CERTIFICATES) / SAMPLES) + (s % 7);
      if ((await servedCert(port, certs.leaves[i]!.name)).serial !== certs.leaves[i]!.serial) wrong++;
    }
    if ((await servedCert(port, 'unknown.test')).serial !== certs.leaves[0]!.serial) wrong++;

    // A structural change through the files source: one reload of the 1,000-certificate bind.
    const reloads0 = await h.reloads();
    const passes0 = h.passes.length;
    t0 = performance.now();
    const reloaded = h.nextPass((p) => p.kind === 'reload' || p.kind === 'failed', 120_000);
    await writeFile(join(sourceDir, 'app.yaml'), appYaml(port, '25s'));
    const r = await reloaded;
    if (r.kind !== 'reload') throw new Error(`structural change: ${r.kind} ${r.error ?? r.reasons.join('; ')}`);
    out.structuralPassMs = ms(t0);
    out.structuralPassDurationMs = round(r.durationMs);
    out.structuralPassRenderMs = round(r.renderMs);
    out.reloadsForStructural = (await h.reloads()) - reloads0;
    out.passesForStructural = h.passes.length - passes0;
    out.peakAfterStructuralMiB = peakMiB();
    out.controllerPeakMiB = peakMiB();

    // render alone, as a pass computes it: warm (parsed certificates cached by Secret object) and
    // cold (every Secret a new object, as after a relist: 1,000 certificates parsed and checked again).
    await h.controller.reconciler.stop();
    const render = loadRenderer();
    const global = globalSettings(h.stateDir, SETTINGS);
    const snapshot = h.controller.store.snapshot();
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t1 = performance.now();
      computeDesired(snapshot, new Map(), global, render);
      warm.push(performance.now() - t1);
    }
    const cold: number[] = [];
    for (let i = 0; i < 3; i++) {
      const secrets = snapshot.discovered.get(SECRETS) as Map<string, SecretData>;
      const copy = new Map([...secrets].map(([k, v]) => [k, { ...v, data: { ...v.data } }]));
      const discovered = new Map(snapshot.discovered);
      discovered.set(SECRETS, copy);
      const t1 = performance.now();
      const d = computeDesired({ declared: snapshot.declared, discovered }, new Map(), global, render);
      cold.push(performance.now() - t1);
      if (d.files?.size !== CERTIFICATES + 1) throw new Error(`expected ${CERTIFICATES + 1} files, got ${d.files?.size}`);
    }
    out.renderWarmMedianMs = round(median(warm));
    out.renderColdMedianMs = round(median(cold));

    // HAProxy alone: haproxy -c on the file, and check + reload + confirm through the supervisor.
    const checks = [await timeCheck(config), await timeCheck(config), await timeCheck(config)];
    out.haproxyCheckMs = median(checks);
    const now = readFileSync(config, 'utf8');
    t0 = performance.now();
    const applied = await h.controller.supervisor.apply(now.replace(/timeout server 25s/, 'timeout server 26s'));
    out.supervisorApplyMs = ms(t0);
    if (!applied.ok) throw new Error(`reload failed: ${applied.output}`);
    out.reloadOnlyMs = round(out.supervisorApplyMs - out.haproxyCheckMs);
    const proc = await h.controller.supervisor.showProc();
    out.haproxyWorkerRssMiB = rssMiB(proc.workers[0]!.pid);
    out.configKiB = Math.round(text.length / 1024);
    out.crtListKiB = Math.round(crtList.length / 1024);

    const mb = (mib: number): number => Math.round(mib * MB_PER_MIB);
    writeResult({
      name: 'tls-scale',
      title: '1,000 certificates on one bind (files source, Secret documents)',
      method:
        `A controller (files source, heap growth ${HEAP_GROWING_PERCENT}% as \`node-haproxy run\` sets it) reads ${CERTIFICATES} \`kubernetes.io/tls\` Secret ` +
        `documents (EC P-256 leaves of one CA, made by openssl and cached between runs) and one Frontend whose TLS bind references all of them, ` +
        `and starts a real HAProxy with a crt-list of ${CERTIFICATES} lines. Then one structural change (a Backend timeout) is written to the files ` +
        `source and reloads. Render (resolve, certificate checks, model, text, files) is timed alone, warm and cold (every Secret a new object); ` +
        `\`haproxy -c\` and the supervisor's check + reload on the same file. ${SAMPLES} sampled names and one unknown name are checked by TLS handshakes.`,
      settings: { certificates: CERTIFICATES, keyType: 'EC P-256', heapGrowingPercent: HEAP_GROWING_PERCENT, sampledNames: SAMPLES },
      targets: [
        atMost(`sampled names served a certificate other than their own (of ${SAMPLES + 1})`, wrong, 0, ''),
        atMost('reloads for one structural change', Number(out.reloadsForStructural), 1, ''),
      ],
      metrics: {
        'first load: controller start → HAProxy serving 1,000 certificates (ms)': out.firstLoadMs,
        'render, warm: certificates parsed before (median of 5, ms)': out.renderWarmMedianMs,
        'render, cold: 1,000 certificates parsed and checked (median of 3, ms)': out.renderColdMedianMs,
        'haproxy -c (median of 3, ms)': out.haproxyCheckMs,
        'reload: check + master CLI reload + confirmed by show proc + settle (ms)': out.supervisorApplyMs,
        'reload without the check (ms)': out.reloadOnlyMs,
        'structural change through the files source: file written → reload pass done (ms)': out.structuralPassMs,
        'of which the pass (render, plan, files, check, reload) (ms)': out.structuralPassDurationMs,
        'controller peak RSS (MB)': mb(Number(out.controllerPeakMiB)),
        'controller RSS before the controller started (MiB)': baselineMiB,
        'controller peak RSS after the first load / the structural change (MiB)': `${out.peakAfterFirstLoadMiB} / ${out.peakAfterStructuralMiB}`,
        'HAProxy worker RSS (MiB)': out.haproxyWorkerRssMiB,
        'haproxy.cfg / crt-list size (KiB)': `${out.configKiB} / ${out.crtListKiB}`,
        'certificates made by openssl this run (ms; 0: from the cache)': out.certsMadeMs,
      },
      notes: [
        'A certificate is parsed and checked once per Secret object (model/certificate.ts): a pass that changes no Secret renders warm.',
        'The first load includes starting HAProxy, which loads the 1,000 certificates itself; `haproxy -c` loads them too, so it dominates a reload.',
        'Peak RSS is the process high-water mark (getrusage): certificate generation runs in openssl child processes, not in this one.',
      ],
    });
  } finally {
    await h.stop();
    await rm(sourceDir, { recursive: true, force: true });
  }
}

await main();
