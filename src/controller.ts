/**
 * Wiring: sources → store → reconciler → supervised HAProxy. The CLI, the
 * demo and the integration tests all start the controller through here.
 */
import { MapUpdater } from './reconcile/map-updater.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { HaproxySupervisor } from './haproxy/supervisor.js';
import { LOCK_FILE, lockStateDir, type StateDirLock } from './haproxy/state-lock.js';
import { isProcessAlive } from './haproxy/process.js';
import { RuntimeApi } from './haproxy/runtime.js';
import { detectHaproxyVersion, versionAtLeast, type HaproxyVersion } from './haproxy/version.js';
import type { Logger } from './log.js';
import type { GlobalSettings } from './render/model.js';
import { loadRenderer } from './render/render.js';
import { fileStatePersistence } from './reconcile/persist.js';
import { Reconciler } from './reconcile/reconciler.js';
import { ServerUpdater } from './reconcile/server-updater.js';
import { CertUpdater } from './reconcile/cert-updater.js';
import { SslRuntime } from './haproxy/ssl-runtime.js';
import { Store } from './reconcile/store.js';
import { computeDesired } from './reconcile/desired.js';
import { FileSource } from './sources/files/file-source.js';
import type { EtcdSource } from './sources/etcd/etcd-source.js';
import { RestApi } from './sources/rest/api.js';
import { TokenFileAuthenticator } from './sources/rest/auth.js';
import { RestSource } from './sources/rest/rest-source.js';
import type { ResourceWriter } from './reconcile/resource-writer.js';
import { HttpServer, sendJson } from './http/server.js';
import { RUNNING_STATE_PATH } from './plan/running-state.js';
import { certFileDigests } from './plan/file-digests.js';
import { explainPlan } from './plan/explain.js';
import { plan as planConfig, type Plan } from './reconcile/plan.js';
import type { AddressInfo } from 'node:net';
// The Kubernetes and etcd clients are loaded only when such a source is configured
// (@kubernetes/client-node alone costs about 90 MB of memory).
import type { KubernetesIntegration, KubernetesOptions } from './sources/kubernetes/index.js';
import { Observability, type ObserveOptions } from './observe/index.js';

export interface ControllerOptions {
  /** Where resources come from: a directory of YAML manifests (more kinds follow). */
  sources: string[];
  stateDir: string;
  haproxyBin?: string;
  logger: Logger;
  debounceMs?: number;
  minReloadIntervalMs?: number;
  /** A failed apply, or a resource refused for a passing cause (a port in use), is tried again after this long, doubling up to retryMaxMs (defaults 2 s and 60 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  runtimeUpdates?: boolean;
  hardStopAfter?: string;
  closeSpreadTime?: string;
  maxconn?: number;
  statsListener?: { address: string; port: number };
  /** Stop HAProxy when the controller stops (default: leave it running, so a restarted controller adopts it). */
  stopHaproxyOnExit?: boolean;
  /**
   * Let HAProxy share listening ports with other processes that hold them with
   * SO_REUSEPORT (replicas on one host network): the bind pre-flight then does
   * not refuse a port because another process holds it. Default false.
   */
  sharePorts?: boolean;
  /** Settings of `--source kubernetes` (cluster access, namespace, members, leader election). */
  kubernetes?: Partial<KubernetesOptions>;
  /** Rescan interval of file sources. */
  fileRescanIntervalMs?: number;
  /** How long file sources wait after a change before reading the tree (editors write in steps). Default 100 ms. */
  fileDebounceMs?: number;
  /** The controller's HTTP server (REST API and other handlers); none when undefined. Port 0 picks a free one. */
  httpAddress?: { address: string; port: number };
  /**
   * A second listener for the REST API and the live stream; `httpAddress` then
   * serves only /metrics, /healthz and /readyz. Port 0 picks a free one.
   */
  apiAddress?: { address: string; port: number };
  /** REST API (`--source rest`): file whose first line is the bearer token for changes (none: the API is read-only). */
  apiTokenFile?: string;
  /** REST API: reads need the token too, on every API route and on /stream (/metrics, /healthz, /readyz stay open). Needs `apiTokenFile`. */
  apiAuthReads?: boolean;
  /** Accept raw HAProxy lines (aqueduct `natives`, the raw-config annotation) from every source: files, Kubernetes, the REST API and etcd. */
  allowRawConfig?: boolean;
  /** Narrow the raw-config allow-list to these entries (`--raw-config-keywords`); undefined: the default list (docs/decisions/0005). */
  rawConfigKeywords?: readonly string[];
  /** REST API: largest request body accepted, in bytes (default 1 MiB). */
  apiMaxBodyBytes?: number;
  /** REST API without etcd: most bytes all resources it keeps in the state directory may take, as JSON (default 32 MiB). */
  apiMaxStoredBytes?: number;
  /** REST API: namespace of thalassa-aqueduct keys (default "default"). */
  aqueductNamespace?: string;
  /** etcd sources: full relist interval (default 5 minutes) and the longest retry backoff (default 5 s). */
  etcdResyncIntervalMs?: number;
  etcdRetryMaxMs?: number;
  /** Metrics, stats cache and live stream settings (served on the HTTP server: /metrics, /healthz, /readyz, /stream). */
  observe?: ObserveOptions;
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
  /** The HAProxy version found at start (`haproxy -v`); what the controller adapts to. */
  haproxyVersion: HaproxyVersion;
  stateDir: string;
  /** The Kubernetes source, leader election and status writer, with `--source kubernetes`. */
  kubernetes?: KubernetesIntegration;
  /** The HTTP server, when `httpAddress` was given, and where it listens. */
  http?: HttpServer;
  httpAddress?: AddressInfo;
  /** The API listener (REST API and /stream), when `apiAddress` was given, and where it listens. */
  api?: HttpServer;
  apiAddress?: AddressInfo;
  /** Controller and HAProxy metrics, readiness, live stream. */
  observe: Observability;
  stop(options?: { stopHaproxy?: boolean }): Promise<void>;
}

export const DEFAULTS = {
  haproxyBin: 'haproxy',
  debounceMs: 100,
  minReloadIntervalMs: 1000,
  hardStopAfter: '30s',
  /** Off: measured to reset keep-alive connections during reloads on 2.6 (docs/decisions/0003-reload-safety.md). */
  closeSpreadTime: undefined,
} as const;

export function globalSettings(
  stateDir: string,
  o: Pick<ControllerOptions, 'hardStopAfter' | 'closeSpreadTime' | 'maxconn' | 'statsListener'>,
): GlobalSettings {
  return {
    adminSocket: join(stateDir, 'admin.sock'),
    serverStateFile: join(stateDir, 'server-state'),
    hardStopAfter: o.hardStopAfter ?? DEFAULTS.hardStopAfter,
    closeSpreadTime: o.closeSpreadTime ?? DEFAULTS.closeSpreadTime,
    maxconn: o.maxconn,
    statsListener: o.statsListener,
    stateDir,
    // Host/path rules through map files: their changes apply at run time (render/routing-maps.ts).
    routingMaps: true,
  };
}

/** Why the REST API options cannot start, or undefined; the CLI reports it as a usage error. */
export function restOptionsProblem(o: Pick<ControllerOptions, 'apiAuthReads' | 'apiTokenFile'>): string | undefined {
  if (o.apiAuthReads && !o.apiTokenFile) {
    return '--api-auth-reads needs the token that reads must carry, but no --api-token-file was given; pass --api-token-file FILE (the token on its first line), or drop --api-auth-reads to leave reads open';
  }
  return undefined;
}

async function createSource(spec: string, store: Store, o: ControllerOptions, reconciler: Reconciler, observe: Observability): Promise<Source> {
  if (spec === 'kubernetes') {
    const { KubernetesIntegration } = await import('./sources/kubernetes/index.js');
    const onWatchRestart = o.kubernetes?.onWatchRestart;
    return new KubernetesIntegration({
      identity: 'node-haproxy',
      ...o.kubernetes,
      store,
      reconciler,
      logger: o.logger,
      allowRawConfig: o.allowRawConfig,
      rawConfigKeywords: o.rawConfigKeywords,
      onWatchRestart: (r) => {
        observe.metrics.watchRestarted('kubernetes', r.reason);
        onWatchRestart?.(r);
      },
    });
  }
  if (spec.startsWith('etcd://')) {
    const { EtcdSource } = await import('./sources/etcd/etcd-source.js');
    const etcd: EtcdSource = new EtcdSource({
      spec,
      store,
      logger: o.logger.child({ source: 'etcd' }),
      allowRawConfig: o.allowRawConfig,
      rawConfigKeywords: o.rawConfigKeywords,
      resyncIntervalMs: o.etcdResyncIntervalMs,
      retryMaxMs: o.etcdRetryMaxMs,
      onWatchRestart: (reason) => observe.metrics.watchRestarted(etcd.name, reason),
    });
    return etcd;
  }
  return new FileSource({
    dir: resolvePath(spec),
    store,
    logger: o.logger.child({ source: 'files' }),
    name: `files:${resolvePath(spec)}`,
    rescanIntervalMs: o.fileRescanIntervalMs,
    debounceMs: o.fileDebounceMs,
    allowRawConfig: o.allowRawConfig,
    rawConfigKeywords: o.rawConfigKeywords,
  });
}

export async function startController(o: ControllerOptions): Promise<Controller> {
  if (o.sources.length === 0) throw new Error('no source given; pass --source DIR or --source kubernetes');
  const restProblem = restOptionsProblem(o);
  if (restProblem) throw new Error(restProblem);
  const stateDir = resolvePath(o.stateDir);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  // One controller per state directory (haproxy/state-lock.ts, docs/decisions/0013-state-dir-lock.md).
  const lock = await lockStateDir(stateDir, {
    onStaleTakeover: (stale) =>
      o.logger.warn('took over the state directory lock of a controller that is gone', {
        stateDir,
        lock: join(stateDir, LOCK_FILE),
        previous: stale ? { pid: stale.pid, host: stale.host, since: stale.since } : 'unreadable',
        why: !stale ? 'the lock file does not parse' : isProcessAlive(stale.pid) ? 'its pid now runs another process' : 'its process exited',
      }),
  });
  try {
    return await startLocked(o, stateDir, lock);
  } catch (err) {
    await lock.release();
    throw err;
  }
}

async function startLocked(o: ControllerOptions, stateDir: string, lock: StateDirLock): Promise<Controller> {
  const global = globalSettings(stateDir, o);
  // An empty (version 1) state file, so the first start does not warn that it is missing.
  await writeFile(global.serverStateFile, '1\n', { flag: 'wx' }).catch(() => undefined);
  const store = new Store();
  // The REST API: its token is read now, so a bad token file stops the start.
  const wantsRest = o.sources.includes('rest');
  const auth = new TokenFileAuthenticator(o.apiTokenFile, o.logger.child({ component: 'rest-api' }));
  if (wantsRest) {
    if (!o.httpAddress) throw new Error('--source rest serves its API on the HTTP server; also pass --http-address HOST:PORT');
    await auth.load();
  }
  const haproxyBin = o.haproxyBin ?? DEFAULTS.haproxyBin;
  // Which HAProxy runs decides the exporter's families and some answers the
  // controller expects; older than 2.6 is refused here, before anything starts.
  const haproxyVersion = await detectHaproxyVersion(haproxyBin);
  o.logger.info('HAProxy version', { version: haproxyVersion.text, haproxyBin });
  const supervisor = new HaproxySupervisor({ haproxyBin, stateDir, logger: o.logger.child({ component: 'haproxy' }), sharePorts: o.sharePorts });
  const runtime = new RuntimeApi({ socketPath: global.adminSocket });
  const observe = new Observability({ ...o.observe, runtime, haproxyVersion, logger: o.logger.child({ component: 'observe' }) });
  const render = loadRenderer();
  const reconciler = new Reconciler({
    store,
    haproxy: supervisor,
    runtime: observe.instrumentRuntime(
      new ServerUpdater({ api: runtime, serverStateFile: global.serverStateFile, logger: o.logger.child({ component: 'reconcile' }) }),
    ),
    // Certificates, CA bundles and crt-list lines through the runtime API: a rotated Secret serves without a reload.
    certificates: new CertUpdater(new SslRuntime({ socketPath: global.adminSocket })),
    maps: new MapUpdater(runtime),
    render,
    global,
    logger: o.logger.child({ component: 'reconcile' }),
    debounceMs: o.debounceMs ?? DEFAULTS.debounceMs,
    minReloadIntervalMs: o.minReloadIntervalMs ?? DEFAULTS.minReloadIntervalMs,
    ...(o.retryInitialMs !== undefined ? { retryInitialMs: o.retryInitialMs } : {}),
    ...(o.retryMaxMs !== undefined ? { retryMaxMs: o.retryMaxMs } : {}),
    runtimeUpdates: o.runtimeUpdates ?? true,
    // HAProxy 2.6 refuses `cookie` on `add server` (session affinity): such members are added by a reload there.
    dynamicServerCookies: versionAtLeast(haproxyVersion, 3, 0),
    persistence: fileStatePersistence(stateDir),
  });
  const specs = o.sources.filter((s) => s !== 'rest');
  const sources: Source[] = [];
  for (const spec of specs) sources.push(await createSource(spec, store, o, reconciler, observe));
  const isEtcd = (s: Source): s is EtcdSource => specs[sources.indexOf(s)]?.startsWith('etcd://') ?? false;
  const isKubernetes = (s: Source): s is KubernetesIntegration => specs[sources.indexOf(s)] === 'kubernetes';
  // What the REST API is told goes to the first etcd source when there is one, else to the state directory.
  let restWriter: ResourceWriter | undefined;
  if (wantsRest) {
    restWriter = sources.find(isEtcd);
    if (!restWriter) {
      const rest = new RestSource({
        stateDir,
        store,
        logger: o.logger.child({ source: 'rest' }),
        allowRawConfig: o.allowRawConfig,
        rawConfigKeywords: o.rawConfigKeywords,
        maxStoredBytes: o.apiMaxStoredBytes,
      });
      sources.push(rest);
      restWriter = rest;
    }
  }
  // HAProxy started by this run (not adopted): stopped again when the controller stops before applying its configuration in full.
  let startedHere = false;
  reconciler.on('started', (e) => {
    if (!e.adopted) startedHere = true;
  });
  /** Whether stopping now must stop HAProxy too; logs why when it does. */
  const stopsHaproxy = (explicit: boolean | undefined, why: string): boolean => {
    if (explicit !== undefined) return explicit;
    if (!startedHere || reconciler.appliedInFull || supervisor.masterPid === undefined) return false;
    o.logger.warn(`stopping the HAProxy this controller started: ${why}, and its configuration was never applied in full`, {
      masterPid: supervisor.masterPid,
      last: reconciler.last?.kind,
      hint: 'a controller started again starts HAProxy again; --stop-haproxy-on-exit always stops it',
    });
    return true;
  };
  reconciler.on('pass', (r) => {
    if (r.kind === 'reload') o.logger.info('HAProxy reloaded', { reasons: r.reasons, ms: Math.round(r.durationMs) });
  });
  const watching = sources.filter((s) => isKubernetes(s) || isEtcd(s));
  observe.attach({ store, reconciler, supervisor, sources: watching.map((s) => s.name) });
  await reconciler.start();
  let http: HttpServer | undefined;
  let httpAddress: AddressInfo | undefined;
  let apiHttp: HttpServer | undefined;
  let apiAddress: AddressInfo | undefined;
  const started: Source[] = [];
  try {
    // Listen first: /healthz, /readyz and /metrics answer during a long first
    // sync (a Kubernetes liveness probe must not kill a pod that is syncing).
    let restReady = false;
    if (o.apiAddress && !o.httpAddress)
      throw new Error('--api-address splits the HTTP server in two; also pass --http-address HOST:PORT for /metrics, /healthz and /readyz');
    if (o.httpAddress) {
      http = new HttpServer({ ...o.httpAddress, logger: o.logger.child({ component: 'http' }) });
      if (o.apiAddress) apiHttp = new HttpServer({ ...o.apiAddress, logger: o.logger.child({ component: 'http-api' }) });
      // With --api-auth-reads the stream shows what reads show, so it needs the token too.
      observe.mount(http, { stream: apiHttp ?? http, authorizeStream: o.apiAuthReads ? (req) => auth.check(req) : undefined });
      // What runs, for `node-haproxy plan --from`: a read like the REST API's, behind the token with --api-auth-reads.
      (apiHttp ?? http).use(async (req, res, url) => {
        if (url.pathname !== RUNNING_STATE_PATH) return false;
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          sendJson(res, 405, { error: 'MethodNotAllowed', message: `${RUNNING_STATE_PATH} is read with GET` }, { allow: 'GET, HEAD' });
          return true;
        }
        if (o.apiAuthReads) {
          try {
            await auth.check(req);
          } catch (err) {
            const e = err as { status?: number; message: string; headers?: Record<string, string> };
            sendJson(res, e.status ?? 403, { error: e.status === 401 ? 'Unauthorized' : 'Forbidden', message: e.message }, e.headers ?? {});
            return true;
          }
        }
        const state = reconciler.runningState();
        if (!state) sendJson(res, 503, { error: 'NotReady', message: 'no configuration has been applied yet' }, { 'retry-after': '1' });
        // The certificate files by digest only (they hold private keys): plan --from tells a rotated Secret from an unchanged one.
        else sendJson(res, 200, { ...state, auxFiles: certFileDigests(reconciler.runningRendered()?.files) });
        return true;
      });
      if (restWriter) {
        (apiHttp ?? http).use((_req, res) => {
          if (restReady) return false;
          sendJson(
            res,
            503,
            { statusCode: 503, error: 'Starting', message: 'the REST API is loading its resources; retry in a moment' },
            { 'retry-after': '1' },
          );
          return true;
        });
      }
      httpAddress = await http.listen();
      if (apiHttp) apiAddress = await apiHttp.listen();
    }

    for (const s of sources) {
      await s.start();
      started.push(s);
    }

    if (http && restWriter) {
      const apiServer = apiHttp ?? http;
      const api = new RestApi({
        store,
        writer: restWriter,
        reconciler,
        liveMembers: async (proxy) =>
          new Map(
            (await runtime.showServersState(proxy)).map((st) => [
              st.server,
              { admin: st.admin, operational: st.opState, weight: st.weight, address: st.addr, port: st.port },
            ]),
          ),
        auth,
        authReads: o.apiAuthReads,
        logger: o.logger.child({ component: 'rest-api' }),
        allowRawConfig: o.allowRawConfig,
        rawConfigKeywords: o.rawConfigKeywords,
        maxBodyBytes: o.apiMaxBodyBytes,
        aqueductNamespace: o.aqueductNamespace,
        reloadCount: () => supervisor.reloadCount(),
        // A dry run: the store as it would be with the change, rendered and planned against what runs.
        planCandidate: ({ key, resource }) => {
          const snap = store.snapshot();
          const source = restWriter!.source;
          const declared = snap.declared.filter((d) => !(d.key === key && d.source === source));
          if (resource) declared.push({ key, origin: 'rest', source, resource, issues: [] });
          const lastAccepted = reconciler.last?.resolution?.accepted ?? new Map();
          const desired = computeDesired({ declared, discovered: snap.discovered }, lastAccepted, global, render, undefined, {
            lastGood: reconciler.secretsInUse,
          });
          const running = reconciler.runningRendered();
          const verdict: Plan = running
            ? planConfig(desired, running, {
                runtimeUpdates: o.runtimeUpdates ?? true,
                maxReasons: 1000,
                ...(o.runtimeUpdates === false ? {} : { certificates: { stateDir } }),
              })
            : { kind: 'reload', reasons: ['HAProxy does not run a configuration from this controller yet'] };
          const outcome = desired.resolution.outcomes.get(key);
          return explainPlan({
            plan: verdict,
            desired: desired.model,
            running: running?.model ?? { global, frontends: [], backends: [] },
            problems: outcome && !outcome.accepted ? outcome.issues : [],
            frontends: desired.resolution.frontends.filter((f) => `Frontend/${f.metadata.namespace}/${f.metadata.name}` === key),
          });
        },
        // haproxy -c of the whole configuration with the candidate in it, before raw lines are accepted.
        checkCandidate: async (candidate) => {
          const snap = store.snapshot();
          const declared = [...snap.declared.filter((d) => !(d.key === candidate.key && d.source === candidate.source)), candidate];
          const lastAccepted = reconciler.last?.resolution?.accepted ?? new Map();
          const desired = computeDesired({ declared, discovered: snap.discovered }, lastAccepted, global, render, undefined, {
            lastGood: reconciler.secretsInUse,
          });
          return supervisor.check(desired.text);
        },
      });
      apiServer.use(api.handler());
      restReady = true;
    }
  } catch (err) {
    // A source that cannot start (a damaged file) or a port in use: undo what started, then report.
    for (const s of started) await s.stop().catch(() => undefined);
    await http?.close().catch(() => undefined);
    await apiHttp?.close().catch(() => undefined);
    await reconciler.stop();
    await observe.stop();
    // Not left behind serving nothing (or half of it) with no controller: a fresh start owns what it started.
    await supervisor
      .stop({ stopHaproxy: stopsHaproxy(o.stopHaproxyOnExit, `the controller could not start (${(err as Error).message})`) })
      .catch((e: unknown) => o.logger.error('could not stop HAProxy', { err: e }));
    throw err;
  }

  return {
    store,
    reconciler,
    supervisor,
    runtime,
    haproxyVersion,
    stateDir,
    kubernetes: sources.find(isKubernetes),
    http,
    httpAddress,
    api: apiHttp,
    apiAddress,
    observe,
    async stop(opts) {
      await observe.stop(); // WebSocket clients first: the HTTP server waits for upgraded sockets
      await http?.close();
      await apiHttp?.close();
      for (const s of sources) await s.stop();
      await reconciler.stop();
      try {
        await supervisor.stop({ stopHaproxy: stopsHaproxy(opts?.stopHaproxy ?? o.stopHaproxyOnExit, 'the controller stops') });
      } finally {
        await lock.release();
      }
    },
  };
}
