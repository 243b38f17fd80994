/**
 * The state directory's life cycle as a user lives it, on real HAProxy:
 * one controller per directory (a second exits naming the first, a stale lock
 * is taken over), files removed behind a controller's back are written again,
 * `node-haproxy stop` stops the HAProxy a controller left running, and a
 * controller that never applied its configuration does not leave its HAProxy
 * behind. docs/decisions/0013-state-dir-lock.md
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PLAN_EXIT_CODES } from '../../src/plan/explain.js';
import { startController } from '../../src/controller.js';
import { createLogger } from '../../src/log.js';
import { isProcessAlive, waitForExit } from '../../src/haproxy/process.js';
import { LOCK_FILE, StateDirLockedError } from '../../src/haproxy/state-lock.js';
import { STOP_EXIT_CODES } from '../../src/haproxy/stop-command.js';
import { API_VERSION, backendYaml, routingFrontendYaml, startTestController } from '../helpers/controller.js';
import { freePort, HAPROXY_BIN, haproxyPids, holdPort } from '../helpers/haproxy.js';
import { httpGet, startUpstreams, waitForHttp } from '../helpers/upstream.js';
import { CLI, runCli } from '../helpers/cli.js';

/** A temporary directory removed after the test, with any HAProxy still running from it. */
async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(async () => {
    const left = haproxyPids(dir);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    await waitForExit(left, 2000);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

function frontendYaml(name: string, port: number, backend: string): string {
  return `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: ${name}\nspec:\n  binds:\n    - { address: 127.0.0.1, port: ${port} }\n  defaultBackend: ${backend}\n`;
}

const ROUTES = `
    - { host: api.test, backend: api }
    - { pathPrefix: /svc, backend: api }
`;

test('a second controller on the same state directory exits 1 naming the first; the first keeps serving and reloading', async (t) => {
  const up = await startUpstreams(t, 'app', 'api', 'other');
  const port = await freePort();
  const fx = await startTestController(t, {
    'backends.yaml': ['app', 'api', 'other'].map((n) => backendYaml(n, [{ name: 'm1', port: up[n]!.port }])).join('---\n'),
    'web.yaml': routingFrontendYaml(port, ROUTES),
  });
  assert.equal((await httpGet(port, '/', 3000, { host: 'api.test' })).body, 'api');
  const maps = (await readdir(join(fx.stateDir, 'maps'))).sort();
  assert.ok(maps.length > 0, 'the routing rules run from map files');

  // The second controller: a REST-only one, as the user who found the defect ran it (it would reload HAProxy with nothing).
  const second = await run(
    'run',
    '--source',
    'rest',
    '--state-dir',
    fx.stateDir,
    '--haproxy-bin',
    HAPROXY_BIN,
    '--http-address',
    `127.0.0.1:${await freePort()}`,
  );
  assert.equal(second.status, 1, second.stdout + second.stderr);
  assert.match(
    second.stderr,
    new RegExp(
      `state directory ${fx.stateDir} is in use by another node-haproxy controller: pid ${process.pid} on .*Stop that controller first, or give this one its own --state-dir DIR`,
    ),
  );
  // In-process too: the same refusal, as an error with the holder.
  await assert.rejects(
    startController({ ...fx.options, logger: createLogger({ level: 'silent' }) }),
    (err: unknown) => err instanceof StateDirLockedError && err.holder.pid === process.pid,
  );

  // Nothing of the first was touched: same master, same files, still serving.
  assert.equal((await httpGet(port, '/svc/x')).body, 'api');
  assert.deepEqual((await readdir(join(fx.stateDir, 'maps'))).sort(), maps);
  assert.equal(await fx.controller.supervisor.reloadCount(), 0);

  // Commands that only read the directory do not need the lock.
  const dir = await tempDir(t, 'nh-life-m-');
  await writeFile(join(dir, 'a.yaml'), backendYaml('app', [{ name: 'm1', port: up.app!.port }]));
  const planned = await run('plan', dir, '--state-dir', fx.stateDir);
  assert.ok(Object.values(PLAN_EXIT_CODES).includes(planned.status!), `plan ran: ${planned.status} ${planned.stderr}`);
  assert.doesNotMatch(planned.stderr, /in use by another/);
  const rendered = await run('render', dir, '--state-dir', fx.stateDir);
  assert.equal(rendered.status, 0, rendered.stderr);

  // A change that needs a reload still applies.
  const otherPort = await freePort();
  const pass = fx.nextPass((p) => p.kind === 'reload' || p.kind === 'failed');
  await fx.write('other.yaml', frontendYaml('other', otherPort, 'other'));
  assert.equal((await pass).kind, 'reload', JSON.stringify(await pass));
  assert.equal((await waitForHttp(otherPort, (r) => r.status === 200)).body, 'other');
  assert.equal((await httpGet(port, '/', 3000, { host: 'api.test' })).body, 'api');

  // Stopping gives the lock back: a controller starts on the directory again (and adopts HAProxy).
  await fx.controller.stop({ stopHaproxy: false });
  assert.equal(existsSync(join(fx.stateDir, LOCK_FILE)), false, 'the lock is removed on stop');
  const again = await startController({ ...fx.options, logger: createLogger({ level: 'silent' }) });
  try {
    await again.reconciler.settled();
    assert.equal(again.reconciler.last?.kind, 'noop');
  } finally {
    await again.stop({ stopHaproxy: true });
  }
});

test('a stale lock (its process exited, or its pid now runs another process) is taken over, with a log line', async (t) => {
  const up = await startUpstreams(t, 'app');
  const port = await freePort();
  const stateDir = await tempDir(t, 'nh-life-');
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => dead.once('exit', r));
  const cases = [
    { why: 'its process exited', holder: { pid: dead.pid, host: (await import('node:os')).hostname(), since: '2026-01-01T00:00:00.000Z', token: 'a' } },
    // This very pid, but another process start time: the pid was reused.
    {
      why: 'its pid now runs another process',
      holder: { pid: process.pid, host: (await import('node:os')).hostname(), since: '2026-01-01T00:00:00.000Z', processStart: '1', token: 'b' },
    },
  ];
  for (const c of cases) {
    await writeFile(join(stateDir, LOCK_FILE), JSON.stringify(c.holder));
    const lines: { msg: string; why?: string; previous?: { pid: number } }[] = [];
    const fx = await startTestController(
      t,
      { 'app.yaml': backendYaml('app', [{ name: 'm1', port: up.app!.port }]), 'web.yaml': frontendYaml('web', port, 'app') },
      { stateDir, logger: createLogger({ write: (l) => lines.push(JSON.parse(l)) }) },
    );
    assert.equal((await waitForHttp(port, (r) => r.status === 200)).body, 'app');
    const took = lines.find((l) => l.msg === 'took over the state directory lock of a controller that is gone');
    assert.ok(took, `no takeover line: ${JSON.stringify(lines.map((l) => l.msg))}`);
    assert.equal(took.why, c.why);
    assert.equal(took.previous?.pid, c.holder.pid);
    await fx.controller.stop({ stopHaproxy: false });
  }
});

test('a map file removed behind a running controller is written again at its next reload: it applies and serves', async (t) => {
  const up = await startUpstreams(t, 'app', 'api', 'other');
  const port = await freePort();
  const fx = await startTestController(t, {
    'backends.yaml': ['app', 'api', 'other'].map((n) => backendYaml(n, [{ name: 'm1', port: up[n]!.port }])).join('---\n'),
    'web.yaml': routingFrontendYaml(port, ROUTES),
  });
  assert.equal((await httpGet(port, '/', 3000, { host: 'api.test' })).body, 'api');
  const maps = await readdir(join(fx.stateDir, 'maps'));
  for (const m of maps) await unlink(join(fx.stateDir, 'maps', m));

  const otherPort = await freePort();
  const pass = fx.nextPass((p) => p.kind === 'reload' || p.kind === 'failed');
  await fx.write('other.yaml', frontendYaml('other', otherPort, 'other'));
  const r = await pass;
  assert.equal(r.kind, 'reload', `the reload applies (before the fix: haproxy -c "failed to open pattern file"): ${r.error ?? ''} ${r.output ?? ''}`);
  assert.equal((await waitForHttp(otherPort, (x) => x.status === 200)).body, 'other');
  // The reloaded HAProxy loaded the routing maps again: host and path rules still route.
  assert.equal((await httpGet(port, '/', 3000, { host: 'api.test' })).body, 'api');
  assert.equal((await httpGet(port, '/svc/a')).body, 'api');
  assert.equal((await httpGet(port, '/')).body, 'app');
  assert.deepEqual((await readdir(join(fx.stateDir, 'maps'))).sort(), [...maps].sort(), 'the files are back');
});

test('node-haproxy stop: refused while a controller runs, then a soft stop; a stale pid file signals nothing', async (t) => {
  const up = await startUpstreams(t, 'app');
  const port = await freePort();
  const fx = await startTestController(t, {
    'app.yaml': backendYaml('app', [{ name: 'm1', port: up.app!.port }]),
    'web.yaml': frontendYaml('web', port, 'app'),
  });
  assert.equal((await httpGet(port)).body, 'app');

  const refused = await run('stop', '--state-dir', fx.stateDir);
  assert.equal(refused.status, STOP_EXIT_CODES.locked, refused.stderr);
  assert.match(refused.stderr, new RegExp(`a controller \\(pid ${process.pid} on .*\\) runs on ${fx.stateDir}; .*Stop the controller first`));
  assert.equal((await httpGet(port)).body, 'app', 'HAProxy was not touched');

  await fx.controller.stop({ stopHaproxy: false });
  const master = fx.controller.supervisor.masterPid!;
  assert.ok(isProcessAlive(master), 'HAProxy outlives the controller (the default)');
  assert.equal((await httpGet(port)).body, 'app');

  const stopped = await run('stop', '--state-dir', fx.stateDir);
  assert.equal(stopped.status, STOP_EXIT_CODES.stopped, stopped.stderr);
  assert.match(stopped.stderr, new RegExp(`stopping HAProxy \\(master ${master}\\) softly: SIGUSR1`));
  assert.match(stopped.stderr, new RegExp(`HAProxy stopped \\(master ${master}, \\d+ ms\\)`));
  assert.deepEqual(haproxyPids(fx.stateDir), [], 'no HAProxy process of the directory is left');
  await assert.rejects(httpGet(port, '/', 1000), 'nothing listens any more');
  assert.equal(existsSync(join(fx.stateDir, 'haproxy.pid')), false);
  assert.equal(existsSync(join(fx.stateDir, 'haproxy.cfg')), true, 'the configuration is kept');

  const again = await run('stop', '--state-dir', fx.stateDir);
  assert.equal(again.status, STOP_EXIT_CODES.stopped);
  assert.match(again.stderr, /no HAProxy runs from .*; nothing to stop/);

  // A pid file that names another live process (here: this test's) is not obeyed.
  await writeFile(join(fx.stateDir, 'haproxy.pid'), `${process.pid}\n`);
  const stale = await run('stop', '--state-dir', fx.stateDir, '--hard');
  assert.equal(stale.status, STOP_EXIT_CODES.failed, stale.stderr);
  assert.match(stale.stderr, new RegExp(`pid ${process.pid} \\(from .*haproxy\\.pid\\) is not the HAProxy master of ${fx.stateDir}.*Nothing was signalled`));
  await unlink(join(fx.stateDir, 'haproxy.pid'));

  const usage = await run('stop', '--timeout-ms', 'soon');
  assert.equal(usage.status, 2);
  assert.match((await run('stop', '--help')).stdout, /Usage: node-haproxy stop \[--state-dir DIR\] \[--hard\]/);
});

test('node-haproxy stop: a soft stop lets a request in flight finish; --hard closes a connection that would hold it', async (t) => {
  // An upstream that answers /wait/MS after MS milliseconds and never answers /hang.
  const slow = createServer((req, res) => {
    const ms = /^\/wait\/(\d+)$/.exec(req.url ?? '')?.[1];
    if (ms !== undefined) setTimeout(() => res.end('slow'), Number(ms));
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  t.after(() => {
    slow.closeAllConnections();
    slow.close();
  });
  const port = await freePort();
  const files = {
    'app.yaml': backendYaml('app', [{ name: 'm1', port: (slow.address() as AddressInfo).port }]),
    'web.yaml': frontendYaml('web', port, 'app'),
  };
  // A long hard-stop-after: a soft stop waits for the open connection.
  const fx = await startTestController(t, files, { hardStopAfter: '60s' });
  await fx.controller.stop({ stopHaproxy: false });

  const inFlight = httpGet(port, '/wait/1200', 10_000);
  await new Promise((r) => setTimeout(r, 200));
  const soft = await run('stop', '--state-dir', fx.stateDir);
  assert.equal(soft.status, STOP_EXIT_CODES.stopped, soft.stderr);
  const answered = await inFlight;
  assert.equal(answered.status, 200, 'the request in flight was answered');
  assert.equal(answered.body, 'slow');
  assert.deepEqual(haproxyPids(fx.stateDir), []);

  // HAProxy again (a controller on the directory starts it), then a request that never ends.
  const again = await startController({ ...fx.options, logger: createLogger({ level: 'silent' }) });
  await again.reconciler.settled();
  await again.stop({ stopHaproxy: false });
  assert.ok(haproxyPids(fx.stateDir).length > 0, 'a converged controller leaves its HAProxy running');
  const hanging = httpGet(port, '/hang', 30_000).then(
    () => 'answered',
    () => 'closed',
  );
  await new Promise((r) => setTimeout(r, 200));
  const gaveUp = await run('stop', '--state-dir', fx.stateDir, '--timeout-ms', '1500');
  assert.equal(gaveUp.status, STOP_EXIT_CODES.failed, gaveUp.stderr);
  assert.match(gaveUp.stderr, /HAProxy still runs after 2 s .*wait longer with --timeout-ms, or close them now with node-haproxy stop --hard/);
  const hard = await run('stop', '--state-dir', fx.stateDir, '--hard');
  assert.equal(hard.status, STOP_EXIT_CODES.stopped, hard.stderr);
  assert.match(hard.stderr, /stopping HAProxy \(master \d+\) now: SIGTERM/);
  assert.equal(await hanging, 'closed');
  assert.deepEqual(haproxyPids(fx.stateDir), []);
});

test('a controller whose first configuration never applied (a port in use) stops the HAProxy it started when it exits', async (t) => {
  const up = await startUpstreams(t, 'app');
  const held = await holdPort();
  t.after(() => held.close());
  const manifests = await tempDir(t, 'nh-life-m-');
  const stateDir = join(await tempDir(t, 'nh-life-'), 'fresh');
  await writeFile(join(manifests, 'app.yaml'), backendYaml('app', [{ name: 'm1', port: up.app!.port }]));
  await writeFile(join(manifests, 'web.yaml'), frontendYaml('web', held.port, 'app'));
  const child = spawn(
    process.execPath,
    [CLI, 'run', '--source', manifests, '--state-dir', stateDir, '--haproxy-bin', HAPROXY_BIN, '--http-address', `127.0.0.1:${await freePort()}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  for (const deadline = Date.now() + 15_000; !/"msg":"resource rejected"/.test(out) && child.exitCode === null && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(out, /address already in use/, out.slice(-1500));
  assert.ok(haproxyPids(stateDir).length > 0, 'HAProxy started without the refused frontend');
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(out, /"msg":"stopping the HAProxy this controller started: the controller stops, and its configuration was never applied in full"/);
  assert.match(out, /"msg":"HAProxy stopped"/);
  assert.deepEqual(haproxyPids(stateDir), [], 'no HAProxy is left running with 0 frontends');
  assert.equal(existsSync(join(stateDir, LOCK_FILE)), false, 'the lock is given back');
});

const run = (...args: string[]) => runCli(args, { timeoutMs: 30000 });
