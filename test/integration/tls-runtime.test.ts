// Real HAProxy (2.6, or 3.0 with HAPROXY_BIN): certificates changed through the
// runtime API with 0 reloads, seen by a real TLS client. The configuration is
// written by hand, laid out as the TLS contract says (docs/decisions/0012-tls-rotation.md):
// certs/<ns>/secret-<name>.pem and a crt-list per bind, absolute paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SslRuntime } from '../../src/haproxy/ssl-runtime.js';
import { RuntimeApi, RuntimeApiError } from '../../src/haproxy/runtime.js';
import { planCertificates } from '../../src/reconcile/cert-plan.js';
import { CertUpdater } from '../../src/reconcile/cert-updater.js';
import { statePaths } from '../../src/haproxy/supervisor.js';
import { freePort, haproxyFixture } from '../helpers/haproxy.js';
import { makeCert, normalSerial } from '../helpers/certs.js';
import { httpsStatus, servedCert } from '../helpers/tls-client.js';

const A = 'certs/default/secret-a.pem';
const B = 'certs/default/secret-b.pem';
const C = 'certs/default/secret-c.pem';
const CA = 'certs/default/configmap-client-ca.ca.pem';
const LIST = 'certs/web.0.crtlist';

function tlsConfig(dir: string, port: number): string {
  return [
    'global',
    `  stats socket ${statePaths(dir).adminSocket} mode 600 level admin expose-fd listeners`,
    '  hard-stop-after 10s',
    '',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 10s',
    '  timeout server 10s',
    '',
    'frontend web',
    `  bind 127.0.0.1:${port} ssl crt-list ${join(dir, LIST)} ca-file ${join(dir, CA)} verify optional`,
    '  http-request return status 200 content-type text/plain string ok',
    '',
  ].join('\n');
}

test('certificates change at run time with 0 reloads', async (t) => {
  const fx = await haproxyFixture(t);
  const dir = fx.dir;
  const port = await freePort();
  const abs = (rel: string) => join(dir, rel);
  const crtlist = (...lines: [string, ...string[]][]) => lines.map(([p, ...f]) => [abs(p), ...f].join(' ')).join('\n') + '\n';
  const [a1, b1, clientCa] = await Promise.all([makeCert(['a.example']), makeCert(['b.example']), makeCert(['client-ca'], { isCa: true })]);

  // The files as the renderer writes them; `running` is what HAProxy loaded.
  let running = new Map([
    [A, a1.pem],
    [B, b1.pem],
    [CA, clientCa.cert],
    [LIST, crtlist([A, 'a.example'], [B, 'b.example'])],
  ]);
  const write = async (files: Map<string, string>) => {
    for (const [rel, text] of files) {
      await mkdir(dirname(abs(rel)), { recursive: true, mode: 0o700 });
      await writeFile(abs(rel), text, { mode: 0o600 });
    }
  };
  await write(running);
  const sup = fx.supervisor();
  await sup.start(tlsConfig(dir, port));
  const ssl = new SslRuntime({ socketPath: sup.paths.adminSocket });
  const updater = new CertUpdater(ssl);
  /** Plans desired against running, applies the runtime operations, and makes desired the running files. */
  const apply = async (desired: Map<string, string>): Promise<string[]> => {
    const p = planCertificates(running, desired, { stateDir: dir });
    assert.equal(p.kind, 'runtime', JSON.stringify(p.kind === 'reload' ? p.reasons : p));
    if (p.kind !== 'runtime') return [];
    await write(desired);
    await updater.execute(p.ops);
    running = desired;
    return p.ops.map((o) => o.op);
  };

  assert.equal((await servedCert(port, 'a.example')).serial, a1.serial);
  assert.equal((await servedCert(port, 'b.example')).serial, b1.serial);
  assert.equal((await servedCert(port, 'unknown.example')).serial, a1.serial, 'the first line is the default certificate');
  const reloadsBefore = await sup.reloadCount();

  await t.test('rotate a served certificate and the default one: new serials, no reload', async () => {
    const [a2, b2] = await Promise.all([makeCert(['a.example']), makeCert(['b.example'])]);
    assert.deepEqual(await apply(new Map([...running, [A, a2.pem], [B, b2.pem]])), ['update-cert', 'update-cert']);
    assert.equal((await servedCert(port, 'b.example')).serial, b2.serial);
    assert.equal((await servedCert(port, 'a.example')).serial, a2.serial);
    assert.equal((await servedCert(port, 'unknown.example')).serial, a2.serial);
    const shown = await ssl.showCert(abs(B));
    assert.equal(normalSerial(shown.serial), b2.serial);
    assert.deepEqual(shown.dnsNames, ['b.example']);
    assert.ok(shown.notAfter && shown.notAfter.getTime() > Date.now());
    assert.equal(await sup.reloadCount(), reloadsBefore);
  });

  await t.test('a certificate for a new name is loaded and served for its SNI, then removed', async () => {
    assert.equal((await servedCert(port, 'c.example')).serial, (await servedCert(port, 'a.example')).serial, 'before: the default');
    const c1 = await makeCert(['c.example']);
    const withC = new Map([...running, [C, c1.pem], [LIST, crtlist([A, 'a.example'], [B, 'b.example'], [C, 'c.example'])]]);
    assert.deepEqual(await apply(withC), ['new-cert', 'add-crtlist-line']);
    assert.equal((await servedCert(port, 'c.example')).serial, c1.serial);
    assert.ok((await ssl.listCerts()).loaded.includes(abs(C)));

    const withoutC = new Map([...running].filter(([k]) => k !== C));
    withoutC.set(LIST, crtlist([A, 'a.example'], [B, 'b.example']));
    assert.deepEqual(await apply(withoutC), ['del-crtlist-line', 'del-cert']);
    assert.equal((await servedCert(port, 'c.example')).serial, (await servedCert(port, 'a.example')).serial, 'after: the default again');
    assert.equal((await ssl.listCerts()).loaded.includes(abs(C)), false);
    await assert.rejects(ssl.showCert(abs(C)), /Not found/);
    assert.equal(await sup.reloadCount(), reloadsBefore);
  });

  await t.test("a refused payload leaves the old certificate serving, and the error carries HAProxy's words", async () => {
    const before = (await servedCert(port, 'b.example')).serial;
    // PEM-shaped (it passes the local check), but not a certificate.
    const garbage = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';
    await assert.rejects(ssl.updateCert(abs(B), garbage), (err: unknown) => {
      assert.ok(err instanceof RuntimeApiError);
      assert.match(err.message, /HAProxy refused "set ssl cert .*secret-b\.pem <<": unable to load certificate .* \/ Can't load the payload/);
      assert.doesNotMatch(err.message, /bm90IGEgY2VydGlmaWNhdGU/, 'the payload is not in the message');
      return true;
    });
    // A key that is not the certificate's: HAProxy refuses it at commit.
    const other = await makeCert(['b.example']);
    const mismatched = other.cert + (await makeCert(['x'])).key;
    await assert.rejects(
      ssl.updateCert(abs(B), mismatched),
      /HAProxy refused "commit ssl cert .*secret-b\.pem": inconsistencies between private key and certificate/,
    );
    // Refused locally: an empty line would end the payload early.
    await assert.rejects(ssl.updateCert(abs(B), other.cert + '\n' + other.key), /PEM line \d+ is empty/);
    assert.equal((await servedCert(port, 'b.example')).serial, before);
    assert.equal((await ssl.listCerts()).transaction, undefined, 'no transaction left open');
    assert.equal(await sup.reloadCount(), reloadsBefore);
  });

  await t.test('a transaction left open on another certificate (a crashed run) is aborted, and the update goes through', async () => {
    const b3 = await makeCert(['b.example']);
    const api = new RuntimeApi({ socketPath: sup.paths.adminSocket });
    assert.match(await api.execute(`set ssl cert ${abs(A)}`, (await makeCert(['a.example'])).pem), /Transaction created/);
    assert.equal((await ssl.listCerts()).transaction, abs(A));
    await ssl.updateCert(abs(B), b3.pem);
    assert.equal((await servedCert(port, 'b.example')).serial, b3.serial);
    assert.equal((await ssl.listCerts()).transaction, undefined);
  });

  await t.test('a CA bundle for client certificates is replaced at run time', async () => {
    const newCa = await makeCert(['new-ca'], { isCa: true });
    const client = await makeCert(['client'], { ca: newCa, clientAuth: true });
    // verify optional: a certificate from an unknown CA is refused, none at all passes.
    assert.match(await httpsStatus(port, 'a.example'), /^HTTP\/1\.1 200/);
    await assert.rejects(httpsStatus(port, 'a.example', { cert: client.cert, key: client.key }));
    assert.deepEqual(await apply(new Map([...running, [CA, newCa.cert]])), ['update-ca-file']);
    assert.match(await httpsStatus(port, 'a.example', { cert: client.cert, key: client.key }), /^HTTP\/1\.1 200/);
    assert.equal(await sup.reloadCount(), reloadsBefore);
  });

  await t.test('a change to the default certificate line is not a runtime change', () => {
    const p = planCertificates(running, new Map([...running, [LIST, crtlist([B, 'b.example'], [A, 'a.example'])]]), { stateDir: dir });
    assert.equal(p.kind, 'reload');
  });
});
