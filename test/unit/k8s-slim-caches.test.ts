// What the Kubernetes source's caches keep of each object (bench/k8s-path: at 100,000 endpoints the
// decoded EndpointSlices were ~18 MiB of heap): only what it reads, with the same members, declared
// resources and status inputs as the objects the API server sends.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import {
  KubeClient,
  Reflector,
  RESOURCES,
  collectionPath,
  declaredFromObject,
  membersFromEndpoints,
  membersFromSlices,
  slimEndpoints,
  slimEndpointSlice,
  slimService,
  trimCustomResource,
} from '../../src/sources/kubernetes/index.js';
import type { KubeObject } from '../../src/sources/kubernetes/objects.js';
import { KubeApiTestServer, waitFor } from '../k8s/index.js';
import { backendObject, endpointsObject, serviceObject, sliceObject } from '../k8s/fixtures.js';

/** What a real API server adds (managedFields, kubectl's annotation, per-endpoint targetRef, nodeName, zone, hints). */
const MANAGED_FIELDS = [{ manager: 'kube-controller-manager', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:endpoints': {}, 'f:ports': {} } }];
function asFromCluster(obj: KubeObject): KubeObject {
  const o = structuredClone(obj);
  o.metadata = {
    ...o.metadata,
    uid: `uid-${o.metadata.name}`,
    resourceVersion: '42',
    generation: 3,
    creationTimestamp: '2026-11-26T00:00:00Z',
    labels: { ...o.metadata.labels, app: 'web', 'pod-template-hash': 'abc' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(obj) },
    managedFields: MANAGED_FIELDS,
    ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'u' }],
  };
  return o;
}

function clusterSlice(name: string, port: number, addresses: string[][], addressType = 'IPv4'): KubeObject {
  // Every combination of ready, serving, terminating (true, false, unset).
  const values = [true, false, undefined];
  const combos = values.flatMap((ready) => values.flatMap((serving) => values.map((terminating) => ({ ready, serving, terminating }))));
  const slice = asFromCluster(sliceObject(name, 'web', { name: 'http', port }, []));
  slice.addressType = addressType;
  slice.endpoints = addresses.map((a, i) => ({
    addresses: a,
    conditions: Object.fromEntries(Object.entries(combos[i % combos.length]!).filter(([, v]) => v !== undefined)),
    targetRef: { kind: 'Pod', namespace: 'default', name: `web-${i}`, uid: `pod-${i}` },
    nodeName: `node-${i % 3}`,
    zone: 'zone-a',
    hints: { forZones: [{ name: 'zone-a' }] },
  }));
  return slice;
}

test('the cached EndpointSlices, Services and Endpoints give the same members as the objects the API server sends, without their other fields', () => {
  const svc = asFromCluster(serviceObject('web', [{ name: 'http', port: 80, targetPort: 8080 }]));
  const v4 = Array.from({ length: 30 }, (_, i) => [`10.0.0.${i + 1}`, `10.9.0.${i + 1}`]);
  const slices = [
    clusterSlice('web-a', 8080, v4),
    clusterSlice('web-b', 8080, [[], ['10.0.0.1'], ['10.0.0.99']]), // no address; a duplicate; another
    clusterSlice('web-c', 8080, [['fd00::1'], ['fd00::2']], 'IPv6'),
    clusterSlice('web-d', 8080, [['a.example.com']], 'FQDN'),
  ];
  for (const port of ['http', 80] as const) {
    const raw = membersFromSlices({ name: 'web', port }, svc, slices, 'default');
    const slim = membersFromSlices({ name: 'web', port }, slimService(svc), slices.map(slimEndpointSlice), 'default');
    assert.deepEqual(slim, raw);
    assert.ok(raw.members.length > 30 && raw.members.some((m) => m.state === 'drain') && raw.members.some((m) => m.state === 'maint'));
  }
  const kept = slimEndpointSlice(slices[0]!);
  assert.deepEqual(kept.metadata, {
    name: 'web-a',
    namespace: 'default',
    uid: 'uid-web-a',
    resourceVersion: '42',
    labels: { 'kubernetes.io/service-name': 'web' },
  });
  const text = JSON.stringify(kept);
  for (const dropped of ['managedFields', 'targetRef', 'nodeName', 'zone', 'hints', 'last-applied', '10.9.0.1'])
    assert.ok(!text.includes(dropped), `${dropped} is dropped`);
  assert.ok(
    text.length * 5 < JSON.stringify(slices[0]).length,
    `the cached slice is ${text.length} characters of JSON, the sent one ${JSON.stringify(slices[0]).length}`,
  );
  assert.ok(!JSON.stringify(slimService(svc)).includes('managedFields'));

  const endpoints = asFromCluster(endpointsObject('web', [{ port: { name: 'http', port: 8080 }, ready: ['10.0.0.1', '10.0.0.2'], notReady: ['10.0.0.3'] }]));
  for (const subset of endpoints.subsets as Array<{ addresses: object[] }>)
    subset.addresses = subset.addresses.map((a) => ({ ...a, nodeName: 'n', targetRef: { kind: 'Pod' } }));
  const fromRaw = membersFromEndpoints({ name: 'web', port: 'http' }, svc, endpoints, 'default');
  assert.equal(fromRaw.members.length, 3);
  assert.deepEqual(membersFromEndpoints({ name: 'web', port: 'http' }, slimService(svc), slimEndpoints(endpoints), 'default'), fromRaw);
  assert.ok(!JSON.stringify(slimEndpoints(endpoints)).includes('targetRef'));
});

test('a cached Frontend or Backend declares the same resource and keeps what status writes read; managedFields and kubectl’s annotation are dropped', () => {
  const raw = asFromCluster(backendObject('be', { members: [{ name: 'a', address: '10.0.0.1', port: 80 }] }));
  raw.metadata.annotations!['haproxy.node-haproxy.io/raw-config'] = 'http-request set-header X-A 1';
  raw.status = { conditions: [{ type: 'Accepted', status: 'True' }] };
  const kept = trimCustomResource(raw);
  assert.deepEqual(
    declaredFromObject('Backend', kept, 'kubernetes', { allowRawConfig: true }),
    declaredFromObject('Backend', raw, 'kubernetes', { allowRawConfig: true }),
  );
  assert.deepEqual(kept.status, raw.status);
  assert.deepEqual(kept.metadata, {
    name: 'be',
    namespace: 'default',
    uid: 'uid-be',
    generation: 3,
    resourceVersion: '42',
    annotations: { 'haproxy.node-haproxy.io/raw-config': 'http-request set-header X-A 1' },
  });
  assert.ok(!JSON.stringify(kept).includes('managedFields'));
});

async function server(t: TestContext): Promise<{ server: KubeApiTestServer; client: KubeClient }> {
  const s = new KubeApiTestServer({ bookmarkIntervalMs: 100 });
  await s.start();
  t.after(() => s.stop());
  return { server: s, client: new KubeClient(s.kubeConfig()) };
}

test('reflector: each listed page is slimmed as it arrives (the decoded pages are not all held beside the cache), and so is each watch event', async (t) => {
  const { server: s, client } = await server(t);
  for (let i = 0; i < 7; i++) s.apply(clusterSlice(`web-${i}`, 8080, [[`10.0.${i}.1`], [`10.0.${i}.2`]]) as never);
  const list = client.listFunction(RESOURCES.endpointslices, undefined);
  const log: string[] = [];
  const r = new Reflector({
    resource: 'endpointslices',
    kubeConfig: client.kubeConfig,
    path: collectionPath(RESOURCES.endpointslices),
    // The test server answers a list whole: its answer is handed on in pages of `limit`, as a real API server pages.
    list: async ({ limit, continueToken }) => {
      log.push('page');
      const whole = await list({ limit });
      const at = Number(continueToken ?? 0);
      const next = at + limit < whole.items.length ? String(at + limit) : undefined;
      return { items: whole.items.slice(at, at + limit), resourceVersion: whole.resourceVersion, continueToken: next };
    },
    transform: (obj) => {
      log.push('slim');
      return slimEndpointSlice(obj);
    },
    pageSize: 3,
    logger: silentLogger(),
    resyncPeriodMs: 0,
  });
  r.start();
  t.after(() => r.stop());
  await waitFor(() => r.synced, { what: 'first list' });
  assert.deepEqual(log, ['page', 'slim', 'slim', 'slim', 'page', 'slim', 'slim', 'slim', 'page', 'slim']);
  for (const obj of r.list()) assert.ok(!JSON.stringify(obj).includes('managedFields') && obj.slimEndpoints, `${obj.metadata.name} slimmed`);
  s.apply(clusterSlice('web-0', 8080, [['10.0.0.7']]) as never);
  await waitFor(() => (r.get('default/web-0')?.slimEndpoints as { addresses?: string[] } | undefined)?.addresses?.[0] === '10.0.0.7', {
    what: 'the watch event in the cache',
  });
  assert.ok(!JSON.stringify(r.get('default/web-0')).includes('targetRef'));
});
