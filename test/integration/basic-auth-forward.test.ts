/**
 * `spec.basicAuth.forwardCredentials` against real HAProxy (HAPROXY_BIN: 2.6
 * and 3.0): by default the client's Authorization header reaches the member
 * after authentication (as nginx and Traefik do); `false` removes it on that
 * Frontend only, after the check. A loopback upstream reports what it saw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SECRETS, secretKey, type SecretData } from '../../src/model/secrets.js';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { eventually } from '../helpers/rest.js';

/** One GET on a fresh connection: status and body. */
function get(port: number, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request to port ${port} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const frontend = (name: string, port: number, extra: string) =>
  `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: ${name}\nspec:\n  binds: [{ address: 127.0.0.1, port: ${port} }]\n  defaultBackend: app\n${extra}`;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('basicAuth.forwardCredentials: the member sees the Authorization header by default, and never with false (that Frontend only)', async (t) => {
  // The upstream answers with what it received: the Authorization header (or none) and another header.
  const upstream = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`authorization=${req.headers.authorization ?? 'none'} x-trace=${String(req.headers['x-trace'] ?? 'none')}`);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        upstream.closeAllConnections();
        upstream.close(() => resolve());
      }),
  );
  const upPort = (upstream.address() as AddressInfo).port;
  const [forwarding, stripping, open] = [await freePort(), await freePort(), await freePort()];
  const fx = await startTestController(t, {
    'b.yaml': backendYaml('app', [{ name: 'a', port: upPort }]),
    'f.yaml': [
      frontend('forwarding', forwarding, '  basicAuth: { secretRef: { name: users } }\n'),
      frontend('stripping', stripping, '  basicAuth: { secretRef: { name: users }, forwardCredentials: false }\n'),
      frontend('open', open, ''),
    ].join('---\n'),
  });
  const hash = execFileSync('openssl', ['passwd', '-6', 'secret'], { encoding: 'utf8' }).trim();
  const secret: SecretData = { kind: 'Secret', namespace: 'default', name: 'users', type: 'Opaque', data: { users: `alice:${hash}\n` }, origin: 'test' };
  fx.controller.store.setDiscovered('test', SECRETS, secretKey('Secret', 'default', 'users'), secret);
  await eventually(
    () => get(stripping).catch(() => ({ status: 0, body: '' })),
    (r) => r.status === 401,
    10_000,
    'the stripping frontend asking for credentials',
  );
  await fx.controller.reconciler.settled();
  const cfg = fx.controller.reconciler.runningText ?? '';
  assert.equal(cfg.match(/http-request del-header Authorization/g)?.length, 1, 'one frontend removes the header');

  const creds = basic('alice', 'secret');
  const headers = { authorization: creds, 'x-trace': 't1' };
  // Default: the member sees the credentials (compatible with nginx and Traefik).
  const fwd = await get(forwarding, headers);
  assert.equal(fwd.status, 200);
  assert.equal(fwd.body, `authorization=${creds} x-trace=t1`);
  // forwardCredentials: false: authenticated, then the header is removed; other headers pass.
  const stripped = await get(stripping, headers);
  assert.equal(stripped.status, 200);
  assert.equal(stripped.body, 'authorization=none x-trace=t1');
  // Still checked before it is removed: wrong or missing credentials get 401, the member is not reached.
  assert.equal((await get(stripping, { authorization: basic('alice', 'wrong') })).status, 401);
  assert.equal((await get(stripping)).status, 401);
  // A Frontend without basicAuth on the same Backend passes whatever the client sends.
  const plain = await get(open, headers);
  assert.equal(plain.body, `authorization=${creds} x-trace=t1`);
});
