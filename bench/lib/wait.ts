/** Polling helpers for benchmarks: how long until HAProxy shows something. */
import type { RuntimeApi } from '../../src/haproxy/runtime.js';
import { parseLiveServers, type LiveServer } from '../../src/reconcile/server-updater.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `show servers state <backend>` every `everyMs` until `pred` holds for
 * the servers, and resolves with the time it first held (performance.now()).
 * Socket errors (a reload in progress) count as "not yet". Rejects after timeoutMs.
 */
export async function untilLive(
  api: RuntimeApi,
  backend: string,
  pred: (servers: Map<string, LiveServer>) => boolean,
  o: { everyMs?: number; timeoutMs?: number } = {},
): Promise<number> {
  const deadline = performance.now() + (o.timeoutMs ?? 10_000);
  for (;;) {
    try {
      const text = await api.execute(`show servers state ${backend}`);
      const seen = performance.now();
      if (text.startsWith('1\n')) {
        const servers = new Map(parseLiveServers(text).servers.map((s) => [s.server, s]));
        if (pred(servers)) return seen;
      }
    } catch {
      // reload in progress: the stats socket moves to the new worker
    }
    if (performance.now() > deadline) throw new Error(`backend ${backend} did not reach the expected state within ${o.timeoutMs ?? 10_000} ms`);
    await sleep(o.everyMs ?? 1);
  }
}
