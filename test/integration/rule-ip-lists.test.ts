/**
 * Per-rule IP allow and deny lists (issue 12) against real HAProxy
 * (HAPROXY_BIN: 2.6 and 3.0) with real HTTP clients on loopback, the client's
 * source address chosen with `localAddress` (127.0.0.1 or 127.0.0.2): the rule
 * a request wins answers 403 to a client its list excludes, other rules of the
 * frontend serve it, a refused request never falls through to another rule nor
 * reaches an upstream nor gets the rule's redirect. Both shapes: routed by maps
 * (host/path rules, as the controller runs them) and by ACLs only (no map-routable rule).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { backendYaml, routingFrontendYaml, startTestController } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { eventually } from '../helpers/rest.js';
import { startUpstreams } from '../helpers/upstream.js';

interface Reply {
  status: number;
  body: string;
  location?: string;
}

/** One GET on a fresh connection from source address `from`. */
function get(port: number, path: string, from: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, localAddress: from, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), location: res.headers.location }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} from ${from} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const ME = '127.0.0.1';
const OTHER = '127.0.0.2';

test('rule IP lists, routed by maps: 403 from the rule that excludes the client, 200 from the others, no fall-through, no redirect', async (t) => {
  const up = await startUpstreams(t, 'app', 'admin', 'rest');
  const port = await freePort();
  const rules = (adminAllow: string) => `    - { pathPrefix: /admin, backend: admin, ipAllowList: [${adminAllow}] }
    - { pathPrefix: /blocked, backend: admin, ipDenyList: ["127.0.0.1/32"] }
    - pathPrefix: /old
      ipDenyList: ["127.0.0.1/32"]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: /new } } }]
    - { pathPrefix: /, backend: rest }
`;
  const fx = await startTestController(t, {
    'b.yaml': [
      backendYaml('app', [{ name: 'a', port: up.app!.port }]),
      backendYaml('admin', [{ name: 'a', port: up.admin!.port }]),
      backendYaml('rest', [{ name: 'a', port: up.rest!.port }]),
    ].join('---\n'),
    // The frontend's own allow list (loopback) applies first; the rules' lists narrow it.
    'f.yaml': `${routingFrontendYaml(port, rules('"10.0.0.0/8", "127.0.0.2/32"'))}  ipAllowList: ["127.0.0.0/8"]\n`,
  });
  const cfg = readFileSync(join(fx.stateDir, 'haproxy.cfg'), 'utf8');
  assert.match(cfg, /map_beg_int\(/, 'the host/path rules are routed by maps');

  const denied = await get(port, '/admin/panel', ME);
  assert.equal(denied.status, 403, 'the allow list excludes 127.0.0.1');
  assert.equal((await get(port, '/x', ME)).body, 'rest', 'another rule of the frontend serves the same client');
  assert.equal(up.admin!.hits(), 0, 'a refused request reaches no upstream');
  assert.equal(up.rest!.hits(), 1, 'and does not fall through to the / rule');
  const allowed = await get(port, '/admin/panel', OTHER);
  assert.equal(allowed.status, 200);
  assert.equal(allowed.body, 'admin', 'a client on the allow list is served by the rule');

  assert.equal((await get(port, '/blocked', ME)).status, 403, 'the deny list holds 127.0.0.1/32');
  assert.equal((await get(port, '/blocked', OTHER)).body, 'admin', 'a client not on the deny list is served');

  assert.equal((await get(port, '/old', ME)).status, 403, 'a refused client gets 403, not the redirect');
  const moved = await get(port, '/old', OTHER);
  assert.equal(moved.status, 302);
  assert.match(moved.location ?? '', /\/new$/);

  // The list changes with the resource (one reload): 127.0.0.1 is now allowed.
  await fx.write('f.yaml', `${routingFrontendYaml(port, rules('"127.0.0.1"'))}  ipAllowList: ["127.0.0.0/8"]\n`);
  const now = await eventually(
    () => get(port, '/admin/panel', ME),
    (r) => r.status === 200,
    10_000,
    'the new allow list serving 127.0.0.1',
  );
  assert.equal(now.body, 'admin');
  assert.equal((await get(port, '/admin/panel', OTHER)).status, 403, '127.0.0.2 is no longer on it');
});

test('rule IP lists, routed by ACLs only: the same answers from haproxy.cfg alone', async (t) => {
  const up = await startUpstreams(t, 'app', 'team');
  const port = await freePort();
  const fx = await startTestController(t, {
    'b.yaml': [backendYaml('app', [{ name: 'a', port: up.app!.port }]), backendYaml('team', [{ name: 'a', port: up.team!.port }])].join('---\n'),
    'f.yaml': routingFrontendYaml(
      port,
      `    - { header: { name: X-Team, value: a }, backend: team, ipAllowList: ["10.0.0.0/8", "127.0.0.2"] }
    - { header: { name: X-Team, value: b }, backend: team }
    - { matches: { method: DELETE }, backend: team, ipDenyList: ["127.0.0.1/32", "::1"] }
`,
    ),
  });
  assert.doesNotMatch(readFileSync(join(fx.stateDir, 'haproxy.cfg'), 'utf8'), /map_/, 'no host/path rule: routed by ACLs (render/routing.ts)');
  const a = { 'x-team': 'a' };
  const b = { 'x-team': 'b' };
  const first = await get(port, '/', ME, a);
  assert.equal(first.status, 403, 'the allow list excludes 127.0.0.1');
  assert.equal((await get(port, '/', ME, b)).body, 'team', 'another rule serves the same client');
  assert.equal((await get(port, '/', ME)).body, 'app', 'no rule: the default backend');
  assert.equal((await get(port, '/', OTHER, a)).body, 'team', 'a client on the allow list is served');
  assert.equal(up.team!.hits(), 2);

  const del = (from: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', method: 'DELETE', localAddress: from, agent: false, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  assert.equal(await del(ME), 403, 'the deny list holds 127.0.0.1/32');
  assert.equal(await del(OTHER), 200);
});
