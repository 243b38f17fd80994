import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve, type Declared } from '../../src/model/resolve.js';
import { keyOf, type Resource } from '../../src/model/types.js';
import { validateResource } from '../../src/model/validate.js';
import { buildConfigModel, type GlobalSettings } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { plan } from '../../src/reconcile/plan.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';
const global: GlobalSettings = { adminSocket: '/s/admin.sock', serverStateFile: '/s/state', hardStopAfter: '30s', closeSpreadTime: '5s' };
const render = loadRenderer();

function fe(name: string, port: number, backend: string, extra: Record<string, unknown> = {}) {
  return { apiVersion: API, kind: 'Frontend', metadata: { name }, spec: { binds: [{ address: '127.0.0.1', port }], defaultBackend: backend, ...extra } };
}
function be(name: string, members: { name: string; address?: string; port?: number; weight?: number; state?: string }[], extra: Record<string, unknown> = {}) {
  return {
    apiVersion: API,
    kind: 'Backend',
    metadata: { name },
    spec: { members: members.map((m) => ({ address: '127.0.0.1', port: 9000, ...m })), ...extra },
  };
}
function declare(raw: unknown, origin = 'test', source = 'files'): Declared {
  const v = validateResource(raw, origin);
  const r = raw as { kind: 'Frontend' | 'Backend'; metadata: { name: string } };
  return { key: `${r.kind}/default/${r.metadata.name}`, origin, source, resource: v.resource, issues: v.issues };
}
function rendered(declared: Declared[], lastAccepted = new Map<string, Resource>()) {
  const res = resolve({ declared, lastAccepted });
  const model = buildConfigModel({ frontends: res.frontends, backends: res.backends, global });
  return { res, model, text: render(model) };
}

test('a frontend pointing at a missing backend is rejected with BackendNotFound', () => {
  const { res } = rendered([declare(fe('web', 80, 'nope'))]);
  const o = res.outcomes.get('Frontend/default/web');
  assert.ok(o && !o.accepted);
  assert.equal(o.reason, 'BackendNotFound');
  assert.match(o.message, /spec\.defaultBackend: Backend default\/nope does not exist; create it or fix the name/);
  assert.equal(res.frontends.length, 0);
});

test('an invalid new version keeps serving the last accepted version', () => {
  const good = rendered([declare(fe('web', 80, 'app')), declare(be('app', [{ name: 'a' }]))]);
  const bad = fe('web', 80, 'app', { rules: [{ host: 'evil\n  bind :1', backend: 'app' }] });
  const next = rendered([declare(bad), declare(be('app', [{ name: 'a' }]))], good.res.accepted);
  const o = next.res.outcomes.get('Frontend/default/web');
  assert.ok(o && !o.accepted && o.serving, 'the previous version serves');
  assert.equal(o.reason, 'InvalidSpec');
  assert.equal(next.text, good.text);
});

test('the same resource from two sources is a conflict on both, never a silent override', () => {
  const base = rendered([declare(fe('web', 80, 'app')), declare(be('app', [{ name: 'a' }]))]);
  const next = rendered(
    [declare(fe('web', 80, 'app'), 'a.yaml'), declare(fe('web', 81, 'app'), 'etcd:/k', 'etcd'), declare(be('app', [{ name: 'a' }]))],
    base.res.accepted,
  );
  const o = next.res.outcomes.get('Frontend/default/web');
  assert.ok(o && !o.accepted);
  assert.equal(o.reason, 'Conflict');
  assert.equal(o.issues.length, 2, 'reported on both origins');
  assert.deepEqual(o.issues.map((i) => i.origin).sort(), ['a.yaml', 'etcd:/k']);
  assert.equal(next.text, base.text, 'what served keeps serving');
});

test('two frontends on one address and port: the one already serving keeps it', () => {
  const first = rendered([declare(fe('a', 80, 'app')), declare(be('app', [{ name: 'x' }]))]);
  const both = rendered([declare(fe('b', 80, 'app')), declare(fe('a', 80, 'app')), declare(be('app', [{ name: 'x' }]))], first.res.accepted);
  assert.deepEqual(
    both.res.frontends.map((f) => f.metadata.name),
    ['a'],
  );
  const o = both.res.outcomes.get('Frontend/default/b');
  assert.ok(o && !o.accepted && o.reason === 'Conflict');
  assert.match(o.message, /127\.0\.0\.1:80 is already used by Frontend default\/a/);
});

test('a backend mode that differs from the frontend mode is refused', () => {
  const { res } = rendered([declare(fe('web', 80, 'app')), declare(be('app', [{ name: 'x' }], { mode: 'tcp' }))]);
  const o = res.outcomes.get('Frontend/default/web');
  assert.ok(o && !o.accepted);
  assert.match(o.message, /has mode tcp but this frontend has mode http/);
});

test('plans: identical text is noop; member changes are runtime ops; structure reloads', () => {
  const d = (members: Parameters<typeof be>[1], extra = {}) => rendered([declare(fe('web', 80, 'app')), declare(be('app', members, extra))]);
  const a = d([{ name: 'a' }, { name: 'b', port: 9001 }]);
  assert.deepEqual(plan(a, a, { runtimeUpdates: true }), { kind: 'noop' });

  const b = d([
    { name: 'a', weight: 10 },
    { name: 'c', port: 9002 },
    { name: 'b', port: 9005, state: 'maint' },
  ]);
  const p = plan(b, a, { runtimeUpdates: true });
  assert.equal(p.kind, 'runtime');
  if (p.kind !== 'runtime') return;
  const ops = p.ops.map((o) => `${o.op} ${o.backend}/${o.server.name}`).sort();
  assert.deepEqual(ops, ['add default_app/c', 'addr default_app/b', 'state default_app/b', 'weight default_app/a']);

  const drain = d([
    { name: 'a', state: 'drain' },
    { name: 'b', port: 9001 },
  ]);
  const pd = plan(drain, a, { runtimeUpdates: true });
  assert.ok(pd.kind === 'runtime' && pd.ops.length === 1 && pd.ops[0]!.op === 'weight' && pd.ops[0]!.server.weight === 0, 'drain is weight 0');

  const s = d([{ name: 'a' }, { name: 'b', port: 9001 }], { balance: 'leastconn' });
  assert.deepEqual(plan(s, a, { runtimeUpdates: true }), { kind: 'reload', reasons: ['backend default_app changed'] });

  const hc = d([{ name: 'a' }, { name: 'b', port: 9001 }], { healthCheck: { type: 'tcp' } });
  const ph = plan(hc, a, { runtimeUpdates: true });
  assert.equal(ph.kind, 'reload');

  assert.equal(plan(b, a, { runtimeUpdates: false }).kind, 'reload');
  assert.equal(plan(a, undefined, { runtimeUpdates: true }).kind, 'reload');
});

test('keys are stable across sources', () => {
  const v = validateResource(be('app', []));
  assert.equal(keyOf(v.resource!), 'Backend/default/app');
});
