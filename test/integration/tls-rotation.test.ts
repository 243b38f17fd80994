/**
 * Certificate changes without a reload, end to end (issue 11, item 3):
 * Secret and Frontend manifests in a directory → the controller → a real
 * HAProxy → real TLS clients (node:tls with SNI) on loopback. What a user
 * sees: the served certificate's serial, the master's reload count, the
 * Frontend's condition, the rotation metric, what `node-haproxy plan` prints;
 * and a restarted controller that adopts HAProxy still rotates at run time.
 * Certificates come from test/helpers/certs.ts (openssl, per test).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { packageRoot } from '../../src/paths.js';
import { PLAN_EXIT_CODES } from '../../src/plan/explain.js';
import { freePort } from '../helpers/haproxy.js';
import { eventually, startRestController, type RestFixture } from '../helpers/rest.js';
import { startUpstream } from '../helpers/upstream.js';
import { TestPki, type Issued } from '../helpers/certs.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function tlsSecretYaml(name: string, cert: string, key: string): string {
  return `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: ${b64(cert)}\n  tls.key: ${b64(key)}\n`;
}

function caSecretYaml(name: string, ca: string): string {
  return `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}}\ndata:\n  ca.crt: ${b64(ca)}\n`;
}

function webYaml(port: number, refs: string[], appPort: number, extra = ''): string {
  const frontend =
    `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata: {name: web}\nspec:\n  binds:\n` +
    `    - address: 127.0.0.1\n      port: ${port}\n      tls:\n        certificateRefs: [${refs.map((r) => `{name: ${r}}`).join(', ')}]\n${extra}` +
    `  defaultBackend: app\n`;
  return [frontend, backendYaml('app', [{ name: 'app-1', port: appPort }])].join('---\n');
}

interface Handshake {
  serial?: string;
  error?: string;
}

/** A TLS handshake with SNI `servername` (and a client certificate if given): the served certificate's serial, or why it failed. */
function handshake(port: number, servername: string, client: { cert?: string; key?: string } = {}): Promise<Handshake> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ...client, timeout: 3000 });
    s.once('secureConnect', () => {
      const serial = s.getPeerCertificate().serialNumber.toUpperCase();
      // TLS 1.3: a refused client certificate shows as an alert after the handshake; read a response to see it.
      s.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
      let body = '';
      s.on('data', (d: Buffer) => (body += d.toString()));
      s.on('end', () => resolve(body.startsWith('HTTP/1.1') ? { serial } : { serial, error: 'no HTTP response' }));
    });
    s.on('timeout', () => s.destroy(new Error('timeout')));
    s.on('error', (err) => resolve({ error: err.message }));
  });
}

const servedSerial = async (port: number, name: string): Promise<string | undefined> => (await handshake(port, name)).serial;

async function metric(fx: RestFixture, result: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${fx.controller.httpAddress!.port}/metrics`)).text();
  const m = new RegExp(`^node_haproxy_certificate_rotations_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text);
  assert.ok(m, `node_haproxy_certificate_rotations_total{result="${result}"} is exported`);
  return Number(m[1]);
}

test('rotation, a second certificate added and removed, a bad Secret: all served without a reload; a new default certificate reloads once, with the reason', async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const a1 = pki.issue({ cn: 'a.example.com', dns: ['a.example.com'] });
  const b = pki.issue({ cn: 'b.example.com', dns: ['b.example.com'] });
  const app = await startUpstream('app');
  t.after(() => app.close());
  const port = await freePort();
  const secrets = (a: Issued, bKey = b.key) => [tlsSecretYaml('site-a', a.cert, a.key), tlsSecretYaml('site-b', b.cert, bKey)].join('---\n');
  const fx = await startRestController(t, { withManifests: true, files: { 'secrets.yaml': secrets(a1), 'web.yaml': webYaml(port, ['site-a'], app.port) } });
  await eventually(
    () => servedSerial(port, 'a.example.com'),
    (s) => s === a1.serial,
  );
  await fx.controller.reconciler.settled();
  const reloads = await fx.controller.supervisor.reloadCount();
  const runtimeBefore = await metric(fx, 'runtime');
  const certs = join(fx.stateDir, 'certs');

  // 1. Rotation: the new serial serves, no reload, and the file on disk (0600) holds it for a later reload.
  const a2 = pki.issue({ cn: 'a.example.com', dns: ['a.example.com'] });
  await fx.write('secrets.yaml', secrets(a2));
  await eventually(
    () => servedSerial(port, 'a.example.com'),
    (s) => s === a2.serial,
    10_000,
    'the rotated certificate served',
  );
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'rotation: 0 reloads');
  await fx.controller.reconciler.settled();
  assert.equal(fx.controller.reconciler.last?.kind, 'runtime');
  assert.match(fx.controller.reconciler.last?.summary ?? '', /certificate update \(1\)/);
  const onDisk = join(certs, 'default', 'secret-site-a.pem');
  assert.ok((await readFile(onDisk, 'utf8')).includes(a2.cert.trim().split('\n')[1]!), 'the rotated certificate is on disk');
  assert.equal((await stat(onDisk)).mode & 0o777, 0o600);

  // 2. A second certificate on the same bind: served for its name, the default still for the others, no reload.
  await fx.write('web.yaml', webYaml(port, ['site-a', 'site-b'], app.port));
  await eventually(
    () => servedSerial(port, 'b.example.com'),
    (s) => s === b.serial,
    10_000,
    'the added certificate served for its SNI',
  );
  assert.equal(await servedSerial(port, 'unknown.test'), a2.serial, 'the default certificate for unknown names');
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'adding a certificate: 0 reloads');

  // 3. A bad Secret (a key that does not match): the old serial keeps serving, the condition says why, no reload.
  const other = pki.issue({ cn: 'other' });
  await fx.write('secrets.yaml', secrets(a2, other.key));
  const frontendStatus = async () =>
    (await fx.api.get('/api/v1/namespaces/default/frontends/web')).json as { status: { conditions: { status: string; message: string }[] } };
  const bad = await eventually(frontendStatus, (s) => s.status.conditions[0]?.status === 'False');
  assert.match(bad.status.conditions[0]!.message, /Secret default\/site-b: tls\.key does not match the certificate/);
  assert.equal(await servedSerial(port, 'b.example.com'), b.serial, 'the last good certificate keeps serving');
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'a bad Secret: 0 reloads');
  await fx.write('secrets.yaml', secrets(a2));
  await eventually(frontendStatus, (s) => s.status.conditions[0]?.status === 'True');

  // 4. The second certificate removed: its names get the default again, its file goes, no reload.
  await fx.write('web.yaml', webYaml(port, ['site-a'], app.port));
  await eventually(
    () => servedSerial(port, 'b.example.com'),
    (s) => s === a2.serial,
    10_000,
    'the removed certificate no longer served',
  );
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
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'removing a certificate: 0 reloads');
  assert.ok((await metric(fx, 'runtime')) >= runtimeBefore + 3, 'rotations counted as runtime');

  // 5. What the runtime API cannot do: a new default certificate (the first reference) reloads once, with the reason.
  const reloadBefore = await metric(fx, 'reload');
  await fx.write('web.yaml', webYaml(port, ['site-b', 'site-a'], app.port));
  await eventually(
    () => servedSerial(port, 'unknown.test'),
    (s) => s === b.serial,
    10_000,
    'the new default certificate served',
  );
  await fx.controller.reconciler.settled();
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads + 1, 'a new default certificate: one reload');
  const last = fx.controller.reconciler.last!;
  assert.equal(last.kind, 'reload');
  assert.ok(
    last.reasons.some((r) => /default certificate of crt-list .* changed .*cannot change a bind's default certificate at run time/.test(r)),
    last.reasons.join('; '),
  );
  assert.equal(await servedSerial(port, 'a.example.com'), a2.serial, 'after the reload, what the runtime API was told still serves');
  assert.equal(await metric(fx, 'reload'), reloadBefore + 1);
});

test('mTLS: a changed client CA bundle is replaced at run time, without a reload', async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const site = pki.issue({ cn: 'site.example.com', dns: ['site.example.com'] });
  const ca1 = pki.issue({ cn: 'Client CA 1', ca: true });
  const ca2 = pki.issue({ cn: 'Client CA 2', ca: true });
  const client1 = pki.issue({ cn: 'client-1', issuer: ca1, client: true });
  const client2 = pki.issue({ cn: 'client-2', issuer: ca2, client: true });
  const app = await startUpstream('app');
  t.after(() => app.close());
  const port = await freePort();
  const tls = (ca: Issued) => [tlsSecretYaml('site', site.cert, site.key), caSecretYaml('client-ca', ca.cert)].join('---\n');
  const mtls = `        clientCertificate: {caRef: {name: client-ca}, mode: Required}\n`;
  const fx = await startRestController(t, { withManifests: true, files: { 'tls.yaml': tls(ca1), 'web.yaml': webYaml(port, ['site'], app.port, mtls) } });
  const with1 = await eventually(
    () => handshake(port, 'site.example.com', client1),
    (h) => h.serial === site.serial && !h.error,
  );
  assert.equal(with1.serial, site.serial);
  assert.ok((await handshake(port, 'site.example.com', client2)).error, 'a client of the other CA is refused');
  await fx.controller.reconciler.settled();
  const reloads = await fx.controller.supervisor.reloadCount();

  await fx.write('tls.yaml', tls(ca2));
  await eventually(
    () => handshake(port, 'site.example.com', client2),
    (h) => h.serial === site.serial && !h.error,
    10_000,
    'a client of the new CA accepted',
  );
  assert.ok((await handshake(port, 'site.example.com', client1)).error, 'a client of the old CA is refused');
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'a CA bundle change: 0 reloads');
  await fx.controller.reconciler.settled();
  assert.equal(fx.controller.reconciler.last?.kind, 'runtime');
});

/** A controller serving a.example.com over TLS from Secret site-a (a certificate of a test PKI, cleaned up after the test), once it is served. */
async function servingSiteA(t: TestContext) {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const a1 = pki.issue({ cn: 'a.example.com', dns: ['a.example.com'] });
  const app = await startUpstream('app');
  t.after(() => app.close());
  const port = await freePort();
  const fx = await startTestController(t, { 'secrets.yaml': tlsSecretYaml('site-a', a1.cert, a1.key), 'web.yaml': webYaml(port, ['site-a'], app.port) });
  await eventually(
    () => servedSerial(port, 'a.example.com'),
    (s) => s === a1.serial,
  );
  return { pki, a1, app, port, fx };
}

test('a restarted controller adopts HAProxy and still rotates a certificate without a reload (the running files are read back from the state directory)', async (t) => {
  const { pki, port, fx } = await servingSiteA(t);
  const reloads = await fx.controller.supervisor.reloadCount();
  await fx.controller.stop({ stopHaproxy: false });
  const again = await fx.restart();
  await again.reconciler.settled();
  assert.equal(again.reconciler.last?.kind, 'noop', 'adoption changes nothing');

  const a2 = pki.issue({ cn: 'a.example.com', dns: ['a.example.com'] });
  await writeFile(join(fx.manifests, 'secrets.yaml'), tlsSecretYaml('site-a', a2.cert, a2.key));
  await eventually(
    () => servedSerial(port, 'a.example.com'),
    (s) => s === a2.serial,
    10_000,
    'the rotated certificate served after the restart',
  );
  await again.reconciler.settled();
  assert.equal(again.reconciler.last?.kind, 'runtime');
  assert.equal(await again.supervisor.reloadCount(), reloads, 'rotation after a restart: 0 reloads');
});

test('node-haproxy plan --state-dir: a rotated Secret is "runtime: certificate update (1)", by path, without key material; nothing changes', async (t) => {
  const { pki, a1, app, port, fx } = await servingSiteA(t);
  await fx.controller.reconciler.settled();
  const reloads = await fx.controller.supervisor.reloadCount();
  // The reviewer's copy of the manifests, with the Secret rotated.
  const proposed = await mkdtemp(join(tmpdir(), 'nh-plan-'));
  t.after(() => rm(proposed, { recursive: true, force: true }));
  const a2 = pki.issue({ cn: 'a.example.com', dns: ['a.example.com'] });
  await writeFile(join(proposed, 'secrets.yaml'), tlsSecretYaml('site-a', a2.cert, a2.key));
  await writeFile(join(proposed, 'web.yaml'), webYaml(port, ['site-a'], app.port));
  const cli = join(packageRoot(), 'dist', 'src', 'cli.js');
  const r = spawnSync(process.execPath, [cli, 'plan', proposed, '--state-dir', fx.stateDir], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, PLAN_EXIT_CODES.runtime, r.stderr + r.stdout);
  assert.match(
    r.stdout,
    /^Plan: runtime: runtime changes only, no reload\n {2}runtime: certificate update \(1\)\n {4}update certificate .*\/certs\/default\/secret-site-a\.pem\n/,
  );
  assert.doesNotMatch(r.stdout, /BEGIN|PRIVATE/);
  const json = spawnSync(process.execPath, [cli, 'plan', proposed, '--state-dir', fx.stateDir, '--output', 'json'], { encoding: 'utf8', timeout: 20_000 });
  const report = JSON.parse(json.stdout) as { certificateOperations: { op: string }[] };
  assert.deepEqual(
    report.certificateOperations.map((o) => o.op),
    ['update-cert'],
  );
  assert.equal(await servedSerial(port, 'a.example.com'), a1.serial, 'plan changes nothing');
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads);
});
