/**
 * The declarative core end to end: YAML manifests in a directory → the
 * controller → a real HAProxy → real HTTP traffic to real upstreams.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import type { PassResult } from '../../src/reconcile/reconciler.js';
import { nextEvent, freePort, haproxyPids, holdPort } from '../helpers/haproxy.js';
import { httpGet, requestLoop, startUpstream, waitForHttp, type Upstream } from '../helpers/upstream.js';

/** GET with headers, on a fresh connection. */
const get = (port: number, path = '/', headers: Record<string, string> = {}) => httpGet(port, path, 3000, headers);

async function upstreams(t: import('node:test').TestContext, ...names: string[]): Promise<Record<string, Upstream>> {
  const out: Record<string, Upstream> = {};
  for (const n of names) {
    out[n] = await startUpstream(n);
    t.after(() => out[n]!.close());
  }
  return out;
}

function frontendYaml(port: number, rules: string, defaultBackend = 'app'): string {
  return `apiVersion: ${API_VERSION}
kind: Frontend
metadata:
  name: web
spec:
  binds:
    - { address: 127.0.0.1, port: ${port} }
  defaultBackend: ${defaultBackend}
  rules:
${rules}
`;
}

const RULES = `    - host: api.example.com
      backend: api
    - pathPrefix: /api
      backend: api
    - header: { name: X-Canary, value: "yes" }
      backend: canary
`;

test('traffic reaches the upstream each host, path and header rule names', async (t) => {
  const u = await upstreams(t, 'app', 'api', 'canary');
  const port = await freePort();
  await startTestController(t, {
    'frontend.yaml': frontendYaml(port, RULES),
    'backends.yaml': [
      backendYaml('app', [{ name: 'app-1', port: u.app!.port }]),
      backendYaml('api', [{ name: 'api-1', port: u.api!.port }]),
      backendYaml('canary', [{ name: 'c-1', port: u.canary!.port }]),
    ].join('---\n'),
  });
  await waitForHttp(port, (r) => r.status === 200);
  assert.equal((await get(port, '/')).body, 'app');
  assert.equal((await get(port, '/', { host: 'api.example.com' })).body, 'api');
  assert.equal((await get(port, '/', { host: 'API.Example.com:8443' })).body, 'api', 'host match ignores case and port');
  assert.equal((await get(port, '/api')).body, 'api');
  assert.equal((await get(port, '/api/users?x=1')).body, 'api');
  assert.equal((await get(port, '/apix')).body, 'app', '/api does not match /apix');
  assert.equal((await get(port, '/', { 'x-canary': 'yes' })).body, 'canary');
  assert.equal((await get(port, '/', { 'x-canary': 'no' })).body, 'app');
});

test('a changed manifest reloads once; identical content and invalid manifests reload never', async (t) => {
  const u = await upstreams(t, 'app', 'api', 'canary');
  const port = await freePort();
  const backends = [
    backendYaml('app', [{ name: 'app-1', port: u.app!.port }]),
    backendYaml('api', [{ name: 'api-1', port: u.api!.port }]),
    backendYaml('canary', [{ name: 'c-1', port: u.canary!.port }]),
  ].join('---\n');
  const fx = await startTestController(t, { 'frontend.yaml': frontendYaml(port, RULES), 'backends.yaml': backends });
  const sup = fx.controller.supervisor;
  await waitForHttp(port, (r) => r.status === 200);
  const r0 = await sup.reloadCount();

  // A structural change: the header rule now routes to api.
  const changed = frontendYaml(port, RULES.replace('backend: canary', 'backend: api'));
  let pass = fx.nextPass((p) => p.kind !== 'waiting');
  await fx.write('frontend.yaml', changed);
  assert.equal((await pass).kind, 'reload');
  assert.equal(await sup.reloadCount(), r0 + 1, 'exactly one reload');
  assert.equal((await get(port, '/', { 'x-canary': 'yes' })).body, 'api');

  // Re-saving identical content: the file source sees no change, and the loop nothing to do.
  const passesBefore = fx.passes.length;
  await fx.write('frontend.yaml', changed);
  await new Promise((r) => setTimeout(r, 600));
  await fx.controller.reconciler.settled();
  assert.ok(
    fx.passes.slice(passesBefore).every((p) => p.kind === 'noop'),
    'no reload for identical content',
  );
  assert.equal(await sup.reloadCount(), r0 + 1);

  // An invalid manifest (injection attempt): rejected, nothing reloads, routing unchanged.
  pass = fx.nextPass();
  await fx.write('frontend.yaml', frontendYaml(port, `    - host: "evil.com\\n  bind :1"\n      backend: canary\n`));
  const p = await pass;
  assert.equal(p.kind, 'noop');
  const o = p.resolution?.outcomes.get('Frontend/default/web');
  assert.ok(o && !o.accepted, 'the frontend is rejected');
  assert.match(o.message, /spec\.rules\[0\]\.host: .* is not allowed/);
  assert.ok(o.serving, 'its previous version keeps serving');
  assert.equal(await sup.reloadCount(), r0 + 1);
  assert.equal((await get(port, '/', { 'x-canary': 'yes' })).body, 'api', 'previous routing still serves');

  // A file that does not parse: same.
  pass = fx.nextPass();
  await fx.write('frontend.yaml', 'kind: Frontend\n  - : broken: [yaml');
  assert.equal((await pass).kind, 'noop');
  assert.equal(await sup.reloadCount(), r0 + 1);
  assert.equal((await get(port, '/api')).body, 'api');
});

const outcomeOf = (p: PassResult, key: string) => p.resolution?.outcomes.get(key);
/** The refusal of `key` in pass `p` (fails when it was accepted). */
function refusalOf(p: PassResult, key: string) {
  const o = outcomeOf(p, key);
  assert.ok(o && !o.accepted, `${key} is refused`);
  return o;
}

test('a frontend HAProxy cannot bind (its port held by another process) is reported on it; the rest applies, and it heals once the port is free', async (t) => {
  const u = await upstreams(t, 'app');
  const port = await freePort();
  const fx = await startTestController(
    t,
    { 'frontend.yaml': frontendYaml(port, '    []'), 'backends.yaml': backendYaml('app', [{ name: 'app-1', port: u.app!.port }]) },
    { retryInitialMs: 200, retryMaxMs: 1000 },
  );
  await waitForHttp(port, (r) => r.body === 'app');
  const reloads = await fx.controller.supervisor.reloadCount();

  // Passes the schema, but binding fails: the port is taken by another process.
  const taken = await holdPort();
  t.after(() => taken.close());
  const frontend = (name: string, p: number) => `apiVersion: ${API_VERSION}
kind: Frontend
metadata:
  name: ${name}
spec:
  binds: [{ address: 127.0.0.1, port: ${p} }]
  defaultBackend: app
`;
  const pass = fx.nextPass((p) => outcomeOf(p, 'Frontend/default/second')?.accepted === false);
  await fx.write('second.yaml', frontend('second', taken.port));
  const refused = refusalOf(await pass, 'Frontend/default/second');
  assert.equal(refused.reason, 'RejectedByHAProxy');
  assert.match(
    refused.message,
    new RegExp(`^spec\\.binds: HAProxy refuses it \\(bind 127\\.0\\.0\\.1:${taken.port} \\(line \\d+\\): address already in use by another process`),
  );
  assert.match(refused.message, /tried again by itself/);
  assert.equal(refused.serving, undefined, 'a new resource: nothing of it serves');
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'no reload was attempted with the held port');
  assert.equal((await get(port, '/')).body, 'app', 'the old configuration serves');
  assert.equal(fx.controller.reconciler.isConverged(), true, 'everything else is applied');

  // Another change goes ahead meanwhile; a bind on an address this machine does not have is refused the same way.
  const third = await freePort();
  const elsewhere = fx.nextPass((p) => outcomeOf(p, 'Frontend/default/elsewhere')?.accepted === false);
  await fx.write('third.yaml', frontend('third', third));
  await fx.write('elsewhere.yaml', frontend('elsewhere', third).replace('127.0.0.1', '192.0.2.1'));
  assert.match(
    refusalOf(await elsewhere, 'Frontend/default/elsewhere').message,
    /bind 192\.0\.2\.1:\d+ \(line \d+\): no interface of this machine has that address/,
  );
  assert.equal((await waitForHttp(third, (r) => r.status === 200)).body, 'app');
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads + 1, 'one reload, for the third frontend');

  // The port is freed: the refused frontend is tried again by itself (backoff) and serves, with no change to it.
  await taken.close();
  assert.equal((await waitForHttp(taken.port, (r) => r.status === 200, 10_000)).body, 'app');
  await fx.controller.reconciler.settled();
  assert.equal(outcomeOf(fx.controller.reconciler.last!, 'Frontend/default/second')?.accepted, true);
});

test('a killed HAProxy master is brought back', async (t) => {
  const u = await upstreams(t, 'app');
  const port = await freePort();
  const fx = await startTestController(t, {
    'frontend.yaml': frontendYaml(port, '    []'),
    'backends.yaml': backendYaml('app', [{ name: 'app-1', port: u.app!.port }]),
  });
  await waitForHttp(port, (r) => r.body === 'app');
  const before = fx.controller.supervisor.masterPid;
  const pids = haproxyPids(fx.stateDir);
  assert.ok(pids.includes(before!), `the master ${before} is among ${pids.join(',')}`);
  const restarted = nextEvent<{ masterPid: number }>(fx.controller.supervisor, 'restarted', 10_000);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  await assert.rejects(get(port, '/'), 'nothing serves while HAProxy is down');
  const { masterPid } = await restarted;
  assert.notEqual(masterPid, before, 'a new master runs');
  assert.equal(fx.controller.supervisor.masterPid, masterPid);
  await waitForHttp(port, (r) => r.body === 'app', 10_000);
});

test('a restarted controller adopts the running HAProxy: same master, no failed request', async (t) => {
  const u = await upstreams(t, 'app');
  const port = await freePort();
  const fx = await startTestController(t, {
    'frontend.yaml': frontendYaml(port, '    []'),
    'backends.yaml': backendYaml('app', [{ name: 'app-1', port: u.app!.port }]),
  });
  await waitForHttp(port, (r) => r.body === 'app');
  const master = fx.controller.supervisor.masterPid;
  const reloads = await fx.controller.supervisor.reloadCount();

  const loop = requestLoop(port, 20_000);
  await fx.controller.stop({ stopHaproxy: false });
  assert.ok(haproxyPids(fx.stateDir).includes(master!), 'HAProxy outlives the controller');
  const again = await fx.restart();
  await again.reconciler.settled();
  await new Promise((r) => setTimeout(r, 300));
  const report = await loop.stop();

  assert.equal(again.supervisor.masterPid, master, 'the same master pid');
  assert.equal(await again.supervisor.reloadCount(), reloads, 'adoption reloads nothing');
  assert.equal(again.reconciler.last?.kind, 'noop');
  assert.ok(report.ok > 0, 'requests ran across the restart');
  assert.deepEqual(report.errors, [], `failed requests: ${report.failed}`);
});
