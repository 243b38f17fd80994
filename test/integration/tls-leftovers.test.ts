/**
 * Issue 11 leftovers through the REST API, a real controller and a real
 * HAProxy: an httpsRedirect that would loop is refused naming
 * spec.httpsRedirect.port, and a Backend whose caRef names a malformed CA
 * bundle is refused (InvalidCertificate, naming the block), as a frontend's
 * client CA is, before anything reaches HAProxy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { API_VERSION } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { eventually, startRestController } from '../helpers/rest.js';
import { selfSignedCert } from '../helpers/certs.js';
import { httpGet, startUpstreams } from '../helpers/upstream.js';

const NS = '/api/v1/namespaces/default';

test('REST: httpsRedirect to a plain bind of the same Frontend is refused (a loop); to a port it does not bind plainly it is accepted', async (t) => {
  const up = await startUpstreams(t, 'app');
  const fx = await startRestController(t);
  const [plain, other] = [await freePort(), await freePort()];
  const backend = { apiVersion: API_VERSION, kind: 'Backend', spec: { members: [{ name: 'a', address: '127.0.0.1', port: up.app!.port }] } };
  assert.equal((await fx.api.put(`${NS}/backends/app`, backend)).status, 201);
  const frontend = (redirectPort: number) => ({
    apiVersion: API_VERSION,
    kind: 'Frontend',
    spec: {
      binds: [
        { address: '127.0.0.1', port: plain },
        { address: '127.0.0.1', port: other },
      ],
      defaultBackend: 'app',
      httpsRedirect: { port: redirectPort },
    },
  });
  const loop = await fx.api.put(`${NS}/frontends/web`, frontend(other));
  assert.equal(loop.status, 422, loop.text);
  assert.equal(loop.json.field, 'spec.httpsRedirect.port');
  assert.match(
    loop.json.message,
    /is spec\.binds\[1\], which has no tls: the redirected request would be redirected again, in a loop; point port at a TLS bind/,
  );
  assert.equal((await httpGet(plain).catch(() => ({ status: 0 }))).status, 0, 'nothing was applied');

  // A port no plain bind of it listens on (a TLS listener elsewhere): accepted and served.
  assert.equal((await fx.api.put(`${NS}/frontends/web?wait=true`, frontend(8443))).status, 201);
  const r = await eventually(
    () => httpGet(plain, '/', 3000, { host: 'shop.example.com' }).catch(() => ({ status: 0, headers: {} as Record<string, string> })),
    (x) => x.status === 301,
  );
  assert.equal(r.headers.location, 'https://shop.example.com:8443/');
});

test('REST: a Backend caRef naming a malformed CA bundle is refused on spec.tls.caRef with the block named; a good bundle is accepted', async (t) => {
  const fx = await startRestController(t);
  const port = await freePort();
  const ca = selfSignedCert('backend-ca');
  const putCa = (caCrt: string) =>
    fx.api.put(`${NS}/secrets/backend-ca`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'backend-ca' },
      type: 'Opaque',
      stringData: { 'ca.crt': caCrt },
    });
  assert.equal((await putCa(ca.cert + ca.key)).status, 201, 'the REST API takes any Secret: the Backend refuses it');
  const backend = {
    apiVersion: API_VERSION,
    kind: 'Backend',
    spec: { members: [{ name: 'a', address: '127.0.0.1', port: 9 }], tls: { caRef: { name: 'backend-ca' } } },
  };
  assert.equal((await fx.api.put(`${NS}/backends/app`, backend)).status, 201);
  const frontend = { apiVersion: API_VERSION, kind: 'Frontend', spec: { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app' } };
  assert.equal((await fx.api.put(`${NS}/frontends/web`, frontend)).status, 201);
  type Status = { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } };
  const accepted = async () => ((await fx.api.get(`${NS}/backends/app`)).json as Status).status?.conditions?.find((c) => c.type === 'Accepted');
  const refused = await eventually(accepted, (c) => c?.status === 'False');
  assert.equal(refused!.reason, 'InvalidCertificate');
  assert.match(refused!.message, /^spec\.tls\.caRef: Secret default\/backend-ca: ca\.crt block 2 is a "PRIVATE KEY", not a "CERTIFICATE"/);
  assert.ok(!refused!.message.includes(ca.keyMarker), 'the key never appears in the message');
  assert.doesNotMatch(fx.controller.reconciler.runningText ?? '', /backend-ca/, 'nothing of it reached HAProxy');

  // The bundle fixed: accepted, and HAProxy verifies against it.
  assert.equal((await putCa(ca.cert)).status, 200);
  await eventually(accepted, (c) => c?.status === 'True');
  await eventually(
    async () => fx.controller.reconciler.runningText ?? '',
    (text) => /ssl verify required ca-file \S+\/certs\/default\/secret-backend-ca\.ca\.pem/.test(text),
  );
});
