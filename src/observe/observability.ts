/**
 * Wires observation into a controller: controller metrics fed by the
 * reconciler and supervisor, HAProxy metrics read from the stats socket,
 * health endpoints and the live stream, all mounted on the one HTTP server.
 */
import type { IncomingMessage } from 'node:http';
import type { HttpServer } from '../http/server.js';
import type { Logger } from '../log.js';
import type { PassResult, RuntimeExecutor } from '../reconcile/reconciler.js';
import { ApplyState } from './apply-state.js';
import { ControllerMetrics } from './controller-metrics.js';
import { HaproxyExporter, type ExporterVersion, type HaproxyMetricsOptions } from './haproxy-exporter.js';
import { evaluateReadiness, healthHandler, type Readiness, type ReadinessInputs } from './health.js';
import { LiveStream, type LiveStreamSettings } from './live-stream.js';
import { metricsHandler } from './metrics-endpoint.js';
import { StatsReader, type StatsCommands } from './stats-reader.js';

export interface ObserveOptions {
  /** Which haproxy_* families /metrics exports (cardinality controls). */
  haproxyMetrics?: HaproxyMetricsOptions;
  /** Reuse one stats socket read for this long (default 1000 ms): concurrent scrapes cost one read. */
  statsCacheMs?: number;
  /** The live stats stream over WebSocket. */
  stream?: LiveStreamSettings;
  /** prom-client's default process metrics (default true). */
  defaultMetrics?: boolean;
}

/** What observation reads from the running controller. */
export interface Observed {
  /** `sourceIssuesBySource` feeds node_haproxy_source_issues (reconcile/store.ts). */
  store: ReadinessInputs['store'] & { sourceIssuesBySource?(): ReadonlyMap<string, readonly unknown[]> };
  reconciler: ReadinessInputs['reconciler'] & {
    on(event: 'pass', listener: (p: PassResult) => void): unknown;
    off(event: 'pass', listener: (p: PassResult) => void): unknown;
  };
  supervisor: ReadinessInputs['supervisor'] & {
    on(event: 'reloaded' | 'restarted', listener: () => void): unknown;
    on(event: 'reload-failed', listener: (e: { reason: 'check' | 'reload' }) => void): unknown;
    off(event: 'reloaded' | 'restarted', listener: () => void): unknown;
    off(event: 'reload-failed', listener: (e: { reason: 'check' | 'reload' }) => void): unknown;
  };
  /** Names of the controller's sources (watch-restart counters start at 0 for each). */
  sources?: readonly string[];
}

export interface ObservabilityOptions extends ObserveOptions {
  runtime: StatsCommands;
  /** The running HAProxy's version: /metrics follows the families of its built-in exporter (default 2.6's). */
  haproxyVersion?: ExporterVersion;
  logger: Logger;
}

export class Observability {
  readonly metrics: ControllerMetrics;
  readonly stats: StatsReader;
  readonly exporter: HaproxyExporter;
  readonly apply = new ApplyState();
  private observed: Observed | undefined;
  private liveStream: LiveStream | undefined;
  private readonly detach: (() => void)[] = [];

  /** Throws when the cardinality options name no known metric. */
  constructor(private readonly o: ObservabilityOptions) {
    this.exporter = new HaproxyExporter(o.haproxyMetrics, o.haproxyVersion);
    this.metrics = new ControllerMetrics({ defaultMetrics: o.defaultMetrics });
    this.stats = new StatsReader({
      runtime: o.runtime,
      cacheMs: o.statsCacheMs,
      prerenderer: () => this.exporter.prerenderer(),
      readResolvers: () => this.exporter.wantsResolvers,
      onRead: (r) => {
        this.metrics.statsReadDuration.observe(r.durationMs / 1000);
        this.metrics.statsUp.set(r.ok ? 1 : 0);
        if (!r.ok) this.metrics.statsReadErrors.inc();
      },
    });
  }

  /** The live stream, once mounted. */
  get stream(): LiveStream | undefined {
    return this.liveStream;
  }

  /** Counts runtime API updates made through `executor`. */
  instrumentRuntime(executor: RuntimeExecutor): RuntimeExecutor {
    return this.metrics.countRuntimeUpdates(executor);
  }

  /** Starts following the controller's events. Call before the reconciler starts. */
  attach(observed: Observed): void {
    this.observed = observed;
    const m = this.metrics;
    for (const s of observed.sources ?? []) m.registerSource(s);
    const store = observed.store;
    if (store.sourceIssuesBySource) {
      const bySource = store.sourceIssuesBySource.bind(store);
      m.watchSourceIssues(() => new Map([...bySource()].map(([s, issues]) => [s, issues.length])));
    }
    const onPass = (p: PassResult): void => {
      this.apply.observe(p);
      m.observePass(p, this.apply.lastOk, this.apply.lastSuccessAt);
    };
    observed.reconciler.on('pass', onPass);
    this.detach.push(() => observed.reconciler.off('pass', onPass));
    const sup = observed.supervisor;
    const onReloaded = (): void => m.reloaded('success');
    const onFailed = (e: { reason: 'check' | 'reload' }): void => m.reloaded(e.reason === 'check' ? 'rejected' : 'failed');
    const onRestarted = (): void => void m.haproxyRestarts.inc();
    sup.on('reloaded', onReloaded);
    sup.on('reload-failed', onFailed);
    sup.on('restarted', onRestarted);
    this.detach.push(() => {
      sup.off('reloaded', onReloaded);
      sup.off('reload-failed', onFailed);
      sup.off('restarted', onRestarted);
    });
  }

  readiness(): Readiness {
    const r = evaluateReadiness(this.inputs());
    this.metrics.ready.set(r.ready ? 1 : 0);
    return r;
  }

  private inputs(): ReadinessInputs {
    const o = this.observed;
    if (!o) throw new Error('Observability.attach() must be called before readiness is asked');
    return { store: o.store, reconciler: o.reconciler, supervisor: o.supervisor, apply: this.apply };
  }

  /**
   * Mounts /healthz, /readyz and /metrics on `http`, and the live stream on
   * `o.stream` (default `http`), behind `o.authorizeStream` when given.
   */
  mount(http: HttpServer, o: { stream?: HttpServer; authorizeStream?: (req: IncomingMessage) => Promise<void> } = {}): void {
    const m = this.metrics;
    http.use(
      healthHandler(
        () => this.inputs(),
        (r) => m.ready.set(r.ready ? 1 : 0),
      ),
    );
    const stream = new LiveStream({
      ...this.o.stream,
      stats: this.stats,
      logger: this.o.logger.child({ component: 'stream' }),
      onClients: (n) => m.streamClients.set(n),
      onDrop: (reason) => m.streamDropped.inc({ reason }),
      authorize: o.authorizeStream,
    });
    this.liveStream = stream;
    http.use(
      metricsHandler({
        metrics: m,
        exporter: this.exporter,
        stats: this.stats,
        logger: this.o.logger,
        beforeCollect: () => {
          if (this.observed) {
            m.haproxyUp.set(this.observed.supervisor.isRunning() ? 1 : 0);
            this.readiness();
          }
        },
      }),
    );
    const streamHttp = o.stream ?? http;
    streamHttp.use(stream.attach(streamHttp.server));
  }

  /** Disconnects stream clients and stops following events (before the HTTP server closes). */
  async stop(): Promise<void> {
    for (const d of this.detach.splice(0)) d();
    await this.liveStream?.stop();
  }
}
