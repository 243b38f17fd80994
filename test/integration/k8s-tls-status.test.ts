/**
 * Kubernetes and the TLS leftovers of issue 11, on the test API server with a
 * real HAProxy:
 * - a Frontend's Accepted condition names the certificate that serves
 *   (Secret, serial, notAfter), as REST does, and is written again when a
 *   rotation changes it (the Frontend itself unchanged);
 * - basic-auth users come from Secrets of type `node-haproxy.io/basic-auth`
 *   (a second field-selected reflector); an Opaque Secret is still never
 *   listed, so a Frontend naming one is refused with SecretNotFound.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { SECRETS } from '../../src/model/secrets.js';
import { BASIC_AUTH_SECRET_TYPE } from '../../src/sources/kubernetes/kubernetes-source.js';
import { eventually, startApiServer, startK8sController } from '../k8s/controller-harness.js';
import { backendObject, condition, frontendObject } from '../k8s/fixtures.js';
import { freePort } from '../helpers/haproxy.js';
import { b64, selfSignedCert, tlsSecret } from '../helpers/certs.js';
import { servedCert } from '../helpers/tls-client.js';
import { startUpstream } from '../helpers/upstream.js';

const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber.toUpperCase();

test('Kubernetes status: the Frontend Accepted condition names the certificate in use, and follows a rotation', async (t) => {
  const api = await startApiServer(t);
  const port = await freePort();
  const first = selfSignedCert('site.example.com');
  api.apply(tlsSecret('default', 'site-cert', first));
  api.apply(backendObject('app', { members: [{ name: 'a', address: '127.0.0.1', port: 9 }] }));
  api.apply(frontendObject('web', { binds: [{ address: '127.0.0.1', port, tls: { certificateRefs: [{ name: 'site-cert' }] } }], defaultBackend: 'app' }));
  await startK8sController(t, { kubeConfig: api.kubeConfig() });

  const accepted = () => condition(api.getObject('Frontend', 'default', 'web'), 'Accepted');
  const names = (serial: string) =>
    new RegExp(
      `^The spec is valid and every reference resolves; certificates in use: Secret default/site-cert \\(serial ${serial}, notAfter 20\\d\\d-\\d\\d-\\d\\dT[\\d:]+Z\\)\\.$`,
    );
  const a = await eventually('the Accepted condition names the first certificate', () => {
    const c = accepted();
    return c?.status === 'True' && names(serialOf(first.cert)).test(c.message ?? '') ? c : undefined;
  });
  assert.equal((await servedCert(port, 'site.example.com')).serial, serialOf(first.cert).replace(/^0+/, ''));

  // Rotation: only the Secret changes; the status is written again with the new serial.
  const second = selfSignedCert('site.example.com');
  api.apply(tlsSecret('default', 'site-cert', second));
  const b = await eventually('the Accepted condition names the rotated certificate', () => {
    const c = accepted();
    return c?.status === 'True' && names(serialOf(second.cert)).test(c.message ?? '') ? c : undefined;
  });
  assert.equal(b.lastTransitionTime, a.lastTransitionTime, 'still True: the transition time stays');
  assert.equal((await servedCert(port, 'site.example.com')).serial, serialOf(second.cert).replace(/^0+/, ''));
});

/** One HTTP GET; resolves with the status code. */
function get(port: number, authorization?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: authorization ? { authorization } : {}, agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test(`Kubernetes basic auth: users from a Secret of type ${BASIC_AUTH_SECRET_TYPE}; an Opaque Secret is never listed and is SecretNotFound`, async (t) => {
  const api = await startApiServer(t);
  const app = await startUpstream('app');
  t.after(() => app.close());
  const [port, otherPort] = [await freePort(), await freePort()];
  const hash = execFileSync('openssl', ['passwd', '-6', 'secret'], { encoding: 'utf8' }).trim();
  const secret = (name: string, type: string, users: string) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'default' },
    type,
    data: { users: b64(users) },
  });
  api.apply(secret('admin-users', BASIC_AUTH_SECRET_TYPE, `alice:${hash}\n`));
  api.apply(secret('opaque-users', 'Opaque', `alice:${hash}\n`));
  api.apply(backendObject('app', { members: [{ name: 'a', address: '127.0.0.1', port: app.port }] }));
  api.apply(frontendObject('admin', { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app', basicAuth: { secretRef: { name: 'admin-users' } } }));
  api.apply(
    frontendObject('other', { binds: [{ address: '127.0.0.1', port: otherPort }], defaultBackend: 'app', basicAuth: { secretRef: { name: 'opaque-users' } } }),
  );
  const { controller } = await startK8sController(t, { kubeConfig: api.kubeConfig() });

  const basic = (user: string, pass: string) => `Basic ${b64(`${user}:${pass}`)}`;
  await eventually('the admin frontend asks for credentials', async () => ((await get(port).catch(() => 0)) === 401 ? true : undefined));
  assert.equal(await get(port, basic('alice', 'secret')), 200, 'alice with her password');
  assert.equal(await get(port, basic('alice', 'wrong')), 401, 'a wrong password');

  // The Opaque Secret never reached the controller: the Frontend naming it is refused, and says what to do.
  const refused = await eventually('the other frontend is refused', () => {
    const c = condition(api.getObject('Frontend', 'default', 'other'), 'Accepted');
    return c?.status === 'False' ? c : undefined;
  });
  assert.equal(refused.reason, 'SecretNotFound');
  assert.match(refused.message ?? '', /^spec\.basicAuth\.secretRef\.name: Secret default\/opaque-users does not exist/);
  const stats = controller.kubernetes!.source.reflectorStats();
  assert.equal(stats['basic-auth-secrets']?.objects, 1, 'the basic-auth cache holds the typed Secret only');
  assert.equal(stats.secrets?.objects ?? 0, 0, 'the TLS cache holds no Secret');
  const discovered = controller.store.snapshot().discovered.get(SECRETS);
  assert.deepEqual([...(discovered?.keys() ?? [])], ['Secret/default/admin-users']);

  // A new user in the Secret is served without touching the Frontend.
  api.apply(secret('admin-users', BASIC_AUTH_SECRET_TYPE, `alice:${hash}\nbob:${hash}\n`));
  await eventually('bob is let in', async () => ((await get(port, basic('bob', 'secret'))) === 200 ? true : undefined));
  // The Secret deleted: the Frontend is refused and its last accepted version keeps serving.
  api.remove('Secret', 'default', 'admin-users');
  const gone = await eventually('the admin frontend is refused once its Secret is gone', () => {
    const c = condition(api.getObject('Frontend', 'default', 'admin'), 'Accepted');
    return c?.status === 'False' ? c : undefined;
  });
  assert.equal(gone.reason, 'SecretNotFound');
});
