/**
 * Reads `show info` and `show stat` from the stats socket, at most once per
 * `cacheMs`: concurrent scrapes (several Prometheus replicas, the live
 * stream) share one read, and a read in flight is never started twice.
 */
import { parseShowInfo } from '../haproxy/parse.js';
import type { Prerendered, RowRenderer } from './haproxy-exporter.js';
import { streamCommand } from '../haproxy/socket.js';
import { StatTable, StatTableBuilder } from './stat-table.js';

/** What the reader needs from the runtime API (RuntimeApi fits). */
export interface StatsCommands {
  execute(command: string): Promise<string>;
  /** The stats socket: when known, `show stat` is parsed as it streams in. */
  readonly socketPath?: string;
}

export interface HaproxyStats {
  /** Date.now() when the read finished. */
  readAt: number;
  /** How long both socket reads took. */
  readMs: number;
  info: Record<string, string | number>;
  table: StatTable;
  /**
   * `show servers state` text: the last health-check result of servers whose
   * check is paused (maintenance), which `show stat` leaves out but the
   * built-in exporter counts in haproxy_backend_agg_check_status. Read only
   * while such servers exist; undefined otherwise or when that read failed.
   */
  serversState?: string;
  /** Families rendered while this read streamed in (reads with `prerender`; see HaproxyExporter.prerenderer()). */
  prerendered?: Prerendered;
  /** `show resolvers` text, read when `readResolvers` says so (HAProxy 3.0's haproxy_resolver_* families); undefined when that read failed. */
  resolvers?: string;
}

export interface StatsReadOutcome {
  ok: boolean;
  durationMs: number;
  error?: Error;
}

export interface StatsReaderOptions {
  runtime: StatsCommands;
  /** Reuse a read younger than this (default 1000 ms; 0 shares only reads in flight). */
  cacheMs?: number;
  /** Called after every socket read (metrics). */
  onRead?: (outcome: StatsReadOutcome) => void;
  /** Per command (default 5000 ms). */
  timeoutMs?: number;
  /** Renders ahead while `show stat` streams in, for reads asked with `prerender`. */
  prerenderer?: () => RowRenderer | undefined;
  /** Also read `show resolvers` (default false). */
  readResolvers?: () => boolean;
  now?: () => number;
}

export class StatsReader {
  readonly cacheMs: number;
  private last: HaproxyStats | undefined;
  private inflight: Promise<HaproxyStats> | undefined;
  private readCount = 0;
  private wantServersState = true;

  constructor(private readonly o: StatsReaderOptions) {
    this.cacheMs = o.cacheMs ?? 1000;
  }

  /** Socket reads done so far (each is one show info + one show stat). */
  get reads(): number {
    return this.readCount;
  }

  /**
   * The newest stats, read now unless a read younger than maxAgeMs exists or
   * is in flight. With `prerender`, a new read also renders ahead for /metrics
   * (a read shared with another caller may come without).
   */
  read(maxAgeMs = this.cacheMs, options: { prerender?: boolean } = {}): Promise<HaproxyStats> {
    if (this.inflight) return this.inflight;
    const now = this.o.now?.() ?? Date.now();
    if (this.last && now - this.last.readAt < maxAgeMs) return Promise.resolve(this.last);
    // The last read is stale: nobody gets it from here on, its rendered chunks can be reused.
    this.last?.prerendered?.release();
    const p = this.readNow(options.prerender ? this.o.prerenderer?.() : undefined).finally(() => {
      if (this.inflight === p) this.inflight = undefined;
    });
    this.inflight = p;
    return p;
  }

  private async readNow(renderer: RowRenderer | undefined): Promise<HaproxyStats> {
    const t0 = performance.now();
    this.readCount++;
    const run = this.o.runtime;
    const serversState = (): Promise<string | undefined> =>
      run.execute('show servers state').then(
        (t) => (t.startsWith('1\n') ? t : undefined),
        () => undefined,
      );
    try {
      // `show servers state` is only needed while some server's check is paused
      // (maintenance): read it alongside when the last read needed it, else after.
      const [infoText, table, early, resolvers] = await Promise.all([
        run.execute('show info'),
        this.showStat(renderer),
        this.wantServersState ? serversState() : undefined,
        this.o.readResolvers?.()
          ? run.execute('show resolvers').then(
              (t) => (t.startsWith('Resolvers section') || t.trim() === '' ? t : undefined),
              () => undefined,
            )
          : undefined,
      ]);
      if (!infoText.startsWith('Name:')) throw new Error(`unexpected show info reply: ${JSON.stringify(infoText.slice(0, 200))}`);
      this.wantServersState = table.hasPausedChecks();
      const state = this.wantServersState ? (early ?? (await serversState())) : undefined;
      const stats: HaproxyStats = {
        readAt: this.o.now?.() ?? Date.now(),
        readMs: performance.now() - t0,
        info: parseShowInfo(infoText),
        table,
        serversState: state,
        prerendered: renderer?.finish(table, state),
        resolvers,
      };
      this.last = stats;
      this.o.onRead?.({ ok: true, durationMs: stats.readMs });
      return stats;
    } catch (err) {
      renderer?.abort();
      const error = err instanceof Error ? err : new Error(String(err));
      this.o.onRead?.({ ok: false, durationMs: performance.now() - t0, error });
      throw new Error(`cannot read HAProxy stats: ${error.message}`, { cause: error });
    }
  }

  /** `show stat`, parsed while it streams in when the socket path is known. */
  private async showStat(renderer: RowRenderer | undefined): Promise<StatTable> {
    const run = this.o.runtime;
    const onRows = renderer ? (view: StatTable, from: number, to: number) => renderer.rows(view, from, to) : undefined;
    const builder = new StatTableBuilder(onRows);
    if (run.socketPath === undefined) {
      builder.push(await run.execute('show stat'));
      return builder.finish();
    }
    await streamCommand(run.socketPath, 'show stat', (text) => builder.push(text), this.o.timeoutMs);
    return builder.finish();
  }
}
