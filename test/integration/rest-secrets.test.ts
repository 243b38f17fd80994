/**
 * Secrets and ConfigMaps through the REST API (issue 11): the v1 manifest in,
 * validated with errors naming the field, kept in the state directory across
 * restarts, read back with every value redacted, never in a log line, and
 * handed to the store as discovered data (what rendering reads).
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger, silentLogger } from '../../src/log.js';
import { SECRETS, type SecretData } from '../../src/model/secrets.js';
import { Store } from '../../src/reconcile/store.js';
import { REST_STATE_FILE, RestSource } from '../../src/sources/rest/rest-source.js';
import { b64, selfSignedCert, tlsSecret } from '../helpers/certs.js';
import { call, startRestController } from '../helpers/rest.js';

const NS = '/api/v1/namespaces/default';

function secretIn(store: Store, key: string): SecretData | undefined {
  return store.snapshot().discovered.get(SECRETS)?.get(key) as SecretData | undefined;
}

test('REST: a Secret is created, read back redacted, rotated and deleted; it persists across a restart; no value is ever logged', async (t) => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) });
  const fx = await startRestController(t, { logger });
  const port = fx.api.port;
  const store = fx.controller.store;
  const first = selfSignedCert('rest.example.com');

  // Writes need the token, like every other write.
  assert.equal((await call(port, 'PUT', `${NS}/secrets/site-cert`, { body: tlsSecret('default', 'site-cert', first), token: null })).status, 401);
  assert.equal(secretIn(store, 'Secret/default/site-cert'), undefined);

  const created = await fx.api.put(`${NS}/secrets/site-cert`, tlsSecret('default', 'site-cert', first));
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(created.json, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'site-cert', namespace: 'default' },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': '<redacted>', 'tls.key': '<redacted>' },
    origin: 'rest',
  });
  assert.equal(secretIn(store, 'Secret/default/site-cert')?.data['tls.key'], first.key, 'the store holds the decoded key');
  for (const path of [`${NS}/secrets/site-cert`, `${NS}/secrets`]) {
    const r = await fx.api.get(path);
    assert.equal(r.status, 200);
    assert.ok(!r.text.includes(first.keyMarker) && !r.text.includes(b64(first.key).slice(40, 80)), `${path} shows no key`);
    assert.match(r.text, /"tls\.key":"<redacted>"/);
  }

  // Rotation with stringData; a ConfigMap holding a CA bundle.
  const second = selfSignedCert('rest.example.com');
  const rotated = await fx.api.put(`${NS}/secrets/site-cert`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'site-cert' },
    type: 'kubernetes.io/tls',
    stringData: { 'tls.crt': second.cert, 'tls.key': second.key },
  });
  assert.equal(rotated.status, 200, rotated.text);
  assert.equal(secretIn(store, 'Secret/default/site-cert')?.data['tls.crt'], second.cert);
  assert.equal((await fx.api.put(`${NS}/configmaps/client-ca`, { apiVersion: 'v1', kind: 'ConfigMap', data: { 'ca.crt': first.cert } })).status, 201);
  assert.equal(secretIn(store, 'ConfigMap/default/client-ca')?.data['ca.crt'], first.cert);

  // Kept in the state directory, mode 0600, and loaded again by a new REST source.
  const file = join(fx.stateDir, REST_STATE_FILE);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const again = new Store();
  await new RestSource({ stateDir: fx.stateDir, store: again, logger: silentLogger() }).start();
  assert.equal(secretIn(again, 'Secret/default/site-cert')?.data['tls.key'], second.key, 'a restart keeps the Secret');
  assert.equal(secretIn(again, 'ConfigMap/default/client-ca')?.data['ca.crt'], first.cert);

  // Deleted.
  assert.equal((await fx.api.del(`${NS}/secrets/site-cert`)).status, 200);
  assert.equal(secretIn(store, 'Secret/default/site-cert'), undefined);
  assert.equal((await fx.api.get(`${NS}/secrets/site-cert`)).status, 404);
  assert.equal((await fx.api.del(`${NS}/secrets/site-cert`)).status, 404);

  await fx.controller.reconciler.settled();
  assert.ok(
    lines.some((l) => /Secret saved through the REST API/.test(l)),
    'the write is logged (name and keys)',
  );
  for (const c of [first, second]) assert.ok(!lines.some((l) => l.includes(c.keyMarker)), 'no log line holds private key text');
});

test('REST: a bad Secret is refused with the field that is wrong, and changes nothing', async (t) => {
  const fx = await startRestController(t);
  const store = fx.controller.store;
  const c = selfSignedCert('bad.example.com');
  const good = tlsSecret('default', 'site-cert', c);
  assert.equal((await fx.api.put(`${NS}/secrets/site-cert`, good)).status, 201);
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['bad base64', { ...good, data: { ...good.data, 'tls.key': 'not base64!' } }, 'data.tls.key', /not valid base64/],
    ['wrong kind', { ...good, kind: 'ConfigMap' }, 'kind', /holds a Secret/],
    ['name mismatch', { ...good, metadata: { name: 'other' } }, 'metadata.name', /does not match the name in the path/],
    ['namespace mismatch', { ...good, metadata: { namespace: 'prod' } }, 'metadata.namespace', /does not match/],
    ['wrong apiVersion', { ...good, apiVersion: 'apps/v1' }, 'apiVersion', /"v1"/],
    ['tls without key', { ...good, data: { 'tls.crt': good.data['tls.crt'] } }, 'data.tls.key', /is missing/],
    ['a non-string value', { ...good, data: { ...good.data, 'tls.key': 5 } }, 'data.tls.key', /must be a string/],
    ['an unknown field', { ...good, spec: {} }, 'spec', /is not a field of a Secret/],
  ];
  for (const [what, body, field, message] of cases) {
    const r = await fx.api.put(`${NS}/secrets/site-cert`, body);
    assert.equal(r.status, 422, `${what}: ${r.text}`);
    const j = r.json as { field: string; message: string };
    assert.equal(j.field, field, what);
    assert.match(j.message, message, what);
    assert.ok(!r.text.includes(c.keyMarker), `${what}: the error quotes no value`);
  }
  // Too large for the body limit (1 MiB by default, like a Kubernetes Secret).
  const big = await fx.api.put(`${NS}/secrets/big`, { kind: 'Secret', stringData: { blob: 'x'.repeat(1100 * 1024) } });
  assert.equal(big.status, 413, big.text);
  assert.equal(secretIn(store, 'Secret/default/site-cert')?.data['tls.key'], c.key, 'the good Secret is untouched');
  assert.equal(secretIn(store, 'Secret/default/big'), undefined);
  // ConfigMap data is text: a non-string is refused.
  const cm = await fx.api.put(`${NS}/configmaps/ca`, { kind: 'ConfigMap', data: { 'ca.crt': ['x'] } });
  assert.equal(cm.status, 422);
  assert.equal((cm.json as { field: string }).field, 'data.ca.crt');
});
