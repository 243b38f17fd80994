/**
 * Status writes in parallel: a StatusWriter against the test API server
 * (through the real client), many Backends, a pass, and what the API server
 * shows afterwards. No HAProxy: the pass is computed from the store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, startApiServer } from '../k8s/controller-harness.js';
import { backendObject, condition, frontendObject, statusOf } from '../k8s/fixtures.js';
import type { KubeApiTestServer, KubeObject } from '../k8s/index.js';
import { applyBackends, startStatusWriter } from '../k8s/status-writer-harness.js';

const FAST_BACKOFF = { initialMs: 20, maxMs: 100 };

const backend = (server: KubeApiTestServer, o: KubeObject) => server.getObject('Backend', 'default', o.metadata.name!);
const patchesOf = (server: KubeApiTestServer, name: string) => server.requestCount({ verb: 'patch', resource: 'backends/status', name });

/** What `kubectl get backend -o yaml` shows when the status is right for a Backend with `members` ready members. */
function assertWritten(server: KubeApiTestServer, o: KubeObject, members = 2): void {
  const obj = backend(server, o);
  const name = o.metadata.name!;
  assert.equal(condition(obj, 'Accepted')?.status, 'True', `${name} Accepted`);
  assert.equal(condition(obj, 'Programmed')?.status, 'True', `${name} Programmed`);
  assert.equal(condition(obj, 'Programmed')?.reason, 'Programmed', `${name} Programmed reason`);
  assert.equal(statusOf(obj)?.observedGeneration, obj?.metadata.generation, `${name} observedGeneration`);
  assert.deepEqual(statusOf(obj)?.members, { total: members, ready: members }, `${name} members`);
}

const programmed = (server: KubeApiTestServer, o: KubeObject) => condition(backend(server, o), 'Programmed')?.status === 'True';

test('50 Backends written in parallel: every status written exactly once and correct', async (t) => {
  const server = await startApiServer(t, { latencyMs: 5 });
  const objs = applyBackends(server, 50);
  const f = await startStatusWriter(server, { backoff: FAST_BACKOFF });
  t.after(() => f.stop());
  f.pass();
  await eventually('all 50 statuses written', () => objs.every((o) => programmed(server, o)) || undefined);
  // The watch brings every written status back, each a reason to sync again: none may write twice.
  await sleep(300);
  for (const o of objs) {
    assertWritten(server, o);
    assert.equal(patchesOf(server, o.metadata.name!), 1, `${o.metadata.name} patched once`);
  }
  assert.deepEqual(f.writer.stats, { patches: 50, failures: 0 });
});

test('status writes that fail for some Backends are retried with backoff while the others are written', async (t) => {
  const server = await startApiServer(t, { latencyMs: 2 });
  const objs = applyBackends(server, 50);
  const failing = new Set(objs.slice(10, 15).map((o) => o.metadata.name!));
  const isFailing = (path: string) => failing.has(path.split('/').at(-2) ?? '');
  const cancel = server.failRequests({ status: 500, match: (_m, path, verb) => verb === 'patch' && isFailing(path) });
  const f = await startStatusWriter(server, { backoff: FAST_BACKOFF });
  t.after(() => f.stop());
  f.pass();
  const others = objs.filter((o) => !failing.has(o.metadata.name!));
  // Two failed syncs: each failing write failed twice (counted once answered), the others written meanwhile.
  await eventually('the 45 others written, and two syncs of failures counted', () =>
    others.every((o) => programmed(server, o)) && f.writer.stats.failures >= 2 * failing.size ? true : undefined,
  );
  for (const n of failing) {
    assert.equal(statusOf(server.getObject('Backend', 'default', n)), undefined, `${n} has no status while its writes fail`);
    assert.ok(patchesOf(server, n) >= 2, `${n} tried again`);
  }
  cancel();
  await eventually('the failing five written once the API takes them', () => objs.every((o) => programmed(server, o)) || undefined);
  await sleep(200);
  for (const o of objs) assertWritten(server, o);
  for (const o of others) assert.equal(patchesOf(server, o.metadata.name!), 1, `${o.metadata.name} patched once (not again with the retries)`);
  assert.equal(f.writer.stats.patches, 50);
});

test('leadership lost in the middle of a parallel sync: no write starts after it; regained, the rest is written', async (t) => {
  const server = await startApiServer(t, { latencyMs: 25 });
  const objs = applyBackends(server, 80);
  let leader = true;
  const concurrency = 4;
  const f = await startStatusWriter(server, { concurrency, isLeader: () => leader, backoff: FAST_BACKOFF });
  t.after(() => f.stop());
  const patches = () => server.requestCount({ verb: 'patch', resource: 'backends/status' });
  f.pass();
  await eventually('some statuses written', () => patches() >= 8 || undefined, 10_000);
  leader = false;
  const atLoss = patches();
  await sleep(300);
  const after = patches();
  assert.ok(after <= atLoss + concurrency, `at most the ${concurrency} writes in flight finish: ${atLoss} at the loss, ${after} after`);
  assert.ok(after < objs.length, `the sync stopped: ${after} of ${objs.length} written`);
  leader = true;
  f.writer.resync();
  await eventually('every status written after leadership came back', () => objs.every((o) => programmed(server, o)) || undefined);
  for (const o of objs) assertWritten(server, o);
});

test('a status write that keeps failing waits for its backoff between syncs (no retry loop)', async (t) => {
  const server = await startApiServer(t);
  const objs = applyBackends(server, 10);
  const cancel = server.failRequests({ status: 500, match: (_m, _path, verb) => verb === 'patch' });
  const f = await startStatusWriter(server, { backoff: { initialMs: 300, maxMs: 300, jitter: 0 } });
  t.after(() => f.stop());
  f.pass();
  await sleep(1000);
  // Syncs at about 0, 300, 600 and 900 ms: 10 failures each. Without the backoff: hundreds.
  const { failures } = f.writer.stats;
  assert.ok(failures >= 20 && failures <= 60, `failures in 1 s with a 300 ms backoff: ${failures}`);
  cancel();
  await eventually('every status written once the API takes them', () => objs.every((o) => programmed(server, o)) || undefined);
  for (const o of objs) assertWritten(server, o);
});

test('a Frontend rule whose backend is missing: the status names the rule index; fixed, it says how each rule is routed', async (t) => {
  const server = await startApiServer(t, { latencyMs: 1 });
  server.apply(backendObject('app', { members: [{ name: 'm0', address: '127.0.0.1', port: 10_000 }] }));
  server.apply(
    frontendObject('web', {
      binds: [{ address: '127.0.0.1', port: 18080 }],
      defaultBackend: 'app',
      rules: [
        { pathPrefix: '/a', backend: 'app' },
        { matches: { headers: [{ name: 'X-Env', value: 'beta' }] }, backend: 'app' },
        { pathPrefix: '/b', backend: 'missing' },
      ],
    }),
  );
  const f = await startStatusWriter(server, { backoff: FAST_BACKOFF });
  t.after(() => f.stop());
  const accepted = () => condition(server.getObject('Frontend', 'default', 'web'), 'Accepted');
  f.pass();
  const refused = await eventually('the Frontend status written', () => (accepted()?.status === 'False' ? accepted() : undefined));
  assert.equal(refused.reason, 'BackendNotFound');
  assert.match(refused.message ?? '', /rule 2: backend "missing" does not exist/);
  assert.doesNotMatch(refused.message ?? '', /rule [01]:/);

  server.apply(backendObject('missing', { members: [{ name: 'm0', address: '127.0.0.1', port: 10_001 }] }));
  await eventually('the new Backend seen', () => (f.store.snapshot().declared.some((d) => d.key === 'Backend/default/missing') ? true : undefined));
  f.pass();
  const ok = await eventually('the Frontend status re-written', () => (accepted()?.status === 'True' ? accepted() : undefined));
  assert.match(ok.message ?? '', /rules routed by map \(runtime\): 0, 2; by ACL \(reload on change\): 1/);
});
