/**
 * TLS termination end to end (issue 11): Secret and Frontend manifests in a
 * directory → the controller → a real HAProxy → real TLS clients (node:tls
 * with SNI) on loopback. Certificates are made with `openssl` per test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type PeerCertificate } from 'node:tls';
import { request } from 'node:https';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { API_VERSION, backendYaml } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { eventually, startRestController } from '../helpers/rest.js';
import { startUpstream } from '../helpers/upstream.js';
import { TestPki, type Issued } from '../helpers/certs.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function tlsSecretYaml(name: string, cert: string, key: string): string {
  // data (base64), as kubectl writes it.
  return `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: ${b64(cert)}\n  tls.key: ${b64(key)}\n`;
}

function frontendYaml(binds: string): string {
  return `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata: {name: web}\nspec:\n  binds:\n${binds}\n  defaultBackend: app\n`;
}

interface Served {
  serial?: string;
  authorized: boolean;
  error?: string;
  body?: string;
}

/** One HTTPS request with SNI `servername`; the served certificate's serial and the response body. */
function httpsGet(port: number, servername: string, o: { ca?: string; cert?: string; key?: string } = {}): Promise<Served> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/', servername, ca: o.ca, cert: o.cert, key: o.key, rejectUnauthorized: !!o.ca, agent: false, timeout: 3000 },
      (res) => {
        const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate() as PeerCertificate;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ serial: cert.serialNumber?.toUpperCase(), authorized: true, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ authorized: false, error: err.message }));
    req.end();
  });
}

/** The serial of the certificate HAProxy presents for `servername` (no verification). */
function servedSerial(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const serial = s.getPeerCertificate().serialNumber.toUpperCase();
      s.end();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

test('SNI picks each certificate, a bad Secret keeps the last good one serving with a condition, files are 0600 and go when unreferenced', async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const root = pki.issue({ cn: 'Root', ca: true, endDays: 3650 });
  const inter = pki.issue({ cn: 'Intermediate', ca: true, issuer: root, endDays: 3000 });
  const a = pki.issue({ cn: 'a.example.com', dns: ['a.example.com'], issuer: inter });
  const b = pki.issue({ cn: 'b.example.com', dns: ['b.example.com', '*.b.example.com'], issuer: inter });
  const app = await startUpstream('app');
  t.after(() => app.close());
  const port = await freePort();
  const tlsBind = (refs: string) => `    - address: 127.0.0.1\n      port: ${port}\n      tls:\n        certificateRefs: [${refs}]\n        alpn: [http/1.1]`;
  const fx = await startRestController(t, {
    withManifests: true,
    files: {
      'secrets.yaml': [tlsSecretYaml('site-a', a.cert + inter.cert, a.key), tlsSecretYaml('site-b', b.cert + inter.cert, b.key)].join('---\n'),
      'web.yaml': [frontendYaml(tlsBind('{name: site-a}, {name: site-b}')), backendYaml('app', [{ name: 'app-1', port: app.port }])].join('---\n'),
    },
  });

  // The full chain verifies against the root, per name; an unknown name gets the first (default) certificate.
  const forA = await eventually(
    () => httpsGet(port, 'a.example.com', { ca: root.cert }),
    (r) => r.body === 'app',
  );
  assert.equal(forA.serial, a.serial);
  const forB = await httpsGet(port, 'b.example.com', { ca: root.cert });
  assert.equal(forB.body, 'app', forB.error);
  assert.equal(forB.serial, b.serial);
  assert.equal(await servedSerial(port, 'x.b.example.com'), b.serial, 'the wildcard name of b');
  assert.equal(await servedSerial(port, 'unknown.test'), a.serial, 'an unknown name gets the default (first) certificate');

  // Keys on disk: 0600 in 0700 directories; the crt-list names absolute paths.
  const certs = join(fx.stateDir, 'certs');
  assert.equal((await stat(join(certs, 'default', 'secret-site-b.pem'))).mode & 0o777, 0o600);
  assert.equal((await stat(join(certs, 'default'))).mode & 0o777, 0o700);
  assert.equal((await stat(join(certs, 'default_web.0.crtlist'))).mode & 0o777, 0o600);
  const crtList = await readFile(join(certs, 'default_web.0.crtlist'), 'utf8');
  assert.equal(
    crtList,
    `${join(certs, 'default', 'secret-site-a.pem')} a.example.com\n${join(certs, 'default', 'secret-site-b.pem')} b.example.com *.b.example.com\n`,
  );
  const frontendStatus = async () =>
    (await fx.api.get('/api/v1/namespaces/default/frontends/web')).json as { status: { conditions: { status: string; message: string }[]; serving: string } };
  const ok = await eventually(frontendStatus, (s) => s.status.conditions[0]?.status === 'True');
  assert.match(ok.status.conditions[0]!.message, new RegExp(`certificates in use: Secret default/site-a \\(serial ${a.serial}, notAfter 20\\d\\d-`));

  // A key that does not match: refused, the last good certificate keeps serving, status says why.
  const other = pki.issue({ cn: 'other' });
  const reloadsBefore = await fx.controller.supervisor.reloadCount();
  await fx.write('secrets.yaml', [tlsSecretYaml('site-a', a.cert + inter.cert, a.key), tlsSecretYaml('site-b', b.cert, other.key)].join('---\n'));
  const bad = await eventually(frontendStatus, (s) => s.status.conditions[0]?.status === 'False');
  assert.equal(bad.status.serving, 'previous version');
  assert.match(
    bad.status.conditions[0]!.message,
    /spec\.binds\[0\]\.tls\.certificateRefs\[1\]: Secret default\/site-b: tls\.key does not match the certificate \(CN=b\.example\.com\)/,
  );
  assert.match(bad.status.conditions[0]!.message, new RegExp(`Secret default/site-b \\(serial ${b.serial}`), 'names the certificate still in use');
  assert.equal((await httpsGet(port, 'b.example.com', { ca: root.cert })).serial, b.serial);
  assert.equal(await fx.controller.supervisor.reloadCount(), reloadsBefore, 'a bad Secret changes nothing in HAProxy');
  assert.ok((await readFile(join(certs, 'default', 'secret-site-b.pem'), 'utf8')).includes(b.key.trim().split('\n')[1]!), 'the good key stays on disk');

  // A good replacement serves (a reload, for now), then removing a reference removes its file.
  const b2 = pki.issue({ cn: 'b.example.com', dns: ['b.example.com'], issuer: inter });
  await fx.write('secrets.yaml', [tlsSecretYaml('site-a', a.cert + inter.cert, a.key), tlsSecretYaml('site-b', b2.cert + inter.cert, b2.key)].join('---\n'));
  await eventually(
    () => servedSerial(port, 'b.example.com'),
    (s) => s === b2.serial,
  );
  await eventually(frontendStatus, (s) => s.status.conditions[0]?.status === 'True');
  await fx.write('web.yaml', [frontendYaml(tlsBind('{name: site-a}')), backendYaml('app', [{ name: 'app-1', port: app.port }])].join('---\n'));
  await eventually(
    () => servedSerial(port, 'b.example.com'),
    (s) => s === a.serial,
  );
  // Removed once the reload is confirmed.
  await eventually(
    () =>
      stat(join(certs, 'default', 'secret-site-b.pem')).then(
        () => 'present',
        (err: NodeJS.ErrnoException) => err.code,
      ),
    (s) => s === 'ENOENT',
    10_000,
    'the unreferenced key removed',
  );
  assert.ok((await stat(join(certs, 'default', 'secret-site-a.pem'))).isFile());

  // The expiry metric names the Secret.
  const metrics = await (await fetch(`http://127.0.0.1:${fx.controller.httpAddress!.port}/metrics`)).text();
  assert.match(metrics, /node_haproxy_certificate_expiry_timestamp_seconds\{namespace="default",name="site-a"\} \d{10}/);
  assert.doesNotMatch(metrics, /node_haproxy_certificate_expiry_timestamp_seconds\{namespace="default",name="site-b"\}/);
});

test('mTLS: Required refuses a client without a certificate, Optional lets it through; a CA from a ConfigMap', async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const serverCa = pki.issue({ cn: 'Server CA', ca: true });
  const site = pki.issue({ cn: 'site.example.com', dns: ['site.example.com'], issuer: serverCa });
  const clientCa = pki.issue({ cn: 'Client CA', ca: true });
  const client: Issued = pki.issue({ cn: 'client-1', issuer: clientCa, client: true });
  const stranger = pki.issue({ cn: 'stranger', client: true });
  const app = await startUpstream('app');
  t.after(() => app.close());
  const required = await freePort();
  const optional = await freePort();
  const bind = (port: number, mode: string) =>
    `    - address: 127.0.0.1\n      port: ${port}\n      tls:\n        certificateRefs: [{name: site}]\n        minVersion: TLSv1.2\n        clientCertificate: {caRef: {kind: ConfigMap, name: client-ca}, mode: ${mode}}`;
  const caMap = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: client-ca}\ndata:\n  ca.crt: |\n${clientCa.cert
    .trim()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')}\n`;
  // stringData, as a person writes it by hand.
  const secret = `apiVersion: v1\nkind: Secret\nmetadata: {name: site}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: ${JSON.stringify(site.cert)}\n  tls.key: ${JSON.stringify(site.key)}\n`;
  await startRestController(t, {
    withManifests: true,
    files: {
      'tls.yaml': [caMap, secret].join('---\n'),
      'web.yaml': [
        frontendYaml([bind(required, 'Required'), bind(optional, 'Optional')].join('\n')),
        backendYaml('app', [{ name: 'app-1', port: app.port }]),
      ].join('---\n'),
    },
  });
  // A stall bound, not a timing assertion: the first start can be slow on a loaded machine.
  const withCert = await eventually(
    () => httpsGet(required, 'site.example.com', { ca: serverCa.cert, cert: client.cert, key: client.key }),
    (r) => r.body === 'app',
    30_000,
  );
  assert.equal(withCert.serial, site.serial);
  const without = await httpsGet(required, 'site.example.com', { ca: serverCa.cert });
  assert.notEqual(without.body, 'app', 'Required: no certificate, no response');
  assert.ok(without.error, 'Required: the handshake or the request fails');
  const wrongCa = await httpsGet(required, 'site.example.com', { ca: serverCa.cert, cert: stranger.cert, key: stranger.key });
  assert.notEqual(wrongCa.body, 'app', 'Required: a certificate from another CA is refused');
  assert.equal((await httpsGet(optional, 'site.example.com', { ca: serverCa.cert })).body, 'app', 'Optional: passes without a certificate');
  assert.equal((await httpsGet(optional, 'site.example.com', { ca: serverCa.cert, cert: client.cert, key: client.key })).body, 'app');
});

test('a Secret that points at PEM files on disk (certbot) follows them as they change', async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const first = pki.issue({ cn: 'files.example.com', dns: ['files.example.com'] });
  const crt = pki.write('live-fullchain.pem', first.cert);
  const key = pki.write('live-privkey.pem', first.key);
  const app = await startUpstream('app');
  t.after(() => app.close());
  const port = await freePort();
  const secret = `apiVersion: v1\nkind: Secret\nmetadata: {name: le}\ntype: kubernetes.io/tls\nstringDataFiles:\n  tls.crt: ${crt}\n  tls.key: ${key}\n`;
  await startRestController(t, {
    withManifests: true,
    files: {
      'le.yaml': secret,
      'web.yaml': [
        frontendYaml(`    - address: 127.0.0.1\n      port: ${port}\n      tls: {certificateRefs: [{name: le}]}`),
        backendYaml('app', [{ name: 'app-1', port: app.port }]),
      ].join('---\n'),
    },
  });
  assert.equal(
    await eventually(
      () => servedSerial(port, 'files.example.com'),
      (s) => s === first.serial,
    ),
    first.serial,
  );
  const renewed = pki.issue({ cn: 'files.example.com', dns: ['files.example.com'] });
  // The key first, then the chain (as a renewal writes them): in between the pair does not match and is not taken.
  await writeFile(key, renewed.key);
  await writeFile(crt, renewed.cert);
  await eventually(
    () => servedSerial(port, 'files.example.com'),
    (s) => s === renewed.serial,
    15_000,
    'the renewed certificate served',
  );
});

test('h2 via ALPN: a bind with alpn [h2, http/1.1] serves HTTP/2 to clients that ask for it, and HTTP/1.1 to the others', async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const ca = pki.issue({ cn: 'Test CA', ca: true });
  const site = pki.issue({ cn: 'site.example.com', dns: ['site.example.com'], issuer: ca });
  const app = await startUpstream('app');
  t.after(() => app.close());
  const port = await freePort();
  await startRestController(t, {
    withManifests: true,
    files: {
      'tls.yaml': tlsSecretYaml('site', site.cert, site.key),
      'web.yaml': [
        frontendYaml(`    - address: 127.0.0.1\n      port: ${port}\n      tls:\n        certificateRefs: [{name: site}]\n        alpn: [h2, http/1.1]`),
        backendYaml('app', [{ name: 'app-1', port: app.port }]),
      ].join('---\n'),
    },
  });
  // HTTP/1.1 clients (no ALPN, or ALPN http/1.1) are served as before.
  await eventually(
    () => httpsGet(port, 'site.example.com', { ca: ca.cert }),
    (r) => r.body === 'app',
    30_000,
  );
  const { connect: h2connect } = await import('node:http2');
  const session = h2connect(`https://127.0.0.1:${port}`, { ca: ca.cert, servername: 'site.example.com' });
  t.after(() => session.close());
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    session.on('error', reject);
    const req = session.request({ ':path': '/', ':authority': 'site.example.com' });
    let status = 0;
    const chunks: Buffer[] = [];
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
    req.end();
  });
  assert.equal(session.alpnProtocol, 'h2', 'HAProxy chose h2 by ALPN');
  assert.equal(status, 200);
  assert.equal(body, 'app', 'the HTTP/2 request reached the backend');
});
