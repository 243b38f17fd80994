/**
 * The Kubernetes source under API faults: watches cut mid-stream, 410 Gone
 * (in-stream and as HTTP), 500s for a while, stalled streams. Changes made
 * during each fault must all arrive: the controller converges to the final
 * desired state (traffic and status) with nothing lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/haproxy.js';
import { sampleBodies, startUpstream, type Upstream } from '../helpers/upstream.js';
import { eventually, startApiServer, startK8sController } from '../k8s/controller-harness.js';
import { applySpec, backendObject, condition, frontendObject, serviceObject, sliceObject, statusOf } from '../k8s/fixtures.js';

async function answering(port: number, n: number): Promise<string[]> {
  return [...(await sampleBodies(port, n)).keys()].map((k) => k.replace(/^200 /, '')).sort();
}

test('faults: dropped watches, 410, 500s and stalls; every change made meanwhile arrives', async (t) => {
  const server = await startApiServer(t, { bookmarkIntervalMs: 200 });
  const ups: Upstream[] = await Promise.all(['u0', 'u1', 'u2', 'u3', 'u4', 'u5'].map(startUpstream));
  t.after(() => Promise.all(ups.map((u) => u.close())));
  const port = await freePort();
  const slice = (i: number, ready = true) => sliceObject(`web-${i}`, 'web', { name: 'http', port: ups[i]!.port }, [{ address: '127.0.0.1', ready }]);
  server.apply(serviceObject('web', [{ name: 'http', port: 80 }]));
  server.apply(slice(0));
  applySpec(server, backendObject('app', { service: { name: 'web', port: 'http' } }));
  applySpec(server, frontendObject('web', { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app' }));
  const { controller, restarts } = await startK8sController(t, {
    kubeConfig: server.kubeConfig(),
    kubernetes: { leaderElection: false, stallTimeoutMs: 1500 },
  });
  const reloads: string[] = [];
  controller.reconciler.on('pass', (p) => {
    if (p.kind === 'reload' || p.kind === 'failed') reloads.push(`${p.kind}: ${p.reasons.join('; ')}${p.error ? ` (${p.error})` : ''}`);
  });

  /** Waits until exactly `names` answer and the Backend status says so for its current generation. */
  const converged = async (names: string[], what: string) => {
    let seen: string[] = [];
    await eventually(
      `${what}: ${names.join(', ')} answer (last: ${seen.join(', ')})`,
      async () => {
        seen = await answering(port, names.length * 4 + 4);
        return JSON.stringify(seen) === JSON.stringify(names) || undefined;
      },
      15_000,
    );
    await eventually(
      `${what}: status shows ${names.length} ready member(s) for the current generation`,
      () => {
        const be = server.getObject('Backend', 'default', 'app');
        const s = statusOf(be);
        return (
          (s?.members?.ready === names.length && s.observedGeneration === be?.metadata.generation && condition(be, 'Programmed')?.status === 'True') ||
          undefined
        );
      },
      15_000,
    );
  };

  await converged(['u0'], 'start');

  await t.test('every watch cut mid-stream while changes are made', async () => {
    const before = restarts.length;
    assert.ok(server.dropAllWatches() >= 4, 'four watches were open');
    server.apply(slice(1));
    server.apply(slice(2));
    server.dropAllWatches();
    server.remove('EndpointSlice', 'default', 'web-0');
    await converged(['u1', 'u2'], 'after cut watches');
    assert.ok(
      restarts.slice(before).some((r) => r.reason === 'error'),
      'the cuts were seen and the watches restarted',
    );
  });

  await t.test('410 Gone in the stream: relist, nothing lost', async () => {
    const before = restarts.length;
    server.setExpiredWatchResponse('event');
    server.dropAllWatches({ graceful: true });
    server.apply(slice(3));
    server.apply(slice(1, false));
    server.compactHistory();
    await converged(['u2', 'u3'], 'after 410 (event)');
    assert.ok(
      restarts.slice(before).some((r) => r.reason === 'expired'),
      `a 410 was seen: ${JSON.stringify(restarts.slice(before))}`,
    );
  });

  await t.test('410 Gone as an HTTP answer: relist, nothing lost', async () => {
    const lists = server.requestCount({ verb: 'list' });
    server.setExpiredWatchResponse('http');
    // Hold the watches off until the history is gone, so every restart is too old.
    const cancel = server.failRequests({ status: 503, match: (_m, _p, verb) => verb === 'watch' });
    server.dropAllWatches();
    server.apply(slice(4));
    server.remove('EndpointSlice', 'default', 'web-2');
    server.compactHistory();
    cancel();
    await converged(['u3', 'u4'], 'after 410 (http)');
    assert.ok(server.requestCount({ verb: 'list' }) > lists, 'the caches listed again');
    server.setExpiredWatchResponse('event');
  });

  await t.test('500s on every request for a while: retried with backoff; status written once the API is back', async () => {
    const before = restarts.length;
    const cancel = server.failRequests({ status: 500, forMs: 1500 });
    server.dropAllWatches();
    server.apply(slice(5));
    server.apply(slice(1));
    applySpec(server, backendObject('app', { service: { name: 'web', port: 80 } })); // a new generation while the API fails
    await new Promise((r) => setTimeout(r, 1600));
    cancel();
    await converged(['u1', 'u3', 'u4', 'u5'], 'after 500s');
    const failed = restarts.slice(before).filter((r) => r.reason === 'error');
    assert.ok(failed.length >= 2, `watch restarts during the 500s: ${failed.length}`);
    assert.ok(
      failed.some((r) => r.delayMs > 0),
      'restarts back off',
    );
  });

  await t.test('a stalled watch is restarted and the change it hid arrives', async () => {
    const before = restarts.length;
    server.setBookmarkInterval(0);
    server.stallWatches();
    server.remove('EndpointSlice', 'default', 'web-5');
    await converged(['u1', 'u3', 'u4'], 'after stall');
    assert.ok(
      restarts.slice(before).some((r) => r.reason === 'stalled'),
      'stall detected',
    );
    server.setBookmarkInterval(200);
  });

  await t.test('a burst of 50 changes during a cut: the last state wins', async () => {
    for (let i = 0; i < 50; i++) {
      if (i === 25) server.dropAllWatches();
      server.apply(slice(i % 6, i % 2 === 0));
    }
    // Final states: i = 44..49 → slices 2,3,4,5,0,1 with ready = i even: 2,4,0 ready.
    await converged(['u0', 'u2', 'u4'], 'after the burst');
  });

  await t.test('no reload at all: members moved through the runtime API, and the spec change rendered the same configuration', async () => {
    await controller.reconciler.settled();
    // The Backend's spec change (port by name → by number) renders the same configuration: no reload at all.
    assert.equal(await controller.supervisor.reloadCount(), 0, `reloads: ${reloads.join(' | ')}`);
  });
});
