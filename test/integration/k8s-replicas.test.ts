/**
 * Two controller replicas on one API server. Each runs its own HAProxy on
 * the same 127.0.0.1:PORT (HAProxy binds with SO_REUSEPORT, so the kernel
 * spreads connections over both, as a Service spreads them over two pods).
 * Replica A is a real `node-haproxy run --source kubernetes` process, so it
 * can be SIGKILLed; replica B runs in this process. A recording proxy in
 * front of the API server per replica tells who wrote what.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HAPROXY_BIN, freePort } from '../helpers/haproxy.js';
import { requestLoop, sampleBodies, startUpstream, waitForHttp } from '../helpers/upstream.js';
import { TEST_LEASE, eventually, startApiServer, startK8sController, stateDir } from '../k8s/controller-harness.js';
import { backendObject, frontendObject, serviceObject, sliceObject, statusOf } from '../k8s/fixtures.js';
import { RecordingProxy } from '../k8s/recording-proxy.js';
import type { KubeApiTestServer } from '../k8s/index.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

const holder = (server: KubeApiTestServer) =>
  ((server.getObject('Lease', 'default', 'node-haproxy')?.spec ?? {}) as { holderIdentity?: string | null }).holderIdentity ?? '';

const statusWrites = (p: RecordingProxy) => p.count('PATCH', '/status');
const eventWrites = (p: RecordingProxy) => p.count('POST', '/events') + p.count('PATCH', '/events/');

test('two replicas: both serve, only the lease holder writes status, the other takes over when it dies', async (t) => {
  const server = await startApiServer(t);
  const ups = await Promise.all(['a', 'b', 'c'].map(startUpstream));
  t.after(() => Promise.all(ups.map((u) => u.close())));
  const [a, b, c] = ups as [(typeof ups)[0], (typeof ups)[0], (typeof ups)[0]];
  const port = await freePort();
  const slice = (name: string, port: number) => sliceObject(name, 'web', { name: 'http', port }, [{ address: '127.0.0.1' }]);
  server.apply(serviceObject('web', [{ name: 'http', port: 80 }]));
  server.apply(slice('web-a', a.port));
  server.apply(slice('web-b', b.port));
  server.apply(backendObject('app', { service: { name: 'web', port: 'http' } }));
  server.apply(frontendObject('web', { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app' }));

  const proxyA = new RecordingProxy(server.url);
  const proxyB = new RecordingProxy(server.url);
  await proxyA.start();
  await proxyB.start();
  t.after(() => Promise.all([proxyA.stop(), proxyB.stop()]));

  // Replica A: a real process.
  const dirA = await stateDir();
  const kubeconfig = join(dirA.dir, 'kubeconfig');
  await writeFile(kubeconfig, proxyA.kubeConfig(server.kubeConfig()).exportConfig());
  const httpA = await freePort();
  let output = '';
  const replicaA: ChildProcess = spawn(
    process.execPath,
    [
      CLI,
      'run',
      '--source',
      'kubernetes',
      '--kubeconfig',
      kubeconfig,
      '--identity',
      'replica-a',
      '--state-dir',
      dirA.dir,
      '--haproxy-bin',
      HAPROXY_BIN,
      '--lease-duration-ms',
      String(TEST_LEASE.leaseDurationMs),
      '--renew-deadline-ms',
      String(TEST_LEASE.renewDeadlineMs),
      '--retry-period-ms',
      String(TEST_LEASE.retryPeriodMs),
      '--debounce-ms',
      '30',
      '--min-reload-interval-ms',
      '0',
      '--hard-stop-after',
      '5s',
      '--share-ports',
      '--log-level',
      'warn',
      '--http-address',
      `127.0.0.1:${httpA}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  replicaA.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  t.after(async () => {
    if (replicaA.exitCode === null && replicaA.signalCode === null) {
      replicaA.kill('SIGKILL');
      await new Promise((r) => replicaA.once('exit', r));
    }
    await dirA.cleanup();
  });

  await eventually('replica A holds the lease', () => holder(server) === 'replica-a' || undefined, 15_000).catch((err: Error) => {
    throw new Error(`${err.message}; replica A's log: ${output}`);
  });
  await waitForHttp(port, (r) => r.status === 200, 10_000);
  await eventually('replica A wrote the Backend status', () => statusOf(server.getObject('Backend', 'default', 'app'))?.members?.total === 2 || undefined);

  // Replica B: in this process, its HAProxy on the same port (allowed to share it with replica A's).
  const B = await startK8sController(t, { kubeConfig: proxyB.kubeConfig(server.kubeConfig()), identity: 'replica-b', controller: { sharePorts: true } });
  assert.equal(B.controller.kubernetes!.isLeader(), false);
  const bMaster = B.controller.supervisor.masterPid;
  const bReloads = await B.controller.supervisor.reloadCount();

  await t.test('both HAProxys serve the same port', async () => {
    const stats = await B.controller.runtime.showStat();
    const before = stats.filter((r) => r.svname === 'FRONTEND').reduce((n, r) => n + Number(r.stot ?? 0), 0);
    const seen = await sampleBodies(port, 40);
    assert.deepEqual([...seen.keys()].sort(), ['200 a', '200 b']);
    const after = (await B.controller.runtime.showStat()).filter((r) => r.svname === 'FRONTEND').reduce((n, r) => n + Number(r.stot ?? 0), 0);
    assert.ok(after - before > 0 && after - before < 40, `replica B's HAProxy took ${after - before} of 40 connections; replica A's took the rest`);
  });

  await t.test('only the lease holder writes status and events', async () => {
    server.apply({ ...slice('web-c', c.port) });
    await eventually('status shows 3 members', () => statusOf(server.getObject('Backend', 'default', 'app'))?.members?.total === 3 || undefined);
    await eventually('replica B sees 3 members too', () => (B.controller.reconciler.runningText?.match(/server /g)?.length ?? 0) >= 3 || undefined);
    assert.ok(statusWrites(proxyA) > 0, 'replica A wrote status');
    assert.equal(statusWrites(proxyB), 0, 'replica B wrote no status');
    assert.equal(eventWrites(proxyB), 0, 'replica B recorded no events');
    assert.ok(proxyB.count('GET', '/leases/') > 0, 'replica B keeps trying for the lease');
  });

  await t.test('SIGKILL the leader: the other takes over within the lease duration; traffic never stops', async () => {
    const loop = requestLoop(port, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    replicaA.kill('SIGKILL');
    await new Promise((r) => replicaA.once('exit', r));
    await eventually('replica B holds the lease', () => (B.controller.kubernetes!.isLeader() && holder(server) === 'replica-b') || undefined, 10_000);
    const tookMs = Date.now() - killedAt;
    // Expiry is judged on B's own clock from the last renewal it saw (up to one retry period before
    // the kill), then B needs its next retry (one period, ±20 % jitter) to take it.
    const bound = TEST_LEASE.leaseDurationMs + 2 * TEST_LEASE.retryPeriodMs * 1.2 + 300;
    assert.ok(tookMs <= bound, `took over after ${tookMs} ms (bound ${bound} ms)`);

    server.remove('EndpointSlice', 'default', 'web-c');
    await eventually('the new leader writes status', () => statusOf(server.getObject('Backend', 'default', 'app'))?.members?.total === 2 || undefined);
    assert.ok(statusWrites(proxyB) > 0, 'replica B wrote status after taking over');
    await new Promise((r) => setTimeout(r, 300));
    const report = await loop.stop();
    assert.equal(report.failed, 0, `failed requests: ${report.errors.slice(0, 5).join('; ')}`);
    assert.ok(report.ok > 20, `${report.ok} requests succeeded`);
    t.diagnostic(`takeover after ${tookMs} ms; ${report.ok} requests, none failed`);
  });

  await t.test("leadership changes never restarted or reloaded replica B's HAProxy", async () => {
    assert.equal(B.controller.supervisor.masterPid, bMaster);
    assert.equal(await B.controller.supervisor.reloadCount(), bReloads);
  });
});

test('a leader that cannot renew steps down; HAProxy keeps serving, untouched; it leads again when the API is back', async (t) => {
  const server = await startApiServer(t);
  const up = await startUpstream('a');
  t.after(() => up.close());
  const port = await freePort();
  server.apply(serviceObject('web', [{ name: 'http', port: 80 }]));
  server.apply(sliceObject('web-a', 'web', { name: 'http', port: up.port }, [{ address: '127.0.0.1' }]));
  server.apply(backendObject('app', { service: { name: 'web', port: 'http' } }));
  server.apply(frontendObject('web', { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app' }));
  const { controller } = await startK8sController(t, { kubeConfig: server.kubeConfig() });
  const k8s = controller.kubernetes!;
  await eventually('leader', () => k8s.isLeader() || undefined, 5000);
  const master = controller.supervisor.masterPid;
  const reloads = await controller.supervisor.reloadCount();
  let lost = 0;
  k8s.elector!.on('stopped', () => lost++);

  const loop = requestLoop(port, 20_000);
  const cancel = server.failRequests({ status: 500, match: (_m, path) => path.includes('/leases') });
  await eventually('stepped down', () => (!k8s.isLeader() && lost > 0) || undefined, 5000);
  await new Promise((r) => setTimeout(r, 500));
  cancel();
  await eventually('leads again', () => k8s.isLeader() || undefined, 5000);
  const report = await loop.stop();
  assert.equal(report.failed, 0, report.errors.slice(0, 3).join('; '));
  assert.equal(controller.supervisor.masterPid, master, 'HAProxy was not restarted');
  assert.equal(await controller.supervisor.reloadCount(), reloads, 'HAProxy was not reloaded');
});
