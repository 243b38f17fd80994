/**
 * Hostile or unlucky input documents, in every source, against a real HAProxy
 * (and a real etcd): an incomplete manifest keeps its last good resources
 * serving, an alias bomb is refused in well under a second while other inputs
 * keep flowing, symbolic link loops end, what cannot be read is reported, a
 * source directory deleted and created again is watched again, deeply nested
 * JSON is a 400, and the REST API's storage is bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startController } from '../../src/controller.js';
import { createLogger } from '../../src/log.js';
import { REST_STATE_FILE } from '../../src/sources/rest/rest-source.js';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { startEtcd } from '../helpers/etcd.js';
import { freePort, HAPROXY_BIN } from '../helpers/haproxy.js';
import { call, eventually, portClosed as closed, startRestController, TOKEN } from '../helpers/rest.js';
import { httpGet, startUpstreams, waitForHttp } from '../helpers/upstream.js';
import { aliasBomb } from '../helpers/hostile.js';

/** Not a speed target (benchmarks hold those): a bound that only a stall, the defect this guards against, can exceed. */
const STALL_MS = 10_000;

type Line = Record<string, unknown>;

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: Line[] } {
  const lines: Line[] = [];
  return { logger: createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l) as Line) }), lines };
}

const frontendDoc = (port: number, backend = 'app') =>
  `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: web\nspec:\n  binds:\n    - { address: 127.0.0.1, port: ${port} }\n  defaultBackend: ${backend}\n`;

const rejections = (lines: Line[], origin: RegExp) => lines.filter((l) => l.msg === 'input rejected' && typeof l.origin === 'string' && origin.test(l.origin));
/** Replaces a file in one step (a hidden temporary file renamed over it), so no scan can see it half written. */
async function replaceFile(path: string, text: string): Promise<void> {
  const tmp = join(path, '..', `.tmp-${process.pid}-${Date.now()}`);
  await writeFile(tmp, text);
  await rename(tmp, path);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a manifest cut short, emptied or replaced by text keeps serving its last good resources, with one warning naming the file; fixed it applies, deleted it is removed', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const port = await freePort();
  const { logger, lines } = capturingLogger();
  const good = `${frontendDoc(port)}---\n${backendYaml('app', [{ name: 'a', port: up.a!.port }])}`;
  // Rescans every 100 ms: a problem must still be logged only once.
  const fx = await startTestController(t, { 'app.yaml': good }, { logger, fileRescanIntervalMs: 100 });
  assert.equal((await waitForHttp(port, (r) => r.status === 200)).body, 'a');

  const variants: [string, string, RegExp][] = [
    [
      'truncated by an in-place write',
      good.slice(0, good.indexOf('{ name: a,') + 8),
      /^YAML does not parse at line \d+, column \d+: .*; its last good resources keep serving until it is fixed or deleted$/,
    ],
    ['emptied (: > app.yaml)', '', /^the file is empty; its last good resources keep serving; delete the file to remove them$/],
    ['only a comment left', '# nothing here\n', /^the file is empty; its last good resources keep serving; delete the file to remove them$/],
    [
      'replaced by plain text',
      'this is not a manifest\n',
      /^is the text "this is not a manifest", not a Frontend or Backend object; .*; its last good resources keep serving until it is fixed or deleted$/,
    ],
    ['an alias bomb', aliasBomb(), /^the file expands to more than 16 MiB once its YAML aliases .*; its last good resources keep serving/],
  ];
  let serving = 'a';
  for (const [what, text, message] of variants) {
    const before = lines.length;
    const started = Date.now();
    await replaceFile(join(fx.manifests, 'app.yaml'), text);
    const logged = await eventually(
      async () => rejections(lines.slice(before), /^app\.yaml/),
      (l) => l.length > 0,
      STALL_MS,
      `${what}: a warning`,
    );
    assert.ok(Date.now() - started < STALL_MS, `stalled: ${Date.now() - started} ms (the defect was a stall of 35 s or more)`);
    assert.match(String(logged[0]!.message), message, what);
    for (let i = 0; i < 5; i++) assert.equal((await httpGet(port)).body, serving, `${what}: the same frontend still serves`);
    await sleep(500); // several rescans
    await fx.controller.reconciler.settled();
    assert.equal(rejections(lines.slice(before), /^app\.yaml/).length, 1, `${what}: logged once, not at every rescan`);
    assert.equal((await httpGet(port)).body, serving);
    // Fixed, to the other upstream: it applies; then the next variant.
    serving = serving === 'a' ? 'b' : 'a';
    await replaceFile(join(fx.manifests, 'app.yaml'), `${frontendDoc(port)}---\n${backendYaml('app', [{ name: serving, port: up[serving]!.port }])}`);
    await waitForHttp(port, (r) => r.body === serving);
  }

  // Broken again, then deleted: only deleting removes what it declared.
  await fx.write('app.yaml', ': : [');
  await sleep(300);
  assert.equal((await httpGet(port)).body, serving);
  await unlink(join(fx.manifests, 'app.yaml'));
  await closed(port);
});

test('files: an alias bomb is reported in well under a second while other files keep applying; symlink loops end; unreadable entries are reported', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const port = await freePort();
  const { logger, lines } = capturingLogger();
  const fx = await startTestController(
    t,
    { 'web.yaml': frontendDoc(port), 'app.yaml': backendYaml('app', [{ name: 'a', port: up.a!.port }]) },
    { logger, httpAddress: { address: '127.0.0.1', port: 0 }, fileRescanIntervalMs: 200 },
  );
  await waitForHttp(port, (r) => r.body === 'a');
  const http = fx.controller.httpAddress!.port;

  // Loops (two links to ".", one to the parent), a link to a sibling directory that is also walked,
  // a dangling link and a FIFO: the walk ends, nothing is a Duplicate, the odd entries are reported.
  await mkdir(join(fx.manifests, 'more'));
  await symlink('.', join(fx.manifests, 'loop-a'));
  await symlink('.', join(fx.manifests, 'loop-b'));
  await symlink('..', join(fx.manifests, 'more', 'up'));
  await symlink('more', join(fx.manifests, 'linked-more'));
  await symlink('gone.yaml', join(fx.manifests, 'dangling.yaml'));
  execFileSync('mkfifo', [join(fx.manifests, 'pipe.yaml')]);
  const before = lines.length;
  await writeFile(join(fx.manifests, 'bomb.yaml'), aliasBomb());
  const started = Date.now();
  await writeFile(join(fx.manifests, 'more', 'app.yaml'), backendYaml('app', [{ name: 'b', port: up.b!.port }]));
  await unlink(join(fx.manifests, 'app.yaml'));
  await waitForHttp(port, (r) => r.body === 'b');
  const bomb = await eventually(
    async () => rejections(lines.slice(before), /^bomb\.yaml$/),
    (l) => l.length > 0,
    STALL_MS,
    'the bomb reported',
  );
  assert.match(String(bomb[0]!.message), /^the file expands to more than 16 MiB once its YAML aliases/);
  assert.ok(Date.now() - started < STALL_MS, `stalled: ${Date.now() - started} ms (the defect was a stall of 35 s or more)`);
  const reported = (origin: RegExp) => rejections(lines.slice(before), origin).map((l) => l.message);
  assert.deepEqual(reported(/^dangling\.yaml$/), ['is a symbolic link to gone.yaml, which does not exist; fix or remove the link']);
  assert.deepEqual(reported(/^pipe\.yaml$/), ['is a FIFO, not a file; it is skipped: remove it or give it another name']);
  const outcomes = fx.controller.reconciler.last?.resolution?.outcomes;
  assert.ok(outcomes, 'a resolution');
  for (const [key, o] of outcomes) assert.ok(o.accepted, `${key}: ${o.accepted ? '' : `${o.reason}: ${o.message}`}`);
  assert.equal((await call(http, 'GET', '/healthz')).status, 200);

  // Still responsive: another change applies at once.
  await writeFile(join(fx.manifests, 'more', 'app.yaml'), backendYaml('app', [{ name: 'a', port: up.a!.port }]));
  await waitForHttp(port, (r) => r.body === 'a', 3000);
  // `validate` reports the same, instead of aborting.
  const v = (() => {
    try {
      return {
        status: 0,
        out: execFileSync(process.execPath, [join(process.cwd(), 'dist/src/cli.js'), 'validate', fx.manifests], { encoding: 'utf8', stdio: 'pipe' }),
      };
    } catch (err) {
      const e = err as { status: number; stdout: string };
      return { status: e.status, out: e.stdout };
    }
  })();
  assert.equal(v.status, 1);
  assert.deepEqual(v.out.trim().split('\n').sort(), [
    'bomb.yaml: the file expands to more than 16 MiB once its YAML aliases (*name) are followed, an alias bomb; write the values out, or use fewer aliases',
    'dangling.yaml: is a symbolic link to gone.yaml, which does not exist; fix or remove the link',
    'pipe.yaml: is a FIFO, not a file; it is skipped: remove it or give it another name',
  ]);
});

test('a source directory deleted and created again is watched again; meanwhile its resources keep serving', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const port = await freePort();
  const { logger, lines } = capturingLogger();
  const files = { 'web.yaml': frontendDoc(port), 'app.yaml': backendYaml('app', [{ name: 'a', port: up.a!.port }]) };
  // No periodic rescan to lean on: only the watch (and the poll while the directory is missing).
  const fx = await startTestController(t, files, { logger, fileRescanIntervalMs: 0 });
  await waitForHttp(port, (r) => r.body === 'a');

  await rm(fx.manifests, { recursive: true });
  await eventually(
    async () => rejections(lines, /./).map((l) => String(l.message)),
    (m) => m.some((x) => /^the source directory cannot be read \(ENOENT\)/.test(x)),
    STALL_MS,
    'the missing directory reported',
  );
  for (let i = 0; i < 3; i++) assert.equal((await httpGet(port)).body, 'a', 'serving while the directory is gone');

  // Created again (prepared next to it and renamed into place), then changed: the change is seen by the new watch.
  const next = await mkdtemp(join(tmpdir(), 'nh-m2-'));
  t.after(() => rm(next, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) await writeFile(join(next, name), text);
  await rename(next, fx.manifests);
  await eventually(
    async () => lines,
    (l) => l.some((x) => x.msg === 'the source directory is readable again'),
    STALL_MS,
    'the directory found again',
  );
  await fx.write('app.yaml', backendYaml('app', [{ name: 'b', port: up.b!.port }]));
  await waitForHttp(port, (r) => r.body === 'b', 3000);
});

test('etcd: an alias bomb under a key is reported in well under a second, other keys keep applying, and a restarted controller becomes ready', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const etcd = await startEtcd(t);
  const port = await freePort();
  const prefix = '/nh';
  await etcd.client.put(`${prefix}/frontends/default/web`).value(frontendDoc(port));
  await etcd.client.put(`${prefix}/backends/default/app`).value(backendYaml('app', [{ name: 'a', port: up.a!.port }]));
  const { logger, lines } = capturingLogger();
  const source = `etcd://${etcd.endpoint}${prefix}`;
  const fx = await startRestController(t, { extraSources: [source], logger, etcdRetryMaxMs: 500, etcdResyncIntervalMs: 0 });
  await waitForHttp(port, (r) => r.body === 'a');

  const started = Date.now();
  await etcd.client.put(`${prefix}/backends/default/bomb`).value(aliasBomb());
  const report = await eventually(
    () => fx.api.get('/api/v1/status'),
    (r) => r.json.rejected.some((x: { resource: string }) => x.resource === 'Backend/default/bomb'),
    STALL_MS,
    'the bomb reported',
  );
  assert.ok(Date.now() - started < STALL_MS, `stalled: ${Date.now() - started} ms (the defect was a stall of 35 s or more)`);
  const bomb = report.json.rejected.find((x: { resource: string }) => x.resource === 'Backend/default/bomb');
  assert.equal(bomb.reason, 'ParseError');
  assert.match(bomb.message, /the value expands to more than 16 MiB once its YAML aliases/);
  assert.equal((await call(fx.api.port, 'GET', '/healthz')).status, 200);
  await etcd.client.put(`${prefix}/backends/default/app`).value(backendYaml('app', [{ name: 'b', port: up.b!.port }]));
  await waitForHttp(port, (r) => r.body === 'b', 3000);
  assert.ok(!lines.some((l) => l.level === 'error'), 'no error logged');

  // A second controller started with the bomb in etcd loads and becomes ready.
  await fx.controller.stop({ stopHaproxy: true });
  const again = await startController({ ...fx.options, httpAddress: { address: '127.0.0.1', port: 0 }, logger: createLogger({ write: () => undefined }) });
  // Stopped here, not in an after-hook: those run in the order they were added, and the fixture's would remove the directories under it first.
  try {
    await again.reconciler.settled();
    assert.ok(again.reconciler.haproxyStarted, 'HAProxy runs');
    assert.equal((await call(again.httpAddress!.port, 'GET', '/readyz')).status, 200);
    assert.equal((await waitForHttp(port, (r) => r.status === 200)).body, 'b');
  } finally {
    await again.stop({ stopHaproxy: true });
  }
});

test('REST: an alias bomb or deeply nested JSON is a 400 at once; stored resources are bounded by --api-max-stored-bytes; the same PUT writes nothing', async (t) => {
  const up = await startUpstreams(t, 'a');
  const fx = await startRestController(t, { apiMaxStoredBytes: 40_000, haproxyBin: HAPROXY_BIN });
  const NS = '/api/v1/namespaces/default';
  const backend = (name: string, note = '') => ({
    metadata: { name, annotations: note ? { note } : {} },
    spec: { members: [{ name: 'a', address: '127.0.0.1', port: up.a!.port }] },
  });

  let started = Date.now();
  const bomb = await call(fx.api.port, 'PUT', `${NS}/backends/bomb`, { body: aliasBomb(), token: TOKEN, headers: { 'content-type': 'application/yaml' } });
  assert.ok(Date.now() - started < STALL_MS, `stalled: ${Date.now() - started} ms (the defect was a stall of 35 s or more)`);
  assert.equal(bomb.status, 400);
  assert.equal(bomb.json.field, 'body');
  assert.match(bomb.json.message, /^the request body expands to more than 16 MiB once its YAML aliases/);
  started = Date.now();
  const deep = await call(fx.api.port, 'PUT', `${NS}/backends/deep`, { body: '{"spec":'.repeat(100_000) + '{}' + '}'.repeat(100_000), token: TOKEN });
  assert.ok(Date.now() - started < STALL_MS, `stalled: ${Date.now() - started} ms (the defect was a stall of 35 s or more)`);
  assert.equal(deep.status, 400);
  assert.match(deep.json.message, /^the request body nests deeper than 64 levels; flatten it$/);
  assert.equal((await call(fx.api.port, 'GET', '/healthz')).status, 200);

  // Storage: 10 KB resources fit until the 40 000 bytes are used; then a clear 507, and nothing was written.
  const note = 'x'.repeat(10_000);
  let n = 0;
  for (; n < 10; n++) {
    const r = await fx.api.put(`${NS}/backends/b${n}`, backend(`b${n}`, note));
    if (r.status === 507) {
      assert.equal(r.json.error, 'InsufficientStorage');
      assert.match(
        r.json.message,
        /^Backend default\/b\d takes \d+ bytes; with it the REST API would store \d+ bytes, more than --api-max-stored-bytes \(40000\); .*; nothing was changed$/,
      );
      break;
    }
    assert.equal(r.status, 201, r.text);
  }
  assert.equal(n, 3, 'three fit, the fourth does not');
  assert.equal((await fx.api.get(`${NS}/backends/b3`)).status, 404);
  // Deleting one makes room again.
  assert.equal((await fx.api.del(`${NS}/backends/b0`)).status, 200);
  assert.equal((await fx.api.put(`${NS}/backends/b3`, backend('b3', note))).status, 201);

  // The same PUT again leaves the file alone.
  const file = join(fx.stateDir, REST_STATE_FILE);
  const before = await stat(file);
  await sleep(20);
  assert.equal((await fx.api.put(`${NS}/backends/b3`, backend('b3', note))).status, 200);
  assert.equal((await stat(file)).mtimeMs, before.mtimeMs, 'not rewritten');
});
