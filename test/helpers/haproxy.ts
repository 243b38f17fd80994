/** Test helpers for real-HAProxy tests: state dirs, free ports, configs, supervisors. */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { findProcessesWithArg, waitForExit } from '../../src/haproxy/process.js';
import { HaproxySupervisor, statePaths, type HaproxySupervisorOptions } from '../../src/haproxy/supervisor.js';

/**
 * The HAProxy every test runs: $HAPROXY_BIN, else `haproxy` from PATH. CI runs
 * the suite once with Debian 12's 2.6 and once with 3.0 built by
 * scripts/build-haproxy.sh (HAPROXY_BIN=$(scripts/build-haproxy.sh)).
 */
export const HAPROXY_BIN = process.env.HAPROXY_BIN || 'haproxy';

/** A fresh dir under the OS temp dir (short: unix socket paths max out near 108 bytes), removed after the test. */
export async function tempStateDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nh-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface HaproxyFixture {
  dir: string;
  /** A supervisor on this state dir with test timings (several may share the dir, as in adoption). */
  supervisor(options?: Partial<HaproxySupervisorOptions>): HaproxySupervisor;
  /** testConfig() for this state dir. */
  config(options: Omit<TestConfigOptions, 'stateDir'>): string;
}

/**
 * A state dir and its supervisors, cleaned up in one ordered step after the
 * test, pass or fail: every supervisor stops its HAProxy, any process still
 * running from the dir is killed, the dir is removed.
 */
export async function haproxyFixture(t: TestContext): Promise<HaproxyFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'nh-'));
  const supervisors: HaproxySupervisor[] = [];
  t.after(async () => {
    try {
      for (const sup of supervisors) await sup.stop({ stopHaproxy: true }).catch(() => undefined);
    } finally {
      const left = haproxyPids(dir);
      for (const pid of left) process.kill(pid, 'SIGKILL');
      await waitForExit(left, 2000);
      await rm(dir, { recursive: true, force: true });
    }
  });
  return {
    dir,
    supervisor(options = {}) {
      const sup = new HaproxySupervisor({
        stateDir: dir,
        haproxyBin: HAPROXY_BIN,
        logger: silentLogger(),
        pollIntervalMs: 200,
        stopGraceMs: 2000,
        ...options,
      });
      supervisors.push(sup);
      return sup;
    },
    config: (options) => testConfig({ ...options, stateDir: dir }),
  };
}

/** Listens on 127.0.0.1:0 and returns the server (port taken until closed). */
export async function holdPort(): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A loopback port the OS had free a moment ago. */
export async function freePort(): Promise<number> {
  const held = await holdPort();
  await held.close();
  return held.port;
}

export interface TestServer {
  name: string;
  port: number;
  /** Extra server keywords, e.g. "weight 10 check". */
  options?: string;
}

export interface TestConfigOptions {
  stateDir: string;
  /** Frontend port (127.0.0.1). */
  port: number;
  servers: TestServer[];
  /** More frontend binds on 127.0.0.1. */
  extraBindPorts?: number[];
  backendName?: string;
  /** Extra lines for the backend section. */
  backendLines?: string[];
  /** Extra lines for the global section. */
  globalLines?: string[];
}

/** A minimal HTTP load balancer config with the admin stats socket the supervisor expects. */
export function testConfig(o: TestConfigOptions): string {
  const backend = o.backendName ?? 'be_app';
  const lines = [
    'global',
    `  stats socket ${statePaths(o.stateDir).adminSocket} mode 600 level admin expose-fd listeners`,
    '  hard-stop-after 10s',
    ...(o.globalLines ?? []).map((l) => `  ${l}`),
    '',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 10s',
    '  timeout server 10s',
    '',
    'frontend fe_main',
    `  bind 127.0.0.1:${o.port}`,
    ...(o.extraBindPorts ?? []).map((p) => `  bind 127.0.0.1:${p}`),
    `  default_backend ${backend}`,
    '',
    `backend ${backend}`,
    '  balance roundrobin',
    ...(o.backendLines ?? []).map((l) => `  ${l}`),
    ...o.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port}${s.options ? ' ' + s.options : ''}`),
    '',
  ];
  return lines.join('\n');
}

/** Live processes (master and workers) of the HAProxy on `stateDir`. */
export function haproxyPids(stateDir: string): number[] {
  return findProcessesWithArg(statePaths(stateDir).masterSocket);
}

/** Resolves with the first emission of `event`, or rejects after timeoutMs. */
export function nextEvent<T>(emitter: { once(event: string, fn: (arg: T) => void): unknown }, event: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" event within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (arg) => {
      clearTimeout(timer);
      resolve(arg);
    });
  });
}
