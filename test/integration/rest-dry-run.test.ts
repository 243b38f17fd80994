/**
 * `?dryRun=true` on every REST write, against a real controller and HAProxy:
 * the answer carries the validation result and the plan (runtime operations
 * or reload reasons), and nothing changes: not the store, not haproxy.cfg,
 * not HAProxy's reload count. Member PATCHes go through the store and the
 * planner (no direct runtime call) and still apply without a reload.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../helpers/haproxy.js';
import { call, startRestController, TOKEN } from '../helpers/rest.js';
import { startUpstreams, waitForHttp } from '../helpers/upstream.js';

const NS = '/api/v1/namespaces/default';

test('REST ?dryRun=true: validation and plan for PUT, PATCH, DELETE and aqueduct PUT; nothing changes', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const fx = await startRestController(t);
  const port = await freePort();
  const api = fx.api;
  assert.equal((await api.put(`${NS}/backends/app`, { spec: { members: [{ name: 'a', address: '127.0.0.1', port: up.a!.port }] } })).status, 201);
  assert.equal((await api.put(`${NS}/frontends/web?wait=true`, { spec: { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app' } })).status, 201);
  await waitForHttp(port, (r) => r.status === 200);
  await fx.controller.reconciler.settled();
  const cfg = join(fx.stateDir, 'haproxy.cfg');
  const before = await readFile(cfg, 'utf8');
  const reloads = await fx.controller.supervisor.reloadCount();
  const http = api.port;

  // A new backend: valid, and it would reload.
  let r = await call(http, 'PUT', `${NS}/backends/extra?dryRun=true`, {
    body: { spec: { members: [{ name: 'b', address: '127.0.0.1', port: up.b!.port }] } },
    token: TOKEN,
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.dryRun, true);
  assert.equal(r.json.valid, true);
  assert.equal(r.json.plan.result, 'reload');
  assert.ok(r.json.plan.reasons.includes('backend default_extra added'), r.text);
  assert.equal((await api.get(`${NS}/backends/extra`)).status, 404, 'nothing was saved');

  // An invalid one: the same 422 a real write gets.
  r = await call(http, 'PUT', `${NS}/backends/bad?dryRun=true`, { body: { spec: { balance: 'fastest' } }, token: TOKEN });
  assert.equal(r.status, 422, r.text);
  // A frontend naming a missing backend: planned, with the problem.
  r = await call(http, 'PUT', `${NS}/frontends/web?dryRun=true`, {
    body: { spec: { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'missing' } },
    token: TOKEN,
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.valid, false);
  assert.equal(r.json.plan.result, 'invalid');
  assert.equal(r.json.plan.problems[0].reason, 'BackendNotFound');

  // A member weight: runtime, one operation.
  r = await call(http, 'PATCH', `${NS}/backends/app/members/a?dryRun=true`, { body: { weight: 5 }, token: TOKEN });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.plan.result, 'runtime');
  assert.deepEqual(
    r.json.plan.operations.map((o: { description: string }) => o.description),
    ['set server default_app/a weight 5'],
  );

  // Deleting the frontend: a reload; it stays.
  r = await call(http, 'DELETE', `${NS}/frontends/web?dryRun=true`, { token: TOKEN });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.action, 'delete');
  assert.ok(r.json.plan.reasons.includes('frontend default_web removed'), r.text);
  assert.equal((await api.get(`${NS}/frontends/web`)).status, 200);

  // aqueduct's routes too.
  r = await call(http, 'PUT', '/backends/aq?dryRun=true', { body: { type: 'static', members: [{ host: '127.0.0.1', port: up.b!.port }] }, token: TOKEN });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.plan.result, 'reload');
  assert.equal((await call(http, 'GET', '/backends/aq')).status, 404);

  // Without the token a dry run is refused like any write.
  assert.equal((await call(http, 'PUT', `${NS}/backends/extra?dryRun=true`, { body: { spec: {} } })).status, 401);

  await fx.controller.reconciler.settled();
  assert.equal(await readFile(cfg, 'utf8'), before, 'haproxy.cfg unchanged');
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'no reload');

  // The real PATCH goes through the store and the planner: applied live, no reload.
  r = await call(http, 'PATCH', `${NS}/backends/app/members/a`, { body: { weight: 5, state: 'drain' }, token: TOKEN });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.live.applied, true, r.text);
  const states = await fx.controller.runtime.showServersState('default_app');
  assert.equal(states.find((s) => s.server === 'a')?.weight, 0, 'drain runs as weight 0');
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'no reload');
});
