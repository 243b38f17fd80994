/**
 * The file source and raw configuration: the raw-config annotation in a
 * manifest is refused unless --allow-raw-config is given, and every line is
 * checked even then; accepted lines render into their own section.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolve } from '../../src/model/resolve.js';
import { buildConfigModel } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { loadDirectory, parseManifests } from '../../src/sources/files/load.js';
import { BAD_LINES, DISABLED, RAW_CONFIG_FIELD, rawBackendYaml, sectionOf } from '../helpers/raw-config.js';

const LINE = 'http-response set-header X-Raw yes';
const FRONTEND = `apiVersion: haproxy.node-haproxy.io/v1alpha1
kind: Frontend
metadata:
  name: web
  annotations:
    haproxy.node-haproxy.io/raw-config: '["http-request set-header X-From-Frontend yes"]'
spec:
  binds: [{ port: 8080 }]
  defaultBackend: app
`;

test('files: the raw-config annotation is refused without --allow-raw-config, naming the field and how to enable it', () => {
  const r = parseManifests(rawBackendYaml('app', [LINE], 9001), 'app.yaml');
  assert.equal(r.issues.length, 1, JSON.stringify(r.issues));
  const [issue] = r.issues;
  assert.equal(issue!.origin, 'app.yaml#1');
  assert.equal(issue!.resource, 'Backend default/app');
  assert.equal(issue!.field, RAW_CONFIG_FIELD);
  assert.match(issue!.message, DISABLED);
  // The same refusal when the option is given as off.
  assert.deepEqual(parseManifests(rawBackendYaml('app', [LINE], 9001), 'app.yaml', 'files', { allowRawConfig: false }).issues, r.issues);
});

test("files: with --allow-raw-config the annotation is accepted and its lines render into the resource's own section", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nh-raw-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'app.yaml'), rawBackendYaml('app', [LINE], 9001));
  await writeFile(join(dir, 'web.yaml'), FRONTEND);

  const refused = await loadDirectory(dir);
  assert.deepEqual(refused.issues.map((i) => `${i.resource}: ${i.field}`).sort(), [
    `Backend default/app: ${RAW_CONFIG_FIELD}`,
    `Frontend default/web: ${RAW_CONFIG_FIELD}`,
  ]);

  const loaded = await loadDirectory(dir, { allowRawConfig: true });
  assert.deepEqual(loaded.issues, []);
  const r = resolve({ declared: loaded.declared, lastAccepted: new Map() });
  assert.ok([...r.outcomes.values()].every((o) => o.accepted));
  const cfg = loadRenderer()(
    buildConfigModel({
      frontends: r.frontends,
      backends: r.backends,
      global: { adminSocket: '/run/nh/admin.sock', serverStateFile: '/run/nh/server-state', hardStopAfter: '30s' },
    }),
  );
  assert.ok(sectionOf(cfg, 'backend default_app').includes(LINE), cfg);
  assert.ok(!sectionOf(cfg, 'frontend default_web').includes(LINE));
  assert.ok(sectionOf(cfg, 'frontend default_web').includes('http-request set-header X-From-Frontend yes'), cfg);
  assert.ok(!sectionOf(cfg, 'backend default_app').includes('http-request set-header X-From-Frontend yes'));
});

test('files: a bad raw line is refused even with --allow-raw-config, naming its index', () => {
  for (const [bad, why] of BAD_LINES) {
    const r = parseManifests(rawBackendYaml('app', ['option httplog', bad], 9001), 'app.yaml', 'files', { allowRawConfig: true });
    assert.equal(r.issues.length, 1, `${JSON.stringify(bad)}: ${JSON.stringify(r.issues)}`);
    assert.equal(r.issues[0]!.field, `${RAW_CONFIG_FIELD}[1]`);
    assert.match(r.issues[0]!.message, why);
    assert.equal(r.declared?.[0]?.issues.length, 1, 'the store entry carries the refusal');
  }
  const notArray = parseManifests(rawBackendYaml('app', [], 9001).replace('"[]"', '"option httplog"'), 'app.yaml', 'files', { allowRawConfig: true });
  assert.equal(notArray.issues[0]?.field, RAW_CONFIG_FIELD);
  assert.match(notArray.issues[0]!.message, /must be a JSON array of strings/);
});
