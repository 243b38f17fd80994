/**
 * Raw configuration from the file source, end to end: manifests in a
 * directory → the controller (with and without --allow-raw-config) → the
 * haproxy.cfg it writes → a real HAProxy → real HTTP responses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PassResult } from '../../src/reconcile/reconciler.js';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { BAD_LINES, DISABLED, RAW_CONFIG_FIELD, rawBackendYaml, sectionOf } from '../helpers/raw-config.js';
import { startUpstream, waitForHttp } from '../helpers/upstream.js';

const LINE = 'http-response set-header X-Raw yes';
const KEY = 'Backend/default/app';

const frontendYaml = (port: number) => `apiVersion: ${API_VERSION}
kind: Frontend
metadata: { name: web }
spec:
  binds: [{ address: 127.0.0.1, port: ${port} }]
  defaultBackend: app
`;

const outcome = (p: PassResult) => p.resolution?.outcomes.get(KEY);
const haproxyCfg = (stateDir: string) => readFile(join(stateDir, 'haproxy.cfg'), 'utf8');
const rawHeader = async (port: number) => (await fetch(`http://127.0.0.1:${port}/`)).headers.get('x-raw');

test('files without --allow-raw-config: a manifest with raw lines is refused with the clear issue; its last version keeps serving', async (t) => {
  const up = await startUpstream('app');
  t.after(() => up.close());
  const port = await freePort();
  const fx = await startTestController(t, { 'web.yaml': frontendYaml(port), 'app.yaml': backendYaml('app', [{ name: 'a', port: up.port }]) });
  await waitForHttp(port, (r) => r.body === 'app');

  const pass = fx.nextPass((p) => outcome(p)?.accepted === false);
  await fx.write('app.yaml', rawBackendYaml('app', [LINE], up.port));
  const o = outcome(await pass)!;
  assert.ok(!o.accepted);
  assert.equal(o.reason, 'InvalidSpec');
  assert.equal(o.issues[0]!.field, RAW_CONFIG_FIELD);
  assert.match(o.issues[0]!.message, DISABLED);
  assert.ok(o.serving, 'the previous version keeps serving');
  assert.doesNotMatch(await haproxyCfg(fx.stateDir), /X-Raw/);
  assert.equal(await rawHeader(port), null);
});

test('files with --allow-raw-config: raw lines land in their section of haproxy.cfg and act; a bad line is refused naming its index', async (t) => {
  const up = await startUpstream('app');
  t.after(() => up.close());
  const port = await freePort();
  const fx = await startTestController(t, { 'web.yaml': frontendYaml(port), 'app.yaml': rawBackendYaml('app', [LINE], up.port) }, { allowRawConfig: true });
  await waitForHttp(port, (r) => r.body === 'app');
  assert.equal(outcome(fx.controller.reconciler.last!)?.accepted, true);
  const cfg = await haproxyCfg(fx.stateDir);
  assert.ok(sectionOf(cfg, 'backend default_app').includes(LINE), cfg);
  assert.ok(!sectionOf(cfg, 'frontend default_web').includes(LINE));
  assert.equal(await rawHeader(port), 'yes');

  for (const [bad, why] of BAD_LINES) {
    const pass = fx.nextPass((p) => outcome(p)?.accepted === false);
    await fx.write('app.yaml', rawBackendYaml('app', [LINE, bad], up.port));
    const o = outcome(await pass)!;
    assert.ok(!o.accepted, JSON.stringify(bad));
    assert.equal(o.reason, 'InvalidSpec');
    assert.equal(o.issues[0]!.field, `${RAW_CONFIG_FIELD}[1]`);
    assert.match(o.issues[0]!.message, why);
    assert.ok(o.serving, 'the last accepted version keeps serving');
    assert.equal(await haproxyCfg(fx.stateDir), cfg, 'haproxy.cfg is unchanged');
    // Back to the good version before the next attempt.
    const back = fx.nextPass((p) => outcome(p)?.accepted === true);
    await fx.write('app.yaml', rawBackendYaml('app', [LINE], up.port));
    await back;
  }
  assert.equal(await rawHeader(port), 'yes');
  assert.doesNotMatch(await haproxyCfg(fx.stateDir), /evil/);
});
