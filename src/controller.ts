/**
 * Wiring: sources → store → reconciler → supervised HAProxy. The CLI, the
 * demo and the integration tests all start the controller through here.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { HaproxySupervisor } from './haproxy/supervisor.js';
import { RuntimeApi } from './haproxy/runtime.js';
import type { Logger } from './log.js';
import type { GlobalSettings } from './render/model.js';
import { loadRenderer } from './render/render.js';
import { fileStatePersistence } from './reconcile/persist.js';
import { Reconciler } from './reconcile/reconciler.js';
import { RuntimeApply } from './reconcile/runtime-apply.js';
import { Store } from './reconcile/store.js';
import { FileSource } from './sources/files/file-source.js';

export interface ControllerOptions {
  /** Where resources come from: a directory of YAML manifests (more kinds follow). */
  sources: string[];
  stateDir: string;
  haproxyBin?: string;
  logger: Logger;
  debounceMs?: number;
  minReloadIntervalMs?: number;
  runtimeUpdates?: boolean;
  hardStopAfter?: string;
  closeSpreadTime?: string;
  maxconn?: number;
  statsListener?: { address: string; port: number };
  /** Stop HAProxy when the controller stops (default: leave it running, so a restarted controller adopts it). */
  stopHaproxyOnExit?: boolean;
  /** Rescan interval of file sources. */
  fileRescanIntervalMs?: number;
}

interface Source {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface Controller {
  store: Store;
  reconciler: Reconciler;
  supervisor: HaproxySupervisor;
  runtime: RuntimeApi;
  stateDir: string;
  stop(options?: { stopHaproxy?: boolean }): Promise<void>;
}

export const DEFAULTS = {
  haproxyBin: 'haproxy',
  debounceMs: 100,
  minReloadIntervalMs: 1000,
  hardStopAfter: '30s',
  closeSpreadTime: '5s',
} as const;

export function globalSettings(stateDir: string, o: Pick<ControllerOptions, 'hardStopAfter' | 'closeSpreadTime' | 'maxconn' | 'statsListener'>): GlobalSettings {
  return {
    adminSocket: join(stateDir, 'admin.sock'),
    serverStateFile: join(stateDir, 'server-state'),
    hardStopAfter: o.hardStopAfter ?? DEFAULTS.hardStopAfter,
    closeSpreadTime: o.closeSpreadTime ?? DEFAULTS.closeSpreadTime,
    maxconn: o.maxconn,
    statsListener: o.statsListener,
  };
}

function createSource(spec: string, store: Store, o: ControllerOptions): Source {
  if (spec === 'kubernetes' || spec === 'rest' || spec.startsWith('etcd://')) {
    throw new Error(`--source ${spec} is not available in this version; use a directory of YAML manifests`);
  }
  return new FileSource({
    dir: resolvePath(spec),
    store,
    logger: o.logger.child({ source: 'files' }),
    name: `files:${resolvePath(spec)}`,
    rescanIntervalMs: o.fileRescanIntervalMs,
  });
}

export async function startController(o: ControllerOptions): Promise<Controller> {
  if (o.sources.length === 0) throw new Error('no source given; pass --source DIR');
  const stateDir = resolvePath(o.stateDir);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const global = globalSettings(stateDir, o);
  // An empty (version 1) state file, so the first start does not warn that it is missing.
  await writeFile(global.serverStateFile, '1\n', { flag: 'wx' }).catch(() => undefined);
  const store = new Store();
  const supervisor = new HaproxySupervisor({ haproxyBin: o.haproxyBin ?? DEFAULTS.haproxyBin, stateDir, logger: o.logger.child({ component: 'haproxy' }) });
  const runtime = new RuntimeApi({ socketPath: global.adminSocket });
  const reconciler = new Reconciler({
    store,
    haproxy: supervisor,
    runtime: new RuntimeApply({ api: runtime, serverStateFile: global.serverStateFile }),
    render: loadRenderer(),
    global,
    logger: o.logger.child({ component: 'reconcile' }),
    debounceMs: o.debounceMs ?? DEFAULTS.debounceMs,
    minReloadIntervalMs: o.minReloadIntervalMs ?? DEFAULTS.minReloadIntervalMs,
    runtimeUpdates: o.runtimeUpdates ?? true,
    persistence: fileStatePersistence(stateDir),
  });
  const sources = o.sources.map((s) => createSource(s, store, o));
  reconciler.on('pass', (r) => {
    if (r.kind === 'reload') o.logger.info('HAProxy reloaded', { reasons: r.reasons, ms: Math.round(r.durationMs) });
  });
  await reconciler.start();
  for (const s of sources) await s.start();

  return {
    store,
    reconciler,
    supervisor,
    runtime,
    stateDir,
    async stop(opts) {
      for (const s of sources) await s.stop();
      await reconciler.stop();
      await supervisor.stop({ stopHaproxy: opts?.stopHaproxy ?? o.stopHaproxyOnExit ?? false });
    },
  };
}
