/**
 * The etcd source against a real etcd (Debian's etcd-server on loopback ports,
 * a temporary data directory) and a real HAProxy 2.6: keys change routing,
 * a bad value is reported by its key without disturbing what serves, etcd
 * killed and restarted mid-watch, a network cut while the history is
 * compacted, REST writes kept in etcd, a conflict with a file source, and raw
 * configuration HAProxy refuses (only that resource is held back).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { startController, type Controller } from '../../src/controller.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { API_VERSION, startTestController } from '../helpers/controller.js';
import { startEtcd, startTcpProxy, type EtcdServer } from '../helpers/etcd.js';
import { freePort, HAPROXY_BIN, tempStateDir } from '../helpers/haproxy.js';
import { eventually, portClosed as closed, startRestController } from '../helpers/rest.js';
import { httpGet, startUpstreams, waitForHttp } from '../helpers/upstream.js';

const PREFIX = '/nh';
const NS = '/api/v1/namespaces/default';
const FAST = { etcdRetryMaxMs: 500, etcdResyncIntervalMs: 0 } as const;

const backendJson = (members: { name: string; port: number }[]) =>
  JSON.stringify({
    apiVersion: API_VERSION,
    kind: 'Backend',
    metadata: { name: 'app' },
    spec: { members: members.map((m) => ({ ...m, address: '127.0.0.1' })) },
  });

/** YAML, with kind and name left to the key. */
const frontendYaml = (port: number, backend = 'app') => `# routed by node-haproxy
spec:
  binds:
    - { address: 127.0.0.1, port: ${port} }
  defaultBackend: ${backend}
`;

/** A logger that keeps its lines, to assert what an operator would read. */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }), lines };
}

/** node_haproxy_watch_restarts_total of one etcd source, by reason, as /metrics shows it. */
async function watchRestarts(c: Controller, source: string): Promise<Record<string, number>> {
  const text = await c.observe.metrics.registry.getSingleMetricAsString('node_haproxy_watch_restarts_total');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^node_haproxy_watch_restarts_total\{(.*)\} (\d+)$/gm)) {
    if (m[1]!.includes(`source="${source}"`)) out[/reason="(\w+)"/.exec(m[1]!)![1]!] = Number(m[2]);
  }
  return out;
}

async function seed(etcd: EtcdServer, port: number, members: { name: string; port: number }[]): Promise<void> {
  await etcd.client.put(`${PREFIX}/backends/default/app`).value(backendJson(members));
  await etcd.client.put(`${PREFIX}/frontends/default/web`).value(frontendYaml(port));
}

test('etcd keys (JSON or YAML) change routing; a bad value is reported by its key and the last good version keeps serving', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const etcd = await startEtcd(t);
  const port = await freePort();
  await seed(etcd, port, [{ name: 'a', port: up.a!.port }]);
  const fx = await startRestController(t, { extraSources: [`etcd://${etcd.endpoint}${PREFIX}`], ...FAST });
  assert.equal((await waitForHttp(port, (r) => r.status === 200)).body, 'a', 'the initial load serves');

  // put
  await etcd.client.put(`${PREFIX}/backends/default/app`).value(backendJson([{ name: 'b', port: up.b!.port }]));
  await waitForHttp(port, (r) => r.body === 'b');

  // A value that parses as neither JSON nor YAML: reported with its key, b keeps serving.
  await etcd.client.put(`${PREFIX}/backends/default/app`).value('{"spec": {"members": [');
  const rejected = await eventually(
    () => fx.api.get('/api/v1/status'),
    (r) => r.json.rejected.some((x: { resource: string }) => x.resource === 'Backend/default/app'),
    5000,
    'the bad value reported',
  );
  const report = rejected.json.rejected.find((x: { resource: string }) => x.resource === 'Backend/default/app');
  assert.equal(report.reason, 'ParseError');
  assert.equal(report.serving, 'previous version');
  assert.equal(report.issues[0].origin, `etcd:${PREFIX}/backends/default/app`);
  assert.match(report.message, /neither JSON nor YAML/);
  const view = await fx.api.get(`${NS}/backends/app`);
  assert.equal(view.json.status.origin, `etcd:${PREFIX}/backends/default/app`);
  assert.equal(view.json.status.conditions[0].status, 'False');
  assert.equal((await httpGet(port)).body, 'b');

  // A schema violation names the field; a key outside the layout is reported and ignored.
  await etcd.client.put(`${PREFIX}/backends/default/app`).value(JSON.stringify({ spec: { members: [{ name: 'b', address: '127.0.0.1', port: 99999 }] } }));
  await eventually(
    () => fx.api.get('/api/v1/status'),
    (r) => r.json.rejected.some((x: { message: string }) => x.message === 'spec.members[0].port: 99999 must be <= 65535'),
    5000,
    'the schema violation reported',
  );
  await etcd.client.put(`${PREFIX}/backends/app`).value('{}');
  await etcd.client.put(`${PREFIX}/frontends/default/web2`).value(frontendYaml(port, 'app').replace('spec:', 'metadata: { name: other }\nspec:'));
  const mismatch = await eventually(
    () => fx.api.get(`${NS}/frontends/web2`),
    (r) => r.status === 200,
    5000,
    'web2 reported',
  );
  assert.equal(mismatch.json.status.issues[0].field, 'metadata.name');
  assert.match(mismatch.json.status.issues[0].message, /does not match its key/);
  assert.match(mismatch.json.status.issues[0].message, /which names "web2"; leave metadata\.name out or set it to "web2"$/, 'the message says the fix');
  assert.equal((await httpGet(port)).body, 'b', 'still serving the last good version');

  // Fixed: served again. Deleted: gone.
  await etcd.client.put(`${PREFIX}/backends/default/app`).value(backendJson([{ name: 'a', port: up.a!.port }]));
  await waitForHttp(port, (r) => r.body === 'a');
  await etcd.client.delete().key(`${PREFIX}/frontends/default/web`);
  await closed(port);
  assert.equal((await fx.api.get(`${NS}/frontends/web`)).status, 404);
});

test('etcd killed and restarted mid-watch: HAProxy keeps serving, and the watch resumes with nothing lost', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const etcd = await startEtcd(t);
  const port = await freePort();
  await seed(etcd, port, [{ name: 'a', port: up.a!.port }]);
  const { logger, lines } = capturingLogger();
  const source = `etcd://${etcd.endpoint}${PREFIX}`;
  const fx = await startTestController(t, {}, { sources: [source], logger, ...FAST });
  await waitForHttp(port, (r) => r.body === 'a');
  assert.deepEqual(await watchRestarts(fx.controller, source), { expired: 0, error: 0, stalled: 0, closed: 0, resync: 0 });

  await etcd.kill();
  await eventually(
    async () => lines,
    (l) => l.some((x) => x.msg === 'etcd watch interrupted; recovering'),
    10_000,
    'the source notices',
  );
  for (let i = 0; i < 5; i++) assert.equal((await httpGet(port)).body, 'a', 'HAProxy serves on while etcd is down');

  await etcd.restart();
  await etcd.client.put(`${PREFIX}/backends/default/app`).value(backendJson([{ name: 'b', port: up.b!.port }]));
  await waitForHttp(port, (r) => r.body === 'b', 15_000);
  const back = lines.find((x) => x.msg === 'etcd source in sync again');
  assert.ok(back, 'the source says it is in sync again');
  assert.ok((await watchRestarts(fx.controller, source)).closed! >= 1, 'the restart is counted as closed');

  // And once more, to show the new watch is a live one.
  const port2 = await freePort();
  await etcd.client.put(`${PREFIX}/frontends/default/second`).value(frontendYaml(port2));
  assert.equal((await waitForHttp(port2, (r) => r.status === 200)).body, 'b');
});

test('a network cut while keys change and the history is compacted: the source lists again and misses nothing', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const etcd = await startEtcd(t);
  const proxy = await startTcpProxy(t, etcd.clientPort);
  const [port, port2] = [await freePort(), await freePort()];
  await seed(etcd, port, [{ name: 'a', port: up.a!.port }]);
  const { logger, lines } = capturingLogger();
  const source = `etcd://127.0.0.1:${proxy.port}${PREFIX}`;
  const fx = await startTestController(t, {}, { sources: [source], logger, ...FAST });
  await waitForHttp(port, (r) => r.body === 'a');

  proxy.cut();
  await eventually(
    async () => lines,
    (l) => l.some((x) => x.msg === 'etcd watch interrupted; recovering'),
    10_000,
    'the source notices the cut',
  );
  // Meanwhile, straight to etcd: a change, a delete, a new resource; then compact past all of it.
  await etcd.client.put(`${PREFIX}/backends/default/app`).value(backendJson([{ name: 'b', port: up.b!.port }]));
  await etcd.client.delete().key(`${PREFIX}/frontends/default/web`);
  await etcd.client.put(`${PREFIX}/frontends/default/web2`).value(frontendYaml(port2));
  for (let i = 0; i < 20; i++) await etcd.client.put(`${PREFIX}/unrelated/noise`).value(String(i));
  await etcd.client.delete().key(`${PREFIX}/unrelated/noise`);
  const compacted = await etcd.compactAll();
  assert.equal((await httpGet(port)).body, 'a', 'nothing changes while the source cannot see etcd');

  proxy.heal();
  await waitForHttp(port2, (r) => r.body === 'b', 15_000);
  await closed(port);
  // The watch could not resume from its revision (compacted away): etcd cancelled it, and the source listed again.
  const relisted = lines.find((x) => x.msg === 'etcd watch interrupted; recovering' && x.mode === 'relist');
  assert.ok(relisted, `a relist after the compaction (revision ${compacted}); log: ${lines.map((x) => `${x.msg} ${x.reason ?? ''}`).join(' | ')}`);
  assert.match(String(relisted.reason), /etcd cancelled the watch \(.*compacted/);
  assert.ok((await watchRestarts(fx.controller, source)).expired! >= 1, 'the cancelled watch is counted as expired');
});

test('the REST API keeps what it is told in etcd when an etcd source is configured', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const etcd = await startEtcd(t);
  const port = await freePort();
  const fx = await startRestController(t, { extraSources: [`etcd://${etcd.endpoint}${PREFIX}`], ...FAST });
  const { api } = fx;
  const b = await api.put(`${NS}/backends/app`, {
    spec: {
      members: [
        { name: 'a', address: '127.0.0.1', port: up.a!.port },
        { name: 'b', address: '127.0.0.1', port: up.b!.port },
      ],
    },
  });
  assert.equal(b.status, 201, b.text);
  assert.equal(b.json.status.source, `etcd://${etcd.endpoint}${PREFIX}`);
  const f = await api.put('/frontends/web?wait=true', { bind: `127.0.0.1:${port}`, backend: 'app' });
  assert.equal(f.status, 200, f.text);
  await waitForHttp(port, (r) => r.status === 200);

  const stored = JSON.parse((await etcd.client.get(`${PREFIX}/backends/default/app`).string())!) as { spec: { members: { name: string; state: string }[] } };
  assert.deepEqual(
    stored.spec.members.map((m) => m.name),
    ['a', 'b'],
  );
  assert.ok(await etcd.client.get(`${PREFIX}/frontends/default/web`).string(), 'the aqueduct frontend is in etcd too');

  // Member admin: live at once, and written to etcd (compare-and-swap on the key's revision).
  const reloads = await fx.controller.supervisor.reloadCount();
  const m = await api.patch(`${NS}/backends/app/members/b`, { state: 'maint' });
  assert.equal(m.status, 200, m.text);
  for (let i = 0; i < 10; i++) assert.equal((await httpGet(port)).body, 'a');
  const after = JSON.parse((await etcd.client.get(`${PREFIX}/backends/default/app`).string())!) as typeof stored;
  assert.equal(after.spec.members.find((x) => x.name === 'b')!.state, 'maint');
  await fx.controller.reconciler.settled();
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'no reload');

  // etcd down: writes answer 503 and change nothing; reads still work.
  await etcd.kill();
  const down = await api.put(`${NS}/backends/other`, { spec: {} });
  assert.equal(down.status, 503, down.text);
  assert.equal(down.json.error, 'StorageUnavailable');
  assert.equal((await api.get(`${NS}/backends/app`)).status, 200);
  await etcd.restart();

  const del = await api.del(`${NS}/frontends/web`);
  assert.equal(del.status, 200, del.text);
  assert.equal(await etcd.client.get(`${PREFIX}/frontends/default/web`).string(), null);
});

test('several sources at once: the same resource from files and etcd is a conflict reported on both; the last good version keeps serving', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const etcd = await startEtcd(t);
  const port = await freePort();
  const files = {
    'app.yaml': `apiVersion: ${API_VERSION}\nkind: Backend\nmetadata:\n  name: app\nspec:\n  members:\n    - { name: a, address: 127.0.0.1, port: ${up.a!.port} }\n`,
    'web.yaml': `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: web\nspec:\n  binds:\n    - { address: 127.0.0.1, port: ${port} }\n  defaultBackend: app\n`,
  };
  const fx = await startRestController(t, { withManifests: true, files, extraSources: [`etcd://${etcd.endpoint}${PREFIX}`], ...FAST });
  await waitForHttp(port, (r) => r.body === 'a');

  await etcd.client.put(`${PREFIX}/backends/default/app`).value(backendJson([{ name: 'b', port: up.b!.port }]));
  const both = await eventually(
    () => fx.api.get(`${NS}/backends`),
    (r) =>
      r.json.items.length === 2 && r.json.items.every((i: { status: { conditions: { reason: string }[] } }) => i.status.conditions[0]!.reason === 'Conflict'),
    5000,
    'the conflict on both entries',
  );
  const sources = both.json.items.map((i: { status: { source: string } }) => i.status.source).sort();
  assert.match(sources[0], /^etcd:\/\//);
  assert.match(sources[1], /^files:/);
  for (const item of both.json.items) {
    assert.match(item.status.conditions[0].message, /declared more than once \(app\.yaml#1, etcd:\/nh\/backends\/default\/app\)/);
    assert.equal(item.status.serving, 'previous version');
  }
  for (let i = 0; i < 5; i++) assert.equal((await httpGet(port)).body, 'a', 'never a silent override');

  // The API refuses to add to the conflict.
  assert.equal((await fx.api.put(`${NS}/backends/app`, { spec: {} })).status, 409);

  // Remove one side: the other is accepted. (Deleted: an emptied file keeps its last good resources.)
  await unlink(join(fx.manifests, 'app.yaml'));
  await waitForHttp(port, (r) => r.body === 'b', 15_000);
});

test('etcd unreachable at start: HAProxy waits for the first load, then serves it', async (t) => {
  const up = await startUpstreams(t, 'a');
  const etcd = await startEtcd(t);
  const port = await freePort();
  await seed(etcd, port, [{ name: 'a', port: up.a!.port }]);
  await etcd.kill();
  const stateDir = await tempStateDir(t);
  const controller = await startController({
    sources: [`etcd://${etcd.endpoint}${PREFIX}`],
    stateDir,
    haproxyBin: HAPROXY_BIN,
    logger: silentLogger(),
    debounceMs: 50,
    minReloadIntervalMs: 0,
    ...FAST,
  });
  t.after(() => controller.stop({ stopHaproxy: true }));
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(controller.reconciler.haproxyStarted, false, 'no HAProxy with an empty configuration');
  assert.equal(controller.reconciler.last?.kind, 'waiting');

  await etcd.restart();
  assert.equal((await waitForHttp(port, (r) => r.status === 200, 15_000)).body, 'a');
  await controller.reconciler.settled();
  assert.equal(controller.reconciler.last?.kind, 'start');
});

test('raw configuration HAProxy refuses, from etcd: that backend keeps its last good version, the other changes apply, fixing it applies it', async (t) => {
  const up = await startUpstreams(t, 'app', 'other');
  const etcd = await startEtcd(t);
  const port = await freePort();
  const app = (lines: string[]) =>
    JSON.stringify({
      apiVersion: API_VERSION,
      kind: 'Backend',
      metadata: { name: 'app', annotations: { 'haproxy.node-haproxy.io/raw-config': JSON.stringify(lines) } },
      spec: { members: [{ name: 'a', address: '127.0.0.1', port: up.app!.port }] },
    });
  const frontend = (rules: unknown[]) =>
    JSON.stringify({
      apiVersion: API_VERSION,
      kind: 'Frontend',
      metadata: { name: 'web' },
      spec: { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app', rules },
    });
  await etcd.client.put(`${PREFIX}/backends/default/app`).value(app(['http-response set-header X-Version one']));
  await etcd.client.put(`${PREFIX}/frontends/default/web`).value(frontend([]));
  const fx = await startTestController(t, {}, { sources: [`etcd://${etcd.endpoint}${PREFIX}`], allowRawConfig: true, ...FAST });
  // A fresh connection per request: a keep-alive connection left idle on a worker is, by design
  // (option idle-close-on-response, docs/decisions/0003), answered once more by that old worker after
  // a reload, so a pooled client would see the previous version once, on 2.6 and 3.0 alike.
  const version = async (path = '/') => (await httpGet(port, path)).headers['x-version'];
  await waitForHttp(port, (r) => r.body === 'app');
  assert.equal(await version(), 'one');

  // A line HAProxy does not understand (it passes the line checks), in one transaction with a new backend and a rule to it.
  const pass = fx.nextPass((p) => p.resolution?.outcomes.get('Backend/default/other')?.accepted === true);
  await etcd.client
    .if(`${PREFIX}/backends/default/app`, 'Create', '>', 0)
    .then(
      etcd.client.put(`${PREFIX}/backends/default/app`).value(app(['http-response set-header X-Version two', 'http-check expect sstatus 200'])),
      etcd.client.put(`${PREFIX}/backends/default/other`).value(
        JSON.stringify({
          apiVersion: API_VERSION,
          kind: 'Backend',
          metadata: { name: 'other' },
          spec: { members: [{ name: 'o', address: '127.0.0.1', port: up.other!.port }] },
        }),
      ),
      etcd.client.put(`${PREFIX}/frontends/default/web`).value(frontend([{ pathPrefix: '/other', backend: 'other' }])),
    )
    .commit();
  const refused = (await pass).resolution!.outcomes.get('Backend/default/app')!;
  assert.ok(!refused.accepted, 'the backend with the bad line is refused');
  assert.equal(refused.reason, 'RejectedByHAProxy');
  assert.equal(refused.issues[0]!.field, 'metadata.annotations["haproxy.node-haproxy.io/raw-config"][1]');
  assert.match(
    refused.message,
    /HAProxy refuses it \(line \d+: 'http-check expect' .*'sstatus'.*\); the rendered line: "http-check expect sstatus 200"\. Fix the resource/,
  );
  assert.ok(refused.serving, 'its last accepted version serves');
  assert.equal((await httpGet(port, '/other/x')).body, 'other', 'the other changes are applied');
  assert.equal(await version(), 'one', 'the refused backend serves its previous version');
  assert.equal(fx.controller.reconciler.isConverged(), true);

  // Fixed: applied.
  const fixed = fx.nextPass((p) => p.resolution?.outcomes.get('Backend/default/app')?.accepted === true);
  await etcd.client.put(`${PREFIX}/backends/default/app`).value(app(['http-response set-header X-Version three']));
  await fixed;
  assert.equal(await version(), 'three');
  assert.equal((await httpGet(port, '/other/x')).body, 'other');
});
