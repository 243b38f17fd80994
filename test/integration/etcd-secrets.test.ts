/**
 * Secrets and ConfigMaps from etcd (issue 11) against a real etcd:
 * `PREFIX/secrets/NS/NAME` holding the v1 manifest (YAML or JSON) is
 * followed through creation, rotation and deletion; a bad value keeps the
 * last good data with a warning naming the key; the REST API writes there
 * when etcd is its storage; no value is ever logged.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { SECRETS, type SecretData } from '../../src/model/secrets.js';
import type { Store } from '../../src/reconcile/store.js';
import { startEtcd } from '../helpers/etcd.js';
import { eventually, startRestController } from '../helpers/rest.js';
import { b64, selfSignedCert, tlsSecret } from '../helpers/certs.js';

const PREFIX = '/nh';
const FAST = { etcdRetryMaxMs: 500, etcdResyncIntervalMs: 0 } as const;

function secretIn(store: Store, key: string): SecretData | undefined {
  return store.snapshot().discovered.get(SECRETS)?.get(key) as SecretData | undefined;
}

const indent = (pem: string) =>
  pem
    .trim()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

test('etcd: a Secret key is followed through creation, rotation and deletion; a bad value keeps the last good data; REST writes land in etcd', async (t) => {
  const etcd = await startEtcd(t);
  const first = selfSignedCert('etcd.example.com');
  // YAML with stringData, kind and name left to the key.
  await etcd.client
    .put(`${PREFIX}/secrets/default/site-cert`)
    .value(`type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n${indent(first.cert)}\n  tls.key: |\n${indent(first.key)}\n`);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const fx = await startRestController(t, { extraSources: [`etcd://${etcd.endpoint}${PREFIX}`], logger, ...FAST });
  const store = fx.controller.store;
  const source = `etcd://${etcd.endpoint}${PREFIX}`;

  const s = await eventually(
    async () => secretIn(store, 'Secret/default/site-cert'),
    (v) => v !== undefined,
    5000,
    'the seeded Secret loaded',
  );
  assert.equal(s!.data['tls.key'].trim(), first.key.trim());
  assert.equal(s!.origin, `etcd:${PREFIX}/secrets/default/site-cert`);
  assert.equal(s!.type, 'kubernetes.io/tls');

  // Rotation, as JSON with base64 data.
  const second = selfSignedCert('etcd.example.com');
  await etcd.client.put(`${PREFIX}/secrets/default/site-cert`).value(JSON.stringify(tlsSecret('default', 'site-cert', second)));
  await eventually(
    async () => secretIn(store, 'Secret/default/site-cert')?.data['tls.crt'],
    (v) => v === second.cert,
    5000,
    'the rotated Secret',
  );

  // A bad value (not base64): the last good data stays, with a warning naming the key and the field.
  await etcd.client
    .put(`${PREFIX}/secrets/default/site-cert`)
    .value(JSON.stringify({ type: 'kubernetes.io/tls', data: { 'tls.crt': '!!', 'tls.key': b64(first.key) } }));
  const warning = await eventually(
    async () => lines.find((l) => l.msg === 'etcd Secret value refused; the last good data (if any) stays in use'),
    (v) => v !== undefined,
    5000,
    'the warning',
  );
  assert.equal(warning!.key, `${PREFIX}/secrets/default/site-cert`);
  assert.equal(warning!.field, 'data.tls.crt');
  assert.equal(secretIn(store, 'Secret/default/site-cert')?.data['tls.key'], second.key, 'the last good data stays');

  // A ConfigMap with a CA bundle.
  await etcd.client.put(`${PREFIX}/configmaps/default/client-ca`).value(JSON.stringify({ kind: 'ConfigMap', data: { 'ca.crt': first.cert } }));
  await eventually(
    async () => secretIn(store, 'ConfigMap/default/client-ca')?.data['ca.crt'],
    (v) => v === first.cert,
    5000,
    'the ConfigMap',
  );

  // The REST API keeps Secrets in etcd when etcd is its storage.
  const put = await fx.api.put('/api/v1/namespaces/default/secrets/api-cert', tlsSecret('default', 'api-cert', first));
  assert.equal(put.status, 201, put.text);
  const stored = JSON.parse((await etcd.client.get(`${PREFIX}/secrets/default/api-cert`).string())!) as { data: Record<string, string> };
  assert.equal(Buffer.from(stored.data['tls.key']!, 'base64').toString(), first.key, 'stored base64, as Kubernetes keeps it');
  assert.equal(secretIn(store, 'Secret/default/api-cert')?.origin, `etcd:${PREFIX}/secrets/default/api-cert`);
  const read = await fx.api.get('/api/v1/namespaces/default/secrets/api-cert');
  assert.equal(read.status, 200);
  assert.deepEqual(read.json.data, { 'tls.crt': '<redacted>', 'tls.key': '<redacted>' });
  // A Secret of the etcd source, read through the API whose storage it is.
  assert.equal((await fx.api.get('/api/v1/namespaces/default/secrets/site-cert')).status, 200);
  assert.ok(store.discoveredSources(SECRETS, 'Secret/default/api-cert').includes(source));

  // Deleted: gone.
  await etcd.client.delete().key(`${PREFIX}/secrets/default/site-cert`);
  await eventually(
    async () => secretIn(store, 'Secret/default/site-cert'),
    (v) => v === undefined,
    5000,
    'the deleted Secret gone',
  );
  assert.equal((await fx.api.del('/api/v1/namespaces/default/secrets/api-cert')).status, 200);
  assert.equal(await etcd.client.get(`${PREFIX}/secrets/default/api-cert`).string(), null);
  assert.equal(secretIn(store, 'Secret/default/api-cert'), undefined);

  const text = JSON.stringify(lines);
  for (const c of [first, second]) assert.ok(!text.includes(c.keyMarker), 'no log line holds private key text');
});
