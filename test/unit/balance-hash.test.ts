// Hashing algorithms (balance uri, url_param, hdr): validated, rendered with
// `hash-type consistent`, and planned so member changes stay runtime changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/model/types.js';
import { validateResource } from '../../src/model/validate.js';
import { checkRenderedConfig } from '../../src/model/raw-config.js';
import { dynamicBalance, plan } from '../../src/reconcile/plan.js';
import { buildConfigModel, type GlobalSettings } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { backendFromAqueduct, backendToAqueduct, frontendFromAqueduct, frontendToAqueduct, resourceNameOfKey } from '../../src/sources/rest/aqueduct.js';

const global: GlobalSettings = {
  adminSocket: '/run/node-haproxy/admin.sock',
  serverStateFile: '/run/node-haproxy/server-state',
  hardStopAfter: '30s',
  closeSpreadTime: '5s',
};
const render = loadRenderer();

const backend = (spec: Record<string, unknown>) => ({
  apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
  kind: 'Backend',
  metadata: { name: 'app' },
  spec: { members: [{ name: 'a', address: '10.0.0.1', port: 80 }], ...spec },
});

const fields = (spec: Record<string, unknown>) => validateResource(backend(spec)).issues.map((i) => `${i.field}: ${i.message}`);

test('hashing algorithms: their parameter is required, and only with them; http mode only', () => {
  assert.deepEqual(fields({ balance: 'uri' }), []);
  assert.deepEqual(fields({ balance: 'url_param', balanceUrlParam: 'userid' }), []);
  assert.deepEqual(fields({ balance: 'hdr', balanceHeader: 'X-User' }), []);
  assert.match(fields({ balance: 'url_param' })[0] ?? '', /^spec\.balanceUrlParam: is required with balance url_param/);
  assert.match(fields({ balance: 'hdr' })[0] ?? '', /^spec\.balanceHeader: is required with balance hdr/);
  assert.match(fields({ balance: 'uri', balanceHeader: 'X-User' })[0] ?? '', /^spec\.balanceHeader: applies to balance hdr only/);
  assert.match(fields({ balance: 'roundrobin', balanceUrlParam: 'u' })[0] ?? '', /^spec\.balanceUrlParam: applies to balance url_param only/);
  assert.match(fields({ mode: 'tcp', balance: 'uri' })[0] ?? '', /^spec\.balance: "uri" hashes HTTP requests and needs mode "http"/);
  assert.match(fields({ balance: 'url_param', balanceUrlParam: 'a b' })[0] ?? '', /^spec\.balanceUrlParam: /);
  assert.match(fields({ balance: 'hdr', balanceHeader: 'X)(' })[0] ?? '', /^spec\.balanceHeader: /);
});

function rendered(spec: Record<string, unknown>) {
  const v = validateResource(backend(spec));
  assert.deepEqual(v.issues, []);
  const model = buildConfigModel({ frontends: [], backends: [v.resource as Backend], global });
  return { model, text: render(model) };
}

test('hashing algorithms render with hash-type consistent, and members still change at run time', () => {
  for (const [spec, line] of [
    [{ balance: 'uri' }, 'balance uri'],
    [{ balance: 'url_param', balanceUrlParam: 'userid' }, 'balance url_param userid'],
    [{ balance: 'hdr', balanceHeader: 'X-User' }, 'balance hdr(X-User)'],
  ] as const) {
    const before = rendered(spec);
    assert.match(before.text, new RegExp(`\\n {4}${line.replace(/[()]/g, '\\$&')}\\n {4}hash-type consistent\\n`));
    assert.deepEqual(checkRenderedConfig(before.text), [], 'the rendered lines pass the property check');
    const after = rendered({
      ...spec,
      members: [
        { name: 'a', address: '10.0.0.1', port: 80 },
        { name: 'b', address: '10.0.0.2', port: 80, weight: 50 },
      ],
    });
    const p = plan(after, before, { runtimeUpdates: true });
    assert.equal(p.kind, 'runtime', `${line}: ${JSON.stringify(p)}`);
    const reweighted = rendered({ ...spec, members: [{ name: 'a', address: '10.0.0.1', port: 80, weight: 7 }] });
    assert.equal(plan(reweighted, before, { runtimeUpdates: true }).kind, 'runtime', `${line}: weight`);
  }
  assert.ok(!dynamicBalance({ balance: 'uri', lines: ['hash-type consistent', 'hash-type map-based'] }), 'the last hash-type line wins');
  // source stays a static algorithm (rendered as before): adding a member reloads, with the reason.
  const src = rendered({ balance: 'source' });
  const src2 = rendered({
    balance: 'source',
    members: [
      { name: 'a', address: '10.0.0.1', port: 80 },
      { name: 'b', address: '10.0.0.2', port: 80 },
    ],
  });
  assert.deepEqual(plan(src2, src, { runtimeUpdates: true }), {
    kind: 'reload',
    reasons: ['backend default_app server b added, and balance source takes no server at run time'],
  });
});

const opts = { namespace: 'default', allowRawConfig: false };

test('aqueduct balance strings translate to our algorithms and back; others are refused on "balance"', () => {
  for (const [given, spec] of [
    ['uri', { balance: 'uri' }],
    ['url_param userid', { balance: 'url_param', balanceUrlParam: 'userid' }],
    ['hdr(X-User)', { balance: 'hdr', balanceHeader: 'X-User' }],
    ['leastconn', { balance: 'leastconn' }],
  ] as const) {
    const t = backendFromAqueduct('app', { balance: given, members: [] }, opts);
    assert.deepEqual(t.issues, []);
    const v = validateResource(t.resource);
    assert.deepEqual(v.issues, []);
    const b = v.resource as Backend;
    assert.deepEqual(
      { balance: b.spec.balance, balanceUrlParam: b.spec.balanceUrlParam, balanceHeader: b.spec.balanceHeader },
      { balanceUrlParam: undefined, balanceHeader: undefined, ...spec },
    );
    assert.equal(backendToAqueduct(b).balance, given, 'GET gives back what was PUT');
  }
  for (const bad of ['uri whole', 'url_param', 'url_param u check_post', 'static-rr', 'rdp-cookie', 'hdr(a b)', 7]) {
    const t = backendFromAqueduct('app', { balance: bad, members: [] }, opts);
    assert.deepEqual(
      t.issues.map((i) => i.field),
      ['balance'],
      String(bad),
    );
    assert.match(t.issues[0]!.message, typeof bad === 'string' ? /url_param NAME/ : /must be a string/);
  }
  // In tcp mode a hashing algorithm is refused by validation, reported on aqueduct's field.
  const t = backendFromAqueduct('app', { balance: 'uri', mode: 'tcp', members: [] }, opts);
  assert.deepEqual(
    validateResource(t.resource).issues.map((i) => t.mapField(i.field)),
    ['balance'],
  );
});

test('aqueduct keys with capitals or "_" map to resource names; the key the client wrote is kept', () => {
  assert.equal(resourceNameOfKey('My_App'), 'my-app');
  assert.equal(resourceNameOfKey('live'), 'live');
  const be = backendFromAqueduct('My_App', { health: { method: 'POST', uri: '/health' }, members: [] }, opts);
  const b = validateResource(be.resource).resource as Backend;
  assert.equal(b.metadata.name, 'my-app');
  assert.equal(b.spec.healthCheck?.method, 'POST');
  assert.equal(backendToAqueduct(b).key, 'My_App');
  assert.equal(backendToAqueduct(b).id, 'backend/My_App');
  assert.equal(backendToAqueduct(b).health?.method, 'POST');
  const fe = frontendFromAqueduct('Web_Front', { bind: '*:80', backend: 'My_App', rules: [{ type: 'path', value: '/x', backend: 'Other_One' }] }, opts);
  const v = validateResource(fe.resource);
  assert.deepEqual(v.issues, []);
  const f = v.resource as import('../../src/model/types.js').Frontend;
  assert.equal(f.metadata.name, 'web-front');
  assert.equal(f.spec.defaultBackend, 'my-app');
  assert.equal(f.spec.rules[0]!.backend, 'other-one');
  const out = frontendToAqueduct(f);
  assert.deepEqual([out.key, out.name, out.backend, (out.rules[0] as { backend: string }).backend], ['Web_Front', 'Web_Front', 'My_App', 'Other_One']);
  // Keys still invalid once mapped are refused on "key".
  const bad = frontendFromAqueduct('Bad~Key', { bind: '*:80' }, opts);
  assert.deepEqual(
    validateResource(bad.resource).issues.map((i) => bad.mapField(i.field)),
    ['key'],
  );
});
