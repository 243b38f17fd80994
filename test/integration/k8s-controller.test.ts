/**
 * The Kubernetes source end to end: the test API server, the real controller,
 * a real HAProxy and real upstream servers. Frontend/Backend custom resources,
 * a Service and its EndpointSlices in; traffic, status and events out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/haproxy.js';
import { sampleBodies, startUpstream, waitForHttp, type Upstream } from '../helpers/upstream.js';
import { eventually, startApiServer, startK8sController } from '../k8s/controller-harness.js';
import { applySpec, backendObject, condition, endpointsObject, frontendObject, serviceObject, sliceObject, statusOf } from '../k8s/fixtures.js';
import type { KubeApiTestServer } from '../k8s/index.js';

/** Upstreams by name, closed after the test. */
async function upstreams(t: import('node:test').TestContext, ...names: string[]): Promise<Record<string, Upstream>> {
  const list = await Promise.all(names.map(startUpstream));
  t.after(() => Promise.all(list.map((u) => u.close())));
  return Object.fromEntries(list.map((u) => [u.name, u]));
}

/** Which upstreams answer, from `n` requests. */
async function answering(port: number, n = 12): Promise<string[]> {
  return [...(await sampleBodies(port, n)).keys()].map((k) => k.replace(/^200 /, '')).sort();
}

async function until(port: number, expected: string[], what: string, timeoutMs = 10_000): Promise<void> {
  let last: string[] = [];
  await eventually(
    `${what}: upstreams ${expected.join(', ')} answer (last: ${last.join(', ')})`,
    async () => {
      last = await answering(port, expected.length * 4);
      return JSON.stringify(last) === JSON.stringify(expected) || undefined;
    },
    timeoutMs,
  );
}

function eventsFor(server: KubeApiTestServer, name: string): Array<{ reason: string; type: string; note: string }> {
  return server
    .listObjects('Event.events.k8s.io')
    .filter((e) => (e.regarding as { name?: string } | undefined)?.name === name)
    .map((e) => ({ reason: e.reason as string, type: e.type as string, note: e.note as string }));
}

const slice = (name: string, u: Upstream, e: { ready?: boolean; serving?: boolean; terminating?: boolean } = {}) =>
  sliceObject(name, 'web', { name: 'http', port: u.port }, [{ address: '127.0.0.1', ...e }]);

test('custom resources, a Service and EndpointSlices: traffic, scaling without reload, readiness, status and events', async (t) => {
  const server = await startApiServer(t);
  const ups = await upstreams(t, 'a', 'b', 'c');
  const port = await freePort();
  server.apply(serviceObject('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
  server.apply(slice('web-a', ups.a!));
  server.apply(slice('web-b', ups.b!));
  applySpec(server, backendObject('app', { service: { name: 'web', port: 'http' } }));
  applySpec(server, frontendObject('web', { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app' }));

  const { controller } = await startK8sController(t, { kubeConfig: server.kubeConfig() });
  const reloads = () => controller.supervisor.reloadCount();

  await t.test('traffic reaches the endpoints', async () => {
    await waitForHttp(port, (r) => r.status === 200);
    await until(port, ['a', 'b'], 'initial endpoints');
  });

  await t.test('status: Accepted and Programmed, observedGeneration, member counts', async () => {
    const be = await eventually('Backend status written', () => {
      const o = server.getObject('Backend', 'default', 'app');
      return condition(o, 'Programmed')?.status === 'True' ? o : undefined;
    });
    const s = statusOf(be)!;
    assert.equal(s.observedGeneration, be.metadata.generation);
    assert.deepEqual(s.members, { total: 2, ready: 2 });
    assert.equal(condition(be, 'Accepted')?.reason, 'Accepted');
    assert.equal(condition(be, 'ResolvedRefs')?.status, 'True');
    const fe = await eventually('Frontend status written', () => {
      const o = server.getObject('Frontend', 'default', 'web');
      return condition(o, 'Programmed')?.status === 'True' ? o : undefined;
    });
    assert.equal(condition(fe, 'Accepted')?.status, 'True');
    assert.equal(statusOf(fe)?.observedGeneration, 1);
  });

  await t.test('status is not patched again when nothing changed', async () => {
    await controller.reconciler.settled();
    const before = server.requestCount({ verb: 'patch', resource: 'backends/status' });
    // A change that does not touch the Backend: a label on the Service.
    server.apply({
      ...serviceObject('web', [{ name: 'http', port: 80, targetPort: 'http' }]),
      metadata: { name: 'web', namespace: 'default', labels: { x: 'y' } },
    });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(server.requestCount({ verb: 'patch', resource: 'backends/status' }), before);
  });

  await t.test('scale up and down: members follow through the runtime API, no reload', async () => {
    const before = await reloads();
    const since = condition(server.getObject('Backend', 'default', 'app'), 'Programmed')?.lastTransitionTime;
    server.apply(slice('web-c', ups.c!));
    await until(port, ['a', 'b', 'c'], 'after scale-up');
    await eventually('members 3/3 in status', () => statusOf(server.getObject('Backend', 'default', 'app'))?.members?.total === 3 || undefined);
    server.remove('EndpointSlice', 'default', 'web-c');
    await until(port, ['a', 'b'], 'after scale-down');
    assert.equal(await reloads(), before, 'scaling did not reload HAProxy');
    await eventually('members 2 again', () => statusOf(server.getObject('Backend', 'default', 'app'))?.members?.total === 2 || undefined);
    const after = condition(server.getObject('Backend', 'default', 'app'), 'Programmed');
    assert.equal(after?.status, 'True');
    assert.equal(after?.lastTransitionTime, since, 'lastTransitionTime moves only when the status flips');
    await eventually('MembersUpdated events on the Backend', () => eventsFor(server, 'app').some((e) => e.reason === 'MembersUpdated') || undefined);
  });

  await t.test('an endpoint that is not ready leaves rotation; a terminating one drains; both come back', async () => {
    const before = await reloads();
    server.apply(slice('web-b', ups.b!, { ready: false }));
    await until(port, ['a'], 'b not ready');
    const s = await eventually('members 1 ready of 2', () => {
      const m = statusOf(server.getObject('Backend', 'default', 'app'))?.members;
      return m?.ready === 1 && m.total === 2 ? m : undefined;
    });
    assert.deepEqual(s, { total: 2, ready: 1 });
    server.apply(slice('web-b', ups.b!, { ready: true }));
    server.apply(slice('web-a', ups.a!, { ready: false, serving: true, terminating: true }));
    await until(port, ['b'], 'a terminating (draining), b ready again');
    server.apply(slice('web-a', ups.a!));
    await until(port, ['a', 'b'], 'a ready again');
    assert.equal(await reloads(), before, 'readiness changes did not reload HAProxy');
  });

  await t.test('a dangling Frontend gets a condition and changes nothing that serves; fixing it clears it', async () => {
    await controller.reconciler.settled();
    const before = await reloads();
    const text = controller.reconciler.runningText;
    const port2 = await freePort();
    applySpec(server, frontendObject('extra', { binds: [{ address: '127.0.0.1', port: port2 }], defaultBackend: 'missing' }));
    const fe = await eventually('BackendNotFound condition', () => {
      const o = server.getObject('Frontend', 'default', 'extra');
      return condition(o, 'Accepted')?.status === 'False' ? o : undefined;
    });
    assert.equal(condition(fe, 'Accepted')?.reason, 'BackendNotFound');
    assert.match(condition(fe, 'Accepted')?.message ?? '', /Backend default\/missing does not exist/);
    assert.equal(condition(fe, 'Programmed')?.status, 'False');
    assert.equal(statusOf(fe)?.observedGeneration, 1);
    await controller.reconciler.settled();
    assert.equal(controller.reconciler.runningText, text, 'the running configuration is unchanged');
    assert.equal(await reloads(), before);
    await eventually(
      'a Warning event says why',
      () => eventsFor(server, 'extra').some((e) => e.type === 'Warning' && e.reason === 'BackendNotFound') || undefined,
    );

    applySpec(server, frontendObject('extra', { binds: [{ address: '127.0.0.1', port: port2 }], defaultBackend: 'app' }));
    await eventually('Accepted again', () => condition(server.getObject('Frontend', 'default', 'extra'), 'Programmed')?.status === 'True' || undefined);
    const fixed = server.getObject('Frontend', 'default', 'extra')!;
    assert.equal(condition(fixed, 'Accepted')?.status, 'True');
    assert.equal(statusOf(fixed)?.observedGeneration, 2);
    await waitForHttp(port2, (r) => r.status === 200);
    server.remove('Frontend', 'default', 'extra');
    await eventually('the removed Frontend is gone from HAProxy', () => !controller.reconciler.runningText?.includes('default_extra') || undefined);
    await controller.reconciler.settled();
  });

  await t.test('an invalid Backend update keeps the last accepted version serving; fixing it clears the condition', async () => {
    await controller.reconciler.settled();
    const before = await reloads();
    applySpec(server, backendObject('app', { service: { name: 'web', port: 'http' }, balance: 'fastest' }));
    const be = await eventually('InvalidSpec condition', () => {
      const o = server.getObject('Backend', 'default', 'app');
      return condition(o, 'Accepted')?.reason === 'InvalidSpec' ? o : undefined;
    });
    assert.match(condition(be, 'Accepted')?.message ?? '', /spec\.balance: "fastest" is not one of/);
    assert.match(condition(be, 'Programmed')?.message ?? '', /keeps serving/);
    assert.equal(statusOf(be)?.observedGeneration, be.metadata.generation);
    await until(port, ['a', 'b'], 'still serving the last accepted version');
    assert.equal(await reloads(), before);
    const acceptedSince = condition(be, 'Accepted')?.lastTransitionTime;

    applySpec(server, backendObject('app', { service: { name: 'web', port: 80 }, balance: 'roundrobin' }));
    const fixed = await eventually('Accepted again', () => {
      const o = server.getObject('Backend', 'default', 'app');
      return condition(o, 'Accepted')?.status === 'True' && condition(o, 'Programmed')?.status === 'True' ? o : undefined;
    });
    assert.equal(statusOf(fixed)?.observedGeneration, fixed.metadata.generation);
    assert.ok(acceptedSince, 'the False condition has a transition time');
    await eventually('InvalidSpec Warning event', () => eventsFor(server, 'app').some((e) => e.type === 'Warning' && e.reason === 'InvalidSpec') || undefined);
    await eventually('Accepted Normal event', () => eventsFor(server, 'app').some((e) => e.type === 'Normal' && e.reason === 'Accepted') || undefined);
    await until(port, ['a', 'b'], 'port by number resolves the same endpoints');
  });

  await t.test('a Service port that does not exist: ResolvedRefs False, no members; fixing it restores them', async () => {
    applySpec(server, backendObject('app', { service: { name: 'web', port: 'grpc' } }));
    const be = await eventually('PortNotFound', () => {
      const o = server.getObject('Backend', 'default', 'app');
      return condition(o, 'ResolvedRefs')?.reason === 'PortNotFound' ? o : undefined;
    });
    assert.match(condition(be, 'ResolvedRefs')?.message ?? '', /no TCP port named "grpc"; it has http \(80\)/);
    await waitForHttp(port, (r) => r.status === 503);
    applySpec(server, backendObject('app', { service: { name: 'web', port: 'http' } }));
    await until(port, ['a', 'b'], 'port fixed');
    await eventually('ResolvedRefs True', () => condition(server.getObject('Backend', 'default', 'app'), 'ResolvedRefs')?.status === 'True' || undefined);
  });
});

test('--members-from endpoints and --namespace: core/v1 Endpoints, not-ready addresses out of rotation, one namespace only', async (t) => {
  const server = await startApiServer(t);
  const ups = await upstreams(t, 'a', 'b');
  const port = await freePort();
  server.apply(serviceObject('web', [{ name: 'http', port: 80 }]));
  // One subset per upstream port (all on 127.0.0.1): b not ready.
  server.apply(
    endpointsObject('web', [
      { port: { name: 'http', port: ups.a!.port }, ready: ['127.0.0.1'] },
      { port: { name: 'http', port: ups.b!.port }, ready: [], notReady: ['127.0.0.1'] },
    ]),
  );
  applySpec(server, backendObject('app', { service: { name: 'web', port: 80 } }));
  applySpec(server, frontendObject('web', { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app' }));
  // Another namespace: --namespace default does not see it.
  applySpec(server, frontendObject('elsewhere', { binds: [{ address: '127.0.0.1', port: await freePort() }], defaultBackend: 'app' }, 'other'));
  applySpec(server, backendObject('app', { members: [] }, 'other'));
  const { controller } = await startK8sController(t, {
    kubeConfig: server.kubeConfig(),
    kubernetes: { membersFrom: 'endpoints', leaderElection: false, namespace: 'default' },
  });
  await until(port, ['a'], 'only the ready address');
  assert.ok(!controller.reconciler.runningText?.includes('other_'), '--namespace default leaves namespace other alone');
  assert.equal(server.requestCount({ verb: 'list', namespace: 'other' }), 0);
  const before = await controller.supervisor.reloadCount();
  server.apply(
    endpointsObject('web', [
      { port: { name: 'http', port: ups.a!.port }, ready: ['127.0.0.1'] },
      { port: { name: 'http', port: ups.b!.port }, ready: ['127.0.0.1'] },
    ]),
  );
  await until(port, ['a', 'b'], 'b ready');
  assert.equal(await controller.supervisor.reloadCount(), before);
  const m = await eventually('members 2/2', () => {
    const s = statusOf(server.getObject('Backend', 'default', 'app'))?.members;
    return s?.ready === 2 ? s : undefined;
  });
  assert.deepEqual(m, { total: 2, ready: 2 });
});
