/**
 * Test harness for the Kubernetes source end to end: a KubeApiTestServer, a
 * real controller (startController with --source kubernetes) and its real
 * HAProxy. Everything started here is stopped after the test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { startController, type Controller, type ControllerOptions } from '../../src/controller.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import { waitForExit } from '../../src/haproxy/process.js';
import type { KubernetesOptions } from '../../src/sources/kubernetes/index.js';
import type { WatchRestart } from '../../src/sources/kubernetes/reflector.js';
import { HAPROXY_BIN, haproxyPids } from '../helpers/haproxy.js';
import { KubeApiTestServer, type KubeApiTestServerOptions } from './api-server.js';

/** Fast timings for tests: leases of 2 s, watches that give up after 3 s of silence. */
export const TEST_LEASE = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 200 } as const;

export async function startApiServer(t: TestContext, options: KubeApiTestServerOptions = {}): Promise<KubeApiTestServer> {
  const server = new KubeApiTestServer({ bookmarkIntervalMs: 500, ...options });
  await server.start();
  t.after(() => server.stop());
  return server;
}

/** A temp state dir and its cleanup: HAProxy processes left on it are killed, then it is removed. */
export async function stateDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'nh-k8s-'));
  return {
    dir,
    async cleanup() {
      const left = haproxyPids(dir);
      for (const pid of left) process.kill(pid, 'SIGKILL');
      await waitForExit(left, 2000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface K8sControllerFixture {
  controller: Controller;
  restarts: WatchRestart[];
  stateDir: string;
  /** Stops the controller (releasing its lease) and its HAProxy; the after-hook does it otherwise. */
  stop(): Promise<void>;
}

export interface K8sControllerOptions {
  kubeConfig: KubeConfig;
  identity?: string;
  kubernetes?: Partial<KubernetesOptions>;
  controller?: Partial<ControllerOptions>;
  logger?: Logger;
  /** Wait until the caches synced and the first pass settled (default true). */
  waitForSync?: boolean;
}

/** Starts a controller on the test API server and waits until its caches synced and HAProxy runs. */
export async function startK8sController(t: TestContext, o: K8sControllerOptions): Promise<K8sControllerFixture> {
  const { dir, cleanup } = await stateDir();
  const restarts: WatchRestart[] = [];
  const controller = await startController({
    sources: ['kubernetes'],
    stateDir: dir,
    haproxyBin: HAPROXY_BIN,
    // NH_TEST_LOG=debug shows the controller's log while debugging a test.
    logger: o.logger ?? (process.env.NH_TEST_LOG ? createLogger({ level: process.env.NH_TEST_LOG as 'debug', format: 'pretty' }) : silentLogger()),
    debounceMs: 30,
    minReloadIntervalMs: 0,
    hardStopAfter: '5s',
    closeSpreadTime: '1s',
    ...o.controller,
    kubernetes: {
      kubeConfig: o.kubeConfig,
      identity: o.identity ?? 'replica-1',
      leaderElection: { ...TEST_LEASE },
      stallTimeoutMs: 3000,
      backoff: { initialMs: 50, maxMs: 500 },
      onWatchRestart: (r) => restarts.push(r),
      ...o.kubernetes,
    },
  });
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= controller.stop({ stopHaproxy: true }));
  // One hook, so the controller stops before its state dir goes.
  t.after(async () => {
    await stop();
    await cleanup();
  });
  if (o.waitForSync ?? true) {
    await controller.kubernetes!.source.whenSynced();
    await controller.reconciler.settled();
  }
  return { controller, restarts, stateDir: dir, stop };
}

/** Polls until `fn` returns a value that is not undefined; fails with `what` after `timeoutMs`. */
export async function eventually<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`not reached within ${timeoutMs} ms: ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
