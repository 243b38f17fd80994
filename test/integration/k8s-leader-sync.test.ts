/**
 * Who may write status, and what the controller does on an older API server,
 * against the Kubernetes API test server with a real HAProxy:
 * - a replica whose caches never synced never takes the Lease nor writes;
 * - a leader whose caches stop being current steps down and releases the
 *   Lease, and campaigns again once they are back;
 * - on a 1.20 server (no discovery.k8s.io/v1) members come from Endpoints by
 *   themselves; a forced --members-from endpointslices fails readiness with the fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log.js';
import { freePort } from '../helpers/haproxy.js';
import { httpGet, startUpstream, waitForHttp } from '../helpers/upstream.js';
import { eventually, startApiServer, startK8sController } from '../k8s/controller-harness.js';
import { backendObject, endpointsObject, frontendObject, serviceObject, sliceObject, statusOf } from '../k8s/fixtures.js';

const holder = (server: Awaited<ReturnType<typeof startApiServer>>) =>
  ((server.getObject('Lease', 'default', 'node-haproxy')?.spec ?? {}) as { holderIdentity?: string | null }).holderIdentity ?? '';

function recordingLogger() {
  const lines: Array<{ level: string; msg: string }> = [];
  return { lines, logger: createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)) }) };
}

test('a replica whose caches never synced never takes the Lease and writes no status', async (t) => {
  const server = await startApiServer(t);
  server.apply(backendObject('app', { members: [] }));
  // Backends cannot be listed: the caches never sync.
  server.failRequests({ status: 500, match: (_m, path, verb) => verb === 'list' && path.includes('/backends') });
  const { logger, lines } = recordingLogger();
  const { controller } = await startK8sController(t, { kubeConfig: server.kubeConfig(), identity: 'unsynced', logger, waitForSync: false });
  await new Promise((r) => setTimeout(r, 1500)); // several retry periods (200 ms)
  assert.equal(controller.kubernetes!.source.synced, false);
  assert.equal(controller.kubernetes!.isLeader(), false);
  assert.equal(server.getObject('Lease', 'default', 'node-haproxy'), undefined, 'no Lease taken (none even created)');
  assert.equal(server.requestCount({ method: 'PATCH' }), 0, 'no status written');
  assert.ok(
    lines.some((l) => /not campaigning yet \(the Kubernetes caches have not synced yet\)/.test(l.msg)),
    'it says why',
  );

  // Once the caches sync it campaigns and writes.
  server.clearFailures();
  await eventually('it leads once synced', () => (holder(server) === 'unsynced' ? true : undefined), 10_000);
  await eventually('status written', () => statusOf(server.getObject('Backend', 'default', 'app'))?.observedGeneration === 1 || undefined);
});

test('a leader whose caches stop being current steps down at once and releases the Lease; it leads again once they are back', async (t) => {
  const server = await startApiServer(t);
  const upstream = await startUpstream('a');
  t.after(() => upstream.close());
  const port = await freePort();
  server.apply(backendObject('app', { members: [{ name: 'a', address: '127.0.0.1', port: upstream.port }] }));
  server.apply(frontendObject('web', { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app' }));
  const { controller } = await startK8sController(t, { kubeConfig: server.kubeConfig(), identity: 'leader', kubernetes: { staleAfterMs: 1000 } });
  await eventually('it leads', () => (holder(server) === 'leader' ? true : undefined), 10_000);
  await eventually('status written', () => statusOf(server.getObject('Backend', 'default', 'app'))?.observedGeneration === 1 || undefined);

  // Backends can no longer be listed or watched (the Lease API still answers).
  const cancel = server.failRequests({ status: 500, match: (_m, path, verb) => (verb === 'list' || verb === 'watch') && path.includes('/backends') });
  server.dropAllWatches();
  const cut = Date.now();
  await eventually('it stepped down', () => (controller.kubernetes!.isLeader() ? undefined : true), 5000);
  const after = Date.now() - cut;
  assert.ok(after >= 900, `stepped down after ${after} ms (staleAfterMs 1000)`);
  await eventually('the Lease was released', () => (holder(server) === '' ? true : undefined), 3000);
  // Meanwhile it writes nothing, and HAProxy keeps serving.
  const patches = server.requestCount({ method: 'PATCH' });
  server.apply({
    ...backendObject('app', { members: [{ name: 'a', address: '127.0.0.1', port: upstream.port }], balance: 'leastconn' }),
    status: server.getObject('Backend', 'default', 'app')!.status,
  });
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(server.requestCount({ method: 'PATCH' }), patches, 'no status written from stale caches');
  assert.equal(holder(server), '', 'it does not take the Lease back while its caches are stale');
  assert.equal((await httpGet(port)).body, 'a');

  cancel();
  await eventually('it leads again', () => (holder(server) === 'leader' ? true : undefined), 10_000);
  await eventually(
    'the new generation is written',
    () => statusOf(server.getObject('Backend', 'default', 'app'))?.observedGeneration === 2 || undefined,
    10_000,
  );
});

test('on a 1.20 API server members come from Endpoints by themselves, and the log says why', async (t) => {
  const server = await startApiServer(t, { emulateVersion: '1.20' });
  const upstream = await startUpstream('a');
  t.after(() => upstream.close());
  const port = await freePort();
  server.apply(serviceObject('web', [{ name: 'http', port: 80 }]));
  server.apply(endpointsObject('web', [{ port: { name: 'http', port: upstream.port }, ready: ['127.0.0.1'] }]));
  server.apply(backendObject('app', { service: { name: 'web', port: 'http' } }));
  server.apply(frontendObject('web', { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app' }));
  const { logger, lines } = recordingLogger();
  const { controller } = await startK8sController(t, { kubeConfig: server.kubeConfig(), logger });
  assert.equal(controller.kubernetes!.source.membersSource, 'endpoints');
  assert.equal((await waitForHttp(port, (r) => r.status === 200, 5000)).body, 'a');
  const warn = lines.find((l) => l.level === 'warn' && /EndpointSlice v1/.test(l.msg));
  assert.match(warn?.msg ?? '', /needs Kubernetes 1\.21 and this API server is v1\.20\.2: members come from core\/v1 Endpoints/);
  assert.equal(server.requestCount({ resource: 'endpointslices' }), 0, 'EndpointSlices are never asked for');
  assert.ok(!lines.some((l) => /list failed/.test(l.msg)), 'no list retried');
});

test('on a 1.20 API server a forced --members-from endpointslices fails readiness with the fix; on a current one it is used', async (t) => {
  const old = await startApiServer(t, { emulateVersion: '1.20' });
  const httpPort = await freePort();
  const { controller } = await startK8sController(t, {
    kubeConfig: old.kubeConfig(),
    identity: 'forced',
    waitForSync: false,
    kubernetes: { membersFrom: 'endpointslices' },
    controller: { httpAddress: { address: '127.0.0.1', port: httpPort } },
  });
  const ready = await eventually('readiness names the problem', async () => {
    const r = await httpGet(httpPort, '/readyz');
    return r.status === 503 && r.body.includes('EndpointSlice') ? (JSON.parse(r.body) as { reasons: string[] }) : undefined;
  });
  assert.ok(
    ready.reasons.some((r) =>
      /kubernetes: --members-from endpointslices: EndpointSlice v1 \(discovery\.k8s\.io\/v1\) needs Kubernetes 1\.21.*v1\.20\.2.*use --members-from endpoints/.test(
        r,
      ),
    ),
    JSON.stringify(ready.reasons),
  );
  assert.equal(controller.kubernetes!.isLeader(), false);
  assert.equal(old.requestCount({ resource: 'endpointslices' }), 0);

  const current = await startApiServer(t);
  current.apply(serviceObject('web', [{ name: 'http', port: 80 }]));
  current.apply(sliceObject('web-1', 'web', { name: 'http', port: 8080 }, [{ address: '127.0.0.1' }]));
  const { controller: c2 } = await startK8sController(t, {
    kubeConfig: current.kubeConfig(),
    identity: 'current',
    kubernetes: { membersFrom: 'endpointslices' },
  });
  assert.equal(c2.kubernetes!.source.membersSource, 'endpointslices');
});
