/**
 * HAProxy metrics in the Prometheus text format, named, typed and labelled
 * like HAProxy's built-in exporter (haproxy_process_*, haproxy_frontend_*,
 * haproxy_backend_*, haproxy_server_*), from one `show info` + `show stat`.
 *
 * The text is written directly as bytes into reusable chunks instead of
 * through prom-client objects: at 10,000 servers a scrape has ~730,000
 * samples (~54 MB), which per-sample objects take seconds and ~500 MB to
 * produce (bench/results/metrics-scrape.md). The server families, the bulk,
 * can be rendered while `show stat` streams in (prerenderer()), overlapping
 * HAProxy's work, and shared by every scrape of that read.
 */
import { ChunkList, ChunkPool, type ByteSink, type ChunkWriter } from './chunk-writer.js';
import {
  CHECK_STATES,
  HTTP_CODES,
  PROXY_STATES,
  RESOLVER_METRICS,
  SERVER_STATES,
  allHaproxyMetricNames,
  promexTables,
  type InfoMetric,
  type PromexTables,
  type Scope,
  type StatMetric,
} from './promex-metrics.js';
import { RowType, StatTable } from './stat-table.js';

/** Which haproxy_* families to export (cardinality controls). */
export interface HaproxyMetricsOptions {
  /** Export haproxy_server_* families (default true). At 10,000 servers they are ~98% of the samples. */
  serverMetrics?: boolean;
  /** Export only families matching one of these names (`*` matches any run of characters). Default: all. */
  include?: readonly string[];
  /** Never export families matching one of these names (`*` as in include). */
  exclude?: readonly string[];
}

/** The running HAProxy's version: whose built-in exporter to follow (default 2.6's). */
export interface ExporterVersion {
  major: number;
  minor: number;
}

/** What one scrape asks for, as the built-in exporter's query string does. */
export interface ScrapeRequest {
  /** global (haproxy_process_*), frontend, backend, server; undefined: all. */
  scopes?: ReadonlySet<string>;
  /** Leave out servers in maintenance (`?no-maint`). */
  noMaint?: boolean;
}

export interface StatsInput {
  info: Record<string, string | number>;
  table: StatTable;
  /** `show servers state` text, for the check results of paused checks (optional). */
  serversState?: string;
  /** Server families rendered while the stats were read (HaproxyExporter.prerenderer()). */
  prerendered?: Prerendered;
  /** `show resolvers` text, for haproxy_resolver_* (HAProxy 3.0; see HaproxyExporter.wantsResolvers). */
  resolvers?: string;
}

/** One nameserver's counters from `show resolvers`. */
export interface ResolverCounters {
  resolver: string;
  nameserver: string;
  counters: Map<string, string>;
}

/**
 * Parses `show resolvers` (3.0):
 *   Resolvers section default
 *    nameserver 10.0.0.53:
 *     sent:        0
 *     snd_error:   0
 * Pure.
 */
export function parseShowResolvers(text: string): ResolverCounters[] {
  const out: ResolverCounters[] = [];
  let section = '';
  let current: ResolverCounters | undefined;
  for (const line of text.split('\n')) {
    const sec = /^Resolvers section (\S+)/.exec(line);
    if (sec) {
      section = sec[1]!;
      current = undefined;
      continue;
    }
    const ns = /^ nameserver (\S+):\s*$/.exec(line);
    if (ns) {
      current = { resolver: section, nameserver: ns[1]!, counters: new Map() };
      out.push(current);
      continue;
    }
    const kv = /^\s+(\S+):\s+(\S+)\s*$/.exec(line);
    if (kv && current) current.counters.set(kv[1]!, kv[2]!);
  }
  return out;
}

/**
 * Server families rendered while `show stat` streamed in, shared by every
 * scrape that uses the same read. Reference-counted: the chunks go back to the
 * pool when the last user releases them.
 */
export interface Prerendered {
  /** Takes a reference; false when already released (render from the table instead). */
  acquire(): boolean;
  release(): void;
}

/** Receives the rows of `show stat` as they are parsed (StatTableBuilder's callback) and renders ahead. */
export interface RowRenderer {
  rows(view: StatTable, from: number, to: number): void;
  /** Completes the render for the final table; the result holds one reference. */
  finish(table: StatTable, serversState: string | undefined): Prerendered;
  /** Gives everything back (the read failed). */
  abort(): void;
}

interface InfoFamily {
  metric: InfoMetric;
  header: Uint8Array;
  name: Uint8Array;
}

interface StatFamily {
  scope: Scope;
  metric: StatMetric;
  header: Uint8Array;
  name: Uint8Array;
}

const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');

/** Converts a name pattern (`*` wildcard) into a RegExp. */
function pattern(p: string): RegExp {
  const escaped = p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** Label value escaping of the text format (HAProxy names never need it, but stay safe). */
function escapeLabel(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/**
 * Checks the cardinality options and returns a predicate over family names.
 * Throws when a pattern matches no family, naming what is available.
 */
export function familyFilter(o: HaproxyMetricsOptions): (name: string) => boolean {
  // Every name of every supported version: a setting stays valid across an HAProxy upgrade.
  const known = allHaproxyMetricNames(promexTables({ major: 3, minor: 0 }));
  const check = (list: readonly string[] | undefined, what: string): RegExp[] =>
    (list ?? []).map((p) => {
      const re = pattern(p.trim());
      if (!known.some((n) => re.test(n))) {
        throw new Error(`${what} "${p}" matches no HAProxy metric; names look like haproxy_server_bytes_in_total (see docs/metrics.md)`);
      }
      return re;
    });
  const include = check(o.include, 'metrics include pattern');
  const exclude = check(o.exclude, 'metrics exclude pattern');
  const servers = o.serverMetrics ?? true;
  return (name) =>
    (servers || !name.startsWith('haproxy_server_')) && (include.length === 0 || include.some((re) => re.test(name))) && !exclude.some((re) => re.test(name));
}

/** Per-snapshot facts every family needs (row lists, labels, states). */
interface Prepared {
  table: StatTable;
  rows: Record<Scope, Int32Array>;
  /** Label bytes per row: {proxy="x" or {proxy="x",server="y" (no closing brace). */
  labels: (Uint8Array | undefined)[];
  http: Uint8Array;
  /** Server rows: index into SERVER_STATES. */
  serverState: Int8Array;
  /** Server rows: index into CHECK_STATES, -1 for another result (INI...), -2 without an enabled check. */
  checkState: Int8Array;
  /** Backend row → its servers per SERVER_STATES / CHECK_STATES. */
  aggServer: Map<number, Int32Array>;
  aggCheck: Map<number, Int32Array>;
  maint: Uint8Array;
  statusCol: number;
}

function serverStateIndex(status: string): number {
  // Status texts (2.6 stats.c): UP, UP 1/3, DOWN, DOWN 1/2, DOWN (agent), NOLB, NOLB 1/2,
  // DRAIN, DRAIN 1/2, DRAIN (agent), MAINT, MAINT (via x/y), MAINT (resolution), no check.
  if (status.startsWith('MAINT')) return 2;
  if (status.startsWith('DRAIN')) return 3;
  if (status.startsWith('NOLB')) return 4;
  if (status.startsWith('UP') || status === 'no check') return 1;
  return 0;
}

const CHECK_INDEX = new Map<string, number>(CHECK_STATES.map((s, i) => [s, i]));

/** HAProxy 2.6's HCHK_STATUS_* codes (srv_check_status in `show servers state`) → CHECK_STATES. */
const CHECK_CODE_INDEX = new Map<number, number>(
  (
    [
      [4, 'HANA'],
      [5, 'SOCKERR'],
      [6, 'L4OK'],
      [7, 'L4TOUT'],
      [8, 'L4CON'],
      [9, 'L6OK'],
      [10, 'L6TOUT'],
      [11, 'L6RSP'],
      [12, 'L7TOUT'],
      [13, 'L7RSP'],
      [15, 'L7OK'],
      [16, 'L7OKC'],
      [17, 'L7STS'],
      [18, 'PROCERR'],
      [19, 'PROCTOUT'],
      [20, 'PROCOK'],
    ] as const
  ).map(([code, name]) => [code, CHECK_INDEX.get(name)!]),
);

/**
 * backend/server → index into CHECK_STATES of the last check result, from
 * `show servers state` (paused checks included).
 */
function lastCheckResults(serversState: string): Map<string, number> {
  const out = new Map<string, number>();
  const firstNl = serversState.indexOf('\n');
  const headerEnd = serversState.indexOf('\n', firstNl + 1);
  if (firstNl < 0 || headerEnd < 0 || !serversState.startsWith('# ', firstNl + 1)) return out;
  const header = serversState
    .slice(firstNl + 3, headerEnd)
    .trim()
    .split(' ');
  const be = header.indexOf('be_name');
  const srv = header.indexOf('srv_name');
  const status = header.indexOf('srv_check_status');
  if (be < 0 || srv < 0 || status < 0) return out;
  const last = Math.max(be, srv, status);
  // Fields are single-space separated; read only the three needed.
  let p = headerEnd + 1;
  while (p < serversState.length) {
    let lineEnd = serversState.indexOf('\n', p);
    if (lineEnd < 0) lineEnd = serversState.length;
    let beName = '';
    let srvName = '';
    let code = -1;
    for (let f = 0, s = p; f <= last && s <= lineEnd; f++) {
      let e = serversState.indexOf(' ', s);
      if (e < 0 || e > lineEnd) e = lineEnd;
      if (f === be) beName = serversState.slice(s, e);
      else if (f === srv) srvName = serversState.slice(s, e);
      else if (f === status) code = Number(serversState.slice(s, e));
      s = e + 1;
    }
    const idx = CHECK_CODE_INDEX.get(code);
    if (idx !== undefined) out.set(`${beName}/${srvName}`, idx);
    p = lineEnd + 1;
  }
  return out;
}

function growInt8(a: Int8Array, n: number, fill = 0): Int8Array {
  if (a.length >= n) return a;
  const b = new Int8Array(Math.max(n, a.length * 2)).fill(fill);
  b.set(a);
  return b;
}

function growUint8(a: Uint8Array, n: number): Uint8Array {
  if (a.length >= n) return a;
  const b = new Uint8Array(Math.max(n, a.length * 2));
  b.set(a);
  return b;
}

/**
 * Per-row facts every family needs (labels, states, http mode), computed as
 * rows arrive, then per-backend aggregates once all are in (a backend's
 * servers come before its BACKEND row in `show stat`).
 */
class RowFacts {
  readonly lists: Record<Scope, number[]> = { frontend: [], backend: [], server: [] };
  labels: (Uint8Array | undefined)[] = [];
  http: Uint8Array = new Uint8Array(0);
  serverState: Int8Array = new Int8Array(0);
  checkState: Int8Array = new Int8Array(0);
  maint: Uint8Array = new Uint8Array(0);
  private readonly paused: number[] = [];
  private readonly serverProxy: string[] = [];
  private readonly byProxy = new Map<string, { servers: Int32Array; checks: Int32Array }>();
  private readonly col: Record<'pxname' | 'svname' | 'type' | 'status' | 'mode' | 'check' | 'chkfail', number>;
  private proxy = '';
  private proxyLabel = '';

  constructor(table: StatTable) {
    this.col = {
      pxname: table.column('pxname'),
      svname: table.column('svname'),
      type: table.column('type'),
      status: table.column('status'),
      mode: table.column('mode'),
      check: table.column('check_status'),
      chkfail: table.column('chkfail'),
    };
    if (this.col.pxname < 0 || this.col.svname < 0 || this.col.type < 0) {
      throw new Error('show stat output lacks the pxname, svname or type column; is this HAProxy 2.x?');
    }
  }

  get statusCol(): number {
    return this.col.status;
  }

  /** Takes in rows [from, to) of `table`. */
  add(table: StatTable, from: number, to: number): void {
    const col = this.col;
    this.http = growUint8(this.http, to);
    this.maint = growUint8(this.maint, to);
    this.serverState = growInt8(this.serverState, to);
    this.checkState = growInt8(this.checkState, to, -2);
    for (let r = from; r < to; r++) {
      const type = table.rowType(r, col.type);
      const name = table.field(r, col.pxname);
      if (name !== this.proxy) {
        this.proxy = name;
        this.proxyLabel = `{proxy="${escapeLabel(name)}"`;
      }
      this.http[r] = table.field(r, col.mode) === 'http' ? 1 : 0;
      if (type === RowType.Frontend) {
        this.lists.frontend.push(r);
        this.labels[r] = enc(this.proxyLabel);
      } else if (type === RowType.Backend) {
        this.lists.backend.push(r);
        this.labels[r] = enc(this.proxyLabel);
      } else if (type === RowType.Server) {
        this.lists.server.push(r);
        this.serverProxy[r] = name;
        this.labels[r] = enc(`${this.proxyLabel},server="${escapeLabel(table.field(r, col.svname))}"`);
        const state = serverStateIndex(table.field(r, col.status));
        this.serverState[r] = state;
        this.maint[r] = state === 2 ? 1 : 0;
        const check = table.field(r, col.check);
        if (check !== '') this.checkState[r] = CHECK_INDEX.get(check.startsWith('* ') ? check.slice(2) : check) ?? -1;
        else if (!table.isEmpty(r, col.chkfail)) this.paused.push(r); // a configured check, paused (maintenance)
        let agg = this.byProxy.get(name);
        if (!agg) this.byProxy.set(name, (agg = { servers: new Int32Array(SERVER_STATES.length), checks: new Int32Array(CHECK_STATES.length) }));
        agg.servers[state]!++;
        const c = this.checkState[r]!;
        if (c >= 0) agg.checks[c]!++;
      }
    }
  }

  /** The facts for writing some server rows of `view` before the whole table is in. */
  partial(view: StatTable, servers: readonly number[]): Prepared {
    const rows = { frontend: new Int32Array(0), backend: new Int32Array(0), server: Int32Array.from(servers) };
    return this.prepared(view, rows, new Map(), new Map());
  }

  /** Everything, once every row is in. */
  finish(table: StatTable, serversState: string | undefined): Prepared {
    // `show stat` hides the result of paused checks (servers in maintenance); the
    // built-in exporter counts them, so take results from `show servers state`.
    if (this.paused.length > 0 && serversState !== undefined) {
      const lastCheck = lastCheckResults(serversState);
      for (const r of this.paused) {
        const c = lastCheck.get(`${this.serverProxy[r]}/${table.field(r, this.col.svname)}`);
        if (c !== undefined) this.byProxy.get(this.serverProxy[r]!)!.checks[c]!++;
      }
      this.paused.length = 0;
    }
    // Backends without servers get no aggregate, like in the built-in exporter.
    const aggServer = new Map<number, Int32Array>();
    const aggCheck = new Map<number, Int32Array>();
    for (const r of this.lists.backend) {
      const agg = this.byProxy.get(table.field(r, this.col.pxname));
      if (!agg) continue;
      aggServer.set(r, agg.servers);
      aggCheck.set(r, agg.checks);
    }
    const rows = { frontend: Int32Array.from(this.lists.frontend), backend: Int32Array.from(this.lists.backend), server: Int32Array.from(this.lists.server) };
    return this.prepared(table, rows, aggServer, aggCheck);
  }

  private prepared(table: StatTable, rows: Record<Scope, Int32Array>, aggServer: Map<number, Int32Array>, aggCheck: Map<number, Int32Array>): Prepared {
    const { labels, http, serverState, checkState, maint } = this;
    return { table, rows, labels, http, serverState, checkState, aggServer, aggCheck, maint, statusCol: this.statusCol };
  }
}

function prepare(table: StatTable, serversState: string | undefined): Prepared {
  const facts = new RowFacts(table);
  facts.add(table, 0, table.rowCount);
  return facts.finish(table, serversState);
}

/** Copies a numeric field; NaN when empty or not a number. Returns the new offset. */
function putNumber(buf: Uint8Array, o: number, text: string, s: number, e: number): number {
  if (e <= s) return putNaN(buf, o);
  const start = o;
  for (let j = s; j < e; j++) {
    const c = text.charCodeAt(j);
    // digits, '-', '+', '.', 'e', 'E'
    if ((c < 48 || c > 57) && c !== 45 && c !== 43 && c !== 46 && c !== 101 && c !== 69) return putNaN(buf, start);
    buf[o++] = c;
  }
  return o;
}

function putNaN(buf: Uint8Array, o: number): number {
  buf[o] = 78;
  buf[o + 1] = 97;
  buf[o + 2] = 78;
  return o + 3;
}

function putAscii(buf: Uint8Array, o: number, str: string): number {
  for (let i = 0; i < str.length; i++) buf[o++] = str.charCodeAt(i);
  return o;
}

/** A non-negative integer. */
function putInt(buf: Uint8Array, o: number, v: number): number {
  if (v < 10) {
    buf[o] = 48 + v;
    return o + 1;
  }
  return putAscii(buf, o, String(v));
}

/** Milliseconds field → seconds with 6 decimals, as HAProxy prints "%f". */
function putMs(buf: Uint8Array, o: number, text: string, s: number, e: number): number {
  if (e <= s) return putNaN(buf, o);
  let v = 0;
  for (let j = s; j < e; j++) {
    const d = text.charCodeAt(j) - 48;
    if (d < 0 || d > 9 || j - s > 12) {
      const n = Number(text.slice(s, e));
      return Number.isFinite(n) ? putAscii(buf, o, (n / 1000).toFixed(6)) : putNaN(buf, o);
    }
    v = v * 10 + d;
  }
  const frac = v % 1000;
  o = putInt(buf, o, (v - frac) / 1000);
  buf[o] = 46;
  buf[o + 1] = 48 + Math.floor(frac / 100);
  buf[o + 2] = 48 + (Math.floor(frac / 10) % 10);
  buf[o + 3] = 48 + (frac % 10);
  buf[o + 4] = 48;
  buf[o + 5] = 48;
  buf[o + 6] = 48;
  return o + 7;
}

const NL = 10;
/** Room a sample line needs besides its name, labels, suffix and value text. */
const LINE_EXTRA = 32;

/** Where a family's output stopped when the chunk filled up. */
interface Cursor {
  header: boolean;
  /** Index into the family's rows. */
  row: number;
  /** Index into the label values (states, codes) for multi-sample families. */
  sub: number;
}

export class HaproxyExporter {
  /** Whose built-in exporter this one follows ("2.6" or "3.0"). */
  readonly follows: PromexTables['follows'];
  private readonly info: InfoFamily[];
  private readonly stat: StatFamily[];
  private readonly resolver: { family: string; header: Uint8Array; name: Uint8Array; key: string }[];
  private readonly prepared = new WeakMap<StatTable, Prepared>();
  private readonly pool = new ChunkPool();
  /** `,state="X"} ` / `,code="X"} ` suffixes. */
  private readonly proxyStateSfx = PROXY_STATES.map((s) => enc(`,state="${s}"} `));
  private readonly serverStateSfx = SERVER_STATES.map((s) => enc(`,state="${s}"} `));
  private readonly checkStateSfx = CHECK_STATES.map((s) => enc(`,state="${s}"} `));
  private readonly codeSfx = HTTP_CODES.map(([c]) => enc(`,code="${c}"} `));

  constructor(options: HaproxyMetricsOptions = {}, version?: ExporterVersion) {
    const keep = familyFilter(options);
    const tables = promexTables(version);
    this.follows = tables.follows;
    const header = (name: string, help: string, type: string): Uint8Array => enc(`# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`);
    this.info = tables.info
      .filter((m) => keep(`haproxy_process_${m.name}`))
      .map((metric) => {
        const name = `haproxy_process_${metric.name}`;
        return { metric, header: header(name, metric.help, metric.type), name: enc(name) };
      });
    this.stat = [];
    for (const scope of ['frontend', 'backend', 'server'] as const) {
      for (const metric of tables.stat) {
        const name = `haproxy_${scope}_${metric.name}`;
        if (!metric.scopes.includes(scope) || !keep(name)) continue;
        this.stat.push({ scope, metric, header: header(name, metric.help, metric.type), name: enc(name) });
      }
    }
    this.resolver = (tables.resolvers ? RESOLVER_METRICS : [])
      .filter(([n]) => keep(`haproxy_resolver_${n}`))
      .map(([n, key, help]) => ({
        family: `haproxy_resolver_${n}`,
        header: header(`haproxy_resolver_${n}`, help, 'gauge'),
        name: enc(`haproxy_resolver_${n}`),
        key,
      }));
  }

  /** Families this exporter writes (after the cardinality options), for docs and tests. */
  families(): string[] {
    return [
      ...this.info.map((f) => `haproxy_process_${f.metric.name}`),
      ...this.stat.map((f) => `haproxy_${f.scope}_${f.metric.name}`),
      ...this.resolver.map((f) => f.family),
    ];
  }

  /** Whether scrapes need `show resolvers` (StatsInput.resolvers): HAProxy 3.0's haproxy_resolver_* families are exported. */
  get wantsResolvers(): boolean {
    return this.resolver.length > 0;
  }

  /** Writes every selected family; returns early (without error) if the writer is aborted. */
  async write(stats: StatsInput, w: ChunkWriter, request: ScrapeRequest = {}): Promise<void> {
    const scopes = request.scopes;
    const noMaint = request.noMaint ?? false;
    // Taken before any await, so a newer read cannot release it under this write.
    const candidate = stats.prerendered;
    const pre = candidate instanceof ServerPrerender && candidate.exporter === this && !noMaint && candidate.acquire() ? candidate : undefined;
    if (!scopes || scopes.has('global')) await this.writeInfo(stats.info, w);
    let p = this.prepared.get(stats.table);
    if (!p) {
      p = prepare(stats.table, this.needLastChecks ? stats.serversState : undefined);
      this.prepared.set(stats.table, p);
    }
    // One reference for this write, dropped when the write is over and the output released every passed-through chunk.
    let outstanding = 1;
    const done = (): void => {
      if (--outstanding === 0) pre?.release();
    };
    try {
      for (const fam of this.stat) {
        if (scopes && !scopes.has(fam.scope)) continue;
        if (w.aborted) return;
        const ready = pre?.chunks(fam);
        if (ready) {
          if (ready.length === 0) continue; // no sample: no header, like the built-in exporter
          outstanding++;
          await w.passThrough([fam.header, ...ready], done); // the header bytes never change: shared too
          continue;
        }
        const rows = p.rows[fam.scope];
        const cursor: Cursor = { header: false, row: 0, sub: 0 };
        for (;;) {
          if (w.aborted) return;
          const finished = fam.metric.value === 'hrsp' ? this.writeCodes(fam, p, w, rows, noMaint, cursor) : this.writeRows(fam, p, w, rows, noMaint, cursor);
          if (finished) break;
          await w.flush(fam.header.length + fam.name.length + 1024);
        }
      }
      // The resolvers module comes after the proxies, as in 3.0's exporter (scope=resolver selects it there too).
      if (this.resolver.length > 0 && stats.resolvers !== undefined && (!scopes || scopes.has('resolver'))) {
        await this.writeResolvers(stats.resolvers, w);
      }
      await w.end();
    } finally {
      done();
    }
  }

  private get needLastChecks(): boolean {
    return this.stat.some((f) => f.metric.value === 'agg_check');
  }

  /**
   * A renderer for one read: the server families (the bulk of a scrape) are
   * written while `show stat` streams in, overlapping HAProxy's work, into
   * pooled chunks shared by the scrapes that use this read. Undefined when no
   * server family is exported.
   */
  prerenderer(): RowRenderer | undefined {
    const families = this.stat.filter((f) => f.scope === 'server');
    if (families.length === 0) return undefined;
    return new ServerPrerender(this, families, this.pool, {
      write: (fam, p, sink, rows, cur) =>
        fam.metric.value === 'hrsp' ? this.writeCodes(fam, p, sink, rows, false, cur, cur.sub) : this.writeRows(fam, p, sink, rows, false, cur),
      finished: (table, p) => this.prepared.set(table, p),
      needLastChecks: this.needLastChecks,
    });
  }

  private async writeInfo(info: StatsInput['info'], w: ChunkWriter): Promise<void> {
    for (const fam of this.info) {
      let line: string;
      if (fam.metric.value === 'build_info') {
        line = `{version="${escapeLabel(String(info.Version ?? ''))}"} 1\n`;
      } else {
        const raw = info[fam.metric.key];
        const v = raw === undefined || raw === '' ? NaN : Number(raw);
        line = ` ${Number.isFinite(v) ? String(raw) : 'NaN'}\n`;
      }
      const need = fam.header.length + fam.name.length + line.length;
      if (!w.room(need)) await w.flush(need);
      w.bytes(fam.header);
      w.bytes(fam.name);
      w.ascii(line);
    }
  }

  private async writeResolvers(text: string, w: ChunkWriter): Promise<void> {
    const nameservers = parseShowResolvers(text);
    if (nameservers.length === 0) return; // no sample: no header
    for (const fam of this.resolver) {
      if (w.aborted) return;
      let out = '';
      for (const ns of nameservers) {
        const raw = ns.counters.get(fam.key);
        const v = raw === undefined || raw === '' || !Number.isFinite(Number(raw)) ? 'NaN' : raw;
        out += `{resolver="${escapeLabel(ns.resolver)}",nameserver="${escapeLabel(ns.nameserver)}"} ${v}\n`;
      }
      const lines = out.split('\n').slice(0, -1);
      const need = fam.header.length + lines.length * fam.name.length + out.length;
      if (!w.room(need)) await w.flush(need);
      w.bytes(fam.header);
      for (const l of lines) {
        w.bytes(fam.name);
        w.ascii(`${l}\n`);
      }
    }
  }

  /** Writes the family header once, if it fits; false when the chunk is full. */
  private header(fam: StatFamily, w: ByteSink, cur: Cursor): boolean {
    if (cur.header) return true;
    if (!w.room(fam.header.length)) return false;
    w.bytes(fam.header);
    cur.header = true;
    return true;
  }

  /** http_responses_total, in the built-in exporter's order: every proxy for 1xx, then for 2xx... */
  private writeCodes(fam: StatFamily, p: Prepared, w: ByteSink, rows: Int32Array, noMaint: boolean, cur: Cursor, lastCode = HTTP_CODES.length - 1): boolean {
    const { table, labels, http, maint } = p;
    const { lines, starts, stride } = table;
    const name = fam.name;
    const skipMaint = noMaint && fam.scope === 'server';
    for (; cur.sub <= lastCode; cur.sub++, cur.row = 0) {
      const col = table.column(HTTP_CODES[cur.sub]![1]);
      const sfx = this.codeSfx[cur.sub]!;
      for (; cur.row < rows.length; cur.row++) {
        const r = rows[cur.row]!;
        if (!http[r] || (skipMaint && maint[r])) continue;
        if (!cur.header && !this.header(fam, w, cur)) return false;
        const lbl = labels[r]!;
        const s = col < 0 ? 0 : starts[r * stride + col]!;
        const e = col < 0 ? 0 : starts[r * stride + col + 1]! - 1;
        const buf = w.buf;
        let o = w.pos;
        if (o + name.length + lbl.length + sfx.length + (e - s) + LINE_EXTRA > buf.length) return false;
        buf.set(name, o);
        o += name.length;
        buf.set(lbl, o);
        o += lbl.length;
        buf.set(sfx, o);
        o += sfx.length;
        o = putNumber(buf, o, lines[r]!, s, e);
        buf[o++] = NL;
        w.pos = o;
      }
    }
    return true;
  }

  /**
   * Writes sample lines from the cursor on until the chunk is full (returns
   * false, cursor updated) or the family is done (returns true).
   */
  private writeRows(fam: StatFamily, p: Prepared, w: ByteSink, rows: Int32Array, noMaint: boolean, cur: Cursor): boolean {
    const kind = fam.metric.value;
    if (kind === 'status' || kind === 'check_status' || kind === 'agg_server' || kind === 'agg_check') return this.writeStates(fam, p, w, rows, noMaint, cur);
    const { table, labels, http, maint, checkState } = p;
    const { lines, starts, stride } = table;
    const col = table.column(fam.metric.column);
    const name = fam.name;
    const nameLen = name.length;
    const skipMaint = noMaint && fam.scope === 'server';
    const httpOnly = fam.metric.httpOnly === true;
    const ms = kind === 'ms' || kind === 'duration';
    const checkCode = kind === 'check_code';
    const duration = kind === 'duration';
    // The hot loop: one line per row, two copies (name, labels) and the value.
    // Locals only (the cursor is written back when the sink is full).
    let buf = w.buf;
    let o = w.pos;
    const n = rows.length;
    for (let i = cur.row; i < n; i++) {
      const r = rows[i]!;
      if ((skipMaint && maint[r]) || (httpOnly && !http[r])) continue;
      if (checkCode && checkState[r] === -2) continue;
      const base = r * stride + col;
      const s = col < 0 ? 0 : starts[base]!;
      const e = col < 0 ? 0 : starts[base + 1]! - 1;
      if (duration && e <= s) continue;
      if (!cur.header) {
        w.pos = o;
        if (!this.header(fam, w, cur)) {
          cur.row = i;
          return false;
        }
        buf = w.buf;
        o = w.pos;
      }
      const lbl = labels[r]!;
      if (o + nameLen + lbl.length + (e - s) + LINE_EXTRA > buf.length) {
        w.pos = o;
        cur.row = i;
        return false;
      }
      buf.set(name, o);
      o += nameLen;
      buf.set(lbl, o);
      o += lbl.length;
      buf[o++] = 125; // }
      buf[o++] = 32;
      if (ms) o = putMs(buf, o, lines[r]!, s, e);
      else if (checkCode && e <= s)
        buf[o++] = 48; // no L5-7 code: 0
      else o = putNumber(buf, o, lines[r]!, s, e);
      buf[o++] = NL;
    }
    w.pos = o;
    cur.row = n;
    return true;
  }

  /** One sample per label value: 1 for the current state (status, check_status), or a count per state (agg_*). */
  private writeStates(fam: StatFamily, p: Prepared, w: ByteSink, rows: Int32Array, noMaint: boolean, cur: Cursor): boolean {
    const { metric, scope, name } = fam;
    const { table, labels } = p;
    const kind = metric.value;
    const isServer = scope === 'server';
    const sfx = kind === 'status' ? (isServer ? this.serverStateSfx : this.proxyStateSfx) : kind === 'agg_server' ? this.serverStateSfx : this.checkStateSfx;
    const skipMaint = noMaint && isServer;
    const n = rows.length;
    for (let i = cur.row; i < n; i++, cur.sub = 0) {
      const r = rows[i]!;
      if (skipMaint && p.maint[r]) continue;
      let current = -1;
      let counts: Int32Array | undefined;
      if (kind === 'status') {
        if (isServer) current = p.serverState[r]!;
        else {
          const status = table.field(r, p.statusCol);
          current = scope === 'frontend' ? (status === 'STOP' ? 0 : 1) : status === 'UP' ? 1 : 0;
        }
      } else if (kind === 'check_status') {
        current = p.checkState[r]!;
        if (current === -2) continue;
      } else {
        counts = (kind === 'agg_server' ? p.aggServer : p.aggCheck).get(r);
        if (!counts) continue;
      }
      if (!cur.header && !this.header(fam, w, cur)) {
        cur.row = i;
        return false;
      }
      const lbl = labels[r]!;
      const prefix = name.length + lbl.length;
      const buf = w.buf;
      let o = w.pos;
      // Every line of the row starts with the same name and labels: copy them from the first.
      let first = -1;
      for (let k = cur.sub; k < sfx.length; k++) {
        const x = sfx[k]!;
        if (o + prefix + x.length + LINE_EXTRA > buf.length) {
          w.pos = o;
          cur.row = i;
          cur.sub = k;
          return false;
        }
        if (first < 0) {
          first = o;
          buf.set(name, o);
          buf.set(lbl, o + name.length);
        } else buf.copyWithin(o, first, first + prefix);
        o += prefix;
        buf.set(x, o);
        o += x.length;
        o = putInt(buf, o, counts ? counts[k]! : k === current ? 1 : 0);
        buf[o++] = NL;
      }
      w.pos = o;
    }
    cur.row = n;
    return true;
  }
}

interface PrerenderHooks {
  /** Writes rows of one family (one HTTP code for hrsp: cur.sub) into a sink; false when the sink is full. */
  write(fam: StatFamily, p: Prepared, sink: ByteSink, rows: Int32Array, cur: Cursor): boolean;
  /** The final facts, for the other families of scrapes using this read. */
  finished(table: StatTable, p: Prepared): void;
  needLastChecks: boolean;
}

/** Server families rendered row batch by row batch during a read; see HaproxyExporter.prerenderer(). */
class ServerPrerender implements RowRenderer, Prerendered {
  private facts: RowFacts | undefined;
  private seenServers = 0;
  /** Per family its chunk lists (http_responses_total: one per code, in order). */
  private readonly lists = new Map<StatFamily, ChunkList[]>();
  private refs = 0;
  private released = false;

  constructor(
    readonly exporter: HaproxyExporter,
    private readonly families: readonly StatFamily[],
    private readonly pool: ChunkPool,
    private readonly hooks: PrerenderHooks,
  ) {}

  rows(view: StatTable, from: number, to: number): void {
    const facts = (this.facts ??= new RowFacts(view));
    facts.add(view, from, to);
    const servers = facts.lists.server;
    if (servers.length === this.seenServers) return;
    const p = facts.partial(view, servers.slice(this.seenServers));
    this.seenServers = servers.length;
    const rows = p.rows.server;
    for (const fam of this.families) {
      const hrsp = fam.metric.value === 'hrsp';
      let lists = this.lists.get(fam);
      if (!lists) {
        lists = Array.from({ length: hrsp ? HTTP_CODES.length : 1 }, () => new ChunkList(this.pool));
        this.lists.set(fam, lists);
      }
      lists.forEach((list, code) => {
        const cur: Cursor = { header: true, row: 0, sub: code };
        while (!this.hooks.write(fam, p, list, rows, cur)) list.next(fam.name.length + 1024);
      });
    }
  }

  finish(table: StatTable, serversState: string | undefined): Prerendered {
    const facts = (this.facts ??= new RowFacts(table));
    this.hooks.finished(table, facts.finish(table, this.hooks.needLastChecks ? serversState : undefined));
    let used = 0;
    for (const lists of this.lists.values()) for (const l of lists) used += l.buffers;
    this.pool.fit(used);
    this.refs = 1;
    return this;
  }

  abort(): void {
    this.refs = 1;
    this.release();
  }

  /** The rendered lines of a family ([] when it has none), or undefined when this family was not rendered here. */
  chunks(fam: StatFamily): Uint8Array[] | undefined {
    if (!this.families.includes(fam)) return undefined;
    return (this.lists.get(fam) ?? []).flatMap((l) => l.chunks());
  }

  acquire(): boolean {
    if (this.released) return false;
    this.refs++;
    return true;
  }

  release(): void {
    if (this.released || --this.refs > 0) return;
    this.released = true;
    for (const lists of this.lists.values()) for (const l of lists) l.release();
    this.lists.clear();
  }
}
