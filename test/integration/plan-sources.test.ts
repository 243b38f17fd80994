/**
 * `node-haproxy plan DIR` against a controller with several sources (two
 * directories and the REST API), real HAProxy: DIR replaces only what its
 * directory source declared; the REST API's and the other directory's
 * resources are kept as they run. A running state saved without the source
 * of each resource (an older controller) says so and plans as before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLAN_EXIT_CODES, type PlanReport } from '../../src/plan/explain.js';
import { API_VERSION, backendYaml } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { eventually, startRestController } from '../helpers/rest.js';
import { startUpstreams, waitForHttp } from '../helpers/upstream.js';
import { runCli } from '../helpers/cli.js';

const NS = '/api/v1/namespaces/default';

const frontendYaml = (name: string, port: number, backend: string) =>
  `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: ${name}\nspec:\n  binds: [{ address: 127.0.0.1, port: ${port} }]\n  defaultBackend: ${backend}\n`;

test('plan DIR keeps the REST API and other directories as they run, and replaces only its own directory source', async (t) => {
  const up = await startUpstreams(t, 'a', 'b', 'c');
  const [webPort, rfPort, extraPort] = [await freePort(), await freePort(), await freePort()];
  const other = await mkdtemp(join(tmpdir(), 'nh-m2-'));
  t.after(() => rm(other, { recursive: true, force: true }));
  await writeFile(join(other, 'extra.yaml'), `${frontendYaml('extra', extraPort, 'xb')}---\n${backendYaml('xb', [{ name: 'c', port: up.c!.port }])}`);
  const fx = await startRestController(t, {
    withManifests: true,
    extraSources: [other],
    files: {
      'web.yaml': frontendYaml('web', webPort, 'app'),
      'app.yaml': `${backendYaml('app', [{ name: 'a', port: up.a!.port }])}---\n${backendYaml('spare', [{ name: 'a', port: up.a!.port }])}`,
    },
  });
  // One Frontend and one Backend through the REST API.
  const b = await fx.api.put(`${NS}/backends/b1`, { spec: { members: [{ name: 'b', address: '127.0.0.1', port: up.b!.port }] } });
  assert.equal(b.status, 201, b.text);
  const f = await fx.api.put(`${NS}/frontends/rf?wait=true`, { spec: { binds: [{ address: '127.0.0.1', port: rfPort }], defaultBackend: 'b1' } });
  assert.equal(f.status, 201, f.text);
  await waitForHttp(rfPort, (r) => r.status === 200 && r.body.includes('b'));
  await waitForHttp(extraPort, (r) => r.status === 200);
  // The saved state names each resource's source once the pass that applied them is saved.
  const statePath = join(fx.stateDir, 'controller-state.json');
  await eventually(
    async () => JSON.parse(await readFile(statePath, 'utf8')) as { declaredBy?: Record<string, { source: string }[]> },
    (s) => s.declaredBy?.['Frontend/default/rf']?.[0]?.source === 'rest',
    10_000,
    'the saved state to name the REST source',
  );
  const from = `http://127.0.0.1:${fx.controller.httpAddress!.port}`;
  const running = await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8');

  // A checkout of the manifests elsewhere (as CI has it): with two directory sources, DIR must say which it replaces.
  const repo = await mkdtemp(join(tmpdir(), 'nh-plan-src-'));
  t.after(() => rm(repo, { recursive: true, force: true }));
  await cp(fx.manifests, repo, { recursive: true });
  let r = await run('plan', repo, '--state-dir', fx.stateDir);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /runs 2 directory sources \(.+\) and .+ is none of them: pass --source-name PATH/);
  assert.ok(r.stderr.includes(fx.manifests) && r.stderr.includes(other), r.stderr);

  // Unchanged: noop, from the state directory and from the running controller, whether DIR is at the source's path or named.
  for (const args of [
    [fx.manifests!, '--state-dir', fx.stateDir],
    [repo, '--state-dir', fx.stateDir, '--source-name', fx.manifests!],
    [repo, '--from', from, '--source-name', `files:${fx.manifests!}`],
  ]) {
    r = await run('plan', ...args);
    assert.equal(r.status, PLAN_EXIT_CODES.noop, `${args.join(' ')}\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^Plan: noop/);
    assert.doesNotMatch(r.stdout, /removed/);
    assert.match(
      r.stdout,
      /Note: 4 running resource\(s\) of other sources are kept as they run \(default\/extra, default\/xb from .+; default\/b1, default\/rf from rest\)/,
    );
  }

  // A member re-weighted in DIR: runtime, that operation only.
  await writeFile(
    join(repo, 'app.yaml'),
    `${backendYaml('app', [{ name: 'a', port: up.a!.port, weight: 7 }])}---\n${backendYaml('spare', [{ name: 'a', port: up.a!.port }])}`,
  );
  r = await run('plan', repo, '--from', from, '--source-name', fx.manifests!, '--output', 'json');
  assert.equal(r.status, PLAN_EXIT_CODES.runtime, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout) as PlanReport;
  assert.deepEqual(
    report.operations.map((o) => o.description),
    ['set server default_app/a weight 7'],
  );
  assert.equal(report.sources?.replaces, `files:${fx.manifests!}`);

  // A Backend removed from DIR: a reload, and the only change is that Backend.
  await writeFile(join(repo, 'app.yaml'), backendYaml('app', [{ name: 'a', port: up.a!.port }]));
  r = await run('plan', repo, '--state-dir', fx.stateDir, '--source-name', fx.manifests!);
  assert.equal(r.status, PLAN_EXIT_CODES.reload, r.stdout + r.stderr);
  assert.match(r.stdout, /^Plan: reload/);
  const changes = r.stdout.split('\n').filter((l) => /^ {2}(Frontend|Backend) /.test(l));
  assert.deepEqual(changes, ['  Backend default/spare removed']);
  assert.match(r.stdout, /reload: backend default_spare removed/);
  assert.doesNotMatch(r.stdout, /default_rf|default_b1|default_extra|default_xb/);

  // A REST resource declared in DIR too: the conflict the controller would report, and the REST version keeps serving.
  await writeFile(join(repo, 'b1.yaml'), backendYaml('b1', [{ name: 'z', port: up.a!.port }]));
  r = await run('plan', repo, '--state-dir', fx.stateDir, '--source-name', fx.manifests!);
  assert.equal(r.status, PLAN_EXIT_CODES.invalid, r.stdout + r.stderr);
  assert.match(r.stdout, /Backend default\/b1 is declared more than once \(b1\.yaml#1, rest\)/);
  await rm(join(repo, 'b1.yaml'));

  // A running state without the source of each resource (saved by an older controller): today's plan, with a note.
  const old = await mkdtemp(join(tmpdir(), 'nh-plan-old-'));
  t.after(() => rm(old, { recursive: true, force: true }));
  const saved = JSON.parse(await readFile(statePath, 'utf8')) as Record<string, unknown>;
  delete saved.declaredBy;
  await mkdir(old, { recursive: true });
  await writeFile(join(old, 'controller-state.json'), JSON.stringify(saved));
  r = await run('plan', fx.manifests!, '--state-dir', old);
  assert.equal(r.status, PLAN_EXIT_CODES.reload, r.stdout + r.stderr);
  assert.match(r.stdout, /reload: frontend default_rf removed/);
  assert.match(r.stdout, /Note: the running state does not say which source declared each resource/);

  assert.equal(await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8'), running, 'plan changes nothing');
});

const run = (...args: string[]) => runCli(args);
