/**
 * `node-haproxy plan` as a GitOps reviewer runs it, against a real controller
 * and HAProxy: noop for a reordered file, runtime for a member change (each
 * operation), reload with its reasons for a rule on a new backend; invalid
 * input and a missing state have their own exit codes; the JSON and Markdown
 * outputs; --from a running controller, with the token under --api-auth-reads.
 * Nothing it does changes what runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLAN_EXIT_CODES, PLAN_EXIT_NO_STATE, PLAN_REPORT_VERSION } from '../../src/plan/explain.js';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { TOKEN, tokenFile } from '../helpers/rest.js';
import { startUpstreams } from '../helpers/upstream.js';
import { selfSignedCert, tlsSecret } from '../helpers/certs.js';
import { createHash } from 'node:crypto';
import { runCli } from '../helpers/cli.js';

const frontend = (port: number, rules = '') =>
  `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: web\nspec:\n  binds: [{ address: 127.0.0.1, port: ${port} }]\n  defaultBackend: app\n${rules}`;

test('plan: noop, runtime and reload against a controller state directory, with exit codes and the JSON shape', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const port = await freePort();
  const files = {
    'web.yaml': frontend(port),
    'app.yaml': `${backendYaml('app', [{ name: 'a', port: up.a!.port }])}---\n${backendYaml('other', [{ name: 'b', port: up.b!.port }])}`,
  };
  const fx = await startTestController(t, files);
  const running = await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8');
  const repo = await mkdtemp(join(tmpdir(), 'nh-plan-'));
  t.after(() => rm(repo, { recursive: true, force: true }));
  await cp(fx.manifests, repo, { recursive: true });

  // The same resources, documents in another order and another file split: nothing to do.
  await writeFile(
    join(repo, 'app.yaml'),
    `${backendYaml('other', [{ name: 'b', port: up.b!.port }])}---\n${backendYaml('app', [{ name: 'a', port: up.a!.port }])}`,
  );
  let r = await run('plan', repo, '--state-dir', fx.stateDir);
  assert.equal(r.status, PLAN_EXIT_CODES.noop, r.stdout + r.stderr);
  assert.match(r.stdout, /^Plan: noop/);

  // A member added and one re-weighted: runtime, each operation listed.
  await writeFile(
    join(repo, 'app.yaml'),
    `${backendYaml('other', [{ name: 'b', port: up.b!.port }])}---\n${backendYaml('app', [
      { name: 'a', port: up.a!.port, weight: 7 },
      { name: 'a2', port: up.b!.port },
    ])}`,
  );
  r = await run('plan', repo, '--state-dir', fx.stateDir);
  assert.equal(r.status, PLAN_EXIT_CODES.runtime, r.stdout + r.stderr);
  assert.match(r.stdout, /^Plan: runtime/);
  assert.match(r.stdout, /runtime: add server default_app\/a2 127\.0\.0\.1:\d+ weight 100/);
  assert.match(r.stdout, /runtime: set server default_app\/a weight 7/);

  // A rule to a new backend: reload, with the reasons and the resources and fields that differ.
  await writeFile(join(repo, 'new.yaml'), backendYaml('new', [{ name: 'n', port: up.b!.port }]));
  await writeFile(join(repo, 'web.yaml'), frontend(port, '  rules:\n    - { pathPrefix: /new, backend: new }\n'));
  r = await run('plan', repo, '--state-dir', fx.stateDir, '--output', 'json');
  assert.equal(r.status, PLAN_EXIT_CODES.reload, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.apiVersion, PLAN_REPORT_VERSION);
  assert.equal(report.result, 'reload');
  assert.deepEqual(report.problems, []);
  assert.ok(report.reasons.includes('backend default_new added'), report.reasons);
  assert.ok(report.reasons.includes('frontend default_web changed'), report.reasons);
  assert.deepEqual(
    report.changes
      .map((c: { kind: string; resource: string; change: string; fields: string[] }) => `${c.kind} ${c.resource} ${c.change} ${c.fields.join(',')}`)
      .sort(),
    ['Backend default/app changed spec.members', 'Backend default/new added ', 'Frontend default/web changed spec.rules'],
  );

  // Markdown, for a pull-request comment.
  r = await run('plan', repo, '--state-dir', fx.stateDir, '--output', 'markdown');
  assert.equal(r.status, PLAN_EXIT_CODES.reload);
  assert.match(r.stdout, /### .* node-haproxy plan: \*\*reload\*\*/);
  assert.match(r.stdout, /\| Backend `default\/new` \| added \|/);

  // An invalid manifest: printed as validate prints it, exit 1; the rest is still planned.
  await writeFile(join(repo, 'bad.yaml'), `apiVersion: ${API_VERSION}\nkind: Backend\nmetadata: { name: bad }\nspec:\n  balance: fastest\n`);
  r = await run('plan', repo, '--state-dir', fx.stateDir);
  assert.equal(r.status, PLAN_EXIT_CODES.invalid, r.stdout + r.stderr);
  const validate = await run('validate', repo);
  const problem = validate.stdout.trim();
  assert.ok(problem.includes('spec.balance'), problem);
  assert.ok(r.stdout.includes(problem), `plan prints the problem as validate does:\n${r.stdout}`);
  assert.match(r.stdout, /Plan: reload/);

  // No state there: its own exit code, and what to do.
  const empty = await mkdtemp(join(tmpdir(), 'nh-plan-empty-'));
  t.after(() => rm(empty, { recursive: true, force: true }));
  r = await run('plan', repo, '--state-dir', empty);
  assert.equal(r.status, PLAN_EXIT_NO_STATE);
  assert.match(r.stderr, /no controller has applied a configuration there/);
  assert.equal((await run('plan', repo, '--output', 'yaml')).status, 2);

  assert.equal(await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8'), running, 'plan changes nothing');
});

test('plan --from a running controller; with --api-auth-reads it needs --token-file', async (t) => {
  const up = await startUpstreams(t, 'a');
  const port = await freePort();
  const fx = await startTestController(
    t,
    { 'web.yaml': frontend(port), 'app.yaml': backendYaml('app', [{ name: 'a', port: up.a!.port }]) },
    {
      httpAddress: { address: '127.0.0.1', port: 0 },
      apiTokenFile: await tokenFile(t),
      apiAuthReads: true,
    },
  );
  const from = `http://127.0.0.1:${fx.controller.httpAddress!.port}`;
  let r = await run('plan', fx.manifests, '--from', from);
  assert.equal(r.status, PLAN_EXIT_NO_STATE, r.stdout + r.stderr);
  assert.match(r.stderr, /401: pass the API token with --token-file/);
  const tf = await tokenFile(t, TOKEN);
  r = await run('plan', fx.manifests, '--from', from, '--token-file', tf);
  assert.equal(r.status, PLAN_EXIT_CODES.noop, r.stdout + r.stderr);
  assert.equal((await run('plan', fx.manifests, '--from', 'http://127.0.0.1:1')).status, PLAN_EXIT_NO_STATE);
});

test('plan --from tells an unchanged Secret from a rotated one by digest, and the running state never carries key material', async (t) => {
  const up = await startUpstreams(t, 'a');
  const port = await freePort();
  const first = selfSignedCert('tls.plan.test');
  const second = selfSignedCert('tls.plan.test');
  // JSON is YAML: the Secret manifest as the files source reads it.
  const secret = (c: typeof first) => `${JSON.stringify(tlsSecret('default', 'site', c))}\n`;
  const web = `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata: {name: web}\nspec:\n  binds:\n    - address: 127.0.0.1\n      port: ${port}\n      tls: {certificateRefs: [{name: site}]}\n  defaultBackend: app\n`;
  const fx = await startTestController(
    t,
    { 'web.yaml': web, 'site.yaml': secret(first), 'app.yaml': backendYaml('app', [{ name: 'a', port: up.a!.port }]) },
    { httpAddress: { address: '127.0.0.1', port: 0 } },
  );
  const from = `http://127.0.0.1:${fx.controller.httpAddress!.port}`;

  // What the controller serves: each certificate file by sha256, never its content.
  const body = await (await fetch(`${from}/api/v1/running-state`)).text();
  assert.doesNotMatch(body, /PRIVATE KEY/);
  assert.ok(!body.includes(first.keyMarker), 'no line of the private key in the running state');
  const pem = 'certs/default/secret-site.pem';
  const served = (JSON.parse(body) as { auxFiles: Record<string, { sha256: string; content?: string }> }).auxFiles;
  const onDisk = await readFile(join(fx.stateDir, pem), 'utf8');
  assert.ok(onDisk.includes('PRIVATE KEY'), 'the running .pem holds the key');
  assert.deepEqual(served[pem], { sha256: createHash('sha256').update(onDisk).digest('hex') });

  // The same Secret: nothing to do (before digests, --from saw every certificate file as new and planned a reload).
  let r = await run('plan', fx.manifests, '--from', from);
  assert.equal(r.status, PLAN_EXIT_CODES.noop, r.stdout + r.stderr);
  assert.match(r.stdout, /^Plan: noop/);
  assert.doesNotMatch(r.stdout, /certificate/);

  // The Secret rotated in a copy of the manifests: a runtime certificate update of that file, no reload.
  const repo = await mkdtemp(join(tmpdir(), 'nh-plan-'));
  t.after(() => rm(repo, { recursive: true, force: true }));
  await cp(fx.manifests, repo, { recursive: true });
  await writeFile(join(repo, 'site.yaml'), secret(second));
  r = await run('plan', repo, '--from', from);
  assert.equal(r.status, PLAN_EXIT_CODES.runtime, r.stdout + r.stderr);
  assert.match(r.stdout, /certificate update \(1\)/);
  assert.match(r.stdout, new RegExp(`update certificate ${join(fx.stateDir, pem).replace(/[.]/g, '\\.')}`));
  assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
  const json = await run('plan', repo, '--from', from, '--output', 'json');
  assert.equal(json.status, PLAN_EXIT_CODES.runtime, json.stdout + json.stderr);
  assert.doesNotMatch(json.stdout, /PRIVATE KEY/);

  // --state-dir, which reads the files themselves, agrees.
  assert.equal((await run('plan', fx.manifests, '--state-dir', fx.stateDir)).status, PLAN_EXIT_CODES.noop);
  assert.equal((await run('plan', repo, '--state-dir', fx.stateDir)).status, PLAN_EXIT_CODES.runtime);
});

const run = (...args: string[]) => runCli(args);
