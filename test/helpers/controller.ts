/** Starts a real controller (file source, real HAProxy) on temp dirs for a test. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startController, type Controller, type ControllerOptions } from '../../src/controller.js';
import { silentLogger } from '../../src/log.js';
import type { PassResult } from '../../src/reconcile/reconciler.js';
import { waitForExit } from '../../src/haproxy/process.js';
import { HAPROXY_BIN, haproxyPids } from './haproxy.js';

export interface ControllerFixture {
  controller: Controller;
  /** The options the controller was started with (to start another on the same dirs). */
  options: ControllerOptions;
  manifests: string;
  stateDir: string;
  passes: PassResult[];
  write(file: string, yaml: string): Promise<void>;
  /** Resolves with the first pass (after the call) that satisfies `pred`. */
  nextPass(pred?: (p: PassResult) => boolean, timeoutMs?: number): Promise<PassResult>;
  /**
   * Starts another controller on the same directories (a restart: stop the
   * first one before); it is stopped, with its HAProxy, before the directories
   * are removed.
   */
  restart(overrides?: Partial<ControllerOptions>): Promise<Controller>;
}

async function tempDir(prefix: string, cleanups: (() => Promise<unknown>)[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(async () => {
    const left = haproxyPids(dir);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    await waitForExit(left, 2000);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

export function waitForPass(controller: Controller, pred: (p: PassResult) => boolean = () => true, timeoutMs = 10_000): Promise<PassResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.reconciler.off('pass', on);
      reject(new Error(`no matching reconcile pass within ${timeoutMs} ms (last: ${JSON.stringify(controller.reconciler.last?.kind)})`));
    }, timeoutMs);
    const on = (p: PassResult) => {
      if (!pred(p)) return;
      clearTimeout(timer);
      controller.reconciler.off('pass', on);
      resolve(p);
    };
    controller.reconciler.on('pass', on);
  });
}

/**
 * Writes the initial manifests, starts the controller and waits until HAProxy
 * runs them. The controller and its HAProxy are stopped after the test.
 */
export async function startTestController(
  t: TestContext,
  files: Record<string, string>,
  options: Partial<ControllerOptions> & { manifests?: string; stateDir?: string } = {},
): Promise<ControllerFixture> {
  // node:test runs after-hooks in the order they were added, so one hook
  // stops the controller first and then removes its directories.
  const cleanups: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const c of cleanups) await c();
  });
  const manifests = options.manifests ?? (await tempDir('nh-m-', cleanups));
  const stateDir = options.stateDir ?? (await tempDir('nh-', cleanups));
  for (const [name, text] of Object.entries(files)) await writeFile(join(manifests, name), text);
  const full: ControllerOptions = {
    sources: [manifests],
    stateDir,
    haproxyBin: HAPROXY_BIN,
    logger: silentLogger(),
    debounceMs: 50,
    minReloadIntervalMs: 0,
    hardStopAfter: '5s',
    closeSpreadTime: '1s',
    ...options,
  };
  const controller = await startController(full);
  const passes: PassResult[] = [];
  controller.reconciler.on('pass', (p) => passes.push(p));
  cleanups.unshift(() => controller.stop({ stopHaproxy: true }));
  await controller.reconciler.settled();
  // Watching sources (etcd, Kubernetes) may still be on their first load: wait for HAProxy (bounded).
  for (
    const deadline = Date.now() + 10_000;
    !controller.reconciler.haproxyStarted && controller.reconciler.last?.kind === 'waiting' && Date.now() < deadline;
  ) {
    await new Promise((r) => setTimeout(r, 50));
    await controller.reconciler.settled();
  }
  if (!controller.reconciler.haproxyStarted) throw new Error(`HAProxy did not start: ${controller.reconciler.last?.error}`);
  return {
    controller,
    options: full,
    manifests,
    stateDir,
    passes,
    write: (file, yaml) => writeFile(join(manifests, file), yaml),
    nextPass: (pred, timeoutMs) => waitForPass(controller, pred, timeoutMs),
    restart: async (overrides = {}) => {
      const again = await startController({ ...full, ...overrides });
      cleanups.unshift(() => again.stop({ stopHaproxy: true }));
      return again;
    },
  };
}

export const API_VERSION = 'haproxy.node-haproxy.io/v1alpha1';

/** YAML for a Backend with static members on 127.0.0.1. */
/** Frontend `web` on 127.0.0.1:PORT, default backend `app`, with `rules` (YAML list items, indented 4). */
export function routingFrontendYaml(port: number, rules: string): string {
  return `apiVersion: ${API_VERSION}
kind: Frontend
metadata:
  name: web
spec:
  binds:
    - { address: 127.0.0.1, port: ${port} }
  defaultBackend: app
  rules:
${rules}`;
}

export function backendYaml(name: string, members: { name: string; port: number; state?: string; weight?: number }[], extra = ''): string {
  const list = members
    .map(
      (m) =>
        `    - { name: ${m.name}, address: 127.0.0.1, port: ${m.port}${m.state ? `, state: ${m.state}` : ''}${m.weight !== undefined ? `, weight: ${m.weight}` : ''} }`,
    )
    .join('\n');
  return `apiVersion: ${API_VERSION}\nkind: Backend\nmetadata:\n  name: ${name}\nspec:\n  members:\n${list || '    []'}\n${extra}`;
}
