/**
 * Kubernetes (issue 11): a real kubernetes.io/tls Secret in the test API
 * server is followed through creation (served), rotation (the new serial
 * serves, 0 reloads) and deletion (the Frontend's condition says the Secret
 * is gone; the last good certificate keeps serving: bad input never takes
 * down what serves), through a real HAProxy and a real TLS client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { freePort } from '../helpers/haproxy.js';
import { startUpstream } from '../helpers/upstream.js';
import { TestPki, type Issued } from '../helpers/certs.js';
import { eventually, startApiServer, startK8sController } from '../k8s/controller-harness.js';
import { applySpec, backendObject, condition, frontendObject } from '../k8s/fixtures.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const tlsSecret = (name: string, c: Issued) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'default' },
  type: 'kubernetes.io/tls',
  data: { 'tls.crt': b64(c.cert), 'tls.key': b64(c.key) },
});

/** The serial HAProxy presents for `servername`, or undefined when the handshake fails. */
function servedSerial(port: number, servername: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, timeout: 3000 }, () => {
      const serial = s.getPeerCertificate().serialNumber.toUpperCase();
      s.end();
      resolve(serial);
    });
    s.on('timeout', () => s.destroy(new Error('timeout')));
    s.on('error', () => resolve(undefined));
  });
}

test('Kubernetes: a TLS Secret is served at creation, rotated without a reload, and its deletion keeps the last good certificate serving with a condition', async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const first = pki.issue({ cn: 'site.example.com', dns: ['site.example.com'] });
  const server = await startApiServer(t);
  const app = await startUpstream('app');
  t.after(() => app.close());
  const port = await freePort();
  server.apply(tlsSecret('site-cert', first));
  applySpec(server, backendObject('app', { members: [{ name: 'app-1', address: '127.0.0.1', port: app.port }] }));
  applySpec(
    server,
    frontendObject('web', { binds: [{ address: '127.0.0.1', port, tls: { certificateRefs: [{ name: 'site-cert' }] } }], defaultBackend: 'app' }),
  );
  const { controller } = await startK8sController(t, { kubeConfig: server.kubeConfig() });
  const reloads = () => controller.supervisor.reloadCount();

  // Creation: served.
  await eventually('the Secret served', async () => ((await servedSerial(port, 'site.example.com')) === first.serial ? true : undefined));
  await controller.reconciler.settled();
  const before = await reloads();

  // Rotation: the new serial, 0 reloads.
  const second = pki.issue({ cn: 'site.example.com', dns: ['site.example.com'] });
  server.apply(tlsSecret('site-cert', second));
  await eventually('the rotated certificate served', async () => ((await servedSerial(port, 'site.example.com')) === second.serial ? true : undefined));
  assert.equal(await reloads(), before, 'rotation: 0 reloads');

  // Deletion: the Frontend's condition says the Secret is gone; the last good certificate keeps serving; nothing reloads.
  server.remove('Secret', 'default', 'site-cert');
  const accepted = await eventually('the Frontend condition names the missing Secret', () => {
    const c = condition(server.getObject('Frontend', 'default', 'web'), 'Accepted');
    return c?.status === 'False' ? c : undefined;
  });
  assert.match(accepted.message ?? '', /Secret default\/site-cert/, accepted.message);
  assert.match(accepted.message ?? '', /Secret default\/site-cert does not exist; create it/, accepted.message);
  assert.equal(await servedSerial(port, 'site.example.com'), second.serial, 'the last good certificate keeps serving');
  await controller.reconciler.settled();
  assert.equal(await reloads(), before, 'deletion: 0 reloads');

  // Created again (a third certificate): served at run time, the condition clears.
  const third = pki.issue({ cn: 'site.example.com', dns: ['site.example.com'] });
  server.apply(tlsSecret('site-cert', third));
  await eventually('the re-created Secret served', async () => ((await servedSerial(port, 'site.example.com')) === third.serial ? true : undefined));
  await eventually('the condition clears', () => (condition(server.getObject('Frontend', 'default', 'web'), 'Accepted')?.status === 'True' ? true : undefined));
  assert.equal(await reloads(), before, 're-creation: 0 reloads');
});
