import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_SECRET_BYTES, redactedView, secretFromManifest, storedManifest } from '../../src/sources/secret-manifest.js';
import { secretDataFromObject, trimSecretObject } from '../../src/sources/kubernetes/kubernetes-source.js';

const id = { kind: 'Secret' as const, namespace: 'default', name: 'site' };
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('a Secret manifest: data is base64 (line breaks allowed), stringData wins on a shared key, type defaults to Opaque', () => {
  const r = secretFromManifest(
    { data: { a: b64('from data'), b: `${b64('x'.repeat(100)).slice(0, 76)}\n${b64('x'.repeat(100)).slice(76)}` }, stringData: { a: 'from stringData' } },
    id,
    'rest',
  );
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.value, {
    kind: 'Secret',
    namespace: 'default',
    name: 'site',
    type: 'Opaque',
    data: { a: 'from stringData', b: 'x'.repeat(100) },
    origin: 'rest',
  });
  // Stored and read back: the same data.
  assert.deepEqual(secretFromManifest(storedManifest(r.value!), id, 'rest').value, r.value);
});

test('a Secret manifest: every problem names its field, and no message quotes a value', () => {
  const r = secretFromManifest(
    { kind: 'Secret', type: 'kubernetes.io/tls', data: { 'tls.crt': 'c2VjcmV0LXZhbHVl=', 'bad key!': b64('x') }, stringData: { n: 1 } },
    id,
    'rest',
  );
  assert.deepEqual(
    r.problems.map((p) => p.field),
    ['data.tls.crt', 'data.bad key!', 'stringData.n', 'data.tls.key'],
  );
  assert.ok(!JSON.stringify(r.problems).includes('c2VjcmV0LXZhbHVl'));
  const big = secretFromManifest({ stringData: { a: 'x'.repeat(MAX_SECRET_BYTES + 1) } }, id, 'rest');
  assert.equal(big.problems[0]?.field, 'data');
  assert.match(big.problems[0]!.message, /at most 1048576 bytes/);
  assert.equal(secretFromManifest('text', id, 'rest').problems[0]?.field, '');
  assert.equal(secretFromManifest({}, { ...id, name: 'Bad_Name' }, 'rest').problems[0]?.field, 'metadata.name');
});

test('a ConfigMap manifest: text data, no stringData, type ConfigMap; the view redacts every value', () => {
  const cm = { kind: 'ConfigMap' as const, namespace: 'default', name: 'ca' };
  const r = secretFromManifest({ data: { 'ca.crt': 'PEM' } }, cm, 'etcd:/p/configmaps/default/ca');
  assert.deepEqual(r.value?.data, { 'ca.crt': 'PEM' });
  assert.equal(r.value?.type, 'ConfigMap');
  assert.equal(secretFromManifest({ stringData: { a: 'b' } }, cm, 'rest').problems[0]?.field, 'stringData');
  assert.deepEqual(redactedView(r.value!), {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'ca', namespace: 'default' },
    data: { 'ca.crt': '<redacted>' },
    origin: 'etcd:/p/configmaps/default/ca',
  });
});

test('Kubernetes objects: the cache keeps only what is used; ConfigMaps give ca.crt only', () => {
  const secret = {
    metadata: {
      name: 's',
      namespace: 'ns',
      resourceVersion: '7',
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{}}' },
      managedFields: [],
    },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64('C'), 'tls.key': b64('K') },
  };
  const trimmed = trimSecretObject(secret);
  assert.deepEqual(trimmed, { metadata: { name: 's', namespace: 'ns', resourceVersion: '7', uid: undefined }, type: 'kubernetes.io/tls', data: secret.data });
  assert.deepEqual(secretDataFromObject('Secret', trimmed, 'kubernetes')?.data, { 'tls.crt': 'C', 'tls.key': 'K' });
  const cm = trimSecretObject({ metadata: { name: 'c', namespace: 'ns', resourceVersion: '8' }, data: { 'ca.crt': 'PEM', big: 'x'.repeat(10_000) } });
  assert.deepEqual(cm.data, { 'ca.crt': 'PEM' });
  assert.deepEqual(secretDataFromObject('ConfigMap', cm, 'kubernetes')?.data, { 'ca.crt': 'PEM' });
  assert.equal(
    secretDataFromObject('ConfigMap', trimSecretObject({ metadata: { name: 'x', namespace: 'ns' }, data: { other: '1' } }), 'kubernetes'),
    undefined,
  );
});
