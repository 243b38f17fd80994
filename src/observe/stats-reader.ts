/**
 * Reads `show info` and `show stat` from the stats socket, at most once per
 * `cacheMs`: concurrent scrapes (several Prometheus replicas, the live
 * stream) share one read, and a read in flight is never started twice.
 */
import { parseShowInfo } from '../haproxy/parse.js';
import { StatTable } from './stat-table.js';

/** What the reader needs from the runtime API (RuntimeApi fits). */
export interface StatsCommands {
  execute(command: string): Promise<string>;
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
   * built-in exporter counts in haproxy_backend_agg_check_status.
   * Undefined when that read failed (the rest still serves).
   */
  serversState?: string;
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
  now?: () => number;
}

export class StatsReader {
  readonly cacheMs: number;
  #last: HaproxyStats | undefined;
  #inflight: Promise<HaproxyStats> | undefined;
  #reads = 0;

  constructor(private readonly o: StatsReaderOptions) {
    this.cacheMs = o.cacheMs ?? 1000;
  }

  /** Socket reads done so far (each is one show info + one show stat). */
  get reads(): number {
    return this.#reads;
  }

  /** The newest stats, read now unless a read younger than maxAgeMs exists or is in flight. */
  read(maxAgeMs = this.cacheMs): Promise<HaproxyStats> {
    if (this.#inflight) return this.#inflight;
    const now = this.o.now?.() ?? Date.now();
    if (this.#last && now - this.#last.readAt < maxAgeMs) return Promise.resolve(this.#last);
    const p = this.#readNow().finally(() => {
      if (this.#inflight === p) this.#inflight = undefined;
    });
    this.#inflight = p;
    return p;
  }

  async #readNow(): Promise<HaproxyStats> {
    const t0 = performance.now();
    this.#reads++;
    try {
      const [infoText, statText, serversState] = await Promise.all([
        this.o.runtime.execute('show info'),
        this.o.runtime.execute('show stat'),
        this.o.runtime.execute('show servers state').then(
          (t) => (t.startsWith('1\n') ? t : undefined),
          () => undefined,
        ),
      ]);
      if (!infoText.startsWith('Name:')) throw new Error(`unexpected show info reply: ${JSON.stringify(infoText.slice(0, 200))}`);
      const stats: HaproxyStats = {
        readAt: this.o.now?.() ?? Date.now(),
        readMs: performance.now() - t0,
        info: parseShowInfo(infoText),
        table: new StatTable(statText),
        serversState,
      };
      this.#last = stats;
      this.o.onRead?.({ ok: true, durationMs: stats.readMs });
      return stats;
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.o.onRead?.({ ok: false, durationMs: performance.now() - t0, error });
      throw new Error(`cannot read HAProxy stats: ${error.message}`, { cause: error });
    }
  }
}
