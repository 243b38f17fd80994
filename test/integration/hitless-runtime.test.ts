/**
 * Member changes without a reload, against a real HAProxy 2.6: runtime plans,
 * the file on disk matching the live servers after each, and the fallbacks to
 * one validated reload (unsupported change, runtime budget, refused command).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { startHarness, type Harness } from '../../bench/lib/harness.js';
import { backendResource, frontendResource, StoreWriter, type MemberSpec } from '../../bench/lib/resources.js';
import { globalSettings } from '../../src/controller.js';
import { RuntimeApi } from '../../src/haproxy/runtime.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { loadRenderer } from '../../src/render/render.js';
import { Reconciler, type PassResult } from '../../src/reconcile/reconciler.js';
import { ServerUpdater } from '../../src/reconcile/server-updater.js';
import { Store } from '../../src/reconcile/store.js';
import { freePort, haproxyFixture } from '../helpers/haproxy.js';
import { sampleBodies, startUpstream, waitForHttp, type Upstream } from '../helpers/upstream.js';

const FAST = { debounceMs: 20, minReloadIntervalMs: 0, hardStopAfter: '5s' };

async function upstreams(t: TestContext, ...names: string[]): Promise<Record<string, Upstream>> {
  const out: Record<string, Upstream> = {};
  for (const n of names) out[n] = await startUpstream(n);
  t.after(() => Promise.all(Object.values(out).map((u) => u.close())));
  return out;
}

async function harness(t: TestContext, log?: string[]): Promise<Harness> {
  const h = await startHarness({ ...FAST, ...(log ? { logger: createLogger({ level: 'debug', write: (l) => log.push(l) }) } : {}) });
  t.after(() => h.stop());
  return h;
}

const bodies = async (port: number, n = 8): Promise<string[]> => [...(await sampleBodies(port, n)).keys()].map((k) => k.replace(/^200 /, '')).sort();

test('member-only changes apply through the runtime API: no reload, and the file on disk matches the live servers', async (t) => {
  const u = await upstreams(t, 'a', 'b', 'c', 'd');
  const port = await freePort();
  const h = await harness(t);
  const fe = frontendResource('web', port, 'app');
  const app = (members: MemberSpec[]) => backendResource('app', { members });

  let members: MemberSpec[] = [
    { name: 'a', port: u.a!.port },
    { name: 'b', port: u.b!.port },
  ];
  assert.equal((await h.apply([fe, app(members)])).kind, 'reload', 'the first frontend is structural');
  await waitForHttp(port, (r) => r.status === 200);
  const reloads = await h.reloads();

  const step = async (what: string, next: MemberSpec[], expect: RegExp): Promise<PassResult> => {
    members = next;
    const p = await h.apply([fe, app(members)]);
    assert.equal(p.kind, 'runtime', `${what}: ${JSON.stringify(p.reasons)}`);
    assert.match(p.summary ?? '', expect, what);
    assert.deepEqual(await h.fileVsLive(), [], `${what}: haproxy.cfg matches show servers state`);
    return p;
  };

  await step('add c', [...members, { name: 'c', port: u.c!.port }], /^1 add$/);
  assert.deepEqual(await bodies(port, 9), ['a', 'b', 'c']);
  await step(
    'weight of a',
    members.map((m) => (m.name === 'a' ? { ...m, weight: 50 } : m)),
    /^1 weight$/,
  );
  await step(
    'drain b',
    members.map((m) => (m.name === 'b' ? { ...m, state: 'drain' } : m)),
    /weight/,
  );
  assert.deepEqual(await bodies(port, 9), ['a', 'c'], 'a drained member takes no new request');
  await step(
    'maint c',
    members.map((m) => (m.name === 'c' ? { ...m, state: 'maint' } : m)),
    /^1 state$/,
  );
  assert.deepEqual(await bodies(port, 6), ['a']);
  await step(
    'move a to d',
    members.map((m) => (m.name === 'a' ? { ...m, port: u.d!.port } : m)),
    /^1 addr$/,
  );
  assert.deepEqual(await bodies(port, 6), ['d']);
  await step(
    'remove b',
    members.filter((m) => m.name !== 'b'),
    /^1 del$/,
  );
  await step(
    'c ready, b back, a weight 100',
    [
      { name: 'a', port: u.d!.port },
      { name: 'b', port: u.b!.port },
      { name: 'c', port: u.c!.port },
    ],
    /add.*weight.*state|add/,
  );
  assert.deepEqual(await bodies(port, 9), ['b', 'c', 'd']);
  assert.equal(await h.reloads(), reloads, 'no reload for any member change');
});

test('a structural change reloads exactly once; weights and states survive it, stale runtime overrides do not', async (t) => {
  const u = await upstreams(t, 'a', 'b', 'c');
  const port = await freePort();
  const log: string[] = [];
  const h = await harness(t, log);
  const fe = frontendResource('web', port, 'app');
  const members: MemberSpec[] = [
    { name: 'a', port: u.a!.port, weight: 7 },
    { name: 'b', port: u.b!.port, state: 'drain' },
    { name: 'c', port: u.c!.port, state: 'maint' },
  ];
  await h.apply([fe, backendResource('app', { members: [{ name: 'a', port: u.a!.port }] })]);
  // Weights and states reach HAProxy through the runtime API first...
  assert.equal((await h.apply([fe, backendResource('app', { members })])).kind, 'runtime');
  // ...and an operator forces a at run time, behind the controller's back.
  await h.controller.runtime.setServerState('default_app', 'a', 'maint');
  await h.controller.runtime.setServerWeight('default_app', 'c', 3);
  const reloads = await h.reloads();

  const p = await h.apply([fe, backendResource('app', { members, timeouts: { server: '20s' } })]);
  assert.equal(p.kind, 'reload');
  assert.deepEqual(p.reasons, ['backend default_app changed']);
  assert.equal(await h.reloads(), reloads + 1, 'exactly one reload');

  const live = new Map((await h.controller.runtime.showServersState('default_app')).map((s) => [s.server, s]));
  assert.equal(live.get('a')?.weight, 7);
  assert.equal(live.get('a')?.admin, 'ready', 'the declared state wins over a stale CLI-forced maint');
  assert.equal(live.get('b')?.weight, 0, 'drain survives (weight 0)');
  assert.equal(live.get('c')?.weight, 100, 'the declared weight wins over a stale CLI weight');
  assert.equal(live.get('c')?.admin, 'maint', 'maint survives');
  assert.deepEqual(await h.fileVsLive(), []);
  assert.deepEqual(await bodies(port, 6), ['a']);
  // The new worker started right: the saved state file kept only b's line (a and c differed
  // from the declared state), and converge after the reload had nothing to correct.
  const saved = await readFile(`${h.stateDir}/server-state`, 'utf8');
  assert.deepEqual(
    saved
      .split('\n')
      .slice(2)
      .filter(Boolean)
      .map((l) => l.split(' ')[3]),
    ['b'],
  );
  assert.ok(!log.some((l) => l.includes('corrected live servers')), 'converge corrected nothing');
});

test('a health-checked member that is down stays down across a reload (server-state file)', async (t) => {
  const u = await upstreams(t, 'a');
  const port = await freePort();
  const closed = await freePort();
  const h = await harness(t);
  const fe = frontendResource('web', port, 'app');
  const app = (server: string) =>
    backendResource('app', {
      members: [
        { name: 'a', port: u.a!.port },
        { name: 'gone', port: closed },
      ],
      healthCheck: { type: 'tcp', interval: '200ms', rise: 1, fall: 1 },
      timeouts: { server },
    });
  await h.apply([fe, app('30s')]);
  const deadline = Date.now() + 5000;
  for (;;) {
    const gone = (await h.controller.runtime.showServersState('default_app')).find((s) => s.server === 'gone');
    if (gone?.opState === 'stopped') break;
    assert.ok(Date.now() < deadline, 'the member on a closed port is checked down');
    await new Promise((r) => setTimeout(r, 50));
  }
  // Checks every 10 s now: without the state file, the new worker would call it up for 10 s.
  const slow = (server: string) => {
    const r = app(server) as { spec: { healthCheck: { interval: string } } };
    r.spec.healthCheck.interval = '10s';
    return r;
  };
  assert.equal((await h.apply([fe, slow('30s')])).kind, 'reload', 'check parameters are structural');
  const gone = (await h.controller.runtime.showServersState('default_app')).find((s) => s.server === 'gone');
  assert.equal(gone?.opState, 'stopped', 'the new worker starts from the saved health state');
  assert.deepEqual(await bodies(port, 6), ['a']);
});

test('changes the runtime API cannot make fall back to one reload: static algorithm, DNS name', async (t) => {
  const u = await upstreams(t, 'a', 'b');
  const port = await freePort();
  const h = await harness(t);
  const fe = frontendResource('web', port, 'app');
  const app = (members: MemberSpec[]) => backendResource('app', { balance: 'source', members });
  await h.apply([fe, app([{ name: 'a', port: u.a!.port }])]);
  let reloads = await h.reloads();

  let p = await h.apply([
    fe,
    app([
      { name: 'a', port: u.a!.port },
      { name: 'b', port: u.b!.port },
    ]),
  ]);
  assert.equal(p.kind, 'reload');
  assert.match(p.reasons.join(), /server b added, and balance source takes no server at run time/);
  assert.equal(await h.reloads(), ++reloads);
  assert.deepEqual(await h.fileVsLive(), []);

  // State changes still go through the runtime API with a static algorithm.
  p = await h.apply([
    fe,
    app([
      { name: 'a', port: u.a!.port },
      { name: 'b', port: u.b!.port, state: 'maint' },
    ]),
  ]);
  assert.equal(p.kind, 'runtime');
  assert.equal(await h.reloads(), reloads);

  p = await h.apply([
    fe,
    app([
      { name: 'a', port: u.a!.port },
      { name: 'b', address: 'localhost', port: u.b!.port, state: 'maint' },
    ]),
  ]);
  assert.equal(p.kind, 'reload');
  assert.match(p.reasons.join(), /DNS name localhost/);
  assert.equal(await h.reloads(), ++reloads);
});

test('a runtime command HAProxy refuses falls back to one reload that restores the declared state', async (t) => {
  const u = await upstreams(t, 'a', 'b');
  const port = await freePort();
  const h = await harness(t);
  const fe = frontendResource('web', port, 'app');
  const app = (bWeight: number) =>
    backendResource('app', {
      members: [
        { name: 'a', port: u.a!.port },
        { name: 'b', port: u.b!.port, weight: bWeight },
      ],
    });
  await h.apply([fe, app(100)]);
  const reloads = await h.reloads();
  // Someone deletes b behind the controller's back: the next weight change is refused.
  await h.controller.runtime.setServerState('default_app', 'b', 'maint');
  await h.controller.runtime.delServer('default_app', 'b');

  const p = await h.apply([fe, app(50)]);
  assert.equal(p.kind, 'reload');
  assert.match(p.reasons[0] ?? '', /runtime update failed \(HAProxy refused "set server default_app\/b weight 50": No such server\.\)/);
  assert.equal(await h.reloads(), reloads + 1, 'one reload');
  const b = (await h.controller.runtime.showServersState('default_app')).find((s) => s.server === 'b');
  assert.equal(b?.weight, 50);
  assert.deepEqual(await h.fileVsLive(), []);
  assert.deepEqual(await bodies(port, 8), ['a', 'b']);
});

test('more member changes than the runtime budget fall back to one reload', async (t) => {
  // startController has no budget option, so this wires the same parts by hand with maxRuntimeOps 3.
  const fx = await haproxyFixture(t);
  const ups = await upstreams(t, 'a', 'b', 'c', 'd', 'e');
  const port = await freePort();
  const global = globalSettings(fx.dir, { hardStopAfter: '5s' });
  await writeFile(global.serverStateFile, '1\n');
  const store = new Store();
  const supervisor = fx.supervisor();
  const api = new RuntimeApi({ socketPath: global.adminSocket });
  const reconciler = new Reconciler({
    store,
    haproxy: supervisor,
    runtime: new ServerUpdater({ api, serverStateFile: global.serverStateFile }),
    render: loadRenderer(),
    global,
    logger: silentLogger(),
    debounceMs: 10,
    minReloadIntervalMs: 0,
    maxRuntimeOps: 3,
  });
  t.after(() => reconciler.stop());
  const passes: PassResult[] = [];
  reconciler.on('pass', (p) => passes.push(p));
  const writer = new StoreWriter(store, 'test');
  const fe = frontendResource('web', port, 'app');
  const app = (names: string[]) => backendResource('app', { members: names.map((n) => ({ name: n, port: ups[n]!.port })) });
  const settle = async (raws: unknown[]): Promise<PassResult> => {
    writer.replaceAll(raws);
    await new Promise((r) => setTimeout(r, 30));
    await reconciler.settled();
    return passes[passes.length - 1]!;
  };

  await reconciler.start();
  assert.equal((await settle([fe, app(['a'])])).kind, 'start');
  const reloads = await supervisor.reloadCount();
  assert.equal((await settle([fe, app(['a', 'b', 'c'])])).kind, 'runtime', 'two adds fit the budget of 3');
  assert.equal((await settle([fe, app(['a', 'b', 'c', 'd', 'e'])])).kind, 'runtime', 'two more still fit');
  const weighted = backendResource('app', { members: ['a', 'b', 'c', 'd', 'e'].map((n) => ({ name: n, port: ups[n]!.port, weight: 9 })) });
  const p = await settle([fe, weighted]);
  assert.equal(p.kind, 'reload');
  assert.match(p.reasons.join(), /5 server changes exceed the runtime budget of 3 per pass/);
  assert.equal(await supervisor.reloadCount(), reloads + 1, 'one reload');
  const live = await api.showServersState('default_app');
  assert.deepEqual(
    live.map((s) => s.weight),
    [9, 9, 9, 9, 9],
  );
  assert.deepEqual(await bodies(port, 10), ['a', 'b', 'c', 'd', 'e']);
});
