/**
 * Issue 11 (part 3) against real HAProxy, real clients and real upstreams on
 * loopback: the HTTPS redirect and its ACME exemption, HSTS, h2c to the
 * members, re-encryption (verify None, Required against the system store,
 * Required against a caRef), the PROXY protocol in and out (v1 and v2), and
 * TLS passthrough routed by SNI.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { createServer as createH2cServer } from 'node:http2';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { SECRETS, secretKey, type SecretData } from '../../src/model/secrets.js';
import { validateResource } from '../../src/model/validate.js';
import type { Backend, Frontend } from '../../src/model/types.js';
import { buildConfigModel } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { HAPROXY_BIN, freePort } from '../helpers/haproxy.js';
import { httpGet, startUpstreams, waitForHttp } from '../helpers/upstream.js';

interface Pki {
  dir: string;
  caCert: string;
  /** Key and certificate (PEM) for `name`, signed by the test CA, with `name` as its only DNS name. */
  issue(name: string): Promise<{ key: string; cert: string; pemFile: string }>;
}

/** A throwaway CA in a temp dir (openssl CLI), removed after the test. */
async function testPki(t: TestContext): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'nh-pki-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=node-haproxy test CA', '-days', '2');
  return {
    dir,
    caCert: await readFile(join(dir, 'ca.crt'), 'utf8'),
    async issue(name) {
      await writeFile(join(dir, `${name}.ext`), `subjectAltName=DNS:${name}\n`);
      ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      ssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      );
      const [key, cert] = [await readFile(join(dir, `${name}.key`), 'utf8'), await readFile(join(dir, `${name}.crt`), 'utf8')];
      const pemFile = join(dir, `${name}.pem`);
      await writeFile(pemFile, cert + key);
      return { key, cert, pemFile };
    },
  };
}

/** Listens on an OS-chosen loopback port; after the test, its connections (HAProxy keeps some idle) are cut and it closes. */
async function listen(t: TestContext, server: Server | import('node:http2').Http2Server | import('node:https').Server): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** Sends `data` on a fresh TCP connection to 127.0.0.1:port and returns everything read until the peer closes. */
function rawExchange(port: number, data: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1', () => s.write(data));
    const chunks: Buffer[] = [];
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`127.0.0.1:${port} did not close within ${timeoutMs} ms`)));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    s.on('error', reject);
  });
}

/**
 * An upstream that reads a PROXY protocol header (v1 text or v2 binary) and
 * answers an HTTP request with what it learnt: `proxy <source address>
 * xff=<X-Forwarded-For>`. Without a header it answers `proxy none`.
 */
function proxyProtocolUpstream(): Server {
  const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  return createNetServer((socket: Socket) => {
    let buf = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      let source = 'none';
      let rest = buf;
      if (buf.subarray(0, 12).equals(V2_SIGNATURE)) {
        const len = buf.readUInt16BE(14);
        // Family/protocol 0x11: TCP over IPv4, the source address first.
        if (buf[13] === 0x11) source = `v2 ${[...buf.subarray(16, 20)].join('.')}`;
        rest = buf.subarray(16 + len);
      } else if (buf.subarray(0, 6).toString() === 'PROXY ') {
        const eol = buf.indexOf('\r\n');
        source = `v1 ${buf.subarray(0, eol).toString().split(' ')[2]}`;
        rest = buf.subarray(eol + 2);
      }
      const head = rest.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const xff = /\r\nx-forwarded-for: *([^\r]*)/i.exec(head)?.[1] ?? 'none';
      const body = `proxy ${source} xff=${xff}`;
      socket.end(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    });
    socket.on('error', () => undefined);
  });
}

const frontendYaml = (name: string, spec: string) => `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: ${name}\nspec:\n${spec}`;

/** GET over HTTPS (any certificate accepted: the test checks headers, not the certificate). */
function httpsGet(port: number, path = '/'): Promise<{ status: number; headers: import('node:http').IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, agent: false, rejectUnauthorized: false, timeout: 3000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('HTTPS GET timed out')));
    req.on('error', reject);
    req.end();
  });
}

test('httpsRedirect: plain HTTP gets the redirect with the host, path and query; the ACME challenge reaches the backend; no HSTS in clear', async (t) => {
  const u = await startUpstreams(t, 'app');
  const [p1, p2] = [await freePort(), await freePort()];
  const fx = await startTestController(t, {
    'app.yaml': backendYaml('app', [{ name: 'a-1', port: u.app!.port }]),
    'web.yaml': frontendYaml(
      'web',
      `  binds: [{ address: 127.0.0.1, port: ${p1} }]\n  defaultBackend: app\n  httpsRedirect: {}\n  hsts: { maxAge: 31536000, includeSubDomains: true }\n`,
    ),
    'alt.yaml': frontendYaml(
      'alt',
      `  binds: [{ address: 127.0.0.1, port: ${p2} }]\n  defaultBackend: app\n  httpsRedirect: { port: 8443, statusCode: 308 }\n`,
    ),
  });
  assert.ok(fx.controller.reconciler.haproxyStarted);

  const r = await httpGet(p1, '/shop/cart?item=1&x=%20', 3000, { host: 'Shop.Example.com:' + p1 });
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, 'https://Shop.Example.com/shop/cart?item=1&x=%20', 'port 443 is left out of the Location');
  assert.equal(r.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
  assert.equal(u.app!.hits(), 0, 'a redirected request never reaches the backend');

  const acme = await httpGet(p1, '/.well-known/acme-challenge/token-1', 3000, { host: 'shop.example.com' });
  assert.equal(acme.status, 200);
  assert.equal(acme.body, 'app', 'the ACME challenge is routed to the backend in clear');
  assert.equal(acme.headers['strict-transport-security'], undefined);
  assert.equal(u.app!.hits(), 1);
  // Only below the prefix: a look-alike path is redirected.
  assert.equal((await httpGet(p1, '/.well-known/acme-challengeX', 3000, { host: 'shop.example.com' })).status, 301);

  const alt = await httpGet(p2, '/a', 3000, { host: 'shop.example.com' });
  assert.equal(alt.status, 308);
  assert.equal(alt.headers.location, 'https://shop.example.com:8443/a');
});

test('hsts over TLS, no redirect over TLS: the rendered frontend on a TLS bind (the bind made TLS by the test)', async (t) => {
  // spec.binds[].tls belongs to another part of issue 11: here the rendered configuration gets `ssl crt` on its bind by hand.
  const pki = await testPki(t);
  const cert = await pki.issue('shop.example.com');
  const u = await startUpstreams(t, 'app');
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'nh-'));
  const parse = <T>(raw: object) => {
    const v = validateResource(raw);
    assert.deepEqual(v.issues, []);
    return v.resource as T;
  };
  const f = parse<Frontend>({
    apiVersion: API_VERSION,
    kind: 'Frontend',
    metadata: { name: 'web' },
    spec: { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app', httpsRedirect: {}, hsts: { maxAge: 600, includeSubDomains: true } },
  });
  const b = parse<Backend>({
    apiVersion: API_VERSION,
    kind: 'Backend',
    metadata: { name: 'app' },
    spec: { members: [{ name: 'a', address: '127.0.0.1', port: u.app!.port }] },
  });
  const global = { adminSocket: join(dir, 'admin.sock'), serverStateFile: join(dir, 'server-state'), hardStopAfter: '5s' };
  const text = loadRenderer()(buildConfigModel({ frontends: [f], backends: [b], global }));
  const bind = `bind 127.0.0.1:${port}\n`;
  assert.ok(text.includes(bind));
  const cfg = join(dir, 'haproxy.cfg');
  await writeFile(cfg, text.replace(bind, `bind 127.0.0.1:${port} ssl crt ${cert.pemFile}\n`));
  const child = spawn(HAPROXY_BIN, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  });
  let r: Awaited<ReturnType<typeof httpsGet>> | undefined;
  for (const deadline = Date.now() + 5000; !r;) {
    r = await httpsGet(port, '/x').catch((err: Error) => {
      if (Date.now() > deadline) throw new Error(`HAProxy did not serve TLS: ${err.message}; its output: ${stderr}`);
      return undefined;
    });
    if (!r) await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(r.status, 200, 'a request over TLS is not redirected');
  assert.equal(r.body, 'app');
  assert.equal(r.headers['strict-transport-security'], 'max-age=600; includeSubDomains');
});

test('protocol h2: the member speaks HTTP/2 in clear (h2c) to an HTTP/1.1 client', async (t) => {
  const h2 = createH2cServer((req, res) => res.end(`httpVersion ${req.httpVersion}`));
  const h2Port = await listen(t, h2);
  const port = await freePort();
  await startTestController(t, {
    'grpc.yaml': backendYaml('grpc', [{ name: 'g-1', port: h2Port }], '  protocol: h2\n'),
    'web.yaml': frontendYaml('web', `  binds: [{ address: 127.0.0.1, port: ${port} }]\n  defaultBackend: grpc\n`),
  });
  const r = await waitForHttp(port, (x) => x.status === 200);
  assert.equal(r.body, 'httpVersion 2.0');
});

test('backend tls: verify None connects, Required refuses a certificate the system does not trust (503), a caRef trusts it; members added at run time get the same TLS', async (t) => {
  const pki = await testPki(t);
  const api = await pki.issue('api.internal');
  const tlsUpstream = async (name: string) => {
    const s = createHttpsServer({ key: api.key, cert: api.cert }, (req, res) => {
      res.end(`${name} tls sni=${(req.socket as import('node:tls').TLSSocket).servername || 'none'}`);
    });
    return listen(t, s);
  };
  const [u1, u2] = [await tlsUpstream('one'), await tlsUpstream('two')];
  const [pNone, pSystem, pCa, pWrongName] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const fe = (name: string, port: number, be: string) => frontendYaml(name, `  binds: [{ address: 127.0.0.1, port: ${port} }]\n  defaultBackend: ${be}\n`);
  const fx = await startTestController(t, {
    'none.yaml': backendYaml('none', [{ name: 'n-1', port: u1 }], '  tls: { verify: None }\n'),
    'system.yaml': backendYaml('system', [{ name: 's-1', port: u1 }], '  tls: { sni: api.internal }\n'),
    'f.yaml': [fe('none', pNone, 'none'), fe('system', pSystem, 'system'), fe('ca', pCa, 'ca'), fe('wrong', pWrongName, 'wrong')].join('---\n'),
    'ca.yaml': [
      backendYaml('ca', [{ name: 'c-1', port: u1 }], '  tls: { sni: api.internal, caRef: { name: test-ca } }\n'),
      backendYaml('wrong', [{ name: 'w-1', port: u1 }], '  tls: { sni: other.internal, caRef: { name: test-ca } }\n'),
    ].join('---\n'),
  });
  assert.equal((await httpGet(pNone)).body, 'one tls sni=none', 'verify None re-encrypts without checking');
  // HAProxy answers 503 after its connection retries (3, a second apart).
  const refused = await httpGet(pSystem, '/', 10_000);
  assert.equal(refused.status, 503, 'verify Required against the system trust store refuses the test CA');

  // caRef: the Secret is not there yet, so its backends are refused, with the reason on the field.
  const o = fx.controller.reconciler.last?.resolution?.outcomes.get('Backend/default/ca');
  assert.ok(o && !o.accepted);
  assert.equal(o.issues[0]!.field, 'spec.tls.caRef');
  assert.match(o.message, /Secret default\/test-ca does not exist/);

  // The Secret arrives (as a source would write it). Writing its file is another part of issue 11
  // (the state directory's certs/): the test writes it where the rendered ca-file points.
  await mkdir(join(fx.stateDir, 'certs', 'default'), { recursive: true });
  await writeFile(join(fx.stateDir, 'certs', 'default', 'secret-test-ca.ca.pem'), pki.caCert);
  const ca: SecretData = { kind: 'Secret', namespace: 'default', name: 'test-ca', type: 'Opaque', data: { 'ca.crt': pki.caCert }, origin: 'test' };
  const pass = fx.nextPass((p) => p.resolution?.outcomes.get('Backend/default/ca')?.accepted === true);
  fx.controller.store.setDiscovered('test', SECRETS, secretKey('Secret', 'default', 'test-ca'), ca);
  assert.equal((await pass).kind, 'reload');
  assert.match(
    fx.controller.reconciler.runningText ?? '',
    new RegExp(`ca-file ${fx.stateDir}/certs/default/secret-test-ca\\.ca\\.pem sni str\\(api\\.internal\\)`),
  );
  const trusted = await waitForHttp(pCa, (x) => x.status === 200);
  assert.equal(trusted.body, 'one tls sni=api.internal', 'verified against the caRef, with the SNI sent');
  assert.equal((await httpGet(pWrongName, '/', 10_000)).status, 503, 'a trusted certificate without the sni name is refused');

  // A member added at run time (add server) re-encrypts the same way.
  const runtime = fx.nextPass((p) => p.kind === 'runtime' || p.kind === 'reload');
  await fx.write('none.yaml', backendYaml('none', [{ name: 'n-2', port: u2 }], '  tls: { verify: None }\n'));
  assert.equal((await runtime).kind, 'runtime');
  await waitForHttp(pNone, (x) => x.body === 'two tls sni=none');
  await fx.write('ca.yaml', backendYaml('ca', [{ name: 'c-2', port: u2 }], '  tls: { sni: api.internal, caRef: { name: test-ca } }\n'));
  const verified = await waitForHttp(pCa, (x) => x.body.startsWith('two'));
  assert.equal(verified.body, 'two tls sni=api.internal');
  assert.equal((await httpGet(pCa)).status, 200);
});

test('PROXY protocol in and out: the client address from the header reaches the member as X-Forwarded-For (v1) and as its own PROXY header (v1, v2)', async (t) => {
  const upstreamPort = await listen(t, proxyProtocolUpstream());
  const [pHttp, pTcp, pPlain] = [await freePort(), await freePort(), await freePort()];
  await startTestController(t, {
    'be.yaml': [
      backendYaml('http-v1', [{ name: 'm', port: upstreamPort }], '  proxyProtocol: v1\n'),
      backendYaml('tcp-v2', [{ name: 'm', port: upstreamPort }], '  mode: tcp\n  proxyProtocol: v2\n'),
      backendYaml('plain', [{ name: 'm', port: upstreamPort }]),
    ].join('---\n'),
    'fe.yaml': [
      frontendYaml('http', `  binds: [{ address: 127.0.0.1, port: ${pHttp}, acceptProxyProtocol: true }]\n  defaultBackend: http-v1\n`),
      frontendYaml('tcp', `  mode: tcp\n  binds: [{ address: 127.0.0.1, port: ${pTcp}, acceptProxyProtocol: true }]\n  defaultBackend: tcp-v2\n`),
      frontendYaml('plain', `  binds: [{ address: 127.0.0.1, port: ${pPlain} }]\n  defaultBackend: plain\n`),
    ].join('---\n'),
  });
  const request = 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n';
  const viaHttp = await rawExchange(pHttp, `PROXY TCP4 192.0.2.10 127.0.0.1 40000 ${pHttp}\r\n${request}`);
  assert.match(viaHttp, /\r\n\r\nproxy v1 192\.0\.2\.10 xff=192\.0\.2\.10$/);
  const viaTcp = await rawExchange(pTcp, `PROXY TCP4 198.51.100.7 127.0.0.1 40000 ${pTcp}\r\n${request}`);
  assert.match(viaTcp, /\r\n\r\nproxy v2 198\.51\.100\.7 xff=none$/);
  // Without proxyProtocol the member gets no header; without acceptProxyProtocol the client address is the socket's.
  assert.match(await rawExchange(pPlain, request), /\r\n\r\nproxy none xff=127\.0\.0\.1$/);
  // A bind that expects the header drops a connection without one.
  assert.doesNotMatch(await rawExchange(pHttp, request).catch((err: Error) => err.message), /200 OK/);
});

test('sniRoutes: TLS passthrough by server name to two TCP backends; an unknown name goes to defaultBackend', async (t) => {
  const pki = await testPki(t);
  const tlsEcho = async (name: string) => {
    const c = await pki.issue(name);
    return listen(
      t,
      createTlsServer({ key: c.key, cert: c.cert }, (s) => s.end(`${name}\n`)),
    );
  };
  const [pa, pf] = [await tlsEcho('a.example.com'), await tlsEcho('fallback.example.com')];
  const port = await freePort();
  await startTestController(t, {
    'be.yaml': [backendYaml('a', [{ name: 'a', port: pa }], '  mode: tcp\n'), backendYaml('fallback', [{ name: 'f', port: pf }], '  mode: tcp\n')].join(
      '---\n',
    ),
    'fe.yaml': frontendYaml(
      'passthrough',
      `  mode: tcp\n  binds: [{ address: 127.0.0.1, port: ${port} }]\n  sniRoutes: [{ hosts: [a.example.com, "*.b.example.com"], backend: a }]\n  defaultBackend: fallback\n`,
    ),
  });
  const reach = (servername: string) =>
    new Promise<{ body: string; subject: string }>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
      let body = '';
      s.setTimeout(3000, () => s.destroy(new Error(`TLS to ${servername} timed out`)));
      s.on('data', (d: Buffer) => (body += d.toString()));
      s.on('end', () => resolve({ body: body.trim(), subject: String(s.getPeerCertificate().subject?.CN ?? '') }));
      s.on('error', reject);
    });
  const a = await reach('a.example.com');
  assert.deepEqual(a, { body: 'a.example.com', subject: 'a.example.com' }, 'the upstream terminated TLS itself (its own certificate)');
  assert.equal((await reach('A.EXAMPLE.com')).body, 'a.example.com', 'names are compared ignoring case');
  assert.equal((await reach('x.y.b.example.com')).body, 'a.example.com', 'a wildcard matches any subdomain');
  assert.equal((await reach('b.example.com')).body, 'fallback.example.com', 'a wildcard does not match its own domain');
  assert.equal((await reach('unknown.example.com')).body, 'fallback.example.com');
  assert.deepEqual(await reach('fallback.example.com'), { body: 'fallback.example.com', subject: 'fallback.example.com' });
});
