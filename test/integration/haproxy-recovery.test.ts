// Real HAProxy 2.6: restart after the master is killed, adoption by a new supervisor, stale state files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { MasterCli } from '../../src/haproxy/master-cli.js';
import { isProcessAlive } from '../../src/haproxy/process.js';
import { freePort, haproxyFixture, haproxyPids, nextEvent, testConfig } from '../helpers/haproxy.js';
import { httpGet, requestLoop, startUpstream, waitForHttp } from '../helpers/upstream.js';

test('kill -9 of the master and its workers: the supervisor restarts it on the last good config', async (t) => {
  const fx = await haproxyFixture(t);
  const dir = fx.dir;
  const a = await startUpstream('a');
  t.after(() => a.close());
  const port = await freePort();
  const sup = fx.supervisor({ pollIntervalMs: 100 });
  const cfg = testConfig({ stateDir: dir, port, servers: [{ name: 'a', port: a.port }] });
  await sup.start(cfg);
  assert.equal((await httpGet(port)).body, 'a');

  const oldPid = sup.masterPid!;
  const victims = haproxyPids(dir);
  assert.ok(victims.includes(oldPid) && victims.length >= 2, 'master and worker found');
  const died = nextEvent<{ masterPid: number }>(sup, 'died', 10_000);
  const restarted = nextEvent<{ reason: string; previousMasterPid: number; masterPid: number }>(sup, 'restarted', 10_000);
  for (const pid of victims) process.kill(pid, 'SIGKILL');

  assert.equal((await died).masterPid, oldPid);
  const r = await restarted;
  assert.equal(r.previousMasterPid, oldPid);
  assert.notEqual(r.masterPid, oldPid);
  assert.equal(sup.masterPid, r.masterPid);
  assert.ok(sup.isRunning());
  assert.equal(await readFile(sup.paths.config, 'utf8'), cfg);
  await waitForHttp(port, (res) => res.status === 200 && res.body === 'a');
  assert.equal(await sup.reloadCount(), 0, 'a fresh master');
  assert.ok(victims.every((pid) => !isProcessAlive(pid)));
});

test('a second supervisor on the same state dir adopts the running HAProxy without interrupting traffic', async (t) => {
  const fx = await haproxyFixture(t);
  const dir = fx.dir;
  const a = await startUpstream('a');
  const b = await startUpstream('b');
  t.after(() => Promise.all([a.close(), b.close()]));
  const port = await freePort();
  const cfgA = testConfig({ stateDir: dir, port, servers: [{ name: 'a', port: a.port }] });

  const first = fx.supervisor();
  await first.start(cfgA);
  const pid = first.masterPid!;
  const processes = haproxyPids(dir).sort();

  const loop = requestLoop(port, 20_000);
  await new Promise((r) => setTimeout(r, 300));
  await first.stop(); // the controller goes away; HAProxy stays
  assert.ok(isProcessAlive(pid), 'stop() without stopHaproxy leaves HAProxy running');

  const second = fx.supervisor();
  const adopted = nextEvent<{ masterPid: number }>(second, 'adopted', 5000);
  const r = await second.start(cfgA.replace('timeout server 10s', 'timeout server 11s'));
  assert.deepEqual(r, { adopted: true, masterPid: pid, runningConfig: cfgA });
  assert.equal((await adopted).masterPid, pid);
  assert.equal(second.masterPid, pid);
  assert.deepEqual(haproxyPids(dir).sort(), processes, 'no new process');
  assert.equal(await readFile(second.paths.config, 'utf8'), cfgA, 'adoption does not touch haproxy.cfg');

  await new Promise((res) => setTimeout(res, 300));
  const report = await loop.stop();
  assert.equal(report.failed, 0, `failures across the adoption: ${report.errors.slice(0, 3).join('; ')}`);
  assert.ok(report.ok > 10, `requests served: ${report.ok}`);

  // The adopted master reloads like one started here.
  const cfgB = testConfig({ stateDir: dir, port, servers: [{ name: 'b', port: b.port }] });
  assert.deepEqual(await second.apply(cfgB), { ok: true, reloads: 1 });
  assert.equal((await httpGet(port)).body, 'b');
});

test('start() over stale files of a dead master starts a fresh one', async (t) => {
  const fx = await haproxyFixture(t);
  const dir = fx.dir;
  const a = await startUpstream('a');
  t.after(() => a.close());
  const port = await freePort();
  const cfg = testConfig({ stateDir: dir, port, servers: [{ name: 'a', port: a.port }] });

  const first = fx.supervisor();
  await first.start(cfg);
  await first.stop({ stopHaproxy: true });
  // What a crash leaves: a pid file naming a dead process, socket files nobody serves.
  await writeFile(first.paths.pidFile, '999999\n');
  await writeFile(first.paths.masterSocket, '');
  await writeFile(first.paths.adminSocket, '');

  const second = fx.supervisor();
  const r = await second.start(cfg);
  assert.equal(r.adopted, false);
  assert.notEqual(r.masterPid, 999999);
  assert.equal((await httpGet(port)).body, 'a');
});

test('adoption after a controller crashed mid-apply: haproxy.cfg is made to match what HAProxy runs', async (t) => {
  const fx = await haproxyFixture(t);
  const a = await startUpstream('a');
  const b = await startUpstream('b');
  t.after(() => Promise.all([a.close(), b.close()]));
  const port = await freePort();
  const cfgA = fx.config({ port, servers: [{ name: 'a', port: a.port }] });
  const cfgB = fx.config({ port, servers: [{ name: 'b', port: b.port }] });
  const first = fx.supervisor();
  const { masterPid } = await first.start(cfgA);
  await first.stop();
  const crashAfterWrite = async (reloadsBefore: number, previous: string, next: string): Promise<void> => {
    await writeFile(first.paths.pendingApply, JSON.stringify({ previous, masterPid, reloadsBefore }));
    await writeFile(first.paths.config, next);
  };

  // Crashed after writing haproxy.cfg, before the reload: HAProxy still runs cfgA.
  await crashAfterWrite(0, cfgA, cfgB);
  const second = fx.supervisor();
  const r2 = await second.start(cfgB);
  assert.ok(r2.adopted && r2.runningConfig === cfgA, 'runningConfig is what HAProxy runs');
  assert.equal(await readFile(second.paths.config, 'utf8'), cfgA);
  await assert.rejects(readFile(second.paths.pendingApply, 'utf8'), { code: 'ENOENT' });
  assert.equal((await httpGet(port)).body, 'a');
  await second.stop();

  // Crashed after the reload went through: HAProxy runs cfgB, and haproxy.cfg keeps it.
  await crashAfterWrite(0, cfgA, cfgB);
  await new MasterCli(second.paths.masterSocket).reload();
  await waitForHttp(port, (res) => res.body === 'b');
  const third = fx.supervisor();
  const r3 = await third.start(cfgB);
  assert.ok(r3.adopted && r3.runningConfig === cfgB);
  assert.equal(await readFile(third.paths.config, 'utf8'), cfgB);
  await assert.rejects(readFile(third.paths.pendingApply, 'utf8'), { code: 'ENOENT' });
});
