// Real HAProxy 2.6 under the supervisor: start, reload, rejected configs, failed reloads, stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { isProcessAlive } from '../../src/haproxy/process.js';
import { HaproxyConfigError } from '../../src/haproxy/supervisor.js';
import { freePort, haproxyFixture, haproxyPids, holdPort, testConfig } from '../helpers/haproxy.js';
import { httpGet, requestLoop, sampleBodies, startUpstream, waitForHttp } from '../helpers/upstream.js';

test('supervisor: start, apply, rejected apply, failed reload, recovery, stop', async (t) => {
  const fx = await haproxyFixture(t);
  const dir = fx.dir;
  const a = await startUpstream('a');
  const b = await startUpstream('b');
  t.after(() => Promise.all([a.close(), b.close()]));
  const port = await freePort();
  // Without the bind pre-flight, so that HAProxy's own reload failure is exercised below.
  const sup = fx.supervisor({ preflightBinds: false });
  const cfgA = testConfig({ stateDir: dir, port, servers: [{ name: 'a', port: a.port }] });
  const cfgB = testConfig({ stateDir: dir, port, servers: [{ name: 'b', port: b.port }] });
  const events: string[] = [];
  for (const e of ['started', 'reloaded', 'reload-failed', 'died', 'restarted'] as const) sup.on(e, () => events.push(e));

  await t.test('start: a new master serves the config, haproxy.cfg holds it', async () => {
    const r = await sup.start(cfgA);
    assert.equal(r.adopted, false);
    assert.equal(sup.masterPid, r.masterPid);
    assert.ok(sup.isRunning());
    assert.equal(await readFile(sup.paths.config, 'utf8'), cfgA);
    assert.equal(Number(await readFile(sup.paths.pidFile, 'utf8')), r.masterPid);
    assert.equal((await httpGet(port)).body, 'a');
    assert.equal(await sup.reloadCount(), 0);
    assert.deepEqual(events, ['started']);
    await assert.rejects(sup.start(cfgA), /called twice/);
  });

  await t.test('apply a changed config: exactly one reload, traffic follows', async () => {
    const pid = sup.masterPid;
    const r = await sup.apply(cfgB);
    assert.deepEqual(r, { ok: true, reloads: 1 });
    const proc = await sup.showProc();
    assert.equal(proc.master.reloads, 1);
    assert.equal(proc.master.failedReloads, 0);
    assert.equal(proc.master.pid, pid, 'a reload keeps the master');
    assert.equal(await readFile(sup.paths.config, 'utf8'), cfgB);
    assert.deepEqual([...(await sampleBodies(port, 5))], [['200 b', 5]]);
    assert.deepEqual(events, ['started', 'reloaded']);
  });

  await t.test('apply a config haproxy -c rejects: nothing changes', async () => {
    const broken = cfgA.replace('balance roundrobin', 'balance roundrobin\n  no_such_keyword 1');
    const r = await sup.apply(broken);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.reason === 'check');
    assert.match(!r.ok ? r.output : '', /no_such_keyword/, 'the output names the problem');
    assert.equal(await sup.reloadCount(), 1, 'no reload happened');
    assert.equal(await readFile(sup.paths.config, 'utf8'), cfgB);
    assert.equal((await httpGet(port)).body, 'b');
  });

  await t.test('start() with a rejected config throws HaproxyConfigError with the alerts', async (t2) => {
    const other = (await haproxyFixture(t2)).supervisor();
    await assert.rejects(other.start('global\n  bogus_global_keyword\n'), (err: unknown) => {
      assert.ok(err instanceof HaproxyConfigError);
      assert.match(err.output, /bogus_global_keyword/);
      return true;
    });
    assert.equal(other.masterPid, undefined);
  });

  await t.test('apply a config that passes -c but fails at reload: rolled back, old config serves', async (t2) => {
    const taken = await holdPort();
    t2.after(() => taken.close());
    const clash = testConfig({ stateDir: dir, port, servers: [{ name: 'a', port: a.port }], extraBindPorts: [taken.port] });
    assert.equal((await sup.check(clash)).ok, true, 'haproxy -c does not bind, so it accepts this');
    const pid = sup.masterPid;

    const r = await sup.apply(clash);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.reason === 'reload');
    assert.match(!r.ok ? r.output : '', /cannot bind socket.*Address already in use/, "the output is HAProxy's alert");
    assert.equal(await readFile(sup.paths.config, 'utf8'), cfgB, 'haproxy.cfg restored');
    const proc = await sup.showProc();
    assert.equal(proc.master.pid, pid);
    assert.equal(proc.master.reloads, 2);
    assert.equal(proc.master.failedReloads, 1);
    assert.equal(proc.workers.length, 1, 'the old worker is still the current one');
    assert.deepEqual([...(await sampleBodies(port, 5))], [['200 b', 5]], 'the old config still serves');
  });

  await t.test('a good apply after a failed reload works', async () => {
    const both = testConfig({
      stateDir: dir,
      port,
      servers: [
        { name: 'a', port: a.port },
        { name: 'b', port: b.port },
      ],
    });
    const r = await sup.apply(both);
    assert.deepEqual(r, { ok: true, reloads: 3 });
    assert.equal((await sup.showProc()).master.failedReloads, 0);
    const seen = await sampleBodies(port, 6);
    assert.deepEqual([...seen.keys()].sort(), ['200 a', '200 b']);
    assert.equal(await readFile(sup.paths.config, 'utf8'), both);
  });

  await t.test('a reload whose worker dies after forking (takes the 2.6 master down): restarted on the last good config', async () => {
    const good = await readFile(sup.paths.config, 'utf8');
    const pid = sup.masterPid!;
    // Passes -c; the new worker fails to chroot, and 2.6 then stops everything.
    const fatal = cfgA.replace('global\n', 'global\n  chroot /nonexistent/node-haproxy-test\n');
    assert.equal((await sup.check(fatal)).ok, true);
    const r = await sup.apply(fatal);
    assert.ok(!r.ok && r.reason === 'reload');
    assert.match(!r.ok ? r.output : '', /chroot/);
    assert.equal(await readFile(sup.paths.config, 'utf8'), good);
    assert.notEqual(sup.masterPid, pid, 'a new master');
    assert.ok(!isProcessAlive(pid));
    await waitForHttp(port, (res) => res.status === 200);
    assert.ok(events.includes('died') && events.includes('restarted'));
  });

  await t.test('applies are serialized, and reloads lose no request', async () => {
    const before = await sup.reloadCount();
    const loop = requestLoop(port, 20_000);
    const results = await Promise.all([sup.apply(cfgA), sup.apply(cfgB), sup.apply(cfgA)]);
    const report = await loop.stop();
    assert.equal(report.failed, 0, report.errors.slice(0, 3).join('; '));
    assert.ok(report.ok > 0);
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, true],
    );
    assert.equal(await sup.reloadCount(), before + 3);
    assert.equal((await httpGet(port)).body, 'a');
  });

  await t.test('stop({stopHaproxy: true}) leaves no HAProxy process behind', async () => {
    const pid = sup.masterPid!;
    assert.ok(haproxyPids(dir).length >= 2, 'master and worker run before');
    await sup.stop({ stopHaproxy: true });
    assert.deepEqual(haproxyPids(dir), []);
    assert.ok(!isProcessAlive(pid));
    assert.equal(sup.isRunning(), false);
    await assert.rejects(httpGet(port, '/', 1000));
    await assert.rejects(sup.apply(cfgA), /call start\(configText\) first/);
  });
});

test('bind pre-flight: a port held by another process is refused before any reload, traffic untouched', async (t) => {
  const fx = await haproxyFixture(t);
  const dir = fx.dir;
  const a = await startUpstream('a');
  t.after(() => a.close());
  const port = await freePort();
  const sup = fx.supervisor();
  const cfg = testConfig({ stateDir: dir, port, servers: [{ name: 'a', port: a.port }] });
  await sup.start(cfg);
  const taken = await holdPort();
  t.after(() => taken.close());

  const loop = requestLoop(port, 10_000);
  const clash = testConfig({ stateDir: dir, port, servers: [{ name: 'a', port: a.port }], extraBindPorts: [taken.port] });
  const r = await sup.apply(clash);
  const report = await loop.stop();
  assert.ok(!r.ok && r.reason === 'check');
  assert.match(!r.ok ? r.output : '', new RegExp(`bind 127\\.0\\.0\\.1:${taken.port} \\(line \\d+\\): address already in use`));
  assert.equal(await sup.reloadCount(), 0, 'no reload was attempted');
  assert.equal(await readFile(sup.paths.config, 'utf8'), cfg);
  assert.equal(report.failed, 0, report.errors.slice(0, 3).join('; '));

  // Ports the running config binds already are not "taken": reloading the same binds works.
  const same = cfg.replace('timeout server 10s', 'timeout server 12s');
  assert.deepEqual(await sup.apply(same), { ok: true, reloads: 1 });
});
