// The reflector and the leader elector against the Kubernetes API test server
// (the real @kubernetes/client-node over HTTP; no HAProxy).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import { KubeClient, LeaderElector, Reflector, RESOURCES, collectionPath, type WatchRestart } from '../../src/sources/kubernetes/index.js';
import { KubeApiTestServer, waitFor } from '../k8s/index.js';
import { frontendObject } from '../k8s/fixtures.js';

async function setup(t: TestContext, options: ConstructorParameters<typeof KubeApiTestServer>[0] = {}) {
  const server = new KubeApiTestServer({ bookmarkIntervalMs: 100, ...options });
  await server.start();
  t.after(() => server.stop());
  return { server, client: new KubeClient(server.kubeConfig()) };
}

function startReflector(t: TestContext, client: KubeClient, extra: { stallTimeoutMs?: number; resyncPeriodMs?: number } = {}) {
  const restarts: WatchRestart[] = [];
  const changes: string[] = [];
  const r = new Reflector({
    resource: 'frontends',
    kubeConfig: client.kubeConfig,
    path: collectionPath(RESOURCES.frontends),
    list: client.listFunction(RESOURCES.frontends, undefined),
    logger: silentLogger(),
    backoff: { initialMs: 20, maxMs: 200 },
    stallTimeoutMs: extra.stallTimeoutMs ?? 5000,
    resyncPeriodMs: extra.resyncPeriodMs ?? 0,
  });
  r.on('watchRestart', (x) => restarts.push(x));
  r.on('change', (keys) => changes.push(...keys));
  r.start();
  t.after(() => r.stop());
  return { r, restarts, changes };
}

/** The cache equals the server: same names and the same resourceVersions. */
function inSync(r: Reflector, server: KubeApiTestServer): boolean {
  const want = server
    .listObjects('Frontend')
    .map((o) => `${o.metadata.namespace}/${o.metadata.name}@${o.metadata.resourceVersion}`)
    .sort();
  const have = [...r.list()].map((o) => `${o.metadata.namespace}/${o.metadata.name}@${o.metadata.resourceVersion}`).sort();
  return JSON.stringify(want) === JSON.stringify(have);
}

test('reflector: list, then watch; a cut watch resumes from its resourceVersion and loses nothing', async (t) => {
  const { server, client } = await setup(t);
  server.apply(frontendObject('a', { binds: [{ port: 80 }] }));
  const { r, restarts, changes } = startReflector(t, client);
  await waitFor(() => r.synced && inSync(r, server), { what: 'first list' });
  assert.deepEqual(changes, ['default/a']);
  const lists = server.requestCount({ verb: 'list', resource: 'frontends' });
  for (let i = 0; i < 5; i++) {
    await waitFor(() => server.watchCount({ resource: 'frontends' }) > 0, { what: 'a watch open' });
    assert.equal(server.dropAllWatches(), 1);
    server.apply(frontendObject(`n${i}`, { binds: [{ port: 81 + i }] }, i % 2 ? 'other' : 'default'));
    server.remove('Frontend', 'default', i === 0 ? 'a' : `n${i - 1}`);
  }
  await waitFor(() => inSync(r, server), { what: 'cache equal to the server after five cuts' });
  await waitFor(() => restarts.filter((x) => x.reason === 'error').length >= 5, { what: 'five restarts' });
  assert.equal(server.requestCount({ verb: 'list', resource: 'frontends' }), lists, 'resumed from the resourceVersion: no relist');
});

test('reflector: 410 Gone relists (event and HTTP forms) and the cache converges', async (t) => {
  for (const mode of ['event', 'http'] as const) {
    const { server, client } = await setup(t, { expiredWatchResponse: mode });
    const { r, restarts } = startReflector(t, client);
    await waitFor(() => r.synced, { what: 'synced' });
    const cancel = server.failRequests({ status: 503, match: (_m, _p, verb) => verb === 'watch' });
    server.dropAllWatches();
    server.apply(frontendObject('x', { binds: [{ port: 80 }] }));
    server.compactHistory();
    cancel();
    await waitFor(() => inSync(r, server) && restarts.some((x) => x.reason === 'expired' || (x.reason === 'error' && /410|Gone/.test(x.error ?? ''))), {
      what: `relist after 410 (${mode})`,
    });
  }
});

test('reflector: 500s back off with growing delays, then recover', async (t) => {
  const { server, client } = await setup(t);
  const { r, restarts } = startReflector(t, client);
  await waitFor(() => r.synced, { what: 'synced' });
  const cancel = server.failRequests({ status: 500 });
  server.dropAllWatches();
  await waitFor(() => restarts.filter((x) => x.reason === 'error').length >= 4, { what: 'several failed restarts' });
  server.apply(frontendObject('late', { binds: [{ port: 80 }] }));
  cancel();
  await waitFor(() => inSync(r, server), { what: 'recovered' });
  const delays = restarts.filter((x) => x.reason === 'error').map((x) => x.delayMs);
  assert.ok(Math.max(...delays) > Math.min(...delays), `delays grow: ${delays.join(', ')}`);
});

test('reflector: a stalled watch is restarted; periodic relist', async (t) => {
  const { server, client } = await setup(t, { bookmarkIntervalMs: 0 });
  const { r, restarts } = startReflector(t, client, { stallTimeoutMs: 300, resyncPeriodMs: 500 });
  await waitFor(() => r.synced, { what: 'synced' });
  server.stallWatches();
  server.apply(frontendObject('hidden', { binds: [{ port: 80 }] }));
  await waitFor(() => inSync(r, server), { what: 'the hidden change after the stall' });
  await waitFor(() => restarts.some((x) => x.reason === 'stalled') && restarts.some((x) => x.reason === 'resync'), { what: 'stall and resync restarts' });
});

test('leader election: one leader; a clean stop hands over at once; a dead leader after the lease duration', async (t) => {
  const { server, client } = await setup(t);
  const make = (identity: string) => {
    const e = new LeaderElector({
      client,
      namespace: 'default',
      name: 'lock',
      identity,
      logger: silentLogger(),
      leaseDurationMs: 1000,
      renewDeadlineMs: 700,
      retryPeriodMs: 100,
    });
    e.start();
    t.after(() => e.stop());
    return e;
  };
  const a = make('a');
  await waitFor(() => a.isLeader(), { what: 'a leads' });
  const b = make('b');
  const c = make('c');
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual([a.isLeader(), b.isLeader(), c.isLeader()], [true, false, false]);
  assert.equal(b.leader, 'a');

  const released = Date.now();
  await a.stop();
  await waitFor(() => b.isLeader() || c.isLeader(), { what: 'a successor' });
  assert.ok(Date.now() - released < 600, 'a released lease is taken at the next retry');
  const [next, other] = b.isLeader() ? [b, c] : [c, b];
  const lease = server.getObject('Lease', 'default', 'lock')!.spec as { holderIdentity: string; leaseTransitions: number };
  assert.equal(lease.holderIdentity, next.identity);

  // A leader that dies without releasing: the other waits out the lease, measured on its own clock.
  const died = Date.now();
  await (next as LeaderElector).stop({ release: false });
  await waitFor(() => other.isLeader(), { what: 'takeover after expiry', timeoutMs: 3000 });
  const waited = Date.now() - died;
  assert.ok(waited >= 800 && waited <= 1500, `took over after ${waited} ms (lease 1000 ms)`);
  assert.ok((server.getObject('Lease', 'default', 'lock')!.spec as { leaseTransitions: number }).leaseTransitions >= 1);
});
