/**
 * The order of a frontend's request rules against real HAProxy (HAPROXY_BIN:
 * 2.6 and 3.0) and real HTTP clients on loopback, the client's source chosen
 * with `localAddress`: a rule's IP list answers 403 before basic auth and the
 * CORS preflight, so a client the rule refuses learns nothing about passwords
 * (403 with a right or a wrong one, never 401) and gets no preflight answer;
 * a client on the list gets 401/200/204 as before. Both shapes: routed by maps
 * (host/path rules, as the controller runs them) and by ACLs only
 * (render/routing.ts). Also: the HTTPS redirect comes before basic auth (no
 * password asked for in clear), and the rate limit counts refused requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { eventually } from '../helpers/rest.js';
import { startUpstreams } from '../helpers/upstream.js';

interface Reply {
  status: number;
  headers: import('node:http').IncomingHttpHeaders;
}

/** One request on a fresh connection from source address `from`. */
function send(port: number, from: string, o: { method?: string; path?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', headers: o.headers, localAddress: from, agent: false, timeout: 5000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to port ${port} from ${from} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const OUTSIDE = '127.0.0.1';
const INSIDE = '127.0.0.2';
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const PREFLIGHT = { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE' };

const usersSecretYaml = (users: string) =>
  `apiVersion: v1\nkind: Secret\nmetadata: { name: users }\ntype: node-haproxy.io/basic-auth\nstringData: ${JSON.stringify({ users })}\n`;

const frontendYaml = (name: string, port: number, body: string) =>
  `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: ${name}\nspec:\n  binds: [{ address: 127.0.0.1, port: ${port} }]\n  defaultBackend: app\n${body}`;
const POLICY = `  basicAuth: { secretRef: { name: users } }
  cors: { allowOrigins: ["https://app.example.com"], allowMethods: [GET, DELETE] }
`;

test('a rule IP list answers 403 before basic auth and the CORS preflight (maps and ACL shapes); the HTTPS redirect precedes auth; refused requests count in the rate limit', async (t) => {
  const up = await startUpstreams(t, 'app', 'admin');
  const [maps, acls, redirect, limited] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const password = 'right-password';
  const fx = await startTestController(t, {
    'b.yaml': [backendYaml('app', [{ name: 'a', port: up.app!.port }]), backendYaml('admin', [{ name: 'a', port: up.admin!.port }])].join('---\n'),
    'users.yaml': usersSecretYaml(`alice:${execFileSync('openssl', ['passwd', '-6', password], { encoding: 'utf8' }).trim()}\n`),
    // Host/path rules: routed by maps.
    'maps.yaml': frontendYaml('maps', maps, `${POLICY}  rules:\n    - { pathPrefix: /admin, backend: admin, ipAllowList: ["127.0.0.2/32"] }\n`),
    // A header rule only: routed by ACLs (render/routing.ts).
    'acls.yaml': frontendYaml(
      'acls',
      acls,
      `${POLICY}  rules:\n    - { header: { name: X-Admin, value: "yes" }, backend: admin, ipAllowList: ["127.0.0.2/32"] }\n`,
    ),
    'redirect.yaml': frontendYaml('redirect', redirect, '  basicAuth: { secretRef: { name: users } }\n  httpsRedirect: { port: 8443 }\n'),
    'limited.yaml': frontendYaml(
      'limited',
      limited,
      '  rateLimit: { requests: 2, period: 30s }\n  rules:\n    - { pathPrefix: /admin, backend: admin, ipAllowList: ["127.0.0.2/32"] }\n',
    ),
  });
  assert.match(readFileSync(join(fx.stateDir, 'haproxy.cfg'), 'utf8'), /map_beg_int\(/, 'the host/path rules are routed by maps');
  await eventually(
    () => send(maps, INSIDE).catch(() => ({ status: 0, headers: {} }) as Reply),
    (r) => r.status === 401,
    10_000,
    'serving',
  );

  const cases = [
    { shape: 'maps', port: maps, admin: { path: '/admin/panel' } },
    { shape: 'ACLs', port: acls, admin: { headers: { 'x-admin': 'yes' } } },
  ];
  for (const { shape, port, admin } of cases) {
    const at = (from: string, more: { method?: string; headers?: Record<string, string> } = {}) =>
      send(port, from, { ...admin, ...more, headers: { ...admin.headers, ...more.headers } });
    // Outside the rule's list: 403 whatever the password, and no preflight answer.
    assert.equal((await at(OUTSIDE, { headers: basic('alice', password) })).status, 403, `${shape}: the right password from outside: 403`);
    assert.equal((await at(OUTSIDE, { headers: basic('alice', 'wrong') })).status, 403, `${shape}: a wrong password from outside: 403, never 401`);
    assert.equal((await at(OUTSIDE)).status, 403, `${shape}: no credentials from outside: 403`);
    const pre = await at(OUTSIDE, { method: 'OPTIONS', headers: PREFLIGHT });
    assert.equal(pre.status, 403, `${shape}: a preflight from outside: 403`);
    assert.equal(pre.headers['access-control-allow-origin'], undefined);
    // On the list: as before.
    assert.equal((await at(INSIDE)).status, 401, `${shape}: no credentials from inside: 401`);
    assert.equal((await at(INSIDE, { headers: basic('alice', 'wrong') })).status, 401, `${shape}: a wrong password from inside: 401`);
    assert.equal((await at(INSIDE, { headers: basic('alice', password) })).status, 200, `${shape}: the right password from inside: 200`);
    const ok = await at(INSIDE, { method: 'OPTIONS', headers: PREFLIGHT });
    assert.equal(ok.status, 204, `${shape}: a preflight from inside: 204`);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
    // Another request of the frontend (no rule's list): auth as before, from any address.
    assert.equal((await send(port, OUTSIDE, { path: '/' })).status, 401, `${shape}: the default backend asks for the password`);
    assert.equal((await send(port, OUTSIDE, { path: '/', headers: basic('alice', password) })).status, 200);
  }
  assert.equal(up.admin!.hits(), 2, 'only the two requests with the right password from inside reached the rule backend');

  // Plain HTTP with httpsRedirect: redirected before any password is asked for (nor sent) in clear.
  const r = await send(redirect, OUTSIDE, { path: '/x' });
  assert.equal(r.status, 301, 'redirected, not 401');
  assert.match(r.headers.location ?? '', /^https:\/\/127\.0\.0\.1:8443\/x$/);
  assert.equal(r.headers['www-authenticate'], undefined);

  // The rate limit comes before the rule's list: refused requests count (2 per 30 s).
  assert.equal((await send(limited, OUTSIDE, { path: '/admin' })).status, 403);
  assert.equal((await send(limited, OUTSIDE, { path: '/admin' })).status, 403);
  assert.equal((await send(limited, OUTSIDE, { path: '/admin' })).status, 429, 'the third request in the period: 429');
});
