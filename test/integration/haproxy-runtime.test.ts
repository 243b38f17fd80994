// Real HAProxy 2.6: the runtime API over the admin socket, the master CLI, socket errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MasterCli } from '../../src/haproxy/master-cli.js';
import { RuntimeApi, RuntimeApiError } from '../../src/haproxy/runtime.js';
import { HaproxySocketError, sendCommand, streamCommand } from '../../src/haproxy/socket.js';
import { freePort, haproxyFixture, tempStateDir, testConfig } from '../helpers/haproxy.js';
import { sampleBodies, startUpstream } from '../helpers/upstream.js';

const bodies = async (port: number, n = 8): Promise<string[]> => [...(await sampleBodies(port, n)).keys()].map((k) => k.replace(/^200 /, '')).sort();

async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() >= deadline) throw new Error(`not reached within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('runtime API against a running HAProxy', async (t) => {
  const fx = await haproxyFixture(t);
  const dir = fx.dir;
  const ups = await Promise.all(['a', 'b', 'c', 'd'].map(startUpstream));
  t.after(() => Promise.all(ups.map((u) => u.close())));
  const [a, b, c, d] = ups as [(typeof ups)[0], (typeof ups)[0], (typeof ups)[0], (typeof ups)[0]];
  const port = await freePort();
  const sup = fx.supervisor();
  await sup.start(testConfig({ stateDir: dir, port, servers: [{ name: 'a', port: a.port }] }));
  const api = new RuntimeApi({ socketPath: sup.paths.adminSocket });

  await t.test('show info, show stat, show servers state', async () => {
    const info = await api.showInfo();
    assert.equal(info.Name, 'HAProxy');
    const stat = await api.showStat();
    const row = stat.find((r) => r.pxname === 'be_app' && r.svname === 'a');
    assert.equal(row?.status, 'no check'); // no health check configured
    assert.equal(row?.addr, `127.0.0.1:${a.port}`);
    const [srv, ...rest] = await api.showServersState('be_app');
    assert.deepEqual(rest, []);
    assert.equal(srv?.server, 'a');
    assert.equal(srv?.admin, 'ready');
    assert.equal(srv?.port, a.port);
    assert.equal((await api.showServersState()).length, 1);
  });

  await t.test('add server starts in maint; ready puts it in rotation', async () => {
    await api.addServer('be_app', 'b', `127.0.0.1:${b.port} weight 1`);
    const added = (await api.showServersState('be_app')).find((s) => s.server === 'b');
    assert.equal(added?.admin, 'maint');
    assert.deepEqual(await bodies(port), ['a']);
    await api.setServerState('be_app', 'b', 'ready');
    assert.deepEqual(await bodies(port), ['a', 'b']);
  });

  await t.test('a server added with check needs enable health to be checked', async () => {
    await api.addServer('be_app', 'c', `127.0.0.1:${c.port} check inter 100ms`);
    await api.setServerState('be_app', 'c', 'ready');
    await api.enableHealth('be_app', 'c');
    await eventually('c checked UP', async () => {
      const row = (await api.showStat()).find((r) => r.svname === 'c');
      return row?.check_status === 'L4OK' && row.status === 'UP';
    });
    assert.deepEqual(await bodies(port, 9), ['a', 'b', 'c']);
  });

  await t.test('weight, address and drain', async () => {
    await api.setServerWeight('be_app', 'a', 0);
    assert.deepEqual(await bodies(port), ['b', 'c']);
    await api.setServerAddr('be_app', 'b', '127.0.0.1', d.port);
    const moved = (await api.showServersState('be_app')).find((s) => s.server === 'b');
    assert.equal(moved?.port, d.port);
    assert.deepEqual(await bodies(port), ['c', 'd']);
    await api.setServerAddr('be_app', 'b', '127.0.0.1', d.port); // no change is fine
    await api.setServerState('be_app', 'c', 'drain');
    const drained = (await api.showServersState('be_app')).find((s) => s.server === 'c');
    assert.equal(drained?.admin, 'drain');
    assert.deepEqual(await bodies(port), ['d']);
  });

  await t.test('del server needs maint first, then the server is gone', async () => {
    await assert.rejects(api.delServer('be_app', 'c'), (err: unknown) => {
      assert.ok(err instanceof RuntimeApiError);
      assert.match(err.message, /maintenance mode.*set its state to maint first/);
      assert.equal(err.command, 'del server be_app/c');
      return true;
    });
    await api.setServerState('be_app', 'c', 'maint');
    await api.delServer('be_app', 'c');
    assert.deepEqual(
      (await api.showServersState('be_app')).map((s) => s.server),
      ['a', 'b'],
    );
  });

  await t.test("HAProxy's error replies become RuntimeApiError; bad arguments never reach HAProxy", async () => {
    await assert.rejects(api.addServer('be_app', 'b', `127.0.0.1:${b.port}`), /Already exists a server/);
    await assert.rejects(api.setServerState('be_app', 'nope', 'ready'), /No such server/);
    await assert.rejects(api.showServersState('no_backend'), /Can't find backend/);
    await assert.rejects(api.addServer('no_backend', 'x', '127.0.0.1:1'), RuntimeApiError);
    await assert.rejects(api.setServerWeight('be_app', 'a', 300), /0 to 256/);
    await assert.rejects(api.setServerAddr('be_app', 'a', 'example.com', 80), /not an IP address/);
    await assert.rejects(api.setServerAddr('be_app', 'a', '127.0.0.1', 0), /1 to 65535/);
    await assert.rejects(api.setServerState('be_app', 'a b', 'ready'), /Invalid server name/);
    await assert.rejects(api.addServer('be_app', 'x', '127.0.0.1:1; shutdown sessions server be_app/a'), /second command/);
  });

  await t.test('writeRunningConfig records live changes in haproxy.cfg without a reload', async () => {
    const live = testConfig({
      stateDir: dir,
      port,
      servers: [
        { name: 'a', port: a.port, options: 'weight 0' },
        { name: 'b', port: d.port },
      ],
    });
    await sup.writeRunningConfig(live);
    assert.equal(await sup.runningConfig(), live);
    assert.equal(await sup.reloadCount(), 0);
    assert.deepEqual(await bodies(port), ['d']);
  });

  await t.test('master CLI: show proc and routing to a worker', async () => {
    const cli = new MasterCli(sup.paths.masterSocket);
    const proc = await cli.showProc();
    assert.equal(proc.master.pid, sup.masterPid);
    const worker = proc.workers[0]!.pid;
    assert.match(await cli.toWorker(1, 'show info'), new RegExp(`^Pid: ${worker}$`, 'm'));
    assert.match(await cli.toWorker(`!${worker}`, 'show servers state be_app'), /^1\n# be_id/);
    assert.match(await sendCommand(sup.paths.masterSocket, `@!${worker} show info`), /^Name: HAProxy$/m);
  });

  await t.test('one socket client: a streamed reply is the whole reply, in pieces; a reader that throws stops it', async () => {
    const whole = await sendCommand(sup.paths.adminSocket, 'show servers state be_app');
    const pieces: string[] = [];
    await streamCommand(sup.paths.adminSocket, 'show servers state be_app', (text) => pieces.push(text));
    assert.equal(pieces.join(''), whole);
    assert.match(whole, /^1\n# be_id/);
    await assert.rejects(
      streamCommand(sup.paths.adminSocket, 'show stat', () => {
        throw new Error('not a stat table');
      }),
      /not a stat table/,
    );
    await assert.rejects(
      streamCommand(sup.paths.adminSocket, 'show stat;show info', () => undefined),
      /second command/,
    );
  });
});

test('socket errors name the socket and the command, and say what to check', async (t) => {
  const dir = await tempStateDir(t);
  const missing = join(dir, 'nothing.sock');
  await assert.rejects(sendCommand(missing, 'show info'), (err: unknown) => {
    assert.ok(err instanceof HaproxySocketError);
    assert.equal(err.code, 'ENOENT');
    assert.equal(err.socketPath, missing);
    assert.match(err.message, new RegExp(`${missing}.*"show info".*does not exist`));
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
    return true;
  });
  await assert.rejects(sendCommand(missing, 'show info;show stat'), /second command/);
});
