/**
 * Live HAProxy stats over WebSocket (path /stream by default).
 *
 * A client subscribes, optionally to some frontends and backends and to some
 * fields, and receives a snapshot of the matching `show stat` rows, then every
 * interval the rows and fields that changed, as JSON. The stats socket is read
 * only while someone is subscribed, once per interval whatever the number of
 * clients. A client that does not keep up (more than maxBufferedBytes unsent)
 * or stops answering pings is disconnected rather than buffered without bound;
 * so is one that sends more than a few messages a second. A subscription not
 * yet served is replaced by a newer one (a flood of subscribes costs one
 * snapshot), and all clients together may hold at most maxTotalBufferedBytes
 * unsent. With --api-auth-reads, the upgrade needs the bearer token.
 *
 * Client → server:
 *   {"type":"subscribe","frontends":["web"],"backends":["default/app"],"fields":["scur","stot"]}
 *   {"type":"unsubscribe"}
 * or subscribe at connect: /stream?frontend=web&backend=default/app&fields=scur,stot (or /stream?all).
 * Server → client:
 *   {"type":"hello","intervalMs":1000}
 *   {"type":"snapshot","time":"…","rows":[{"type":"server","proxy":"default_app","server":"m1","stats":{…}}]}
 *   {"type":"update","time":"…","changed":[{…, "stats":{only changed fields; null when emptied}}],"removed":[{"type":…,"proxy":…}]}
 *   {"type":"error","message":"…"}
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { splitCsvLine } from '../haproxy/parse.js';
import type { Handler } from '../http/server.js';
import { requestUrl, sendJson } from '../http/server.js';
import type { Logger } from '../log.js';
import { proxyName } from '../render/model.js';
import type { StreamDropReason } from './controller-metrics.js';
import { RowType, type StatTable } from './stat-table.js';

export interface LiveStreamSettings {
  /** URL path (default /stream). */
  path?: string;
  /** How often changes are sent (default 1000 ms, at least 100). */
  intervalMs?: number;
  /** Unsent bytes after which a client is dropped (default 8 MiB). */
  maxBufferedBytes?: number;
  /** Most clients at once (default 100); more are refused with 503. */
  maxClients?: number;
  /** Ping interval; a client that has not answered the previous ping is dropped (default 30000 ms). */
  pingIntervalMs?: number;
  /** Unsent bytes over all clients together after which the client with the most is dropped (default 64 MiB). */
  maxTotalBufferedBytes?: number;
  /** Messages a client may send per second, on average over 10 s (default 5); a client sending more is disconnected. */
  maxMessagesPerSecond?: number;
}

export interface LiveStreamOptions extends LiveStreamSettings {
  stats: { read(maxAgeMs?: number): Promise<{ table: StatTable }> };
  logger: Logger;
  onClients?: (count: number) => void;
  onDrop?: (reason: StreamDropReason) => void;
  /**
   * Checks an upgrade request before it is accepted (with --api-auth-reads:
   * the bearer token). Throws an error with an HTTP `status` (401, 403) to
   * refuse it.
   */
  authorize?: (req: IncomingMessage) => Promise<void>;
}

type RowKind = 'frontend' | 'backend' | 'server';
const KIND: Record<number, RowKind> = { [RowType.Frontend]: 'frontend', [RowType.Backend]: 'backend', [RowType.Server]: 'server' };
/** Columns that identify a row rather than describe it. */
const ID_COLUMNS = new Set(['pxname', 'svname', 'type', '-', '']);
const NUMBER = /^-?\d+(\.\d+)?$/;
const NAME = /^[A-Za-z0-9_.:-]+(\/[A-Za-z0-9_.:-]+)?$/;
const MAX_LIST = 1000;

interface RowInfo {
  key: string;
  kind: RowKind;
  proxy: string;
  server?: string;
  line: string;
  fields?: string[];
}

interface Baseline {
  table: StatTable;
  columns: readonly string[];
  rows: Map<string, RowInfo>;
}

interface Subscription {
  frontends?: Set<string>;
  backends?: Set<string>;
  fields?: Set<string>;
  /** Canonical form: clients with equal keys share serialized messages. */
  key: string;
}

interface Client {
  id: number;
  ws: WebSocket;
  sub?: Subscription;
  alive: boolean;
  /** A subscription received but not yet served: a newer one replaces it, so a flood costs one snapshot. */
  pending?: Subscription;
  /** Token bucket of incoming messages. */
  credits: number;
  creditsAt: number;
}

interface Change {
  row: RowInfo;
  /** Column index → new value ('' = emptied); undefined for a new row (all fields). */
  changed?: Map<number, string>;
}

function typed(v: string): string | number {
  return NUMBER.test(v) ? Number(v) : v;
}

function splitRow(line: string): string[] {
  return line.includes('"') ? splitCsvLine(line) : line.split(',');
}

/**
 * The proxy names a subscription name stands for: namespace/name is that
 * resource's proxy; a bare name is a HAProxy proxy name or a resource of the
 * default namespace.
 */
function toProxyNames(v: string): string[] {
  const slash = v.indexOf('/');
  return slash < 0 ? [v, proxyName('default', v)] : [proxyName(v.slice(0, slash), v.slice(slash + 1))];
}

function nameList(value: unknown, what: string): Set<string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > MAX_LIST || !value.every((v) => typeof v === 'string' && NAME.test(v))) {
    throw new Error(`${what} must be a list of at most ${MAX_LIST} names (namespace/name, a name in the default namespace, or a HAProxy proxy name)`);
  }
  return new Set(value.flatMap((v: string) => toProxyNames(v)));
}

/** Validates a subscribe request (message or query string). */
export function parseSubscription(msg: { frontends?: unknown; backends?: unknown; fields?: unknown }): Subscription {
  const frontends = nameList(msg.frontends, 'frontends');
  const backends = nameList(msg.backends, 'backends');
  let fields: Set<string> | undefined;
  if (msg.fields !== undefined && msg.fields !== null) {
    if (!Array.isArray(msg.fields) || msg.fields.length > MAX_LIST || !msg.fields.every((f) => typeof f === 'string' && /^[a-z0-9_]+$/.test(f))) {
      throw new Error('fields must be a list of show stat column names, like ["scur","stot","status"]');
    }
    fields = new Set(msg.fields as string[]);
  }
  // Naming only frontends means "only these frontends", and the other way round.
  const filtered = frontends !== undefined || backends !== undefined;
  const sub: Subscription = {
    frontends: filtered ? (frontends ?? new Set()) : undefined,
    backends: filtered ? (backends ?? new Set()) : undefined,
    fields,
    key: '',
  };
  const list = (s?: Set<string>): string => (s ? [...s].sort().join(',') : '*');
  sub.key = `${list(sub.frontends)}|${list(sub.backends)}|${list(sub.fields)}`;
  return sub;
}

function matches(sub: Subscription, row: RowInfo): boolean {
  if (!sub.frontends || !sub.backends) return true;
  return row.kind === 'frontend' ? sub.frontends.has(row.proxy) : sub.backends.has(row.proxy);
}

function index(table: StatTable): Baseline {
  const px = table.column('pxname');
  const sv = table.column('svname');
  const type = table.column('type');
  const rows = new Map<string, RowInfo>();
  for (let r = 0; r < table.rowCount; r++) {
    const kind = KIND[table.rowType(r, type)];
    if (!kind) continue;
    const proxy = table.field(r, px);
    const server = table.field(r, sv);
    const key = `${proxy}/${server}`;
    rows.set(key, { key, kind, proxy, server: kind === 'server' ? server : undefined, line: table.line(r) });
  }
  return { table, columns: table.columns, rows };
}

function fieldsOf(row: RowInfo): string[] {
  return (row.fields ??= splitRow(row.line));
}

export class LiveStream {
  readonly path: string;
  readonly intervalMs: number;
  private readonly o: LiveStreamOptions;
  private readonly maxBuffered: number;
  private readonly maxClients: number;
  private readonly maxTotalBuffered: number;
  private readonly messageRate: number;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  private readonly clients = new Set<Client>();
  private nextId = 1;
  private baseline: Baseline | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly ping: NodeJS.Timeout | undefined;
  /** Serializes ticks and subscriptions, so a snapshot and the diffs after it line up. */
  private queue: Promise<void> = Promise.resolve();
  private statsFailing = false;
  private stopped = false;
  private server: Server | undefined;
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => this.upgrade(req, socket, head);

  constructor(o: LiveStreamOptions) {
    this.o = o;
    this.path = o.path ?? '/stream';
    this.intervalMs = Math.max(100, o.intervalMs ?? 1000);
    this.maxBuffered = o.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.maxClients = o.maxClients ?? 100;
    this.maxTotalBuffered = o.maxTotalBufferedBytes ?? 64 * 1024 * 1024;
    this.messageRate = o.maxMessagesPerSecond ?? 5;
    const pingMs = o.pingIntervalMs ?? 30_000;
    this.ping = setInterval(() => this.heartbeat(), pingMs);
    this.ping.unref();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Serves WebSocket upgrades on `server` (and answers plain GETs of the path with 426). */
  attach(server: Server): Handler {
    this.server = server;
    server.on('upgrade', this.onUpgrade);
    return (req, res, url) => {
      if (url.pathname !== this.path) return false;
      sendJson(res, 426, { error: 'UpgradeRequired', message: `connect with a WebSocket client to ${this.path}` }, { upgrade: 'websocket' });
      return true;
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.ping);
    this.server?.off('upgrade', this.onUpgrade);
    for (const c of this.clients) c.ws.terminate();
    this.clients.clear();
    this.o.onClients?.(0);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await this.queue;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const url = requestUrl(req);
    const refuse = (status: string, headers = ''): void => {
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n${headers}Content-Length: 0\r\n\r\n`);
      else socket.destroy();
    };
    if (!url) return refuse('400 Bad Request');
    if (url.pathname !== this.path) {
      // Another handler may serve this upgrade; refuse only when nobody else listens.
      if (this.server?.listenerCount('upgrade') === 1) refuse('404 Not Found');
      return;
    }
    if (this.stopped) return refuse('503 Service Unavailable');
    if (this.clients.size >= this.maxClients) {
      this.o.logger.warn('live stream: refusing a client, too many connected', { max: this.maxClients });
      return refuse('503 Service Unavailable');
    }
    const accept = (): void => {
      if (this.stopped || socket.destroyed) return refuse('503 Service Unavailable');
      if (this.clients.size >= this.maxClients) return refuse('503 Service Unavailable');
      try {
        this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws, url));
      } catch {
        refuse('400 Bad Request');
      }
    };
    if (!this.o.authorize) return accept();
    this.o.authorize(req).then(accept, (err: { status?: number; statusCode?: number; headers?: Record<string, string> }) => {
      const status = err.status ?? err.statusCode ?? 403;
      refuse(status === 401 ? '401 Unauthorized' : '403 Forbidden', status === 401 ? 'WWW-Authenticate: Bearer realm="node-haproxy"\r\n' : '');
    });
  }

  private connected(ws: WebSocket, url: URL): void {
    const client: Client = { id: this.nextId++, ws, alive: true, credits: this.messageRate * 10, creditsAt: Date.now() };
    this.clients.add(client);
    this.o.onClients?.(this.clients.size);
    ws.on('pong', () => (client.alive = true));
    ws.on('close', () => this.forget(client));
    ws.on('error', () => this.forget(client));
    ws.on('message', (data, isBinary) => this.message(client, data, isBinary));
    this.send(client, JSON.stringify({ type: 'hello', intervalMs: this.intervalMs, path: this.path }));
    const q = url.searchParams;
    if (['all', 'frontend', 'backend', 'fields'].some((k) => q.has(k))) {
      const list = (k: string): string[] | undefined =>
        q.has(k)
          ? q
              .getAll(k)
              .flatMap((v) => v.split(','))
              .filter((v) => v !== '')
          : undefined;
      this.subscribe(client, { frontends: list('frontend'), backends: list('backend'), fields: list('fields') });
    }
  }

  private forget(client: Client): void {
    if (this.clients.delete(client)) this.o.onClients?.(this.clients.size);
  }

  /** Takes one message credit; false when the client has sent faster than allowed (it is then dropped). */
  private takeCredit(client: Client): boolean {
    const now = Date.now();
    const burst = this.messageRate * 10;
    client.credits = Math.min(burst, client.credits + ((now - client.creditsAt) / 1000) * this.messageRate);
    client.creditsAt = now;
    if (client.credits < 1) return false;
    client.credits -= 1;
    return true;
  }

  private message(client: Client, data: RawData, isBinary: boolean): void {
    if (!this.clients.has(client)) return; // dropped: what it had in flight is ignored
    if (!this.takeCredit(client)) {
      this.drop(client, 'flood', { maxMessagesPerSecond: this.messageRate });
      return;
    }
    let msg: { type?: unknown; frontends?: unknown; backends?: unknown; fields?: unknown };
    try {
      if (isBinary) throw new Error('binary');
      msg = JSON.parse(data.toString()) as typeof msg;
      if (typeof msg !== 'object' || msg === null) throw new Error('not an object');
    } catch {
      this.send(client, JSON.stringify({ type: 'error', message: 'messages are JSON objects: {"type":"subscribe",...} or {"type":"unsubscribe"}' }));
      return;
    }
    if (msg.type === 'subscribe') this.subscribe(client, msg);
    else if (msg.type === 'unsubscribe') {
      client.sub = undefined;
      client.pending = undefined;
    } else this.send(client, JSON.stringify({ type: 'error', message: `unknown message type ${JSON.stringify(msg.type)}; use subscribe or unsubscribe` }));
  }

  private subscribe(client: Client, msg: { frontends?: unknown; backends?: unknown; fields?: unknown }): void {
    let sub: Subscription;
    try {
      sub = parseSubscription(msg);
    } catch (err) {
      this.send(client, JSON.stringify({ type: 'error', message: (err as Error).message }));
      return;
    }
    // One queued snapshot per client at most: a newer subscription replaces one not yet served.
    const queued = client.pending !== undefined;
    client.pending = sub;
    if (queued) return;
    this.enqueue(async () => {
      const next = client.pending;
      client.pending = undefined;
      if (!this.clients.has(client) || !next) return;
      sub = next;
      if (!this.baseline) {
        try {
          this.baseline = index((await this.o.stats.read(this.intervalMs / 2)).table);
        } catch (err) {
          this.send(client, JSON.stringify({ type: 'error', message: (err as Error).message }));
          return;
        }
      }
      client.sub = sub;
      this.send(client, this.snapshot(this.baseline, sub));
      this.schedule();
    });
  }

  private enqueue(fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).catch((err: unknown) => this.o.logger.error('live stream failed', { err }));
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.enqueue(() => this.tick());
    }, this.intervalMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const subscribers = [...this.clients].filter((c) => c.sub);
    if (subscribers.length === 0) {
      this.baseline = undefined; // nobody listens: stop reading, free the rows
      return;
    }
    this.schedule();
    let table: StatTable;
    try {
      table = (await this.o.stats.read(this.intervalMs / 2)).table;
    } catch (err) {
      if (!this.statsFailing) {
        this.statsFailing = true;
        const text = JSON.stringify({ type: 'error', message: (err as Error).message });
        for (const c of subscribers) this.send(c, text);
      }
      return;
    }
    this.statsFailing = false;
    const prev = this.baseline;
    if (prev?.table === table) return;
    const next = index(table);
    this.baseline = next;
    if (!prev) return;
    const { changes, removed } = diff(prev, next);
    if (changes.length === 0 && removed.length === 0) {
      for (const c of subscribers) this.checkBuffered(c);
      return;
    }
    const time = new Date().toISOString();
    const byKey = new Map<string, string | null>();
    for (const c of subscribers) {
      const sub = c.sub!;
      let text = byKey.get(sub.key);
      if (text === undefined) {
        text = this.update(next.columns, sub, changes, removed, time);
        byKey.set(sub.key, text);
      }
      if (text !== null) this.send(c, text);
      else this.checkBuffered(c);
    }
  }

  private stats(columns: readonly string[], fields: string[], sub: Subscription, only?: Map<number, string>): Record<string, string | number | null> {
    const out: Record<string, string | number | null> = {};
    const take = (i: number, v: string | undefined): void => {
      const name = columns[i]!;
      if (ID_COLUMNS.has(name) || (sub.fields && !sub.fields.has(name))) return;
      if (only) out[name] = v === '' || v === undefined ? null : typed(v);
      else if (v !== undefined && v !== '') out[name] = typed(v);
    };
    if (only) for (const [i, v] of only) take(i, v);
    else for (let i = 0; i < columns.length; i++) take(i, fields[i]);
    return out;
  }

  private row(row: RowInfo, stats: Record<string, unknown>): Record<string, unknown> {
    return row.server === undefined ? { type: row.kind, proxy: row.proxy, stats } : { type: row.kind, proxy: row.proxy, server: row.server, stats };
  }

  private snapshot(b: Baseline, sub: Subscription): string {
    const rows: Record<string, unknown>[] = [];
    for (const row of b.rows.values()) if (matches(sub, row)) rows.push(this.row(row, this.stats(b.columns, fieldsOf(row), sub)));
    return JSON.stringify({ type: 'snapshot', time: new Date().toISOString(), rows });
  }

  /** The update message for one subscription, or null when nothing it sees changed. */
  private update(columns: readonly string[], sub: Subscription, changes: Change[], removed: RowInfo[], time: string): string | null {
    const changed: Record<string, unknown>[] = [];
    for (const ch of changes) {
      if (!matches(sub, ch.row)) continue;
      const stats = this.stats(columns, fieldsOf(ch.row), sub, ch.changed);
      if (Object.keys(stats).length > 0) changed.push(this.row(ch.row, stats));
    }
    const gone = removed
      .filter((r) => matches(sub, r))
      .map((r) => (r.server === undefined ? { type: r.kind, proxy: r.proxy } : { type: r.kind, proxy: r.proxy, server: r.server }));
    if (changed.length === 0 && gone.length === 0) return null;
    return JSON.stringify({ type: 'update', time, changed, removed: gone });
  }

  /**
   * Drops the client when it has too much unsent data, or when all clients
   * together hold more than the total budget and this one holds the most;
   * true when it was dropped.
   */
  private checkBuffered(c: Client): boolean {
    if (c.ws.bufferedAmount > this.maxBuffered) {
      this.drop(c, 'slow', { bufferedBytes: c.ws.bufferedAmount });
      return true;
    }
    let total = 0;
    let largest: Client | undefined;
    for (const other of this.clients) {
      const n = other.ws.bufferedAmount;
      total += n;
      if (!largest || n > largest.ws.bufferedAmount) largest = other;
    }
    if (total <= this.maxTotalBuffered || !largest) return false;
    this.drop(largest, 'slow', { bufferedBytes: largest.ws.bufferedAmount, totalBufferedBytes: total });
    return largest === c;
  }

  private send(c: Client, text: string): void {
    if (c.ws.readyState !== WebSocket.OPEN || this.checkBuffered(c)) return;
    c.ws.send(text);
  }

  private drop(c: Client, reason: StreamDropReason, fields: Record<string, unknown> = {}): void {
    if (!this.clients.has(c)) return; // once: a client is dropped and counted one time
    const what = { slow: 'client that does not keep up', unresponsive: 'client that stopped answering pings', flood: 'client that sends messages too fast' }[
      reason
    ];
    this.o.logger.warn(`live stream: dropping a ${what}`, {
      client: c.id,
      ...fields,
    });
    this.o.onDrop?.(reason);
    c.ws.terminate();
    this.forget(c);
  }

  private heartbeat(): void {
    for (const c of [...this.clients]) {
      if (!c.alive) {
        this.drop(c, 'unresponsive');
        continue;
      }
      c.alive = false;
      if (!this.checkBuffered(c)) c.ws.ping();
    }
  }
}

/** Rows and fields that differ between two reads. */
function diff(prev: Baseline, next: Baseline): { changes: Change[]; removed: RowInfo[] } {
  const sameColumns = prev.columns.length === next.columns.length && prev.columns.every((c, i) => c === next.columns[i]);
  const changes: Change[] = [];
  for (const row of next.rows.values()) {
    const old = prev.rows.get(row.key);
    if (!old || !sameColumns) {
      changes.push({ row });
      continue;
    }
    if (old.line === row.line) continue;
    const a = fieldsOf(old);
    const b = fieldsOf(row);
    const changed = new Map<number, string>();
    for (let i = 0; i < next.columns.length; i++) if ((a[i] ?? '') !== (b[i] ?? '')) changed.set(i, b[i] ?? '');
    if (changed.size > 0) changes.push({ row, changed });
  }
  const removed: RowInfo[] = [];
  for (const [key, row] of prev.rows) if (!next.rows.has(key)) removed.push(row);
  return { changes, removed };
}
