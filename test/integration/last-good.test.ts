/**
 * Last good values of Secret- and ConfigMap-derived inputs (model/last-good.ts)
 * against real HAProxy (HAPROXY_BIN: 2.6 and 3.0), real HTTP(S) clients and
 * upstreams on loopback, with the Secrets as documents of the files source:
 * - basic auth is the exception (revocation must work): a user removed in the
 *   same edit that adds a bad line is refused at once, the bad line skipped,
 *   the others served; a deleted Secret denies everyone (401), also after a
 *   restart;
 * - a Backend's re-encryption keeps verifying after its CA ConfigMap becomes
 *   garbage or is deleted; a new bundle applies (and is really checked).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { Outcome } from '../../src/model/resolve.js';
import { API_VERSION, backendYaml, startTestController, type ControllerFixture } from '../helpers/controller.js';
import { TestPki } from '../helpers/certs.js';
import { freePort } from '../helpers/haproxy.js';
import { eventually } from '../helpers/rest.js';
import { httpGet, startUpstreams, waitForHttp } from '../helpers/upstream.js';

const frontendYaml = (name: string, port: number, backend: string, extra = '') =>
  `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: ${name}\nspec:\n  binds: [{ address: 127.0.0.1, port: ${port} }]\n  defaultBackend: ${backend}\n${extra}`;
const usersSecretYaml = (users: string) =>
  `apiVersion: v1\nkind: Secret\nmetadata: { name: users }\ntype: node-haproxy.io/basic-auth\nstringData: ${JSON.stringify({ users })}\n`;
const caConfigMapYaml = (caCrt: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: test-ca }\ndata: ${JSON.stringify({ 'ca.crt': caCrt })}\n`;
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const sha512 = (password: string) => execFileSync('openssl', ['passwd', '-6', password], { encoding: 'utf8' }).trim();
const MD5 = '$1$bGbyr/Mk$SdkhP9roNLTgU3EZn19pt.';

/** The first pass after the call whose outcome for `key` satisfies `pred`. */
const passWith = (fx: ControllerFixture, key: string, pred: (o: Outcome) => boolean) =>
  fx.nextPass((p) => {
    const o = p.resolution?.outcomes.get(key);
    return o !== undefined && pred(o);
  });

const status = async (port: number, headers: Record<string, string> = {}) => (await httpGet(port, '/', 3000, headers)).status;

test('basic auth revocation: removing a user while adding a bad line takes effect at once (the bad line skipped, the others 200); a deleted Secret denies everyone, also after a restart', async (t) => {
  const up = await startUpstreams(t, 'app');
  const port = await freePort();
  const fx = await startTestController(t, {
    'b.yaml': backendYaml('app', [{ name: 'a', port: up.app!.port }]),
    'f.yaml': frontendYaml('admin', port, 'app', '  basicAuth: { secretRef: { name: users }, realm: admin-area }\n'),
    'users.yaml': usersSecretYaml(`alice:${sha512('alice-password')}\nbob:${sha512('bob-password')}\n`),
  });
  const key = 'Frontend/default/admin';
  await waitForHttp(port, (r) => r.status === 401);
  assert.equal(fx.controller.reconciler.last?.resolution?.outcomes.get(key)?.accepted, true);
  assert.equal(await status(port, basic('alice', 'alice-password')), 200);
  assert.equal(await status(port, basic('bob', 'bob-password')), 200);
  const reloads = await fx.controller.supervisor.reloadCount();

  // bob (compromised) removed and a mistyped line added in the same edit: bob is refused as soon as the pass is applied.
  const edited = passWith(fx, key, (o) => o.accepted && (o.notes ?? []).some((n) => n.includes('line 2 (user "carol")')));
  await fx.write('users.yaml', usersSecretYaml(`alice:${sha512('alice-password')}\ncarol:${MD5}\n`));
  const p = await edited;
  assert.equal(p.kind, 'reload', 'the userlist is in haproxy.cfg: one reload');
  assert.equal(await status(port, basic('bob', 'bob-password')), 401, 'the removed user is refused at once');
  assert.equal(await status(port, basic('alice', 'alice-password')), 200, 'the other users serve');
  assert.equal(await status(port, basic('carol', 'anything')), 401, 'the bad line gives no access');
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads + 1);
  const o = p.resolution!.outcomes.get(key)!;
  assert.ok(
    o.notes?.some((n) =>
      /^spec\.basicAuth\.secretRef\.name: Secret default\/users, key "users": line 2 \(user "carol"\) is an MD5-crypt \(\$1\$\) hash, which is too weak; use a SHA-512.*; those lines are skipped, the other users serve$/.test(
        n,
      ),
    ),
    JSON.stringify(o.notes),
  );
  assert.ok(!JSON.stringify(o).includes(MD5), 'the hash is never repeated');

  // The Secret deleted: fail closed. Not accepted (SecretNotFound), the Frontend serves with no user: every request 401.
  const gone = passWith(fx, key, (x) => !x.accepted && x.reason === 'SecretNotFound');
  await rm(join(fx.manifests, 'users.yaml'));
  const g = (await gone).resolution!.outcomes.get(key)!;
  assert.ok(!g.accepted && g.serving, JSON.stringify(g));
  assert.match(g.message, /Secret default\/users does not exist/);
  assert.ok(
    g.notes?.some((n) => n.endsWith('; until then no user can log in: every request gets 401')),
    JSON.stringify(g.notes),
  );
  assert.equal(await status(port, basic('alice', 'alice-password')), 401, 'a deleted Secret revokes every user');
  assert.equal(await status(port), 401);

  // Back with other users: they apply, the old ones are gone.
  const fixed = passWith(fx, key, (x) => x.accepted);
  await fx.write('users.yaml', usersSecretYaml(`bob:${sha512('new-password')}\n`));
  assert.equal((await fixed).resolution!.outcomes.get(key)!.notes, undefined, 'no warning left');
  assert.equal(await status(port, basic('bob', 'new-password')), 200, 'the new user served');
  assert.equal(await status(port, basic('alice', 'alice-password')), 401, 'the old user is gone');

  // An empty user list: accepted, nobody gets in, a warning.
  const empty = passWith(fx, key, (x) => x.accepted && (x.notes ?? []).some((n) => n.endsWith('no user can log in: every request gets 401')));
  await fx.write('users.yaml', usersSecretYaml('# nobody for now\n'));
  await empty;
  assert.equal(await status(port, basic('bob', 'new-password')), 401);

  // Deleted, then a restart: the new controller has the accepted Frontend (saved) and fails closed the same way.
  const bobBack = passWith(fx, key, (x) => x.accepted && x.notes === undefined);
  await fx.write('users.yaml', usersSecretYaml(`bob:${sha512('new-password')}\n`));
  await bobBack;
  assert.equal(await status(port, basic('bob', 'new-password')), 200);
  const goneAgain = passWith(fx, key, (x) => !x.accepted);
  await rm(join(fx.manifests, 'users.yaml'));
  await goneAgain;
  assert.equal(await status(port, basic('bob', 'new-password')), 401);
  await fx.controller.stop({ stopHaproxy: false });
  const again = await fx.restart();
  await again.reconciler.settled();
  const r = again.reconciler.last?.resolution?.outcomes.get(key);
  assert.ok(r && !r.accepted && r.serving && r.reason === 'SecretNotFound', JSON.stringify(r));
  assert.equal(await status(port, basic('bob', 'new-password')), 401, 'after a restart: still nobody');
  assert.equal(await status(port), 401);
});

test('backend re-encryption keeps verifying against the last good CA bundle after its ConfigMap becomes garbage or is deleted; a new bundle applies', async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const ca = pki.issue({ cn: 'node-haproxy test CA', ca: true });
  const otherCa = pki.issue({ cn: 'another CA', ca: true });
  const api = pki.issue({ cn: 'api.internal', dns: ['api.internal'], issuer: ca });
  const server = createHttpsServer({ key: api.key, cert: api.cert }, (req, res) =>
    res.end(`tls sni=${(req.socket as import('node:tls').TLSSocket).servername}`),
  );
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const upstream = (server.address() as AddressInfo).port;
  const port = await freePort();
  const fx = await startTestController(t, {
    'ca.yaml': caConfigMapYaml(ca.cert),
    'b.yaml': backendYaml('app', [{ name: 'a', port: upstream }], '  tls: { sni: api.internal, caRef: { kind: ConfigMap, name: test-ca } }\n'),
    'f.yaml': frontendYaml('web', port, 'app'),
  });
  const key = 'Backend/default/app';
  const verified = await waitForHttp(port, (r) => r.status === 200, 10_000);
  assert.equal(verified.body, 'tls sni=api.internal', 'verified against the CA ConfigMap');
  assert.equal(fx.controller.reconciler.last?.resolution?.outcomes.get(key)?.accepted, true);
  const reloads = await fx.controller.supervisor.reloadCount();

  // Garbage: refused on spec.tls.caRef naming the ConfigMap; the last good bundle keeps verifying.
  const bad = passWith(fx, key, (o) => !o.accepted);
  await fx.write('ca.yaml', caConfigMapYaml('this is not a certificate'));
  const p = await bad;
  assert.equal(p.kind, 'noop', 'nothing changes in HAProxy');
  const o = p.resolution!.outcomes.get(key)!;
  assert.ok(!o.accepted && o.serving, JSON.stringify(o));
  assert.match(o.message, /^spec\.tls\.caRef: ConfigMap default\/test-ca: ca\.crt holds no PEM certificate; put the CA bundle \(PEM\) under ca\.crt$/);
  assert.ok(
    o.notes?.some((n) => /^spec\.tls\.caRef: ConfigMap default\/test-ca: ca\.crt holds no PEM certificate.*; the last good CA bundle keeps serving$/.test(n)),
    JSON.stringify(o.notes),
  );
  assert.equal(p.resolution!.outcomes.get('Frontend/default/web')?.accepted, true, 'the Frontend routing to it is not affected');
  const still = await httpGet(port);
  assert.equal(still.status, 200);
  assert.equal(still.body, 'tls sni=api.internal');

  // Deleted: the same, with SecretNotFound.
  const gone = passWith(fx, key, (x) => !x.accepted && x.reason === 'SecretNotFound');
  await rm(join(fx.manifests, 'ca.yaml'));
  const g = (await gone).resolution!.outcomes.get(key)!;
  assert.ok(!g.accepted);
  assert.match(g.message, /ConfigMap default\/test-ca does not exist/);
  assert.ok(
    g.notes?.some((n) => n.endsWith('; the last good CA bundle keeps serving')),
    JSON.stringify(g.notes),
  );
  assert.equal((await httpGet(port)).status, 200, 'still verifying with the last good bundle');
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'a bad or deleted CA bundle: 0 reloads');

  // A new, valid bundle of another CA applies: verification really uses it (the member's certificate is refused: 503).
  const fixed = passWith(fx, key, (x) => x.accepted);
  await fx.write('ca.yaml', caConfigMapYaml(otherCa.cert));
  await fixed;
  const refused = await eventually(
    () => httpGet(port, '/', 10_000),
    (r) => r.status === 503,
    20_000,
    'the member refused under the new CA',
  );
  assert.equal(refused.status, 503);
});
