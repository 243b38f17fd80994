// The Kubernetes API test server, exercised through the real @kubernetes/client-node.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  EventsV1Api,
  KubeConfig,
  PatchStrategy,
  Watch,
  makeInformer,
  setHeaderOptions,
  type Informer,
  type KubernetesListObject,
  type KubernetesObject,
  type ListPromise,
  type ObjectCache,
} from '@kubernetes/client-node';
import { HAPROXY_API_VERSION, KubeApiTestServer, waitFor, type KubeApiTestServerOptions, type KubeObject } from '../k8s/index.js';

const NS = 'default';
const GROUP = 'haproxy.node-haproxy.io';
const VERSION = 'v1alpha1';
const FRONTENDS_PATH = `/apis/${GROUP}/${VERSION}/namespaces/${NS}/frontends`;
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

// --- harness: every test gets a server; whatever it starts is stopped last-in, first-out ---

interface Env {
  server: KubeApiTestServer;
  kc: KubeConfig;
  defer(cleanup: () => unknown): void;
}

async function setup(t: TestContext, options: KubeApiTestServerOptions = {}): Promise<Env> {
  const cleanups: Array<() => unknown> = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const server = new KubeApiTestServer(options);
  await server.start();
  cleanups.push(() => server.stop());
  return { server, kc: server.kubeConfig(), defer: (cleanup) => cleanups.push(cleanup) };
}

function frontendsApi(env: Env) {
  const api = env.kc.makeApiClient(CustomObjectsApi);
  const at = { group: GROUP, version: VERSION, namespace: NS, plural: 'frontends' };
  return {
    create: (body: object): Promise<KubeObject> => api.createNamespacedCustomObject({ ...at, body }),
    get: (name: string): Promise<KubeObject> => api.getNamespacedCustomObject({ ...at, name }),
    /** Untyped, as the client returns custom objects: what an informer's list function hands back. */
    list: (): Promise<KubernetesListObject<KubernetesObject>> => api.listNamespacedCustomObject(at),
    replace: (name: string, body: object): Promise<KubeObject> => api.replaceNamespacedCustomObject({ ...at, name, body }),
    replaceStatus: (name: string, body: object): Promise<KubeObject> => api.replaceNamespacedCustomObjectStatus({ ...at, name, body }),
    mergePatch: (name: string, body: object): Promise<KubeObject> => api.patchNamespacedCustomObject({ ...at, name, body }, MERGE_PATCH),
    mergePatchStatus: (name: string, body: object): Promise<KubeObject> => api.patchNamespacedCustomObjectStatus({ ...at, name, body }, MERGE_PATCH),
    jsonPatch: (name: string, body: object[]): Promise<KubeObject> => api.patchNamespacedCustomObject({ ...at, name, body }),
    delete: (name: string): Promise<KubeObject> => api.deleteNamespacedCustomObject({ ...at, name }),
  };
}

function frontend(name: string, spec: object = { port: 80 }, labels?: Record<string, string>): KubeObject {
  return { apiVersion: HAPROXY_API_VERSION, kind: 'Frontend', metadata: { name, namespace: NS, ...(labels ? { labels } : {}) }, spec };
}

/** Asserts that `promise` rejects as the client surfaces an apiserver error: an ApiException with a Status body. */
async function rejectsWithStatus(promise: Promise<unknown>, code: number, reason: string | undefined): Promise<Record<string, unknown>> {
  const err: unknown = await promise.then(
    () => assert.fail(`expected HTTP ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApiException, `expected ApiException, got ${String(err)}`);
  assert.equal(err.code, code);
  const status = JSON.parse(err.body as string) as Record<string, unknown>;
  assert.equal(status.kind, 'Status');
  assert.equal(status.apiVersion, 'v1');
  assert.equal(status.status, 'Failure');
  assert.equal(status.code, code);
  assert.equal(status.reason, reason);
  return status;
}

interface RecordedEvent {
  type: string;
  object: KubeObject & { code?: number; reason?: string };
}

/** A raw Watch through the client, recording its events and how it ended. */
async function openWatch(env: Env, path: string, query: Record<string, string | number | boolean>) {
  const events: RecordedEvent[] = [];
  let resolveDone!: (err: unknown) => void;
  const done = new Promise<unknown>((resolve) => (resolveDone = resolve));
  const controller = await new Watch(env.kc).watch(
    path,
    query,
    (type: string, object: RecordedEvent['object']) => events.push({ type, object }),
    (err: unknown) => resolveDone(err),
  );
  env.defer(() => controller.abort());
  const describe = () => events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata.name}`);
  return { events, done, describe };
}

/**
 * An informer wired the way a controller wires one: on error it starts again
 * after a short delay, resuming from its last resourceVersion.
 */
async function startInformer<T extends KubernetesObject>(env: Env, path: string, list: ListPromise<T>, labelSelector?: string) {
  const informer: Informer<T> & ObjectCache<T> = makeInformer(env.kc, path, list, labelSelector);
  const events: string[] = [];
  const errors: unknown[] = [];
  let stopped = false;
  let restart: NodeJS.Timeout | undefined;
  for (const verb of ['add', 'update', 'delete'] as const) {
    informer.on(verb, (obj) => events.push(`${verb} ${obj.metadata?.name}`));
  }
  informer.on('error', (err) => {
    errors.push(err);
    if (!stopped) restart = setTimeout(() => void informer.start(), 20);
  });
  env.defer(async () => {
    stopped = true;
    clearTimeout(restart);
    await informer.stop();
  });
  await informer.start();
  return { informer, events, errors };
}

interface Named {
  metadata?: { name?: string };
  spec?: unknown;
}

function names(objects: ReadonlyArray<Named>): string[] {
  return objects.map((o) => o.metadata?.name ?? '').sort();
}

function specsByName(objects: ReadonlyArray<Named>): Record<string, unknown> {
  return Object.fromEntries(objects.map((o) => [o.metadata?.name, o.spec]));
}

// --- list and watch ---

test('list then watch from the list resourceVersion receives every later change, in order', async (t) => {
  const env = await setup(t);
  const core = env.kc.makeApiClient(CoreV1Api);
  for (const name of ['a', 'b']) {
    await core.createNamespacedService({ namespace: NS, body: { metadata: { name }, spec: { ports: [{ port: 80 }] } } });
  }
  const list = await core.listNamespacedService({ namespace: NS });
  assert.equal(list.kind, 'ServiceList');
  assert.equal(list.metadata?.resourceVersion, env.server.resourceVersion);
  assert.deepEqual(names(list.items), ['a', 'b']);

  const watch = await openWatch(env, `/api/v1/namespaces/${NS}/services`, { resourceVersion: list.metadata?.resourceVersion ?? '' });
  await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'c' }, spec: {} } });
  await core.patchNamespacedService({ namespace: NS, name: 'a', body: { metadata: { labels: { tier: 'web' } } } }, MERGE_PATCH);
  const deleted = await core.deleteNamespacedService({ namespace: NS, name: 'b' });
  await waitFor(() => watch.events.length === 3, { what: 'three watch events' });

  assert.deepEqual(watch.describe(), ['ADDED c', 'MODIFIED a', 'DELETED b']);
  const versions = watch.events.map((e) => Number(e.object.metadata.resourceVersion));
  assert.deepEqual(
    versions,
    [...versions].sort((x, y) => x - y),
    'resourceVersions increase',
  );
  assert.equal(watch.events[1].object.metadata.labels?.tier, 'web');
  assert.equal(watch.events[2].object.kind, 'Service', 'watch objects carry their kind');
  assert.equal(deleted.metadata?.resourceVersion, watch.events[2].object.metadata.resourceVersion, 'DELETED carries the final object');
});

test('a watch with no resourceVersion starts with a synthetic ADDED for each existing object', async (t) => {
  const env = await setup(t);
  env.server.apply(frontend('existing'));
  const watch = await openWatch(env, FRONTENDS_PATH, {});
  env.server.apply(frontend('later'));
  await waitFor(() => watch.events.length === 2, { what: 'two events' });
  assert.deepEqual(watch.describe(), ['ADDED existing', 'ADDED later']);
});

test('a watch replays every change after its resourceVersion, including ones made before it opened', async (t) => {
  const env = await setup(t);
  const start = env.server.resourceVersion;
  env.server.apply(frontend('one'));
  env.server.apply(frontend('one', { port: 81 }));
  env.server.remove('Frontend', NS, 'one');
  const watch = await openWatch(env, FRONTENDS_PATH, { resourceVersion: start });
  await waitFor(() => watch.events.length === 3, { what: 'replayed events' });
  assert.deepEqual(watch.describe(), ['ADDED one', 'MODIFIED one', 'DELETED one']);
});

test('bookmarks arrive periodically and on demand only on watches that allow them', async (t) => {
  const env = await setup(t, { bookmarkIntervalMs: 0 });
  const rv = env.server.resourceVersion;
  const withBookmarks = await openWatch(env, FRONTENDS_PATH, { resourceVersion: rv, allowWatchBookmarks: true });
  const without = await openWatch(env, FRONTENDS_PATH, { resourceVersion: rv });

  env.server.apply(frontend('x'));
  assert.equal(env.server.sendBookmarks(), 1);
  await waitFor(() => withBookmarks.events.some((e) => e.type === 'BOOKMARK'), { what: 'an on-demand bookmark' });
  const bookmark = withBookmarks.events.find((e) => e.type === 'BOOKMARK');
  assert.deepEqual(bookmark?.object, {
    kind: 'Frontend',
    apiVersion: HAPROXY_API_VERSION,
    metadata: { resourceVersion: env.server.resourceVersion },
  });

  env.server.setBookmarkInterval(20);
  await waitFor(() => withBookmarks.events.filter((e) => e.type === 'BOOKMARK').length >= 3, { what: 'periodic bookmarks' });
  assert.ok(without.events.every((e) => e.type !== 'BOOKMARK'));
  assert.deepEqual(without.describe(), ['ADDED x']);
});

test('timeoutSeconds ends the watch stream cleanly', async (t) => {
  const env = await setup(t);
  const watch = await openWatch(env, FRONTENDS_PATH, { resourceVersion: env.server.resourceVersion, timeoutSeconds: 0.05 });
  assert.equal(await watch.done, null);
});

// --- 410 Gone ---

for (const mode of ['event', 'http'] as const) {
  test(`a watch from a compacted resourceVersion is refused with 410 (${mode})`, async (t) => {
    const env = await setup(t, { expiredWatchResponse: mode });
    const old = env.server.resourceVersion;
    env.server.apply(frontend('x'));
    env.server.compactHistory();
    const watch = await openWatch(env, FRONTENDS_PATH, { resourceVersion: old });
    const ended = await watch.done;
    if (mode === 'event') {
      assert.equal(ended, null, 'the stream ends after the ERROR event');
      assert.equal(watch.events.length, 1);
      assert.equal(watch.events[0].type, 'ERROR');
      assert.equal(watch.events[0].object.kind, 'Status');
      assert.equal(watch.events[0].object.code, 410);
      assert.equal(watch.events[0].object.reason, 'Expired');
    } else {
      assert.equal((ended as { statusCode?: number }).statusCode, 410);
      assert.equal(watch.events.length, 0);
    }
    const current = await openWatch(env, FRONTENDS_PATH, { resourceVersion: env.server.resourceVersion });
    env.server.apply(frontend('y'));
    await waitFor(() => current.events.length === 1, { what: 'a watch from the current resourceVersion' });
  });

  test(`an informer relists after 410 (${mode}) and converges`, async (t) => {
    const env = await setup(t, { expiredWatchResponse: mode });
    const api = frontendsApi(env);
    env.server.apply(frontend('keep'));
    env.server.apply(frontend('change'));
    env.server.apply(frontend('drop'));
    const { informer, events } = await startInformer(env, FRONTENDS_PATH, api.list);
    await waitFor(() => env.server.watchCount() === 1, { what: 'the informer watch' });
    assert.equal(env.server.requestCount({ verb: 'list', resource: 'frontends' }), 1);

    // While the informer reconnects, the history it would resume from is compacted away.
    env.server.dropAllWatches({ graceful: true });
    env.server.apply(frontend('change', { port: 8080 }));
    env.server.remove('Frontend', NS, 'drop');
    env.server.apply(frontend('new'));
    env.server.compactHistory();

    await waitFor(() => env.server.requestCount({ verb: 'list', resource: 'frontends' }) === 2, { what: 'a relist' });
    await waitFor(() => env.server.watchCount() === 1, { what: 'a new watch' });
    assert.deepEqual(names(informer.list(NS)), ['change', 'keep', 'new']);
    assert.deepEqual(specsByName(informer.list(NS)), specsByName(env.server.listObjects('Frontend', NS)));
    assert.ok(events.includes('delete drop') && events.includes('add new') && events.includes('update change'), events.join(', '));
    assert.equal(env.server.stats().watchesExpired, 1);
  });
}

// --- dropped watches ---

for (const graceful of [false, true]) {
  test(`an informer re-establishes a ${graceful ? 'cleanly ended' : 'cut'} watch and loses no update made meanwhile`, async (t) => {
    const env = await setup(t);
    const core = env.kc.makeApiClient(CoreV1Api);
    env.server.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: NS }, spec: { ports: [{ port: 1 }] } });
    env.server.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'b', namespace: NS }, spec: {} });
    const { informer, events, errors } = await startInformer(env, `/api/v1/namespaces/${NS}/services`, () => core.listNamespacedService({ namespace: NS }));
    await waitFor(() => env.server.watchCount() === 1, { what: 'the informer watch' });

    assert.equal(env.server.dropAllWatches({ graceful }), 1);
    env.server.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: NS }, spec: { ports: [{ port: 2 }] } });
    env.server.remove('Service', NS, 'b');
    env.server.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'c', namespace: NS }, spec: {} });

    await waitFor(() => names(informer.list(NS)).join() === 'a,c', { what: 'the informer to catch up' });
    await waitFor(() => env.server.watchCount() === 1, { what: 'the watch to be re-established' });
    assert.deepEqual(informer.get('a', NS)?.spec?.ports, [{ port: 2 }]);
    assert.deepEqual(events.slice(2), ['update a', 'delete b', 'add c']);
    assert.equal(env.server.requestCount({ verb: 'list' }), 1, 'resumed from its resourceVersion: no relist');
    assert.equal(env.server.requestCount({ verb: 'watch' }), 2);
    assert.equal(errors.length, graceful ? 0 : 1, 'a cut stream surfaces as an informer error');
  });
}

test('a stalled watch stays open but delivers nothing; dropping it lets the informer catch up', async (t) => {
  const env = await setup(t, { bookmarkIntervalMs: 10 });
  const api = frontendsApi(env);
  const { informer } = await startInformer(env, FRONTENDS_PATH, api.list);
  await waitFor(() => env.server.watchCount() === 1, { what: 'the informer watch' });

  assert.equal(env.server.stallWatches(), 1);
  env.server.apply(frontend('missed'));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(informer.list(NS).length, 0, 'nothing arrives on a stalled stream');
  assert.equal(env.server.watchCount(), 1, 'the stalled stream is still open');

  env.server.dropAllWatches({ graceful: true });
  await waitFor(() => informer.list(NS).length === 1, { what: 'the informer to catch up' });
});

// --- writes ---

test('optimistic concurrency on Leases: a stale resourceVersion gets 409 Conflict', async (t) => {
  const env = await setup(t);
  const leases = env.kc.makeApiClient(CoordinationV1Api);
  const body = { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } };
  const created = await leases.createNamespacedLease({ namespace: NS, body });
  assert.equal(created.metadata?.resourceVersion, env.server.resourceVersion);
  await rejectsWithStatus(leases.createNamespacedLease({ namespace: NS, body }), 409, 'AlreadyExists');

  const renewed = await leases.replaceNamespacedLease({
    namespace: NS,
    name: 'leader',
    body: { ...created, spec: { ...created.spec, holderIdentity: 'b' } },
  });
  assert.ok(Number(renewed.metadata?.resourceVersion) > Number(created.metadata?.resourceVersion));
  const status = await rejectsWithStatus(
    leases.replaceNamespacedLease({ namespace: NS, name: 'leader', body: { ...created, spec: { ...created.spec, holderIdentity: 'c' } } }),
    409,
    'Conflict',
  );
  assert.equal(
    status.message,
    'Operation cannot be fulfilled on leases.coordination.k8s.io "leader": the object has been modified; please apply your changes to the latest version and try again',
  );
  assert.deepEqual(status.details, { name: 'leader', group: 'coordination.k8s.io', kind: 'leases' });
  const unconditional = { metadata: { name: 'leader' }, spec: { holderIdentity: 'd' } };
  await rejectsWithStatus(leases.replaceNamespacedLease({ namespace: NS, name: 'leader', body: unconditional }), 422, 'Invalid');
  assert.equal((await leases.readNamespacedLease({ namespace: NS, name: 'leader' })).spec?.holderIdentity, 'b');
  await rejectsWithStatus(leases.readNamespacedLease({ namespace: NS, name: 'nobody' }), 404, 'NotFound');
});

test('status subresource: spec writes bump generation and ignore status; status writes change only status', async (t) => {
  const env = await setup(t);
  const api = frontendsApi(env);
  const created = await api.create({ ...frontend('f'), status: { ready: true } });
  assert.equal(created.metadata.generation, 1);
  assert.equal(created.status, undefined, 'status is dropped on create');
  assert.ok(created.metadata.uid && created.metadata.creationTimestamp);

  const watch = await openWatch(env, FRONTENDS_PATH, { resourceVersion: env.server.resourceVersion });
  const withStatus = await api.replaceStatus('f', { ...created, spec: { port: 1 }, status: { ready: true } });
  assert.equal(withStatus.metadata.generation, 1, 'a status write does not bump generation');
  assert.deepEqual(withStatus.spec, { port: 80 }, 'a status write ignores spec');
  assert.deepEqual(withStatus.status, { ready: true });
  assert.ok(Number(withStatus.metadata.resourceVersion) > Number(created.metadata.resourceVersion));

  const newSpec = await api.replace('f', { ...withStatus, spec: { port: 81 }, status: { ready: false } });
  assert.equal(newSpec.metadata.generation, 2);
  assert.deepEqual(newSpec.status, { ready: true }, 'a main-resource write ignores status');

  const labelled = await api.mergePatch('f', { metadata: { labels: { team: 'edge' } } });
  assert.equal(labelled.metadata.generation, 2, 'metadata changes do not bump generation');
  const patchedStatus = await api.mergePatchStatus('f', { status: { observedGeneration: 2 } });
  assert.deepEqual(patchedStatus.status, { ready: true, observedGeneration: 2 });

  const rv = env.server.resourceVersion;
  const noop = await api.replace('f', patchedStatus);
  assert.equal(noop.metadata.resourceVersion, rv, 'a write that changes nothing is not a new version');

  const jsonPatched = await api.jsonPatch('f', [{ op: 'replace', path: '/spec/port', value: 82 }]);
  assert.equal(jsonPatched.metadata.generation, 3);
  await waitFor(() => watch.events.length === 5, { what: 'five MODIFIED events' });
  assert.deepEqual(
    watch.events.map((e) => e.object.metadata.generation),
    [1, 2, 2, 2, 3],
  );
  assert.ok(watch.events.every((e) => e.type === 'MODIFIED'));
});

test('custom resources refuse unconditional updates and strategic merge patches, as the apiserver does', async (t) => {
  const env = await setup(t);
  const api = frontendsApi(env);
  await api.create(frontend('f'));
  const status = await rejectsWithStatus(api.replace('f', frontend('f', { port: 1 })), 422, 'Invalid');
  assert.match(String(status.message), /^Frontend\.haproxy\.node-haproxy\.io "f" is invalid: metadata\.resourceVersion/);
  const strategic = env.kc
    .makeApiClient(CustomObjectsApi)
    .patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace: NS, plural: 'frontends', name: 'f', body: { spec: { port: 2 } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
  await rejectsWithStatus(strategic, 415, 'UnsupportedMediaType');
  await rejectsWithStatus(api.create(frontend('Bad_Name')), 422, 'Invalid');
});

test('JSON patch: add, remove and move apply; a failing test op is 422 and changes nothing', async (t) => {
  const env = await setup(t);
  const api = frontendsApi(env);
  await api.create(frontend('f', { binds: ['a'], mode: 'http' }));
  const patched = await api.jsonPatch('f', [
    { op: 'add', path: '/spec/binds/-', value: 'b' },
    { op: 'move', from: '/spec/mode', path: '/spec/protocol' },
    { op: 'add', path: '/metadata/labels', value: { 'app.kubernetes.io/name': 'x' } },
  ]);
  assert.deepEqual(patched.spec, { binds: ['a', 'b'], protocol: 'http' });
  assert.deepEqual(patched.metadata.labels, { 'app.kubernetes.io/name': 'x' });
  const rv = env.server.resourceVersion;
  await rejectsWithStatus(
    api.jsonPatch('f', [
      { op: 'remove', path: '/spec/binds/0' },
      { op: 'test', path: '/spec/protocol', value: 'tcp' },
    ]),
    422,
    'Invalid',
  );
  assert.equal(env.server.resourceVersion, rv);
  await rejectsWithStatus(api.jsonPatch('missing', []), 404, 'NotFound');
});

test('per-kind storage rules: DELETE answers and create-on-update follow the apiserver', async (t) => {
  const env = await setup(t);
  const core = env.kc.makeApiClient(CoreV1Api);
  const leases = env.kc.makeApiClient(CoordinationV1Api);
  const endpoints = await core.replaceNamespacedEndpoints({ namespace: NS, name: 'ep', body: { metadata: { name: 'ep' }, subsets: [] } });
  assert.ok(endpoints.metadata?.uid, 'PUT creates Endpoints');
  await rejectsWithStatus(core.replaceNamespacedService({ namespace: NS, name: 'svc', body: { metadata: { name: 'svc' } } }), 404, 'NotFound');

  const lease = await leases.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'l' }, spec: {} } });
  const leaseAnswer = await leases.deleteNamespacedLease({ namespace: NS, name: 'l' });
  assert.deepEqual(JSON.parse(JSON.stringify(leaseAnswer)), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { name: 'l', group: 'coordination.k8s.io', kind: 'leases', uid: lease.metadata?.uid },
    code: 200,
  });
  await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'svc' } } });
  assert.equal((await core.deleteNamespacedService({ namespace: NS, name: 'svc' })).kind, 'Service');
  await rejectsWithStatus(core.deleteNamespacedService({ namespace: NS, name: 'svc' }), 404, 'NotFound');
});

test('deletion honours finalizers: marked first, removed when the last finalizer goes', async (t) => {
  const env = await setup(t);
  const api = frontendsApi(env);
  await api.create({ ...frontend('f'), metadata: { name: 'f', finalizers: ['example.io/cleanup'] } });
  const watch = await openWatch(env, FRONTENDS_PATH, { resourceVersion: env.server.resourceVersion });
  const marked = await api.delete('f');
  assert.ok(marked.metadata.deletionTimestamp);
  assert.ok(await api.get('f'), 'still there while a finalizer remains');
  await api.mergePatch('f', { metadata: { finalizers: null } });
  await rejectsWithStatus(api.get('f'), 404, 'NotFound');
  await waitFor(() => watch.events.length === 2, { what: 'two events' });
  assert.deepEqual(watch.describe(), ['MODIFIED f', 'DELETED f']);
});

// --- selectors ---

test('label and field selectors filter lists and watches', async (t) => {
  const env = await setup(t);
  const slices = env.kc.makeApiClient(DiscoveryV1Api);
  const slice = (name: string, service?: string) => ({
    metadata: { name, ...(service ? { labels: { 'kubernetes.io/service-name': service } } : {}) },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'] }],
  });
  for (const [name, service] of [
    ['a-1', 'a'],
    ['a-2', 'a'],
    ['b-1', 'b'],
    ['plain', undefined],
  ] as const) {
    await slices.createNamespacedEndpointSlice({ namespace: NS, body: slice(name, service) });
  }
  const select = async (labelSelector?: string, fieldSelector?: string) =>
    names((await slices.listNamespacedEndpointSlice({ namespace: NS, labelSelector, fieldSelector })).items);

  assert.deepEqual(await select('kubernetes.io/service-name=a'), ['a-1', 'a-2']);
  assert.deepEqual(await select('kubernetes.io/service-name==b'), ['b-1']);
  assert.deepEqual(await select('kubernetes.io/service-name!=a'), ['b-1', 'plain']);
  assert.deepEqual(await select('kubernetes.io/service-name'), ['a-1', 'a-2', 'b-1']);
  assert.deepEqual(await select('!kubernetes.io/service-name'), ['plain']);
  assert.deepEqual(await select('kubernetes.io/service-name in (b, c)'), ['b-1']);
  assert.deepEqual(await select('kubernetes.io/service-name=a', 'metadata.name!=a-1'), ['a-2']);
  assert.deepEqual(await select(undefined, 'metadata.namespace=other'), []);
  await rejectsWithStatus(slices.listNamespacedEndpointSlice({ namespace: NS, fieldSelector: 'spec.x=1' }), 400, 'BadRequest');

  const watch = await openWatch(env, `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, {
    resourceVersion: env.server.resourceVersion,
    labelSelector: 'kubernetes.io/service-name=a',
  });
  const relabel = (name: string, service: string) =>
    slices.patchNamespacedEndpointSlice({ namespace: NS, name, body: { metadata: { labels: { 'kubernetes.io/service-name': service } } } }, MERGE_PATCH);
  await relabel('a-1', 'b');
  await relabel('b-1', 'a');
  await relabel('plain', 'c');
  await waitFor(() => watch.events.length === 2, { what: 'selection changes' });
  assert.deepEqual(watch.describe(), ['DELETED a-1', 'ADDED b-1'], 'objects leaving or entering the selection');
});

// --- faults, counters, discovery, auth ---

test('an injected 500 surfaces as an ApiException, and the request is counted', async (t) => {
  const env = await setup(t);
  const core = env.kc.makeApiClient(CoreV1Api);
  env.server.failRequests({ status: 500, count: 1, match: (_method, _path, verb) => verb === 'list' });
  const status = await rejectsWithStatus(core.listNamespacedService({ namespace: NS }), 500, 'InternalError');
  assert.match(String(status.message), /^Internal error occurred/);
  assert.equal((await core.listNamespacedService({ namespace: NS })).items.length, 0, 'count: 1 fails only once');

  const cancel = env.server.failRequests({ status: 503, match: (method) => method === 'POST' });
  await rejectsWithStatus(core.createNamespacedService({ namespace: NS, body: { metadata: { name: 's' } } }), 503, 'ServiceUnavailable');
  cancel();
  await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 's' } } });

  env.server.failRequests({ status: 500, forMs: 60_000, match: (_m, path) => path.endsWith('/services/s') });
  await rejectsWithStatus(core.readNamespacedService({ namespace: NS, name: 's' }), 500, 'InternalError');
  env.server.clearFailures();
  assert.equal((await core.readNamespacedService({ namespace: NS, name: 's' })).metadata?.name, 's');

  assert.equal(env.server.requestCount({ verb: 'list', resource: 'services' }), 2);
  assert.equal(env.server.requestCount({ verb: 'create' }), 2);
  const stats = env.server.stats();
  assert.equal(stats.injectedFailures, 3);
  assert.equal(stats.requestsByVerb.get, 2);
  assert.equal(stats.requestsByPath[`/api/v1/namespaces/${NS}/services/s`], 2);
});

test('an injected failure on LIST surfaces through an informer error', async (t) => {
  const env = await setup(t);
  const api = frontendsApi(env);
  env.server.failRequests({ status: 500, count: 1, match: (_m, _p, verb) => verb === 'list' });
  const { informer, errors } = await startInformer(env, FRONTENDS_PATH, api.list);
  env.server.apply(frontend('after'));
  await waitFor(() => informer.list(NS).length === 1, { what: 'the informer to recover' });
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as ApiException<unknown>).code, 500);
});

test('core and events.k8s.io Events, with the core field selectors on involvedObject', async (t) => {
  const env = await setup(t);
  const core = env.kc.makeApiClient(CoreV1Api);
  const involvedObject = { kind: 'Frontend', name: 'f', namespace: NS, apiVersion: HAPROXY_API_VERSION };
  // A generateName must be a valid DNS subdomain prefix ('f-', not 'f.': see the name validation test).
  await core.createNamespacedEvent({ namespace: NS, body: { metadata: { generateName: 'f-' }, involvedObject, reason: 'Applied', type: 'Normal' } });
  await core.createNamespacedEvent({ namespace: NS, body: { metadata: { name: 'other' }, involvedObject: { ...involvedObject, name: 'g' } } });
  const forF = await core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=f,type=Normal' });
  assert.equal(forF.items.length, 1);
  assert.match(forF.items[0].metadata?.name ?? '', /^f-[a-z0-9]{5}$/, 'generateName');

  const events = env.kc.makeApiClient(EventsV1Api);
  const created = await events.createNamespacedEvent({
    namespace: NS,
    body: { metadata: { name: 'e' }, eventTime: new Date(), reason: 'Reloaded', action: 'Reload', reportingController: 'node-haproxy', reportingInstance: 'x' },
  });
  assert.equal(created.kind, 'Event');
  assert.equal(created.apiVersion, 'events.k8s.io/v1');
  assert.equal((await events.listNamespacedEvent({ namespace: NS })).items.length, 1);
});

test('discovery, health and authentication', async (t) => {
  const env = await setup(t);
  const get = async <T = Record<string, unknown>>(path: string, token: string | undefined = env.server.token) => {
    const res = await fetch(env.server.url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const json = res.headers.get('content-type')?.includes('json');
    return { code: res.status, body: (json ? await res.json() : await res.text()) as T };
  };
  assert.deepEqual(await get('/healthz', undefined), { code: 200, body: 'ok' });
  const denied = await get('/api/v1/namespaces/default/services', 'wrong');
  assert.equal(denied.code, 401);
  assert.equal(denied.body.reason, 'Unauthorized');

  assert.deepEqual((await get('/api')).body.versions, ['v1']);
  const groups = (await get<{ groups: Array<{ name: string }> }>('/apis')).body.groups.map((g) => g.name);
  assert.deepEqual(groups, ['events.k8s.io', 'discovery.k8s.io', 'coordination.k8s.io', GROUP]);
  type ResourceList = { kind: string; resources: Array<{ name: string; kind: string; namespaced: boolean }> };
  const resources = (await get<ResourceList>(`/apis/${GROUP}/${VERSION}`)).body;
  assert.equal(resources.kind, 'APIResourceList');
  assert.deepEqual(
    resources.resources.map((r) => `${r.name}:${r.kind}:${r.namespaced}`),
    ['frontends:Frontend:true', 'frontends/status:Frontend:true', 'backends:Backend:true', 'backends/status:Backend:true'],
  );
  assert.equal((await get('/apis/nope.io/v1/namespaces/default/things')).code, 404);

  const core = env.kc.makeApiClient(CoreV1Api);
  const all = await core.listServiceForAllNamespaces();
  assert.equal(all.metadata?.resourceVersion, env.server.resourceVersion);
  env.server.apply(frontend('in-b', undefined, { x: 'y' }));
  env.server.apply({ ...frontend('in-a'), metadata: { name: 'in-a', namespace: 'other' } });
  const everywhere = (await get<{ kind: string; items: KubeObject[] }>(`/apis/${GROUP}/${VERSION}/frontends`)).body;
  assert.equal(everywhere.kind, 'FrontendList');
  assert.deepEqual(
    everywhere.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
    ['default/in-b', 'other/in-a'],
  );
  assert.equal(env.server.requestCount({ verb: 'discovery' }), 3);
});
