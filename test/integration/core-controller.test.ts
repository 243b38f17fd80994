/**
 * The declarative core end to end: YAML manifests in a directory → the
 * controller → a real HAProxy → real HTTP traffic to real upstreams.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startController } from '../../src/controller.js';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
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
    'backends.yaml': [backendYaml('app', [{ name: 'app-1', port: u.app!.port }]), backendYaml('api', [{ name: 'api-1', port: u.api!.port }]), backendYaml('canary', [{ name: 'c-1', port: u.canary!.port }])].join('---\n'),
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
  const backends = [backendYaml('app', [{ name: 'app-1', port: u.app!.port }]), backendYaml('api', [{ name: 'api-1', port: u.api!.port }]), backendYaml('canary', [{ name: 'c-1', port: u.canary!.port }])].join('---\n');
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
  assert.ok(fx.passes.slice(passesBefore).every((p) => p.kind === 'noop'), 'no reload for identical content');
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

test('a configuration HAProxy refuses is reported and the old one keeps serving', async (t) => {
  const u = await upstreams(t, 'app');
  const port = await freePort();
  const fx = await startTestController(t, { 'frontend.yaml': frontendYaml(port, '    []'), 'backends.yaml': backendYaml('app', [{ name: 'app-1', port: u.app!.port }]) });
  await waitForHttp(port, (r) => r.body === 'app');
  const cfgBefore = await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8');

  // Passes the schema, but binding fails: the port is taken by another process.
  const taken = await holdPort();
  t.after(() => taken.close());
  const second = `apiVersion: ${API_VERSION}
kind: Frontend
metadata:
  name: second
spec:
  binds: [{ address: 127.0.0.1, port: ${taken.port} }]
  defaultBackend: app
`;
  const pass = fx.nextPass((p) => p.kind === 'failed');
  await fx.write('second.yaml', second);
  const failed = await pass;
  assert.match(failed.error ?? '', /HAProxy (failed to load|rejected) the configuration/);
  assert.match(failed.output ?? '', /cannot bind|Address already in use|Starting frontend/i);
  assert.equal(await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8'), cfgBefore, 'haproxy.cfg keeps the last good configuration');
  assert.equal((await get(port, '/')).body, 'app', 'the old configuration serves');
  assert.equal(fx.controller.reconciler.isConverged(), false, 'not converged while the desired configuration is refused');

  // Fixing it (a free port) applies.
  const free = await freePort();
  const ok = fx.nextPass((p) => p.kind === 'reload');
  await fx.write('second.yaml', second.replace(String(taken.port), String(free)));
  await ok;
  await waitForHttp(free, (r) => r.body === 'app');
  assert.equal((await get(port, '/')).body, 'app');
});

test('a killed HAProxy master is brought back', async (t) => {
  const u = await upstreams(t, 'app');
  const port = await freePort();
  const fx = await startTestController(t, { 'frontend.yaml': frontendYaml(port, '    []'), 'backends.yaml': backendYaml('app', [{ name: 'app-1', port: u.app!.port }]) });
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
  const fx = await startTestController(t, { 'frontend.yaml': frontendYaml(port, '    []'), 'backends.yaml': backendYaml('app', [{ name: 'app-1', port: u.app!.port }]) });
  await waitForHttp(port, (r) => r.body === 'app');
  const master = fx.controller.supervisor.masterPid;
  const reloads = await fx.controller.supervisor.reloadCount();

  const loop = requestLoop(port, 20_000);
  await fx.controller.stop({ stopHaproxy: false });
  assert.ok(haproxyPids(fx.stateDir).includes(master!), 'HAProxy outlives the controller');
  const again = await startController({ ...fx.options, sources: [fx.manifests], stateDir: fx.stateDir });
  t.after(() => again.stop({ stopHaproxy: true }));
  await again.reconciler.settled();
  await new Promise((r) => setTimeout(r, 300));
  const report = await loop.stop();

  assert.equal(again.supervisor.masterPid, master, 'the same master pid');
  assert.equal(await again.supervisor.reloadCount(), reloads, 'adoption reloads nothing');
  assert.equal(again.reconciler.last?.kind, 'noop');
  assert.ok(report.ok > 0, 'requests ran across the restart');
  assert.deepEqual(report.errors, [], `failed requests: ${report.failed}`);
});
