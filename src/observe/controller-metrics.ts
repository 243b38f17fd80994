/**
 * The controller's own metrics (prefix node_haproxy_) in a prom-client
 * registry owned by one controller (never prom-client's global registry),
 * plus prom-client's default process metrics. Every labelled counter is
 * created at 0 for each of its known label values, so rate() and alerts work
 * before the first event.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CertificateResult, PassKind, PassResult, RuntimeExecutor } from '../reconcile/reconciler.js';
import type { ServerOp } from '../reconcile/plan.js';

export const PASS_KINDS: readonly PassKind[] = ['start', 'noop', 'runtime', 'reload', 'deferred', 'failed', 'waiting'];
/** success; rejected: `haproxy -c` refused the configuration; failed: the master could not load it. */
export const RELOAD_RESULTS = ['success', 'rejected', 'failed'] as const;
export const RUNTIME_RESULTS = ['success', 'failure'] as const;
export const RUNTIME_OPS: readonly ServerOp['op'][] = ['add', 'del', 'addr', 'weight', 'state'];
/** runtime: applied without a reload; reload: by a reload; failed: HAProxy refused the runtime update (one reload followed) or the reload failed. */
export const CERTIFICATE_ROTATION_RESULTS: readonly CertificateResult[] = ['runtime', 'reload', 'failed'];
export const RESOURCE_KINDS = ['Frontend', 'Backend'] as const;
/**
 * accepted: the current version serves; rejected_serving_previous: the current
 * version is invalid and the last accepted one keeps serving; rejected: invalid,
 * nothing serves.
 */
export const RESOURCE_CONDITIONS = ['accepted', 'rejected', 'rejected_serving_previous'] as const;
/**
 * Why a source restarted its watch: expired (resourceVersion too old / 410
 * Gone / compacted: relisted), error, stalled (no event or bookmark in time),
 * closed (the server ended the stream), resync (periodic relist).
 */
export const WATCH_RESTART_REASONS = ['expired', 'error', 'stalled', 'closed', 'resync'] as const;
export const STREAM_DROP_REASONS = ['slow', 'unresponsive', 'flood'] as const;

export type ReloadResult = (typeof RELOAD_RESULTS)[number];
export type WatchRestartReason = (typeof WATCH_RESTART_REASONS)[number];
export type StreamDropReason = (typeof STREAM_DROP_REASONS)[number];

/** What watching sources (Kubernetes, etcd) report; the controller hands them ControllerMetrics. */
export interface WatchRestartRecorder {
  /** Declares a source so its counters exist at 0 before its first restart. */
  registerSource(source: string): void;
  /** Counts one watch restart of `source`. */
  watchRestarted(source: string, reason: WatchRestartReason): void;
}

export interface ControllerMetricsOptions {
  /** prom-client's default process and Node.js metrics (default true). */
  defaultMetrics?: boolean;
}

const SECONDS = (ms: number): number => ms / 1000;
/** Passes after which HAProxy serves the pass's resolution. */
const APPLIED: ReadonlySet<PassKind> = new Set(['start', 'noop', 'runtime', 'reload']);

export class ControllerMetrics implements WatchRestartRecorder {
  readonly registry = new Registry();

  readonly reloads: Counter<'result'>;
  readonly runtimeUpdates: Counter<'result'>;
  readonly runtimeOperations: Counter<'op'>;
  readonly passes: Counter<'result'>;
  readonly reconcileDuration: Histogram<'result'>;
  readonly renderDuration: Histogram;
  readonly changes: Counter;
  readonly changesCoalesced: Counter;
  readonly resources: Gauge<'kind' | 'condition'>;
  readonly watchRestarts: Counter<'source' | 'reason'>;
  readonly unableToApply: Gauge;
  readonly lastSuccessfulApply: Gauge;
  readonly haproxyUp: Gauge;
  readonly haproxyRestarts: Counter;
  readonly ready: Gauge;
  readonly statsUp: Gauge;
  readonly statsReadDuration: Histogram;
  readonly statsReadErrors: Counter;
  readonly streamClients: Gauge;
  readonly streamDropped: Counter<'reason'>;
  readonly certificateExpiry: Gauge<'namespace' | 'name'>;
  readonly certificateRotations: Counter<'result'>;
  readonly pendingServerDeletions: Gauge;
  readonly sourceIssues: Gauge<'source'>;
  /** Reads each source's problem count at scrape time (watchSourceIssues). */
  private sourceIssueCounts: (() => ReadonlyMap<string, number>) | undefined;

  constructor(options: ControllerMetricsOptions = {}) {
    const registers = [this.registry];
    this.reloads = new Counter({
      name: 'node_haproxy_reloads_total',
      help: 'HAProxy reloads by result: success, rejected (haproxy -c refused the configuration), failed (the master could not load it).',
      labelNames: ['result'],
      registers,
    });
    this.runtimeUpdates = new Counter({
      name: 'node_haproxy_runtime_updates_total',
      help: 'Changes applied through the runtime API without a reload, by result (a failure falls back to a reload).',
      labelNames: ['result'],
      registers,
    });
    this.runtimeOperations = new Counter({
      name: 'node_haproxy_runtime_operations_total',
      help: 'Server operations in successful runtime API updates, by operation (add, del, addr, weight, state).',
      labelNames: ['op'],
      registers,
    });
    this.passes = new Counter({
      name: 'node_haproxy_reconcile_passes_total',
      help: 'Reconcile passes by result: start, noop, runtime, reload, deferred, failed, waiting.',
      labelNames: ['result'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'node_haproxy_reconcile_duration_seconds',
      help: 'Duration of reconcile passes (render, plan and apply), by result.',
      labelNames: ['result'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.renderDuration = new Histogram({
      name: 'node_haproxy_render_duration_seconds',
      help: 'Time to compute and render the desired HAProxy configuration in a reconcile pass.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.changes = new Counter({
      name: 'node_haproxy_changes_total',
      help: 'Store changes (from any source) taken up by reconcile passes.',
      registers,
    });
    this.changesCoalesced = new Counter({
      name: 'node_haproxy_changes_coalesced_total',
      help: 'Store changes that did not need a pass of their own: folded into a pass with other changes.',
      registers,
    });
    this.resources = new Gauge({
      name: 'node_haproxy_resources',
      help: 'Resources in the store by kind and condition: accepted, rejected, rejected_serving_previous (invalid, the last accepted version serves).',
      labelNames: ['kind', 'condition'],
      registers,
    });
    this.watchRestarts = new Counter({
      name: 'node_haproxy_watch_restarts_total',
      help: 'Watch restarts of a source, by source and reason: expired (relisted), error, stalled, closed, resync (periodic relist).',
      labelNames: ['source', 'reason'],
      registers,
    });
    this.unableToApply = new Gauge({
      name: 'node_haproxy_unable_to_apply',
      help: '1 while the desired configuration cannot be applied (HAProxy rejected it; the previous one keeps serving), else 0.',
      registers,
    });
    this.lastSuccessfulApply = new Gauge({
      name: 'node_haproxy_last_successful_apply_timestamp_seconds',
      help: 'Unix time of the last reconcile pass that left HAProxy running the desired configuration (0: none yet).',
      registers,
    });
    this.haproxyUp = new Gauge({
      name: 'node_haproxy_haproxy_up',
      help: '1 while the supervised HAProxy master process runs, else 0.',
      registers,
    });
    this.haproxyRestarts = new Counter({
      name: 'node_haproxy_haproxy_restarts_total',
      help: 'Times the supervisor restarted HAProxy after its master died.',
      registers,
    });
    this.ready = new Gauge({
      name: 'node_haproxy_ready',
      help: '1 when /readyz answers ready (sources synced, HAProxy running the desired configuration), else 0.',
      registers,
    });
    this.statsUp = new Gauge({
      name: 'node_haproxy_stats_up',
      help: '1 when the last read of HAProxy stats from the stats socket succeeded (haproxy_* metrics are present), else 0.',
      registers,
    });
    this.statsReadDuration = new Histogram({
      name: 'node_haproxy_stats_read_duration_seconds',
      help: 'Time to read show info, show stat and show servers state from the stats socket.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.statsReadErrors = new Counter({
      name: 'node_haproxy_stats_read_errors_total',
      help: 'Failed reads of HAProxy stats from the stats socket.',
      registers,
    });
    this.streamClients = new Gauge({
      name: 'node_haproxy_stream_clients',
      help: 'WebSocket clients connected to the live stats stream.',
      registers,
    });
    this.streamDropped = new Counter({
      name: 'node_haproxy_stream_clients_dropped_total',
      help: 'Live stream clients disconnected by the controller: slow (too much unsent data), unresponsive (no pong), flood (sent messages faster than allowed).',
      labelNames: ['reason'],
      registers,
    });

    for (const result of RELOAD_RESULTS) this.reloads.inc({ result }, 0);
    for (const result of RUNTIME_RESULTS) this.runtimeUpdates.inc({ result }, 0);
    for (const op of RUNTIME_OPS) this.runtimeOperations.inc({ op }, 0);
    for (const result of PASS_KINDS) {
      this.passes.inc({ result }, 0);
      this.reconcileDuration.zero({ result });
    }
    for (const kind of RESOURCE_KINDS) for (const condition of RESOURCE_CONDITIONS) this.resources.set({ kind, condition }, 0);
    for (const reason of STREAM_DROP_REASONS) this.streamDropped.inc({ reason }, 0);
    this.unableToApply.set(0);
    this.lastSuccessfulApply.set(0);
    this.statsUp.set(0);
    this.ready.set(0);
    this.haproxyUp.set(0);
    this.streamClients.set(0);

    this.certificateExpiry = new Gauge({
      name: 'node_haproxy_certificate_expiry_timestamp_seconds',
      help: 'When each certificate HAProxy serves expires (notAfter, Unix seconds), by Secret namespace and name.',
      labelNames: ['namespace', 'name'],
      registers,
    });

    this.certificateRotations = new Counter({
      name: 'node_haproxy_certificate_rotations_total',
      help: 'Reconcile passes that changed certificates, CA bundles or crt-lists, by how they were applied: runtime (no reload), reload, failed (HAProxy refused the runtime update and one reload followed, or the reload failed).',
      labelNames: ['result'],
      registers,
    });
    for (const result of CERTIFICATE_ROTATION_RESULTS) this.certificateRotations.inc({ result }, 0);

    this.pendingServerDeletions = new Gauge({
      name: 'node_haproxy_pending_server_deletions',
      help: 'Removed servers kept in maint (no new request) until their connections end, then deleted; a WebSocket or long stream keeps one here as long as it lasts.',
      registers,
    });
    this.pendingServerDeletions.set(0);
    const metrics = this;
    this.sourceIssues = new Gauge({
      name: 'node_haproxy_source_issues',
      help: 'Problems of a source that belong to no single resource, by source: a file that does not parse, was emptied or cannot be read, a bad Secret document, an etcd key holding no manifest (GET /api/v1/status lists them).',
      labelNames: ['source'],
      registers,
      collect() {
        const counts = metrics.sourceIssueCounts?.();
        if (!counts) return;
        this.reset();
        for (const [source, n] of counts) this.set({ source }, n);
      },
    });

    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Where `node_haproxy_source_issues` reads from: each source's problem count (every source listed, 0 without problems). */
  watchSourceIssues(counts: () => ReadonlyMap<string, number>): void {
    this.sourceIssueCounts = counts;
  }

  registerSource(source: string): void {
    for (const reason of WATCH_RESTART_REASONS) this.watchRestarts.inc({ source, reason }, 0);
  }

  watchRestarted(source: string, reason: WatchRestartReason): void {
    this.watchRestarts.inc({ source, reason: (WATCH_RESTART_REASONS as readonly string[]).includes(reason) ? reason : 'error' });
  }

  /** Folds in one reconcile pass. */
  observePass(p: PassResult, applyOk: boolean | undefined, lastSuccessAt: number | undefined): void {
    this.passes.inc({ result: p.kind });
    if (p.certificates) this.certificateRotations.inc({ result: p.certificates });
    this.reconcileDuration.observe({ result: p.kind }, SECONDS(p.durationMs));
    if (p.kind !== 'waiting') this.renderDuration.observe(SECONDS(p.renderMs));
    this.changes.inc(p.coalesced);
    if (p.coalesced > 1) this.changesCoalesced.inc(p.coalesced - 1);
    this.unableToApply.set(applyOk === false ? 1 : 0);
    if (lastSuccessAt !== undefined) this.lastSuccessfulApply.set(Math.floor(lastSuccessAt / 1000));
    if (p.resolution) {
      const counts = new Map<string, number>();
      for (const [key, o] of p.resolution.outcomes) {
        const kind = key.slice(0, key.indexOf('/'));
        const condition = o.accepted ? 'accepted' : o.serving ? 'rejected_serving_previous' : 'rejected';
        counts.set(`${kind}\0${condition}`, (counts.get(`${kind}\0${condition}`) ?? 0) + 1);
      }
      for (const kind of RESOURCE_KINDS) {
        for (const condition of RESOURCE_CONDITIONS) this.resources.set({ kind, condition }, counts.get(`${kind}\0${condition}`) ?? 0);
      }
      // What serves after a pass that applied (a refused configuration changed nothing).
      if (APPLIED.has(p.kind)) {
        this.certificateExpiry.reset();
        // Resolutions built by hand (tests, older callers) may lack secretsInUse.
        for (const c of (p.resolution.secretsInUse as typeof p.resolution.secretsInUse | undefined)?.certificates.values() ?? []) {
          const [namespace, name] = c.secret.split('/') as [string, string];
          this.certificateExpiry.set({ namespace, name }, Math.floor(c.notAfter.getTime() / 1000));
        }
      }
    }
  }

  reloaded(result: ReloadResult): void {
    this.reloads.inc({ result });
  }

  /** Wraps the runtime executor the reconciler uses, counting updates and operations. */
  countRuntimeUpdates(executor: RuntimeExecutor): RuntimeExecutor {
    return {
      execute: async (ops) => {
        try {
          await executor.execute(ops);
        } catch (err) {
          this.runtimeUpdates.inc({ result: 'failure' });
          throw err;
        }
        this.runtimeUpdates.inc({ result: 'success' });
        for (const op of ops) this.runtimeOperations.inc({ op: op.op });
      },
      saveServerState: executor.saveServerState?.bind(executor),
      converge: executor.converge?.bind(executor),
      finishDeletes: executor.finishDeletes
        ? async (options) => {
            const r = await executor.finishDeletes!(options);
            this.pendingServerDeletions.set(r?.remaining ?? 0);
            return r;
          }
        : undefined,
    };
  }

  /** The text format of everything in this registry. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
