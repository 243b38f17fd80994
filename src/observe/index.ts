/** Observation: Prometheus metrics (controller and HAProxy), health endpoints, live stats stream. */
export { Observability, type ObserveOptions, type Observed, type ObservabilityOptions } from './observability.js';
export {
  ControllerMetrics,
  PASS_KINDS,
  RELOAD_RESULTS,
  RUNTIME_RESULTS,
  RUNTIME_OPS,
  RESOURCE_KINDS,
  RESOURCE_CONDITIONS,
  WATCH_RESTART_REASONS,
  STREAM_DROP_REASONS,
  type ControllerMetricsOptions,
  type WatchRestartRecorder,
  type WatchRestartReason,
  type ReloadResult,
  type StreamDropReason,
} from './controller-metrics.js';
export { HaproxyExporter, familyFilter, type HaproxyMetricsOptions, type ScrapeRequest, type StatsInput } from './haproxy-exporter.js';
export { StatsReader, type StatsReaderOptions, type StatsCommands, type HaproxyStats, type StatsReadOutcome } from './stats-reader.js';
export { StatTable, StatTableBuilder, RowType } from './stat-table.js';
export { parseExposition, familyOf, type Exposition } from './exposition.js';
export { ChunkWriter, collectingWriter, type ChunkOutput, type ChunkWriterOptions } from './chunk-writer.js';
export { LiveStream, parseSubscription, type LiveStreamOptions, type LiveStreamSettings } from './live-stream.js';
export { evaluateReadiness, healthHandler, type Readiness, type ReadinessInputs } from './health.js';
export { metricsHandler, parseScopes, type MetricsEndpointOptions } from './metrics-endpoint.js';
export { ApplyState } from './apply-state.js';
export { STAT_METRICS, INFO_METRICS, allHaproxyMetricNames, type StatMetric, type InfoMetric } from './promex-metrics.js';
