/**
 * GET /metrics: the controller's registry (node_haproxy_*, process_*,
 * nodejs_*) followed by the HAProxy families, streamed in chunks.
 *
 * Query string, as HAProxy's built-in exporter reads it: `scope=` (repeatable)
 * picks global, frontend, backend, server, resolver (HAProxy 3.0's
 * haproxy_resolver_*; nothing on 2.6) (plus `controller` for the
 * controller's own metrics; `*` for all); `no-maint` leaves out servers in
 * maintenance. When the stats socket cannot be read the answer is still 200,
 * with node_haproxy_stats_up 0 and no haproxy_* families.
 */
import type { ServerResponse } from 'node:http';
import type { Handler } from '../http/server.js';
import { sendJson } from '../http/server.js';
import type { Logger } from '../log.js';
import { ChunkWriter } from './chunk-writer.js';
import type { ControllerMetrics } from './controller-metrics.js';
import type { HaproxyExporter, ScrapeRequest } from './haproxy-exporter.js';
import type { HaproxyStats, StatsReader } from './stats-reader.js';

const SCOPES = new Set(['global', 'frontend', 'backend', 'server', 'resolver', 'controller']);

export interface MetricsEndpointOptions {
  metrics: ControllerMetrics;
  exporter: HaproxyExporter;
  stats: StatsReader;
  logger: Logger;
  /** Bytes per response chunk (default 256 KiB); at most 4 chunks per scrape are in memory. */
  chunkSize?: number;
  /** Refreshes gauges computed on demand (HAProxy up, ready) before the registry is written. */
  beforeCollect?: () => void;
}

/** Parses the scope parameters; undefined means every scope. Throws on an unknown scope. */
export function parseScopes(url: URL): Set<string> | undefined {
  const values = url.searchParams.getAll('scope');
  if (values.length === 0) return undefined;
  const out = new Set<string>();
  for (const v of values) {
    if (v === '*') return undefined;
    if (v === '') continue;
    if (!SCOPES.has(v)) throw new Error(`unknown scope "${v}"; use global, frontend, backend, server, resolver, controller or *`);
    out.add(v);
  }
  return out;
}

export function metricsHandler(o: MetricsEndpointOptions): Handler {
  let warnedAt = 0;
  return async (req, res, url) => {
    if (url.pathname !== '/metrics') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'MethodNotAllowed', message: 'use GET' }, { allow: 'GET, HEAD' });
      return true;
    }
    let scopes: Set<string> | undefined;
    try {
      scopes = parseScopes(url);
    } catch (err) {
      sendJson(res, 400, { error: 'BadRequest', message: (err as Error).message });
      return true;
    }
    const wantHaproxy = !scopes || [...scopes].some((s) => s !== 'controller');
    let stats: HaproxyStats | undefined;
    if (wantHaproxy) {
      try {
        stats = await o.stats.read(undefined, { prerender: true });
        // Held until the response is over, so a newer read cannot recycle what this scrape sends.
        if (stats.prerendered?.acquire()) {
          const pre = stats.prerendered;
          res.once('close', () => pre.release());
        }
      } catch (err) {
        // Logged at most once a minute: a down HAProxy is already visible in the metrics.
        if (Date.now() - warnedAt > 60_000) {
          warnedAt = Date.now();
          o.logger.warn('scrape without HAProxy metrics: the stats socket cannot be read', { err });
        }
      }
    }
    // After the read: node_haproxy_stats_up and friends describe this scrape.
    let text = '';
    if (!scopes || scopes.has('controller')) {
      o.beforeCollect?.();
      text = await o.metrics.text();
    }
    res.writeHead(200, { 'content-type': o.metrics.registry.contentType, 'cache-control': 'no-store' });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    res.write(text);
    if (stats) await writeHaproxy(res, o, stats, { scopes, noMaint: url.searchParams.has('no-maint') });
    res.end();
    return true;
  };
}

async function writeHaproxy(res: ServerResponse, o: MetricsEndpointOptions, stats: HaproxyStats, request: ScrapeRequest): Promise<void> {
  const writer = new ChunkWriter(
    (chunk, release) => {
      if (res.destroyed) release();
      else res.write(chunk, () => release());
    },
    { chunkSize: o.chunkSize },
  );
  const abort = (): void => writer.abort();
  res.once('close', abort);
  try {
    await o.exporter.write(stats, writer, request);
  } finally {
    res.off('close', abort);
  }
}
