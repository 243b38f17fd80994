/**
 * A real controller (startController: store, reconciler, runtime API,
 * supervised HAProxy) on temp dirs, fed by writing resources straight into
 * its store. Used by the benchmarks and the hitless integration tests.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startController, type Controller, type ControllerOptions } from '../../src/controller.js';
import { findProcessesWithArg, signalProcess, waitForExit } from '../../src/haproxy/process.js';
import { createLogger, silentLogger } from '../../src/log.js';
import type { PassResult } from '../../src/reconcile/reconciler.js';
import { fileVsLive } from './live.js';
import { StoreWriter } from './resources.js';

/** The HAProxy the benchmarks run: $HAPROXY_BIN, else `haproxy` from PATH (as the tests). */
export const HAPROXY_BIN = process.env.HAPROXY_BIN || 'haproxy';

export interface Harness {
  controller: Controller;
  writer: StoreWriter;
  stateDir: string;
  /** Every pass so far, without its resolution. */
  passes: PassResult[];
  /** The first pass from now on that satisfies `pred`. */
  nextPass(pred?: (p: PassResult) => boolean, timeoutMs?: number): Promise<PassResult>;
  /** Writes resources (replacing all earlier ones) and waits for the pass that applies them. */
  apply(raws: readonly unknown[], timeoutMs?: number): Promise<PassResult>;
  reloads(): Promise<number>;
  /** Differences between haproxy.cfg on disk and `show servers state` (empty: they match). */
  fileVsLive(): Promise<string[]>;
  /** Stops the controller and its HAProxy, kills leftovers, removes the temp dirs. */
  stop(): Promise<void>;
}

const SETTLED = new Set(['start', 'noop', 'runtime', 'reload', 'failed']);

export async function startHarness(options: Partial<ControllerOptions> = {}): Promise<Harness> {
  const sourceDir = await mkdtemp(join(tmpdir(), 'nh-src-'));
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'nh-')));
  const ownStateDir = options.stateDir === undefined;
  const cleanup = async (): Promise<void> => {
    const left = findProcessesWithArg(join(stateDir, 'master.sock'));
    for (const pid of left) signalProcess(pid, 'SIGKILL');
    await waitForExit(left, 2000);
    await rm(sourceDir, { recursive: true, force: true });
    if (ownStateDir) await rm(stateDir, { recursive: true, force: true });
  };
  let controller: Controller;
  try {
    controller = await startController({
      sources: [sourceDir],
      stateDir,
      haproxyBin: HAPROXY_BIN,
      // NH_BENCH_LOG=json|pretty logs at info to stderr (the logging measurement of decisions/0007); default: silent.
      logger:
        process.env.NH_BENCH_LOG === 'json' || process.env.NH_BENCH_LOG === 'pretty' ? createLogger({ format: process.env.NH_BENCH_LOG }) : silentLogger(),
      fileRescanIntervalMs: 0,
      ...options,
    });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const passes: PassResult[] = [];
  // Kept without their resolution: it holds every resource of its pass (100,000 members at scale).
  controller.reconciler.on('pass', (p) => passes.push({ ...p, resolution: undefined }));
  const writer = new StoreWriter(controller.store);

  const nextPass = (pred: (p: PassResult) => boolean = () => true, timeoutMs = 15_000): Promise<PassResult> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        controller.reconciler.off('pass', on);
        reject(new Error(`no matching reconcile pass within ${timeoutMs} ms (last: ${controller.reconciler.last?.kind})`));
      }, timeoutMs);
      const on = (p: PassResult): void => {
        if (!pred(p)) return;
        clearTimeout(timer);
        controller.reconciler.off('pass', on);
        resolve(p);
      };
      controller.reconciler.on('pass', on);
    });

  await controller.reconciler.settled();
  if (!controller.reconciler.haproxyStarted) {
    await controller.stop({ stopHaproxy: true }).catch(() => undefined);
    await cleanup();
    throw new Error(`HAProxy did not start: ${controller.reconciler.last?.error ?? controller.reconciler.last?.kind}`);
  }

  return {
    controller,
    writer,
    stateDir,
    passes,
    nextPass,
    async apply(raws, timeoutMs) {
      const pass = nextPass((p) => SETTLED.has(p.kind) && (p.kind === 'failed' || controller.reconciler.isConverged()), timeoutMs);
      writer.replaceAll(raws);
      return pass;
    },
    reloads: () => controller.supervisor.reloadCount(),
    async fileVsLive() {
      const text = await readFile(controller.supervisor.paths.config, 'utf8');
      return fileVsLive(text, await controller.runtime.showServersState());
    },
    async stop() {
      try {
        await controller.stop({ stopHaproxy: true });
      } finally {
        await cleanup();
      }
    },
  };
}
