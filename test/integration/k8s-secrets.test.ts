/**
 * Secrets and ConfigMaps from Kubernetes as discovered data (issue 11): a
 * kubernetes.io/tls Secret in the test API server is followed through
 * creation, rotation and deletion; other Secret types are never listed;
 * ConfigMaps hand on their CA bundle only; the private key never reaches a
 * log line. Until rendering uses them, the store is what is asserted (the
 * data every renderer reads).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { SECRETS, type SecretData } from '../../src/model/secrets.js';
import type { Store } from '../../src/reconcile/store.js';
import { eventually, startApiServer, startK8sController } from '../k8s/controller-harness.js';
import { b64, selfSignedCert, tlsSecret } from '../helpers/certs.js';

function secretIn(store: Store, key: string): SecretData | undefined {
  return store.snapshot().discovered.get(SECRETS)?.get(key) as SecretData | undefined;
}

test('Kubernetes: a TLS Secret is followed through creation, rotation and deletion; other types are never listed; ConfigMaps give their ca.crt', async (t) => {
  const api = await startApiServer(t);
  const first = selfSignedCert('site.example.com');
  api.apply(tlsSecret('default', 'site-cert', first));
  api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-password', namespace: 'default' }, type: 'Opaque', data: { password: b64('hunter2') } });
  const ca = selfSignedCert('ca.example.com');
  api.apply({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'client-ca', namespace: 'default' },
    data: { 'ca.crt': ca.cert, other: 'x'.repeat(1000) },
  });
  api.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-settings', namespace: 'default' }, data: { 'settings.json': '{}' } });

  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) });
  const { controller } = await startK8sController(t, { kubeConfig: api.kubeConfig(), logger });
  const store = controller.store;

  // Present once the caches synced: readiness waited for them.
  const s = secretIn(store, 'Secret/default/site-cert');
  assert.ok(s, 'the TLS Secret is in the store at sync');
  assert.deepEqual({ kind: s.kind, type: s.type, origin: s.origin }, { kind: 'Secret', type: 'kubernetes.io/tls', origin: 'kubernetes' });
  assert.equal(s.data['tls.crt'], first.cert, 'decoded from base64');
  assert.equal(s.data['tls.key'], first.key);
  assert.equal(secretIn(store, 'Secret/default/app-password'), undefined, 'an Opaque Secret is never listed (field selector type=kubernetes.io/tls)');
  assert.equal(controller.kubernetes!.source.reflectorStats().secrets?.objects, 1, 'the cache holds the TLS Secret only');
  const cm = secretIn(store, 'ConfigMap/default/client-ca');
  assert.deepEqual(cm?.data, { 'ca.crt': ca.cert }, 'a ConfigMap gives its ca.crt only');
  assert.equal(cm?.type, 'ConfigMap');
  assert.equal(secretIn(store, 'ConfigMap/default/app-settings'), undefined, 'a ConfigMap without ca.crt is not handed on');

  // Rotation.
  const second = selfSignedCert('site.example.com');
  api.apply(tlsSecret('default', 'site-cert', second));
  await eventually('the rotated certificate reaches the store', () => secretIn(store, 'Secret/default/site-cert')?.data['tls.crt'] === second.cert);
  assert.equal(secretIn(store, 'Secret/default/site-cert')?.data['tls.key'], second.key);

  // A Secret added later, in another namespace.
  api.apply(tlsSecret('other', 'site-cert', first));
  await eventually('a new Secret in another namespace', () => secretIn(store, 'Secret/other/site-cert'));

  // A ConfigMap that loses its ca.crt is gone.
  api.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'client-ca', namespace: 'default' }, data: { other: 'y' } });
  await eventually('a ConfigMap without ca.crt leaves the store', () => secretIn(store, 'ConfigMap/default/client-ca') === undefined);

  // Deletion.
  api.remove('Secret', 'default', 'site-cert');
  await eventually('the deleted Secret leaves the store', () => secretIn(store, 'Secret/default/site-cert') === undefined);
  assert.ok(secretIn(store, 'Secret/other/site-cert'), 'the other namespace keeps its own');

  await controller.reconciler.settled();
  for (const c of [first, second, ca]) {
    assert.ok(!lines.some((l) => l.includes(c.keyMarker)), 'no log line holds private key text');
  }
  assert.ok(!lines.some((l) => l.includes('hunter2') || l.includes(b64('hunter2'))), 'nor any other Secret value');
  assert.ok(lines.length > 0, 'the logger recorded the run');
});
