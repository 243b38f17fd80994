/**
 * A controller whose source cannot load yet (etcd not reachable) must still
 * answer its liveness probe, and say it is not ready.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { freePort, HAPROXY_BIN } from '../helpers/haproxy.js';
import { httpGet as get } from '../helpers/upstream.js';

for (const kind of ['etcd', 'kubernetes'] as const) {
  test(`/healthz answers and /readyz says not ready while the ${kind} source cannot load`, async (t) => {
    const stateDir = await mkdtemp(join(tmpdir(), 'nh-'));
    const deadPort = await freePort(); // nothing listens there
    const httpPort = await freePort();
    const kubeconfig = join(stateDir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:${deadPort}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
    );
    const source =
      kind === 'etcd' ? ['--source', `etcd://127.0.0.1:${deadPort}/nh`] : ['--source', 'kubernetes', '--kubeconfig', kubeconfig, '--no-leader-election'];
    const child = spawn(
      process.execPath,
      [
        join(packageRoot(), 'dist', 'src', 'cli.js'),
        'run',
        ...source,
        '--state-dir',
        stateDir,
        '--haproxy-bin',
        HAPROXY_BIN,
        '--http-address',
        `127.0.0.1:${httpPort}`,
        '--stop-haproxy-on-exit',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    t.after(async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      await rm(stateDir, { recursive: true, force: true });
    });

    const deadline = Date.now() + 10_000;
    let health: { status: number; body: string } | undefined;
    while (Date.now() < deadline) {
      health = await get(httpPort, '/healthz').catch(() => undefined);
      if (health) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(health?.status, 200, `no /healthz answer within 10 s; stderr: ${stderr.slice(-500)}`);
    const ready = await get(httpPort, '/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.body, /etcd|kubernetes|source|sync/i, 'readiness says what it waits for');
  });
}
