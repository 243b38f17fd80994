/**
 * The metric families of HAProxy's built-in Prometheus exporter (promex), as
 * HAProxy 2.6 names, types and describes them, with the `show stat` column or
 * `show info` key each one is read from, and what HAProxy 3.0 changes
 * (promexTables()). Data only.
 *
 * Names, HELP texts, types and order were taken from the built-in exporters of
 * HAProxy 2.6.12 and 3.0.11 and are checked against the live one of the
 * HAProxy that runs by test/integration/observe-metrics.test.ts.
 */

export type Scope = 'frontend' | 'backend' | 'server';
export type MetricType = 'gauge' | 'counter';

/**
 * How a value is derived from its column:
 * - (none)        the column's text as is; an empty field is NaN
 * - ms            milliseconds in the column, seconds in the metric (6 decimals)
 * - status        one sample per state label, 1 for the current state
 * - check_status  one sample per health-check result label (servers with an enabled check only)
 * - check_code    the L5-7 code of the last check, 0 when none (servers with an enabled check only)
 * - duration      check duration in ms, seconds in the metric (only once a check ran)
 * - hrsp          one sample per `code` label (1xx..5xx, other) from the hrsp_* columns
 * - agg_server    backend: how many of its servers are in each server state
 * - agg_check     backend: how many of its checked servers are in each check result
 */
export type ValueKind = 'ms' | 'status' | 'check_status' | 'check_code' | 'duration' | 'hrsp' | 'agg_server' | 'agg_check';

export interface StatMetric {
  /** Name after `haproxy_<scope>_`. */
  name: string;
  /** `show stat` column. */
  column: string;
  type: MetricType;
  scopes: readonly Scope[];
  value?: ValueKind;
  /** Only for proxies in `mode http`. */
  httpOnly?: boolean;
  help: string;
}

export interface InfoMetric {
  /** Name after `haproxy_process_`. */
  name: string;
  /** `show info` key. */
  key: string;
  type: MetricType;
  /** build_info: value 1 with the version as a label. */
  value?: 'build_info';
  help: string;
}

/** Frontend, backend and server families, in HAProxy's order. */
export const STAT_METRICS: readonly StatMetric[] = [
  { name: 'current_queue', column: 'qcur', type: 'gauge', scopes: ['backend', 'server'], help: 'Number of current queued connections' },
  {
    name: 'max_queue',
    column: 'qmax',
    type: 'gauge',
    scopes: ['backend', 'server'],
    help: 'Highest value of queued connections encountered since process started',
  },
  {
    name: 'current_sessions',
    column: 'scur',
    type: 'gauge',
    scopes: ['frontend', 'backend', 'server'],
    help: 'Number of current sessions on the frontend, backend or server',
  },
  {
    name: 'max_sessions',
    column: 'smax',
    type: 'gauge',
    scopes: ['frontend', 'backend', 'server'],
    help: 'Highest value of current sessions encountered since process started',
  },
  {
    name: 'limit_sessions',
    column: 'slim',
    type: 'gauge',
    scopes: ['frontend', 'backend', 'server'],
    help: "Frontend/listener/server's maxconn, backend's fullconn",
  },
  {
    name: 'sessions_total',
    column: 'stot',
    type: 'counter',
    scopes: ['frontend', 'backend', 'server'],
    help: 'Total number of sessions since process started',
  },
  {
    name: 'bytes_in_total',
    column: 'bin',
    type: 'counter',
    scopes: ['frontend', 'backend', 'server'],
    help: 'Total number of request bytes since process started',
  },
  {
    name: 'bytes_out_total',
    column: 'bout',
    type: 'counter',
    scopes: ['frontend', 'backend', 'server'],
    help: 'Total number of response bytes since process started',
  },
  {
    name: 'requests_denied_total',
    column: 'dreq',
    type: 'counter',
    scopes: ['frontend', 'backend'],
    help: 'Total number of denied requests since process started',
  },
  {
    name: 'responses_denied_total',
    column: 'dresp',
    type: 'counter',
    scopes: ['frontend', 'backend', 'server'],
    help: 'Total number of denied responses since process started',
  },
  { name: 'request_errors_total', column: 'ereq', type: 'counter', scopes: ['frontend'], help: 'Total number of invalid requests since process started' },
  {
    name: 'connection_errors_total',
    column: 'econ',
    type: 'counter',
    scopes: ['backend', 'server'],
    help: 'Total number of failed connections to server since the worker process started',
  },
  {
    name: 'response_errors_total',
    column: 'eresp',
    type: 'counter',
    scopes: ['backend', 'server'],
    help: 'Total number of invalid responses since the worker process started',
  },
  {
    name: 'retry_warnings_total',
    column: 'wretr',
    type: 'counter',
    scopes: ['backend', 'server'],
    help: 'Total number of server connection retries since the worker process started',
  },
  {
    name: 'redispatch_warnings_total',
    column: 'wredis',
    type: 'counter',
    scopes: ['backend', 'server'],
    help: 'Total number of server redispatches due to connection failures since the worker process started',
  },
  {
    name: 'status',
    column: 'status',
    type: 'gauge',
    scopes: ['frontend', 'backend', 'server'],
    value: 'status',
    help: 'Current status of the service, per state label value.',
  },
  {
    name: 'weight',
    column: 'weight',
    type: 'gauge',
    scopes: ['backend', 'server'],
    help: "Server's effective weight, or sum of active servers' effective weights for a backend",
  },
  { name: 'active_servers', column: 'act', type: 'gauge', scopes: ['backend'], help: 'Total number of active UP servers with a non-zero weight' },
  { name: 'backup_servers', column: 'bck', type: 'gauge', scopes: ['backend'], help: 'Total number of backup UP servers with a non-zero weight' },
  {
    name: 'check_failures_total',
    column: 'chkfail',
    type: 'counter',
    scopes: ['server'],
    help: 'Total number of failed individual health checks per server/backend, since the worker process started',
  },
  {
    name: 'check_up_down_total',
    column: 'chkdown',
    type: 'counter',
    scopes: ['backend', 'server'],
    help: 'Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started',
  },
  {
    name: 'check_last_change_seconds',
    column: 'lastchg',
    type: 'gauge',
    scopes: ['backend', 'server'],
    help: 'How long ago the last server state changed, in seconds',
  },
  {
    name: 'downtime_seconds_total',
    column: 'downtime',
    type: 'counter',
    scopes: ['backend', 'server'],
    help: 'Total time spent in DOWN state, for server or backend',
  },
  {
    name: 'queue_limit',
    column: 'qlimit',
    type: 'gauge',
    scopes: ['server'],
    help: 'Limit on the number of connections in queue, for servers only (maxqueue argument)',
  },
  {
    name: 'current_throttle',
    column: 'throttle',
    type: 'gauge',
    scopes: ['server'],
    help: "Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)",
  },
  {
    name: 'loadbalanced_total',
    column: 'lbtot',
    type: 'counter',
    scopes: ['backend', 'server'],
    help: 'Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)',
  },
  {
    name: 'limit_session_rate',
    column: 'rate_lim',
    type: 'gauge',
    scopes: ['frontend'],
    help: "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)",
  },
  {
    name: 'max_session_rate',
    column: 'rate_max',
    type: 'gauge',
    scopes: ['frontend', 'backend', 'server'],
    help: 'Highest value of sessions per second observed since the worker process started',
  },
  {
    name: 'check_status',
    column: 'check_status',
    type: 'gauge',
    scopes: ['server'],
    value: 'check_status',
    help: 'Status of last health check, per state label value.',
  },
  {
    name: 'check_code',
    column: 'check_code',
    type: 'gauge',
    scopes: ['server'],
    value: 'check_code',
    help: 'layer5-7 code, if available of the last health check.',
  },
  {
    name: 'check_duration_seconds',
    column: 'check_duration',
    type: 'gauge',
    scopes: ['server'],
    value: 'duration',
    help: 'Total duration of the latest server health check, in seconds.',
  },
  {
    name: 'http_responses_total',
    column: 'hrsp_1xx',
    type: 'counter',
    scopes: ['frontend', 'backend', 'server'],
    value: 'hrsp',
    httpOnly: true,
    help: 'Total number of HTTP responses with status 100-199 returned by this object since the worker process started',
  },
  {
    name: 'http_requests_rate_max',
    column: 'req_rate_max',
    type: 'gauge',
    scopes: ['frontend'],
    httpOnly: true,
    help: 'Highest value of http requests observed since the worker process started',
  },
  {
    name: 'http_requests_total',
    column: 'req_tot',
    type: 'counter',
    scopes: ['frontend', 'backend'],
    httpOnly: true,
    help: 'Total number of HTTP requests processed by this object since the worker process started',
  },
  {
    name: 'client_aborts_total',
    column: 'cli_abrt',
    type: 'counter',
    scopes: ['backend', 'server'],
    help: 'Total number of requests or connections aborted by the client since the worker process started',
  },
  {
    name: 'server_aborts_total',
    column: 'srv_abrt',
    type: 'counter',
    scopes: ['backend', 'server'],
    help: 'Total number of requests or connections aborted by the server since the worker process started',
  },
  {
    name: 'http_comp_bytes_in_total',
    column: 'comp_in',
    type: 'counter',
    scopes: ['frontend', 'backend'],
    httpOnly: true,
    help: 'Total number of bytes submitted to the HTTP compressor for this object since the worker process started',
  },
  {
    name: 'http_comp_bytes_out_total',
    column: 'comp_out',
    type: 'counter',
    scopes: ['frontend', 'backend'],
    httpOnly: true,
    help: 'Total number of bytes emitted by the HTTP compressor for this object since the worker process started',
  },
  {
    name: 'http_comp_bytes_bypassed_total',
    column: 'comp_byp',
    type: 'counter',
    scopes: ['frontend', 'backend'],
    httpOnly: true,
    help: 'Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)',
  },
  {
    name: 'http_comp_responses_total',
    column: 'comp_rsp',
    type: 'counter',
    scopes: ['frontend', 'backend'],
    httpOnly: true,
    help: 'Total number of HTTP responses that were compressed for this object since the worker process started',
  },
  {
    name: 'last_session_seconds',
    column: 'lastsess',
    type: 'gauge',
    scopes: ['backend', 'server'],
    help: 'How long ago some traffic was seen on this object on this worker process, in seconds',
  },
  {
    name: 'queue_time_average_seconds',
    column: 'qtime',
    type: 'gauge',
    scopes: ['backend', 'server'],
    value: 'ms',
    help: 'Avg. queue time for last 1024 successful connections.',
  },
  {
    name: 'connect_time_average_seconds',
    column: 'ctime',
    type: 'gauge',
    scopes: ['backend', 'server'],
    value: 'ms',
    help: 'Avg. connect time for last 1024 successful connections.',
  },
  {
    name: 'response_time_average_seconds',
    column: 'rtime',
    type: 'gauge',
    scopes: ['backend', 'server'],
    value: 'ms',
    help: 'Avg. response time for last 1024 successful connections.',
  },
  {
    name: 'total_time_average_seconds',
    column: 'ttime',
    type: 'gauge',
    scopes: ['backend', 'server'],
    value: 'ms',
    help: 'Avg. total time for last 1024 successful connections.',
  },
  {
    name: 'connections_rate_max',
    column: 'conn_rate_max',
    type: 'gauge',
    scopes: ['frontend'],
    help: 'Highest value of connections per second observed since the worker process started',
  },
  {
    name: 'connections_total',
    column: 'conn_tot',
    type: 'counter',
    scopes: ['frontend'],
    help: 'Total number of new connections accepted on this frontend since the worker process started',
  },
  {
    name: 'intercepted_requests_total',
    column: 'intercepted',
    type: 'counter',
    scopes: ['frontend'],
    httpOnly: true,
    help: 'Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started',
  },
  {
    name: 'denied_connections_total',
    column: 'dcon',
    type: 'counter',
    scopes: ['frontend'],
    help: 'Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started',
  },
  {
    name: 'denied_sessions_total',
    column: 'dses',
    type: 'counter',
    scopes: ['frontend'],
    help: 'Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started',
  },
  {
    name: 'failed_header_rewriting_total',
    column: 'wrew',
    type: 'counter',
    scopes: ['frontend', 'backend', 'server'],
    help: 'Total number of failed HTTP header rewrites since the worker process started',
  },
  {
    name: 'connection_attempts_total',
    column: 'connect',
    type: 'counter',
    scopes: ['backend', 'server'],
    help: 'Total number of outgoing connection attempts on this backend/server since the worker process started',
  },
  {
    name: 'connection_reuses_total',
    column: 'reuse',
    type: 'counter',
    scopes: ['backend', 'server'],
    help: 'Total number of reused connection on this backend/server since the worker process started',
  },
  {
    name: 'http_cache_lookups_total',
    column: 'cache_lookups',
    type: 'counter',
    scopes: ['frontend', 'backend'],
    httpOnly: true,
    help: 'Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started',
  },
  {
    name: 'http_cache_hits_total',
    column: 'cache_hits',
    type: 'counter',
    scopes: ['frontend', 'backend'],
    httpOnly: true,
    help: 'Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started',
  },
  {
    name: 'idle_connections_current',
    column: 'srv_icur',
    type: 'gauge',
    scopes: ['server'],
    help: 'Current number of idle connections available for reuse on this server',
  },
  {
    name: 'idle_connections_limit',
    column: 'src_ilim',
    type: 'gauge',
    scopes: ['server'],
    help: "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)",
  },
  {
    name: 'max_queue_time_seconds',
    column: 'qtime_max',
    type: 'gauge',
    scopes: ['backend', 'server'],
    value: 'ms',
    help: 'Maximum observed time spent in the queue',
  },
  {
    name: 'max_connect_time_seconds',
    column: 'ctime_max',
    type: 'gauge',
    scopes: ['backend', 'server'],
    value: 'ms',
    help: 'Maximum observed time spent waiting for a connection to complete',
  },
  {
    name: 'max_response_time_seconds',
    column: 'rtime_max',
    type: 'gauge',
    scopes: ['backend', 'server'],
    value: 'ms',
    help: 'Maximum observed time spent waiting for a server response',
  },
  {
    name: 'max_total_time_seconds',
    column: 'ttime_max',
    type: 'gauge',
    scopes: ['backend', 'server'],
    value: 'ms',
    help: 'Maximum observed total request+response time (request+queue+connect+response+processing)',
  },
  {
    name: 'internal_errors_total',
    column: 'eint',
    type: 'counter',
    scopes: ['frontend', 'backend', 'server'],
    help: 'Total number of internal errors since process started',
  },
  { name: 'unsafe_idle_connections_current', column: 'idle_conn_cur', type: 'gauge', scopes: ['server'], help: 'Current number of unsafe idle connections' },
  { name: 'safe_idle_connections_current', column: 'safe_conn_cur', type: 'gauge', scopes: ['server'], help: 'Current number of safe idle connections' },
  { name: 'used_connections_current', column: 'used_conn_cur', type: 'gauge', scopes: ['server'], help: 'Current number of connections in use' },
  { name: 'need_connections_current', column: 'need_conn_est', type: 'gauge', scopes: ['server'], help: 'Estimated needed number of connections' },
  {
    name: 'uweight',
    column: 'uweight',
    type: 'gauge',
    scopes: ['backend', 'server'],
    help: "Server's user weight, or sum of active servers' user weights for a backend",
  },
  {
    name: 'agg_server_status',
    column: 'status',
    type: 'gauge',
    scopes: ['backend'],
    value: 'agg_server',
    help: "Backend's aggregated gauge of servers' status",
  },
  {
    name: 'agg_server_check_status',
    column: 'status',
    type: 'gauge',
    scopes: ['backend'],
    value: 'agg_server',
    help: "Backend's aggregated gauge of servers' state check status",
  },
  {
    name: 'agg_check_status',
    column: 'check_status',
    type: 'gauge',
    scopes: ['backend'],
    value: 'agg_check',
    help: "Backend's aggregated gauge of servers' state check status",
  },
];

/** `haproxy_process_*` families from `show info`, in HAProxy's order. */
export const INFO_METRICS: readonly InfoMetric[] = [
  { name: 'nbthread', key: 'Nbthread', type: 'gauge', help: 'Number of started threads (global.nbthread)' },
  { name: 'nbproc', key: 'Nbproc', type: 'gauge', help: 'Number of started worker processes (historical, always 1)' },
  { name: 'relative_process_id', key: 'Process_num', type: 'gauge', help: 'Relative worker process number (1)' },
  { name: 'uptime_seconds', key: 'Uptime_sec', type: 'gauge', help: 'How long ago this worker process was started (seconds)' },
  { name: 'pool_failures_total', key: 'PoolFailed', type: 'counter', help: 'Number of failed pool allocations since this worker was started' },
  { name: 'max_fds', key: 'Ulimit-n', type: 'gauge', help: 'Hard limit on the number of per-process file descriptors' },
  { name: 'max_sockets', key: 'Maxsock', type: 'gauge', help: 'Hard limit on the number of per-process sockets' },
  { name: 'max_connections', key: 'Maxconn', type: 'gauge', help: 'Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)' },
  {
    name: 'hard_max_connections',
    key: 'Hard_maxconn',
    type: 'gauge',
    help: 'Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)',
  },
  { name: 'current_connections', key: 'CurrConns', type: 'gauge', help: 'Current number of connections on this worker process' },
  { name: 'connections_total', key: 'CumConns', type: 'counter', help: 'Total number of connections on this worker process since started' },
  { name: 'requests_total', key: 'CumReq', type: 'counter', help: 'Total number of requests on this worker process since started' },
  { name: 'max_ssl_connections', key: 'MaxSslConns', type: 'gauge', help: 'Hard limit on the number of per-process SSL endpoints (front+back), 0=unlimited' },
  { name: 'current_ssl_connections', key: 'CurrSslConns', type: 'gauge', help: 'Current number of SSL endpoints on this worker process (front+back)' },
  {
    name: 'ssl_connections_total',
    key: 'CumSslConns',
    type: 'counter',
    help: 'Total number of SSL endpoints on this worker process since started (front+back)',
  },
  { name: 'max_pipes', key: 'Maxpipes', type: 'gauge', help: 'Hard limit on the number of pipes for splicing, 0=unlimited' },
  { name: 'pipes_used_total', key: 'PipesUsed', type: 'counter', help: 'Current number of pipes in use in this worker process' },
  { name: 'pipes_free_total', key: 'PipesFree', type: 'counter', help: 'Current number of allocated and available pipes in this worker process' },
  { name: 'current_connection_rate', key: 'ConnRate', type: 'gauge', help: 'Number of front connections created on this worker process over the last second' },
  { name: 'limit_connection_rate', key: 'ConnRateLimit', type: 'gauge', help: 'Hard limit for ConnRate (global.maxconnrate)' },
  {
    name: 'max_connection_rate',
    key: 'MaxConnRate',
    type: 'gauge',
    help: 'Highest ConnRate reached on this worker process since started (in connections per second)',
  },
  { name: 'current_session_rate', key: 'SessRate', type: 'gauge', help: 'Number of sessions created on this worker process over the last second' },
  { name: 'limit_session_rate', key: 'SessRateLimit', type: 'gauge', help: 'Hard limit for SessRate (global.maxsessrate)' },
  {
    name: 'max_session_rate',
    key: 'MaxSessRate',
    type: 'gauge',
    help: 'Highest SessRate reached on this worker process since started (in sessions per second)',
  },
  { name: 'current_ssl_rate', key: 'SslRate', type: 'gauge', help: 'Number of SSL connections created on this worker process over the last second' },
  { name: 'limit_ssl_rate', key: 'SslRateLimit', type: 'gauge', help: 'Hard limit for SslRate (global.maxsslrate)' },
  { name: 'max_ssl_rate', key: 'MaxSslRate', type: 'gauge', help: 'Highest SslRate reached on this worker process since started (in connections per second)' },
  {
    name: 'current_frontend_ssl_key_rate',
    key: 'SslFrontendKeyRate',
    type: 'gauge',
    help: 'Number of SSL keys created on frontends in this worker process over the last second',
  },
  {
    name: 'max_frontend_ssl_key_rate',
    key: 'SslFrontendMaxKeyRate',
    type: 'gauge',
    help: 'Highest SslFrontendKeyRate reached on this worker process since started (in SSL keys per second)',
  },
  {
    name: 'frontend_ssl_reuse',
    key: 'SslFrontendSessionReuse_pct',
    type: 'gauge',
    help: 'Percent of frontend SSL connections which did not require a new key',
  },
  {
    name: 'current_backend_ssl_key_rate',
    key: 'SslBackendKeyRate',
    type: 'gauge',
    help: 'Number of SSL keys created on backends in this worker process over the last second',
  },
  {
    name: 'max_backend_ssl_key_rate',
    key: 'SslBackendMaxKeyRate',
    type: 'gauge',
    help: 'Highest SslBackendKeyRate reached on this worker process since started (in SSL keys per second)',
  },
  {
    name: 'ssl_cache_lookups_total',
    key: 'SslCacheLookups',
    type: 'counter',
    help: 'Total number of SSL session ID lookups in the SSL session cache on this worker since started',
  },
  {
    name: 'ssl_cache_misses_total',
    key: 'SslCacheMisses',
    type: 'counter',
    help: "Total number of SSL session ID lookups that didn't find a session in the SSL session cache on this worker since started",
  },
  {
    name: 'http_comp_bytes_in_total',
    key: 'CompressBpsIn',
    type: 'counter',
    help: 'Number of bytes submitted to the HTTP compressor in this worker process over the last second',
  },
  {
    name: 'http_comp_bytes_out_total',
    key: 'CompressBpsOut',
    type: 'counter',
    help: 'Number of bytes emitted by the HTTP compressor in this worker process over the last second',
  },
  {
    name: 'limit_http_comp',
    key: 'CompressBpsRateLim',
    type: 'gauge',
    help: 'Limit of CompressBpsOut beyond which HTTP compression is automatically disabled',
  },
  {
    name: 'current_zlib_memory',
    key: 'ZlibMemUsage',
    type: 'gauge',
    help: 'Amount of memory currently used by HTTP compression on the current worker process (in bytes)',
  },
  {
    name: 'max_zlib_memory',
    key: 'MaxZlibMemUsage',
    type: 'gauge',
    help: 'Limit on the amount of memory used by HTTP compression above which it is automatically disabled (in bytes, see global.maxzlibmem)',
  },
  { name: 'current_tasks', key: 'Tasks', type: 'gauge', help: 'Total number of tasks in the current worker process (active + sleeping)' },
  { name: 'current_run_queue', key: 'Run_queue', type: 'gauge', help: 'Total number of active tasks+tasklets in the current worker process' },
  { name: 'idle_time_percent', key: 'Idle_pct', type: 'gauge', help: 'Percentage of last second spent waiting in the current worker thread' },
  { name: 'stopping', key: 'Stopping', type: 'gauge', help: '1 if the worker process is currently stopping, otherwise zero' },
  {
    name: 'jobs',
    key: 'Jobs',
    type: 'gauge',
    help: 'Current number of active jobs on the current worker process (frontend connections, master connections, listeners)',
  },
  {
    name: 'unstoppable_jobs',
    key: 'Unstoppable Jobs',
    type: 'gauge',
    help: 'Current number of unstoppable jobs on the current worker process (master connections)',
  },
  { name: 'listeners', key: 'Listeners', type: 'gauge', help: 'Current number of active listeners on the current worker process' },
  { name: 'active_peers', key: 'ActivePeers', type: 'gauge', help: 'Current number of verified active peers connections on the current worker process' },
  {
    name: 'connected_peers',
    key: 'ConnectedPeers',
    type: 'gauge',
    help: 'Current number of peers having passed the connection step on the current worker process',
  },
  { name: 'dropped_logs_total', key: 'DroppedLogs', type: 'counter', help: 'Total number of dropped logs for current worker process since started' },
  {
    name: 'busy_polling_enabled',
    key: 'BusyPolling',
    type: 'gauge',
    help: '1 if busy-polling is currently in use on the worker process, otherwise zero (config.busy-polling)',
  },
  {
    name: 'failed_resolutions',
    key: 'FailedResolutions',
    type: 'counter',
    help: 'Total number of failed DNS resolutions in current worker process since started',
  },
  { name: 'bytes_out_total', key: 'TotalBytesOut', type: 'counter', help: 'Total number of bytes emitted by current worker process since started' },
  {
    name: 'spliced_bytes_out_total',
    key: 'TotalSplicdedBytesOut',
    type: 'counter',
    help: 'Total number of bytes emitted by current worker process through a kernel pipe since started',
  },
  { name: 'bytes_out_rate', key: 'BytesOutRate', type: 'gauge', help: 'Number of bytes emitted by current worker process over the last second' },
  {
    name: 'recv_logs_total',
    key: 'CumRecvLogs',
    type: 'counter',
    help: 'Total number of log messages received by log-forwarding listeners on this worker process since started',
  },
  { name: 'build_info', key: 'Version', type: 'gauge', value: 'build_info', help: 'Build info' },
  { name: 'max_memory_bytes', key: 'Memmax_bytes', type: 'gauge', help: "Worker process's hard limit on memory usage in byes (-m on command line)" },
  { name: 'pool_allocated_bytes', key: 'PoolAlloc_bytes', type: 'gauge', help: 'Amount of memory allocated in pools (in bytes)' },
  { name: 'pool_used_bytes', key: 'PoolUsed_bytes', type: 'gauge', help: 'Amount of pool memory currently used (in bytes)' },
  { name: 'start_time_seconds', key: 'Start_time_sec', type: 'gauge', help: 'Start time in seconds' },
];

/** State labels of haproxy_{frontend,backend}_status. */
export const PROXY_STATES = ['DOWN', 'UP'] as const;
/** State labels of haproxy_server_status and the backend aggregates. */
export const SERVER_STATES = ['DOWN', 'UP', 'MAINT', 'DRAIN', 'NOLB'] as const;
/** Health-check results HAProxy exports (those that are a verdict, not INI/UNK). */
export const CHECK_STATES = [
  'HANA',
  'SOCKERR',
  'L4OK',
  'L4TOUT',
  'L4CON',
  'L6OK',
  'L6TOUT',
  'L6RSP',
  'L7TOUT',
  'L7RSP',
  'L7OK',
  'L7OKC',
  'L7STS',
  'PROCERR',
  'PROCTOUT',
  'PROCOK',
] as const;
/** `code` labels of http_responses_total and their columns. */
export const HTTP_CODES: readonly (readonly [label: string, column: string])[] = [
  ['1xx', 'hrsp_1xx'],
  ['2xx', 'hrsp_2xx'],
  ['3xx', 'hrsp_3xx'],
  ['4xx', 'hrsp_4xx'],
  ['5xx', 'hrsp_5xx'],
  ['other', 'hrsp_other'],
];

/** Every haproxy_* family name this exporter can produce (for the tables of one version, default 2.6's). */
export function allHaproxyMetricNames(tables: PromexTables = promexTables()): string[] {
  const out = tables.info.map((m) => `haproxy_process_${m.name}`);
  for (const scope of ['frontend', 'backend', 'server'] as const) {
    for (const m of tables.stat) if (m.scopes.includes(scope)) out.push(`haproxy_${scope}_${m.name}`);
  }
  if (tables.resolvers) for (const [name] of RESOLVER_METRICS) out.push(`haproxy_resolver_${name}`);
  return out;
}

/**
 * `haproxy_resolver_*` (HAProxy 3.0's resolvers module, one sample per
 * nameserver, labels resolver and nameserver), from `show resolvers`: family
 * name after `haproxy_resolver_`, the `show resolvers` counter, HELP. All
 * gauges, as 3.0 types them. 2.6's exporter has no such families.
 */
export const RESOLVER_METRICS: readonly (readonly [name: string, key: string, help: string])[] = [
  ['sent', 'sent', 'Sent'],
  ['send_error', 'snd_error', 'Send error'],
  ['valid', 'valid', 'Valid'],
  ['update', 'update', 'Update'],
  ['cname', 'cname', 'CNAME'],
  ['cname_error', 'cname_error', 'CNAME error'],
  ['any_err', 'any_err', 'Any errors'],
  ['nx', 'nx', 'NX'],
  ['timeout', 'timeout', 'Timeout'],
  ['refused', 'refused', 'Refused'],
  ['other', 'other', 'Other'],
  ['invalid', 'invalid', 'Invalid'],
  ['too_big', 'too_big', 'Too big'],
  ['truncated', 'truncated', 'Truncated'],
  ['outdated', 'outdated', 'Outdated'],
];

/** The families one HAProxy version's built-in exporter writes. */
export interface PromexTables {
  /** "2.6" or "3.0": whose exporter these tables follow. */
  follows: '2.6' | '3.0';
  stat: readonly StatMetric[];
  info: readonly InfoMetric[];
  /** haproxy_resolver_* from `show resolvers` (3.0). */
  resolvers: boolean;
}

const TABLES_2_6: PromexTables = { follows: '2.6', stat: STAT_METRICS, info: INFO_METRICS, resolvers: false };

/**
 * HAProxy 3.0 (measured on 3.0.11 against 2.6.12, same configuration): the
 * same process, frontend and backend families; servers gain `active` and
 * `backup` (the act/bck columns: 1 for a non-backup, resp. backup, server),
 * right after `weight`; the backend's agg_server_check_status is marked
 * deprecated in its HELP; and the resolvers module adds haproxy_resolver_*
 * (HAProxy 3.0 creates a "default" resolvers section from /etc/resolv.conf).
 */
const TABLES_3_0: PromexTables = {
  follows: '3.0',
  stat: STAT_METRICS.flatMap((m): StatMetric[] => {
    if (m.name === 'agg_server_check_status') return [{ ...m, help: "[DEPRECATED] Backend's aggregated gauge of servers' status" }];
    if (m.name === 'weight') {
      return [
        m,
        { name: 'active', column: 'act', type: 'gauge', scopes: ['server'], help: 'Total number of active UP servers with a non-zero weight' },
        { name: 'backup', column: 'bck', type: 'gauge', scopes: ['server'], help: 'Total number of backup UP servers with a non-zero weight' },
      ];
    }
    return [m];
  }),
  info: INFO_METRICS,
  resolvers: true,
};

/**
 * The tables for a running HAProxy: 2.6's up to 2.9, 3.0's from 3.0 on
 * (tested: 2.6 and 3.0; 2.7 to 2.9 and 3.1+ follow the nearest tested one).
 * Without a version, 2.6's.
 */
export function promexTables(version?: { major: number; minor: number }): PromexTables {
  return version !== undefined && version.major >= 3 ? TABLES_3_0 : TABLES_2_6;
}
