/**
 * A burst of 1,000 member-only changes within one second (10 backends × 100
 * members: weights, drain, maint, addresses, 100 removals and 100 additions),
 * written into the store of a running controller at the pace a busy source
 * would. Counts reloads (target 0) and times convergence after the last change.
 */
import type { Declared } from '../src/model/resolve.js';
import { liveAdmin, parseLiveServers } from '../src/reconcile/server-updater.js';
import type { PassResult } from '../src/reconcile/reconciler.js';
import { atMost, round, writeResult } from './lib/results.js';
import { startHarness } from './lib/harness.js';
import { freeLoopbackPort } from './lib/ports.js';
import { backendResource, declared, frontendResource, type MemberSpec } from './lib/resources.js';
import { sleep } from './lib/wait.js';

const BACKENDS = 10;
const MEMBERS = 100;
const CHANGES = 1000;
const WINDOW_MS = 1000;

async function main(): Promise<void> {
  const frontPort = await freeLoopbackPort();
  const ports = await Promise.all(Array.from({ length: 4 }, () => freeLoopbackPort()));
  const h = await startHarness({}); // controller defaults: debounce 100 ms, min reload interval 1 s
  try {
    const pools: MemberSpec[][] = Array.from({ length: BACKENDS }, () =>
      Array.from({ length: MEMBERS }, (_, m) => ({ name: `m${m}`, port: ports[m % 2]!, weight: 100 })),
    );
    const raw = (b: number) => backendResource(`app-${b}`, { members: pools[b]! });
    await h.apply([frontendResource('web', frontPort, 'app-0'), ...pools.map((_, b) => raw(b))], 60_000);

    // Precompute (validate) every intermediate backend version, so the burst itself only writes the store.
    const writes: Declared[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const b = k % BACKENDS;
      const i = Math.floor(k / BACKENDS); // 0..99
      const pool = pools[b]!;
      const name = `m${i}`;
      const set = (patch: Partial<MemberSpec>) => (pools[b] = pool.map((m) => (m.name === name ? { ...m, ...patch } : m)));
      switch (i % 5) {
        case 0:
          set({ weight: 1 + ((k * 7) % 256) });
          break;
        case 1:
          set({ state: 'drain' });
          break;
        case 2:
          set({ state: 'maint' });
          break;
        case 3:
          set({ port: ports[2 + (k % 2)]! });
          break;
        default:
          // a removal and, in the same backend, an addition of a new member (two changes' worth)
          pools[b] = [...pool.filter((m) => m.name !== name), { name: `n${i}`, port: ports[k % 2]!, weight: 50 }];
          break;
      }
      writes.push(declared(raw(b), 'bench'));
    }
    const final = new Map<string, MemberSpec>();
    pools.forEach((pool, b) => pool.forEach((m) => final.set(`default_app-${b}/${m.name}`, m)));

    const reloads0 = await h.reloads();
    const passes: (PassResult & { endedAt: number })[] = [];
    const onPass = (p: PassResult): void => void passes.push({ ...p, resolution: undefined, endedAt: performance.now() });
    h.controller.reconciler.on('pass', onPass);

    // The burst: every write at its slot in the one-second window.
    const t0 = performance.now();
    let k = 0;
    while (k < writes.length) {
      const due = Math.floor(((performance.now() - t0) / WINDOW_MS) * writes.length) + 1;
      while (k < Math.min(due, writes.length)) h.controller.store.upsert(writes[k++]!);
      if (k < writes.length) await sleep(1);
    }
    const tLast = performance.now();

    // Converged: every live server as the last write says (polled from HAProxy, not taken from the controller).
    const matches = (text: string): boolean => {
      const live = parseLiveServers(text).servers.filter((s) => s.backend.startsWith('default_app-'));
      if (live.length !== final.size) return false;
      return live.every((s) => {
        const m = final.get(`${s.backend}/${s.server}`);
        if (!m) return false;
        const state = m.state ?? 'ready';
        const weight = state === 'drain' ? 0 : (m.weight ?? 100);
        return s.port === m.port && s.weight === weight && (liveAdmin(s) === 'maint') === (state === 'maint');
      });
    };
    let tLive = NaN;
    const deadline = tLast + 10_000;
    while (performance.now() < deadline) {
      const text = await h.controller.runtime.execute('show servers state').catch(() => '');
      if (text.startsWith('1\n') && matches(text)) {
        tLive = performance.now();
        break;
      }
      await sleep(2);
    }
    await h.controller.reconciler.settled();
    h.controller.reconciler.off('pass', onPass);
    const reloads = (await h.reloads()) - reloads0;
    const diffs = await h.fileVsLive();
    const converged = h.controller.reconciler.isConverged();
    const lastPass = passes[passes.length - 1];
    const burstS = (tLast - t0) / 1000;

    const convergeMs = Number.isNaN(tLive) ? Infinity : tLive - tLast;
    writeResult({
      name: 'burst',
      title: 'Burst of 1,000 member changes within one second',
      method:
        `${CHANGES} member-only changes (${BACKENDS} backends × ${MEMBERS} members: weights, drain, maint, address/port; 200 of them remove a member and add another) ` +
        `written into the store of a running controller over ${round(burstS, 2)} s, one store change each, with the controller defaults ` +
        `(debounce 100 ms, minimum reload interval 1 s). Convergence is polled from HAProxy (\`show servers state\` of every server equal to the last write).`,
      settings: { backends: BACKENDS, members: MEMBERS, changes: CHANGES, windowMs: WINDOW_MS, debounceMs: 100, minReloadIntervalMs: 1000 },
      targets: [
        atMost('reloads during the burst', reloads, 0, ''),
        atMost('live in HAProxy after the last change', convergeMs, 1000, 'ms'),
        atMost('differences between haproxy.cfg and show servers state afterwards', diffs.length, 0, ''),
      ],
      metrics: {
        'burst duration (s)': round(burstS, 3),
        'reconcile passes': passes.length,
        'passes by kind': [...passes.reduce((m, p) => m.set(p.kind, (m.get(p.kind) ?? 0) + 1), new Map<string, number>())]
          .map(([kd, n]) => `${kd} ${n}`)
          .join(', '),
        'store changes per pass (max)': Math.max(...passes.map((p) => p.coalesced)),
        'longest pass (ms)': round(Math.max(...passes.map((p) => p.durationMs))),
        'last pass ended after the last change (ms)': lastPass ? round(lastPass.endedAt - tLast) : 'none',
        'controller converged (store version applied)': String(converged),
      },
      tables: [
        {
          title: 'Passes',
          columns: ['#', 'kind', 'store changes', 'summary', 'ms', 'ended (ms after first change)'],
          rows: passes.map((p, i) => [i + 1, p.kind, p.coalesced, p.summary ?? p.reasons.join('; '), round(p.durationMs), round(p.endedAt - t0)]),
        },
      ],
      notes: diffs.length > 0 ? [`file vs live: ${diffs.slice(0, 5).join('; ')}`] : [],
    });
  } finally {
    await h.stop();
  }
}

await main();
