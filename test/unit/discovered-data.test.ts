import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeDiscovered, MEMBERS, type DiscoveredKind } from '../../src/model/discovered.js';
import { resolve, type Declared } from '../../src/model/resolve.js';
import type { Member, Resource } from '../../src/model/types.js';
import { validateResource } from '../../src/model/validate.js';
import { buildConfigModel, type GlobalSettings } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { computeDesired } from '../../src/reconcile/desired.js';
import { plan } from '../../src/reconcile/plan.js';
import { Store } from '../../src/reconcile/store.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';
const global: GlobalSettings = { adminSocket: '/s/admin.sock', serverStateFile: '/s/state', hardStopAfter: '30s' };

function declare(raw: { kind: string; metadata: { name: string } }, source = 'kubernetes'): Declared {
  const v = validateResource(raw, source);
  return { key: `${raw.kind}/default/${raw.metadata.name}`, origin: source, source, resource: v.resource, issues: v.issues };
}
const serviceBackend = (name: string) => declare({ apiVersion: API, kind: 'Backend', metadata: { name }, spec: { service: { name, port: 80 } } } as never);
const frontend = declare({
  apiVersion: API,
  kind: 'Frontend',
  metadata: { name: 'web' },
  spec: { binds: [{ address: '127.0.0.1', port: 8080 }], defaultBackend: 'a' },
} as never);
const members = (n: number, weight = 100): Member[] =>
  Array.from({ length: n }, (_, i) => ({ name: `m${i}`, address: `10.0.0.${i + 1}`, port: 80, weight, state: 'ready' }) as Member);

test('an unchanged Service-backed Backend resolves to the same object, so its model and text are not built again', () => {
  const store = new Store();
  const a = serviceBackend('a');
  const b = serviceBackend('b');
  for (const d of [frontend, a, b]) store.upsert(d);
  store.setDiscoveredMembers('kubernetes', a.key, members(3));
  store.setDiscoveredMembers('kubernetes', b.key, members(2));
  const render = loadRenderer();
  const first = computeDesired(store.snapshot(), new Map(), global, render);
  store.setDiscoveredMembers('kubernetes', b.key, members(2, 50)); // one endpoint change in b
  const second = computeDesired(store.snapshot(), new Map(), global, render);

  const backendOf = (d: typeof first, name: string) => d.resolution.backends.find((x) => x.metadata.name === name)!;
  const modelOf = (d: typeof first, name: string) => d.model.backends.find((x) => x.key === `Backend/default/${name}`)!;
  assert.equal(backendOf(second, 'a'), backendOf(first, 'a'), 'a: same resolved object');
  assert.equal(modelOf(second, 'a'), modelOf(first, 'a'), 'a: same model object (render cache key)');
  assert.notEqual(backendOf(second, 'b'), backendOf(first, 'b'), 'b: its members changed');
  assert.deepEqual(
    modelOf(second, 'b').servers.map((s) => s.weight),
    [50, 50],
  );
  // The planner sees only b's weights.
  const p = plan(second, first, { runtimeUpdates: true });
  assert.equal(p.kind, 'runtime');
  assert.deepEqual(
    p.kind === 'runtime' ? p.ops.map((o) => `${o.op} ${o.backend}/${o.server.name}`) : [],
    ['weight default_b/m0', 'weight default_b/m1'].map((s) => s.replace('default_b', modelOf(second, 'b').name)),
  );
  // Discovered members are merged in; the accepted (declared) resource keeps none.
  assert.deepEqual(
    backendOf(second, 'a').spec.members.map((m) => m.name),
    ['m0', 'm1', 'm2'],
  );
  assert.deepEqual((second.resolution.accepted.get(a.key) as typeof a.resource & { spec: { members: unknown[] } }).spec.members, []);
});

test('a new kind of discovered data plugs in through one DiscoveredKind: store, resolve and merge do not change', () => {
  // A stand-in for certificates from Secrets: a Frontend gains a raw line from discovered data.
  const NOTES: DiscoveredKind<string> = {
    name: 'notes',
    apply: (r, note) => (r.kind === 'Frontend' ? ({ ...r, metadata: { ...r.metadata, labels: { note } } } as Resource) : r),
  };
  const store = new Store();
  store.upsert(frontend);
  let changes = 0;
  store.onChange(() => changes++);
  store.setDiscovered('kubernetes', 'notes', frontend.key, 'hello');
  store.setDiscovered('kubernetes', 'notes', frontend.key, 'hello'); // same value: no change
  assert.equal(changes, 2 - 1);
  const snap = store.snapshot();
  assert.equal(snap.discovered.get('notes')?.get(frontend.key), 'hello');
  const kinds = [MEMBERS, NOTES] as DiscoveredKind<never>[];
  const once = mergeDiscovered(frontend.resource!, frontend.key, snap.discovered, kinds);
  assert.equal((once.metadata as { labels?: Record<string, string> }).labels?.note, 'hello');
  assert.equal(mergeDiscovered(frontend.resource!, frontend.key, snap.discovered, kinds), once, 'same inputs, same object');
  store.setDiscovered('kubernetes', 'notes', frontend.key, 'bye');
  assert.notEqual(mergeDiscovered(frontend.resource!, frontend.key, store.snapshot().discovered, kinds), once);
  store.setDiscovered('kubernetes', 'notes', frontend.key, undefined);
  assert.equal(mergeDiscovered(frontend.resource!, frontend.key, store.snapshot().discovered, kinds), frontend.resource, 'cleared: the declared resource');
});

test('resolve still takes discoveredMembers (the members kind) and ignores members for a Backend without a service', () => {
  const plain = declare({
    apiVersion: API,
    kind: 'Backend',
    metadata: { name: 'a' },
    spec: { members: [{ name: 'x', address: '127.0.0.1', port: 1 }] },
  } as never);
  const found = new Map([[plain.key, members(2)]]);
  const r = resolve({ declared: [frontend, plain], lastAccepted: new Map(), discoveredMembers: found });
  assert.deepEqual(
    r.backends[0]!.spec.members.map((m) => m.name),
    ['x'],
  );
  const svc = serviceBackend('a');
  const r2 = resolve({ declared: [frontend, svc], lastAccepted: new Map(), discoveredMembers: found });
  assert.deepEqual(
    r2.backends[0]!.spec.members.map((m) => m.name),
    ['m0', 'm1'],
  );
  const model = buildConfigModel({ frontends: r2.frontends, backends: r2.backends, global });
  assert.equal(model.backends[0]!.servers.length, 2);
});
