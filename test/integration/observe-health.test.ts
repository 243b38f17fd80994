/**
 * /healthz and /readyz with a real controller and HAProxy: not ready before
 * the first apply, ready once HAProxy runs the configuration, not ready while
 * HAProxy is down, ready again after the supervisor restarts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startController } from '../../src/controller.js';
import { silentLogger } from '../../src/log.js';
import { parseExposition } from '../../src/observe/exposition.js';
import { backendYaml, waitForPass } from '../helpers/controller.js';
import { HAPROXY_BIN, freePort, haproxyPids, tempStateDir } from '../helpers/haproxy.js';
import { startUpstream } from '../helpers/upstream.js';
import { waitForExit } from '../../src/haproxy/process.js';

async function get(port: number, path: string): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

async function readyGauge(port: number): Promise<number | undefined> {
  return parseExposition((await get(port, '/metrics?scope=controller')).text).samples.get('node_haproxy_ready');
}

test('/readyz: not ready before the first apply and while HAProxy is down; ready when HAProxy runs the configuration', async (t) => {
  const upstream = await startUpstream('u1');
  t.after(() => upstream.close());
  const manifests = await tempStateDir(t);
  const stateDir = await tempStateDir(t);
  // HAProxy that takes a second to start (and to check a configuration): a window before the first apply.
  const slowHaproxy = join(stateDir, 'slow-haproxy.sh');
  await writeFile(slowHaproxy, `#!/bin/sh\nsleep 1\nexec ${HAPROXY_BIN} "$@"\n`);
  await chmod(slowHaproxy, 0o755);
  const webPort = await freePort();
  await writeFile(join(manifests, 'app.yaml'), backendYaml('app', [{ name: 'u1', port: upstream.port }]));
  await writeFile(
    join(manifests, 'web.yaml'),
    `apiVersion: haproxy.node-haproxy.io/v1alpha1\nkind: Frontend\nmetadata:\n  name: web\nspec:\n  binds: [{ address: 127.0.0.1, port: ${webPort} }]\n  defaultBackend: app\n`,
  );

  const controller = await startController({
    sources: [manifests],
    stateDir,
    haproxyBin: slowHaproxy,
    logger: silentLogger(),
    debounceMs: 50,
    minReloadIntervalMs: 0,
    hardStopAfter: '5s',
    httpAddress: { address: '127.0.0.1', port: 0 },
  });
  try {
    const port = controller.httpAddress!.port;
    const started = waitForPass(controller, (p) => p.kind === 'start', 20_000);

    const before = await get(port, '/readyz');
    assert.equal(before.status, 503);
    assert.equal(before.body.ready, false);
    assert.ok(before.body.reasons.includes('HAProxy has not been started yet (no configuration applied)'), JSON.stringify(before.body));
    assert.equal((await get(port, '/healthz')).status, 200, 'alive while not ready');
    assert.equal(await readyGauge(port), 0);

    await started;
    const ready = await get(port, '/readyz');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.deepEqual(ready.body, {
      status: 'ready',
      ready: true,
      checks: { sourcesSynced: true, haproxyStarted: true, haproxyRunning: true, configurationApplied: true },
      reasons: [],
    });
    assert.equal(await readyGauge(port), 1);

    // HAProxy killed: not ready until the supervisor has restarted it (through the slow start).
    const pids = haproxyPids(stateDir);
    assert.ok(pids.length >= 2, 'a master and a worker');
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    assert.ok(await waitForExit(pids, 5000));
    const down = await get(port, '/readyz');
    assert.equal(down.status, 503);
    assert.deepEqual(down.body.reasons, ['HAProxy is not running (the supervisor restarts it)']);
    assert.equal(down.body.checks.haproxyRunning, false);
    assert.equal(await readyGauge(port), 0);

    const deadline = Date.now() + 20_000;
    let again = await get(port, '/readyz');
    while (again.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      again = await get(port, '/readyz');
    }
    assert.equal(again.status, 200, `ready again after the restart: ${JSON.stringify(again.body)}`);
    const m = parseExposition((await get(port, '/metrics?scope=controller')).text).samples;
    assert.equal(m.get('node_haproxy_haproxy_restarts_total'), 1);

    // Only GET and HEAD.
    const post = await fetch(`http://127.0.0.1:${port}/readyz`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`, { method: 'HEAD' })).status, 200);
  } finally {
    await controller.stop({ stopHaproxy: true });
    const left = haproxyPids(stateDir);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    await waitForExit(left, 2000);
  }
});
