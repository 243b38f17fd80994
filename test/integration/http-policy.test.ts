/**
 * Issue 12, HTTP policy fields, against real HAProxy (HAPROXY_BIN: 2.6 and
 * 3.0) and real HTTP clients on loopback: IP allow and deny lists (IPv4 and
 * IPv6), the rate limit, basic auth from a Secret, CORS, cookie affinity (also
 * for a member added at run time), retries and the request-body limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { versionAtLeast } from '../../src/haproxy/version.js';
import { SECRETS, secretKey, type SecretData } from '../../src/model/secrets.js';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { startUpstreams } from '../helpers/upstream.js';
import { eventually } from '../helpers/rest.js';

interface Reply {
  status: number;
  body: string;
  headers: import('node:http').IncomingHttpHeaders;
}

interface Req {
  host?: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Send the body with Transfer-Encoding: chunked (no Content-Length). */
  chunked?: boolean;
}

/** One request on a fresh connection. */
function send(port: number, o: Req = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined && !o.chunked) headers['content-length'] = String(Buffer.byteLength(o.body));
    const req = request({ host: o.host ?? '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', headers, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request to port ${port} timed out`)));
    req.on('error', reject);
    if (o.body !== undefined && o.chunked) {
      // Two chunks, so the body is really sent chunked.
      const half = Math.floor(o.body.length / 2);
      req.write(o.body.slice(0, half));
      req.write(o.body.slice(half));
    } else if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}

const serving = (port: number, o: Req = {}, accept: (r: Reply) => boolean = () => true) =>
  eventually(
    () => send(port, o).catch((err: Error) => ({ status: 0, body: err.message, headers: {} }) as Reply),
    (r) => r.status !== 0 && accept(r),
    10_000,
    `port ${port} answering`,
  );

const frontend = (name: string, address: string, port: number, backend: string, extra: string) =>
  `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: ${name}\nspec:\n  binds: [{ address: "${address}", port: ${port} }]\n  defaultBackend: ${backend}\n${extra}`;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('IP allow and deny lists answer 403 to the clients they exclude, over IPv4 and IPv6', async (t) => {
  const up = await startUpstreams(t, 'app');
  const [p1, p2, p3, p4] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const fx = await startTestController(t, {
    'b.yaml': backendYaml('app', [{ name: 'a', port: up.app!.port }]),
    'f1.yaml': frontend('allow-me', '127.0.0.1', p1, 'app', '  ipAllowList: ["10.0.0.0/8", "127.0.0.1/32"]\n'),
    'f2.yaml': frontend('allow-others', '127.0.0.1', p2, 'app', '  ipAllowList: ["10.0.0.0/8", "2001:db8::/32"]\n'),
    'f3.yaml': frontend('deny-me6', '::1', p3, 'app', '  ipDenyList: ["::1"]\n'),
    'f4.yaml': frontend('deny-others6', '::1', p4, 'app', '  ipDenyList: ["2001:db8::/32", "10.1.2.3"]\n'),
  });
  assert.equal((await serving(p1)).body, 'app');
  const refused = await serving(p2);
  assert.equal(refused.status, 403);
  assert.equal(up.app!.hits(), 1, 'a refused request never reaches the upstream');
  assert.equal((await serving(p3, { host: '::1' })).status, 403);
  const v6 = await serving(p4, { host: '::1' });
  assert.equal(v6.status, 200);
  assert.equal(v6.body, 'app');
  // The lists change with the resource: the client is now on the deny list.
  await fx.write('f1.yaml', frontend('allow-me', '127.0.0.1', p1, 'app', '  ipDenyList: ["127.0.0.0/8"]\n'));
  assert.equal((await serving(p1, {}, (r) => r.status === 403)).status, 403);
});

test('the rate limit answers 429 past the limit and recovers after the period', async (t) => {
  const up = await startUpstreams(t, 'app');
  const port = await freePort();
  await startTestController(t, {
    'b.yaml': backendYaml('app', [{ name: 'a', port: up.app!.port }]),
    'f.yaml': frontend('limited', '127.0.0.1', port, 'app', '  rateLimit: { requests: 5, period: 1s }\n'),
  });
  await serving(port);
  // Let the probe's request leave the window.
  await new Promise((r) => setTimeout(r, 2200));
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await send(port)).status);
  assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200], statuses.join(' '));
  assert.ok(statuses.filter((s) => s === 429).length >= 10, `past the limit: ${statuses.join(' ')}`);
  assert.equal(statuses.at(-1), 429, statuses.join(' '));
  assert.ok(
    statuses.every((s) => s === 200 || s === 429),
    statuses.join(' '),
  );
  // Two quiet periods later the client is served again.
  await new Promise((r) => setTimeout(r, 2200));
  for (let i = 0; i < 5; i++) assert.equal((await send(port)).status, 200, `request ${i} after the period`);
});

test('rate limit by header: each key has its own budget', async (t) => {
  const up = await startUpstreams(t, 'app');
  const port = await freePort();
  await startTestController(t, {
    'b.yaml': backendYaml('app', [{ name: 'a', port: up.app!.port }]),
    'f.yaml': frontend('limited', '127.0.0.1', port, 'app', '  rateLimit: { requests: 3, period: 10s, key: Header, header: X-Api-Key, statusCode: 503 }\n'),
  });
  await serving(port);
  const a: number[] = [];
  for (let i = 0; i < 6; i++) a.push((await send(port, { headers: { 'x-api-key': 'alpha' } })).status);
  assert.deepEqual(a, [200, 200, 200, 503, 503, 503]);
  assert.equal((await send(port, { headers: { 'x-api-key': 'beta' } })).status, 200, 'another key has its own budget');
});

test('basic auth: 401 without credentials, 200 with them; a bad hash line is skipped with a warning naming the Secret and line', async (t) => {
  const up = await startUpstreams(t, 'app');
  const port = await freePort();
  const fx = await startTestController(t, {
    'b.yaml': backendYaml('app', [{ name: 'a', port: up.app!.port }]),
    'f.yaml': frontend('admin', '127.0.0.1', port, 'app', '  basicAuth: { secretRef: { name: users }, realm: admin-area }\n'),
  });
  const secret = (users: string): SecretData => ({ kind: 'Secret', namespace: 'default', name: 'users', type: 'Opaque', data: { users }, origin: 'test' });
  const put = (users: string) => fx.controller.store.setDiscovered('test', SECRETS, secretKey('Secret', 'default', 'users'), secret(users));
  const outcome = () => fx.controller.reconciler.last?.resolution?.outcomes.get('Frontend/default/admin');

  // No Secret yet: the frontend is refused, naming the Secret.
  const missing = outcome();
  assert.ok(missing && !missing.accepted && missing.reason === 'SecretNotFound', JSON.stringify(missing));
  assert.match(missing.message, /spec\.basicAuth\.secretRef\.name: Secret default\/users does not exist/);

  // A bad hash (MD5-crypt) on line 2: that line is skipped, named in a warning (never the hash); alice serves.
  const md5 = '$1$bGbyr/Mk$SdkhP9roNLTgU3EZn19pt.';
  const sha512 = execFileSync('openssl', ['passwd', '-6', 'secret'], { encoding: 'utf8' }).trim();
  put(`alice:${sha512}\nbob:${md5}\n`);
  await fx.nextPass();
  const bad = outcome();
  assert.ok(bad?.accepted, JSON.stringify(bad));
  const warning = bad.notes?.find((n) => n.startsWith('spec.basicAuth.secretRef.name: '));
  assert.match(warning ?? '', /Secret default\/users, key "users": line 2 \(user "bob"\) is an MD5-crypt \(\$1\$\) hash, which is too weak; use a SHA-512/);
  assert.ok(!warning!.includes(md5) && !warning!.includes(sha512), 'the warning never repeats a hash');
  assert.equal((await serving(port, { headers: { authorization: basic('alice', 'secret') } }, (r) => r.status === 200)).status, 200);
  assert.equal((await send(port, { headers: { authorization: basic('bob', 'secret') } })).status, 401, 'the skipped line gives no access');

  // SHA-512, SHA-256, bcrypt and yescrypt hashes (libxcrypt) are accepted; `$` reaches HAProxy literally.
  const sha256 = execFileSync('openssl', ['passwd', '-5', 'secret'], { encoding: 'utf8' }).trim();
  const bcrypt = '$2b$05$qnkTF01SYsVFFUKehDdLKOZ70a2T8I88cv7pvUskKKDCRIgcaL69C';
  const yescrypt = '$y$j9T$3CuEy3Y2xKTtOrFJAUBPQ/$hxhjsdvzWQXByLcyPO3ALnH7wzFNwndDpZoGe2L4Dy1';
  put(`# admins\nalice:${sha512}\n\ncarol:${sha256}\ndave:${bcrypt}\nerin:${yescrypt}\n`);
  const denied = await serving(port);
  assert.equal(denied.status, 401);
  assert.equal(denied.headers['www-authenticate'], 'Basic realm="admin-area"');
  // An ACME HTTP-01 challenge reaches the member without credentials (certificate issuance behind basic auth); nothing else does.
  assert.equal((await send(port, { path: '/.well-known/acme-challenge/token-1' })).status, 200, 'the ACME challenge passes');
  assert.equal((await send(port, { path: '/.well-known/other' })).status, 401, 'other well-known paths still ask for a password');
  await fx.controller.reconciler.settled();
  const now = fx.passes
    .filter((p) => p.resolution)
    .at(-1)
    ?.resolution?.outcomes.get('Frontend/default/admin');
  assert.equal(now?.accepted, true, JSON.stringify(now));
  for (const user of ['alice', 'carol', 'dave', 'erin']) {
    const ok = await send(port, { headers: { authorization: basic(user, 'secret') } });
    assert.equal(ok.status, 200, `${user} with the right password`);
    assert.equal(ok.body, 'app');
    assert.equal((await send(port, { headers: { authorization: basic(user, 'wrong') } })).status, 401, `${user} with a wrong password`);
  }
  assert.equal((await send(port, { headers: { authorization: basic('mallory', 'secret') } })).status, 401);
});

test('CORS: HAProxy answers preflights, and only allowed origins get Access-Control-Allow-Origin', async (t) => {
  const up = await startUpstreams(t, 'app');
  const [port, anyPort] = [await freePort(), await freePort()];
  await startTestController(t, {
    'b.yaml': backendYaml('app', [{ name: 'a', port: up.app!.port }]),
    'f.yaml': frontend(
      'api',
      '127.0.0.1',
      port,
      'app',
      `  cors:
    allowOrigins: ["https://app.example.com", "http://localhost:3000"]
    allowMethods: [GET, POST, DELETE]
    allowHeaders: [Content-Type, X-Token]
    exposeHeaders: [X-Upstream]
    maxAge: 900
    allowCredentials: true
`,
    ),
    'g.yaml': frontend('public', '127.0.0.1', anyPort, 'app', '  cors: { allowOrigins: ["*"] }\n'),
  });
  await serving(port);
  const before = up.app!.hits();
  const pre = await send(port, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example.com');
  assert.equal(pre.headers['access-control-allow-methods'], 'GET, POST, DELETE');
  assert.equal(pre.headers['access-control-allow-headers'], 'Content-Type, X-Token');
  assert.equal(pre.headers['access-control-max-age'], '900');
  assert.equal(pre.headers['access-control-allow-credentials'], 'true');
  assert.equal(up.app!.hits(), before, 'the preflight is answered by HAProxy');

  const simple = await send(port, { headers: { origin: 'http://localhost:3000' } });
  assert.equal(simple.status, 200);
  assert.equal(simple.body, 'app');
  assert.equal(simple.headers['access-control-allow-origin'], 'http://localhost:3000');
  assert.equal(simple.headers['access-control-allow-credentials'], 'true');
  assert.equal(simple.headers['access-control-expose-headers'], 'X-Upstream');
  assert.match(String(simple.headers.vary), /Origin/);

  const other = await send(port, { headers: { origin: 'https://evil.example.com' } });
  assert.equal(other.status, 200);
  assert.equal(other.headers['access-control-allow-origin'], undefined);
  const otherPre = await send(port, { method: 'OPTIONS', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' } });
  assert.equal(otherPre.headers['access-control-allow-origin'], undefined, 'no preflight answer for an origin not on the list');
  // Origins compare whole: a prefix or a longer host is another origin.
  assert.equal((await send(port, { headers: { origin: 'https://app.example.com.evil.io' } })).headers['access-control-allow-origin'], undefined);

  await serving(anyPort);
  const star = await send(anyPort, { headers: { origin: 'https://anything.example' } });
  assert.equal(star.headers['access-control-allow-origin'], '*');
  const starPre = await send(anyPort, { method: 'OPTIONS', headers: { origin: 'https://x.example', 'access-control-request-method': 'GET' } });
  assert.equal(starPre.status, 204);
  assert.equal(starPre.headers['access-control-allow-origin'], '*');
  assert.equal(starPre.headers['access-control-allow-methods'], 'GET, HEAD, POST');
});

test('cookie affinity keeps a client on one member, also a member added at run time; without the cookie requests are balanced', async (t) => {
  const up = await startUpstreams(t, 'm1', 'm2', 'm3');
  const port = await freePort();
  const affinity = '  sessionAffinity: { type: Cookie }\n';
  const fx = await startTestController(t, {
    'b.yaml': backendYaml(
      'app',
      [
        { name: 'm1', port: up.m1!.port },
        { name: 'm2', port: up.m2!.port },
      ],
      affinity,
    ),
    'f.yaml': frontend('web', '127.0.0.1', port, 'app', ''),
  });
  const first = await serving(port);
  const cookie = String(first.headers['set-cookie']?.[0] ?? '');
  assert.match(cookie, /^SRVID=m[12]; path=\//);
  const pinned = cookie.split(';')[0]!;
  const seen = new Map<string, number>();
  for (let i = 0; i < 50; i++) {
    const r = await send(port, { headers: { cookie: pinned } });
    seen.set(r.body, (seen.get(r.body) ?? 0) + 1);
  }
  assert.deepEqual([...seen], [[first.body, 50]], 'every request with the cookie went to one member');
  const free = new Map<string, number>();
  for (let i = 0; i < 20; i++) {
    const r = await send(port);
    free.set(r.body, (free.get(r.body) ?? 0) + 1);
  }
  assert.deepEqual([...free.keys()].sort(), ['m1', 'm2'], 'without the cookie, both members serve');

  // A member added at run time (`add server`) gets its cookie too.
  await fx.write(
    'b.yaml',
    backendYaml(
      'app',
      [
        { name: 'm1', port: up.m1!.port },
        { name: 'm2', port: up.m2!.port },
        { name: 'm3', port: up.m3!.port },
      ],
      affinity,
    ),
  );
  const pass = await fx.nextPass((p) => p.kind !== 'noop');
  // HAProxy 3.0 takes `cookie` on `add server`; 2.6 does not, and the plan says so and reloads.
  if (versionAtLeast(fx.controller.haproxyVersion, 3, 0)) assert.equal(pass.kind, 'runtime', `added without a reload: ${pass.reasons.join('; ')}`);
  else
    assert.deepEqual(
      [pass.kind, pass.reasons],
      ['reload', ['backend default_app server m3 added with an affinity cookie (sessionAffinity), which this HAProxy takes on no `add server` (2.6)']],
    );
  for (let i = 0; i < 20; i++) assert.equal((await send(port, { headers: { cookie: 'SRVID=m3' } })).body, 'm3');
  const fresh = await eventually(
    () => send(port),
    (r) => r.body === 'm3',
    5000,
    'a request balanced to m3',
  );
  assert.match(String(fresh.headers['set-cookie']?.[0]), /^SRVID=m3;/);
});

test('retries with redispatch: with one member refusing connections, every request succeeds', async (t) => {
  const up = await startUpstreams(t, 'good');
  const closed = await freePort();
  const [port, plainPort] = [await freePort(), await freePort()];
  const members = [
    { name: 'dead', port: closed },
    { name: 'good', port: up.good!.port },
  ];
  await startTestController(t, {
    'b.yaml': backendYaml('app', members, '  retries: { attempts: 3, retryOn: [conn-failure, empty-response, 503], redispatch: true }\n'),
    'p.yaml': backendYaml('plain', members, '  retries: { attempts: 1, redispatch: false }\n'),
    'f.yaml': frontend('web', '127.0.0.1', port, 'app', ''),
    'g.yaml': frontend('plain', '127.0.0.1', plainPort, 'plain', ''),
  });
  await serving(port);
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await send(port)).status);
  assert.ok(
    statuses.every((s) => s === 200),
    statuses.join(' '),
  );
  // The control: without redispatch, the requests sent to the dead member fail.
  await serving(plainPort);
  const plain: number[] = [];
  for (let i = 0; i < 4; i++) plain.push((await send(plainPort)).status);
  assert.ok(plain.includes(503), `without redispatch some fail: ${plain.join(' ')}`);
});

test('requestBodyMaxBytes answers 413 for a larger body, with Content-Length and chunked', async (t) => {
  const up = await startUpstreams(t, 'app');
  const port = await freePort();
  await startTestController(t, {
    'b.yaml': backendYaml('app', [{ name: 'a', port: up.app!.port }], '  requestBodyMaxBytes: 1000\n'),
    'f.yaml': frontend('web', '127.0.0.1', port, 'app', ''),
  });
  await serving(port);
  const small = 'x'.repeat(1000);
  const big = 'x'.repeat(1001);
  const huge = 'x'.repeat(200_000);
  assert.equal((await send(port, { method: 'POST', body: small })).status, 200);
  assert.equal((await send(port, { method: 'POST', body: big })).status, 413);
  assert.equal((await send(port, { method: 'POST', body: huge })).status, 413);
  assert.equal((await send(port, { method: 'POST', body: small, chunked: true })).status, 200);
  assert.equal((await send(port, { method: 'POST', body: big, chunked: true })).status, 413);
  assert.equal((await send(port, { method: 'POST', body: 'x'.repeat(10_000), chunked: true })).status, 413);
  assert.equal((await send(port)).status, 200, 'a request without a body');
});
