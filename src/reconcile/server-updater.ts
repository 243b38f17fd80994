/**
 * Applies server operations through HAProxy's runtime API, saves server
 * states before a reload, and corrects live servers after one.
 *
 * Commands go in batches over one connection each (RuntimeApi.batch), every
 * reply checked: a burst of 1,000 member changes costs a handful of
 * connections, not thousands. Measured on 2.6 (docs/decisions/0002): `add
 * server` starts the server in maint and ignores default-server (all
 * parameters are explicit), `del server` needs maint and no connection.
 *
 * A removed server whose connections have not ended yet stays in maint (it
 * takes no new request) and is deleted by a later pass (finishDeletes); no
 * connection is ever cut. HAProxy 2.6 also counts idle keep-alive server
 * connections, which return to its idle pool when a request ends after
 * `state maint` and would stay there for several pool-purge-delay periods:
 * those are closed by re-addressing the server (see closeIdle). A pending
 * server whose name is added again is the same target (Kubernetes member
 * names are `address:port`): its deletion is cancelled and it serves again,
 * no reload. Pending deletions are never forgotten while the server is live:
 * converge() (after a reload, and when an HAProxy is adopted) takes every
 * live server the model does not declare as one.
 */
import { isIP } from 'node:net';
import { writeFileAtomic } from '../util/atomic-file.js';
import { sleep } from '../util/backoff.js';
import { adminMode, type ServerState } from '../haproxy/parse.js';
import { describeRefusal, serverCommands, type BatchReply, type RuntimeApi, type RuntimeCommand } from '../haproxy/runtime.js';
import type { ConfigModel, ServerModel } from '../render/model.js';
import type { Logger } from '../log.js';
import type { RuntimeExecutor } from './reconciler.js';
import type { ServerOp } from './plan.js';

export interface ServerUpdaterOptions {
  api: RuntimeApi;
  serverStateFile: string;
  /**
   * How long a pass waits for a removed server's connections to end before
   * leaving it in maint for a later pass (finishDeletes). Default 100 ms.
   */
  deleteWaitMs?: number;
  /** Commands per runtime-API connection. Default 500. */
  batchSize?: number;
  /** Where a server pending longer than `longWaitMs` is logged (once, a warning with its connection counts). */
  logger?: Logger;
  /** How long a removed server waits for its connections before that warning. Default 5 minutes. */
  longWaitMs?: number;
  /** Monotonic milliseconds (tests). Default performance.now. */
  now?: () => number;
}

/** A runtime command HAProxy refused: the reconciler falls back to a reload. */
export class RuntimeUpdateError extends Error {
  override readonly name = 'RuntimeUpdateError';
  constructor(
    message: string,
    readonly failed: BatchReply[],
  ) {
    super(message);
  }
}

const ORDER: Record<ServerOp['op'], number> = { del: 0, add: 1, addr: 2, weight: 3, state: 4 };
const STILL_CONNECTED = /connections/i;
const NO_SUCH_SERVER = /^No such (server|backend)/i;
/**
 * A removed server still connected is tried again after this long, doubling
 * up to DELETE_RECHECK_MAX_MS; once every pending server has waited
 * DELETE_SLOW_AFTER_MS (a WebSocket, a long stream), up to
 * DELETE_RECHECK_SLOW_MAX_MS.
 */
const DELETE_RECHECK_MS = 100;
const DELETE_RECHECK_MAX_MS = 5000;
const DELETE_SLOW_AFTER_MS = 60_000;
const DELETE_RECHECK_SLOW_MAX_MS = 30_000;
const LONG_WAIT_MS = 5 * 60_000;

/** A server of `show servers conn`: its used and idle server-side connections. */
export interface ServerConns {
  backend: string;
  server: string;
  addr: string;
  port: number;
  used: number;
  idle: number;
}

/**
 * Parses `show servers conn` (2.6 and 3.0 print the same columns, named in a
 * `# ` header). Throws on an unexpected format. Pure.
 */
export function parseServerConns(text: string): ServerConns[] {
  const lines = text.split('\n');
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) throw new Error(`Unexpected show servers conn output from HAProxy: ${JSON.stringify(text.slice(0, 200))}`);
  const cols = header.slice(2).trim().split(/\s+/);
  const at = (name: string): number => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`show servers conn has no ${name} column (header: ${header})`);
    return i;
  };
  const [name, addr, port, used, idle] = ['bkname/svname', 'addr', 'port', 'used_cur', 'idle_cur'].map(at) as [number, number, number, number, number];
  const out: ServerConns[] = [];
  for (const line of lines) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const f = line.trim().split(/\s+/);
    const [backend, server] = splitTarget(f[name] ?? '');
    if (f.length <= Math.max(name, addr, port, used, idle) || server === undefined) {
      throw new Error(`Unexpected show servers conn line from HAProxy: ${JSON.stringify(line)}`);
    }
    out.push({ backend, server, addr: f[addr]!, port: Number(f[port]), used: Number(f[used]), idle: Number(f[idle]) });
  }
  return out;
}

function splitTarget(s: string): [string, string | undefined] {
  const i = s.indexOf('/');
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

interface PendingDelete {
  backend: string;
  server: string;
}

interface Pending extends PendingDelete {
  /** When the server was left in maint (ServerUpdaterOptions.now). */
  since: number;
  /** Its connections at the last look (`show servers conn`). */
  used?: number;
  idle?: number;
  /** The long wait was logged. */
  warned?: boolean;
}

/** What the controller compares of a live server: the fields of ServerState it needs. */
export type LiveServer = Pick<ServerState, 'backend' | 'server' | 'addr' | 'port' | 'adminFlags' | 'weight'>;

/**
 * Parses `show servers state` (format 1) into LiveServer entries, one per
 * server line, in order. Leaner than parseServersState (no per-column record):
 * at 100,000 servers that is the difference between a few MB and a few
 * hundred MB of garbage per reload. Throws on an unexpected format.
 */
export function parseLiveServers(text: string): { servers: LiveServer[]; lines: string[]; header: string[] } {
  const all = text.split('\n');
  const header = all.slice(0, 2);
  if (header[0]?.trim() !== '1' || !header[1]?.startsWith('# ')) {
    throw new Error(`Unexpected show servers state output from HAProxy: ${JSON.stringify(text.slice(0, 200))}`);
  }
  const cols = header[1].slice(2).trim().split(/\s+/);
  const at = (name: string): number => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`show servers state has no ${name} column; HAProxy 2.6 or newer prints it`);
    return i;
  };
  const [be, srv, addr, port, admin, weight] = ['be_name', 'srv_name', 'srv_addr', 'srv_port', 'srv_admin_state', 'srv_uweight'].map(at) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const last = Math.max(be, srv, addr, port, admin, weight);
  const servers: LiveServer[] = [];
  const lines: string[] = [];
  const f: string[] = [];
  for (let i = 2; i < all.length; i++) {
    const line = all[i]!;
    if (line.trim() === '') continue;
    // Only the wanted columns become strings (HAProxy separates them with one space).
    f.length = 0;
    let from = 0;
    for (let col = 0; col <= last; col++) {
      const to = line.indexOf(' ', from);
      const wanted = col === be || col === srv || col === addr || col === port || col === admin || col === weight;
      f[col] = wanted ? line.slice(from, to < 0 ? undefined : to) : '';
      if (to < 0) break;
      from = to + 1;
    }
    if (f.length <= last) throw new Error(`Unexpected show servers state line from HAProxy: ${JSON.stringify(line)}`);
    servers.push({ backend: f[be]!, server: f[srv]!, addr: f[addr]!, port: Number(f[port]), adminFlags: Number(f[admin]), weight: Number(f[weight]) });
    lines.push(line);
  }
  return { servers, lines, header };
}

/** The admin state a live server really has (see adminMode). */
export function liveAdmin(s: Pick<ServerState, 'adminFlags'>): 'ready' | 'drain' | 'maint' {
  return adminMode(s.adminFlags);
}

export class ServerUpdater implements RuntimeExecutor {
  /** Removed servers left in maint until their connections end, by `backend/server`. */
  private readonly pending = new Map<string, Pending>();
  /** Consecutive rechecks that left servers pending (drives recheckAfterMs). */
  private rechecks = 0;
  private readonly now: () => number;

  constructor(private readonly o: ServerUpdaterOptions) {
    this.now = o.now ?? (() => performance.now());
  }

  /** Removed servers still in maint, waiting for their connections to end. */
  get pendingDeletes(): number {
    return this.pending.size;
  }

  /**
   * Tries the pending deletions once (no waiting: the loop's recheck timer
   * and noop passes call it; `tryNow: false` only reports them, right after
   * execute tried). A try is a `del server` per pending server and, for those
   * refused, one `show servers conn` per backend: never a pass. Returns how
   * many remain and when to try again (100 ms, doubling up to 5 s; up to 30 s
   * once every one has waited a minute), or undefined when none remains. A
   * pending server that is gone already (a reload dropped it) is forgotten.
   * A server pending longer than `longWaitMs` is logged once, with its
   * connection counts.
   */
  async finishDeletes(options: { tryNow?: boolean } = {}): Promise<{ remaining: number; recheckAfterMs: number } | undefined> {
    if (this.pending.size === 0) return undefined;
    const tryNow = options.tryNow !== false;
    const left = tryNow ? await this.remove([...this.pending.values()], 0, true) : [...this.pending.values()];
    if (left.length === 0) {
      this.rechecks = 0;
      return undefined;
    }
    if (tryNow) this.rechecks++;
    const now = this.now();
    let youngest = Infinity;
    for (const p of this.pending.values()) youngest = Math.min(youngest, now - p.since);
    const cap = youngest >= DELETE_SLOW_AFTER_MS ? DELETE_RECHECK_SLOW_MAX_MS : DELETE_RECHECK_MAX_MS;
    this.warnLongWaits(now);
    return { remaining: left.length, recheckAfterMs: Math.min(cap, DELETE_RECHECK_MS * 2 ** Math.min(Math.max(this.rechecks - 1, 0), 10)) };
  }

  /** Pending servers, oldest first (status, tests). */
  pendingServers(): { backend: string; server: string; waitedMs: number; used?: number; idle?: number }[] {
    const now = this.now();
    return [...this.pending.values()]
      .sort((a, b) => a.since - b.since)
      .map((p) => ({ backend: p.backend, server: p.server, waitedMs: now - p.since, used: p.used, idle: p.idle }));
  }

  private warnLongWaits(now: number): void {
    const limit = this.o.longWaitMs ?? LONG_WAIT_MS;
    for (const p of this.pending.values()) {
      if (p.warned || now - p.since < limit) continue;
      p.warned = true;
      this.o.logger?.warn('a removed server still has connections: kept in maint (no new request), deleted once they end; nothing is cut', {
        server: key(p.backend, p.server),
        waitedSeconds: Math.round((now - p.since) / 1000),
        usedConnections: p.used ?? 'unknown',
        idleConnections: p.idle ?? 'unknown',
        fix: `to end them now: echo "shutdown sessions server ${key(p.backend, p.server)}" to the stats socket`,
      });
    }
  }

  async execute(ops: readonly ServerOp[]): Promise<void> {
    // A server added again while its removal waits: same name, same target. Its deletion is
    // cancelled (address and port set back, undoing closeIdle's port move; weight; state).
    const cancelled = new Set<ServerOp>();
    for (const op of ops) {
      if (op.op === 'add' && this.pending.has(key(op.backend, op.server.name)) && isIP(op.server.address) !== 0) cancelled.add(op);
    }
    // One with a DNS name (not settable at run time) is deleted first, or the pass reloads.
    const again = ops.filter((op) => op.op === 'add' && !cancelled.has(op) && this.pending.has(key(op.backend, op.server.name)));
    if (again.length > 0) {
      const left = await this.remove(
        again.map((op) => ({ backend: op.backend, server: op.server.name })),
        this.o.deleteWaitMs ?? 100,
        true,
      );
      if (left.length > 0) {
        throw new RuntimeUpdateError(
          `${left.map((d) => key(d.backend, d.server)).join(', ')} was added again while its removal still waits for its connections to end`,
          [],
        );
      }
    }
    const sorted = [...ops].sort((a, b) => ORDER[a.op] - ORDER[b.op]);
    const first: RuntimeCommand[] = [];
    const dels: PendingDelete[] = [];
    for (const op of sorted) {
      const s = op.server;
      switch (op.op) {
        case 'add':
          if (cancelled.has(op)) {
            first.push(serverCommands.addr(op.backend, s.name, s.address, s.port), serverCommands.weight(op.backend, s.name, s.weight));
            if (s.state !== 'maint') first.push(serverCommands.state(op.backend, s.name, 'ready'));
            break;
          }
          first.push(serverCommands.add(op.backend, s.name, addArgs(s)));
          if (/(^| )check( |$)/.test(s.params)) first.push(serverCommands.enableHealth(op.backend, s.name));
          if (s.state !== 'maint') first.push(serverCommands.state(op.backend, s.name, 'ready'));
          break;
        case 'del':
          // Out of rotation now; deleted below once its requests are done.
          first.push(serverCommands.state(op.backend, s.name, 'maint'));
          dels.push({ backend: op.backend, server: s.name });
          break;
        case 'addr':
          first.push(serverCommands.addr(op.backend, s.name, s.address, s.port));
          break;
        case 'weight':
          first.push(serverCommands.weight(op.backend, s.name, s.weight));
          break;
        case 'state':
          // Drain is weight 0 (rendered and applied as the weight), so the admin state is ready or maint.
          first.push(serverCommands.state(op.backend, s.name, s.state === 'maint' ? 'maint' : 'ready'));
          break;
      }
    }
    for (const op of cancelled) this.pending.delete(key(op.backend, op.server.name));
    await this.run(first);
    if (dels.length > 0) await this.remove(dels, this.o.deleteWaitMs ?? 100, false);
  }

  private async run(commands: RuntimeCommand[]): Promise<BatchReply[]> {
    if (commands.length === 0) return [];
    const replies = await this.o.api.batch(commands, { chunkSize: this.o.batchSize });
    const failed = replies.filter((r) => !r.ok);
    if (failed.length > 0) throw refused(failed);
    return replies;
  }

  /**
   * Deletes servers already in maint, trying for up to `waitMs` while HAProxy
   * says they still have connections (after closing their idle ones, see
   * closeIdle). Those still connected then stay in maint, pending, for a
   * later pass (finishDeletes): their requests finish, nothing is cut. Any
   * other refusal throws (the pass falls back to a reload), except "no such
   * server" for a server already pending (`pendingOnly`): gone is done.
   * Returns the servers left pending.
   */
  private async remove(targets: PendingDelete[], waitMs: number, pendingOnly: boolean): Promise<PendingDelete[]> {
    const deadline = Date.now() + waitMs;
    let pending = targets;
    let tries = 0;
    let conns = new Map<string, ServerConns>();
    for (;;) {
      const replies = await this.o.api.batch(
        pending.map((d) => serverCommands.del(d.backend, d.server)),
        { chunkSize: this.o.batchSize },
      );
      const failed = replies.filter((r) => !r.ok);
      const fatal = failed.filter((r) => !STILL_CONNECTED.test(r.reply) && !(pendingOnly && NO_SUCH_SERVER.test(r.reply)));
      if (fatal.length > 0) throw refused(fatal);
      const busy = new Set(failed.filter((r) => STILL_CONNECTED.test(r.reply)).map((r) => r.command));
      for (const d of pending) if (!busy.has(serverCommands.del(d.backend, d.server).command)) this.pending.delete(key(d.backend, d.server));
      pending = pending.filter((d) => busy.has(serverCommands.del(d.backend, d.server).command));
      if (pending.length === 0) return [];
      // Idle connections are closed on the first refusal (and every fifth); one more try follows
      // 20 ms later however short the wait, as HAProxy releases them asynchronously.
      if (tries % 5 === 0) conns = await this.closeIdle(pending);
      tries++;
      if (Date.now() >= deadline && tries > 1) break;
      await sleep(20);
    }
    const now = this.now();
    for (const d of pending) {
      const k = key(d.backend, d.server);
      // A server pending already keeps when it started waiting.
      const p: Pending = this.pending.get(k) ?? { backend: d.backend, server: d.server, since: now };
      const c = conns.get(k);
      if (c) Object.assign(p, { used: c.used, idle: c.idle });
      if (!this.pending.has(k)) this.rechecks = 0; // a new one is looked at soon again
      this.pending.set(k, p);
    }
    return pending;
  }

  /**
   * Closes the idle server-side connections of servers about to be deleted,
   * when those are all that is left (`show servers conn`: none used, some
   * idle). HAProxy 2.6 refuses `del server` while a server has idle
   * connections, closes them when a server enters maint, but puts back in the
   * idle pool the connection of a request that ends later, and frees idle
   * connections only over several pool-purge-delay periods (about 15 s at
   * the default 5 s). A changed address makes it close them at once
   * (srv_update_addr_port → srv_cleanup_connections), used ones untouched: the
   * server is in maint and about to be deleted, so its port moves by one.
   * 3.0 closes idle connections itself in `del server`, so this finds nothing
   * to do there. Best effort: a failure here only delays the deletion.
   */
  private async closeIdle(targets: PendingDelete[]): Promise<Map<string, ServerConns>> {
    const backends = [...new Set(targets.map((d) => d.backend))];
    const wanted = new Set(targets.map((d) => key(d.backend, d.server)));
    const commands: RuntimeCommand[] = [];
    const seen = new Map<string, ServerConns>();
    try {
      const replies = await this.o.api.batch(
        backends.map((b) => ({ command: `show servers conn ${b}`, accept: (r: string) => r.startsWith('# ') })),
        { chunkSize: this.o.batchSize },
      );
      for (const r of replies) {
        if (!r.ok) continue;
        for (const c of parseServerConns(r.reply)) {
          if (wanted.has(key(c.backend, c.server))) seen.set(key(c.backend, c.server), c);
          if (!wanted.has(key(c.backend, c.server)) || c.used !== 0 || c.idle === 0 || isIP(c.addr) === 0) continue;
          commands.push(serverCommands.addr(c.backend, c.server, c.addr, c.port >= 65535 ? c.port - 1 : c.port + 1));
        }
      }
      if (commands.length > 0) await this.o.api.batch(commands, { chunkSize: this.o.batchSize });
    } catch {
      // Best effort: the deletion is tried again anyway.
    }
    return seen;
  }

  /**
   * Writes the server-state file the next worker loads (load-server-state-from-file).
   * Only servers whose live address, port, weight and maint-ness already
   * equal what `desired` (the configuration about to load) says keep their
   * line: they keep their health and operational state across the reload.
   * Every other server starts from the configuration, because 2.6 would
   * otherwise let the file win: a CLI-forced maint survives a reload into a
   * configuration that says ready, and the file's port replaces the
   * configuration's (measured; docs/decisions/0002).
   */
  async saveServerState(desired?: ConfigModel): Promise<void> {
    const text = await this.o.api.execute('show servers state');
    if (!text.startsWith('1\n')) return;
    await writeFileAtomic(this.o.serverStateFile, desired ? filterServerState(text, desired) : text);
  }

  /**
   * Brings the live servers in line with `model` (after a reload, after a
   * failed one towards the previous model, and when an HAProxy is adopted).
   * What is live decides, once it has been read: a pending server a reload
   * dropped is forgotten, one the model declares again is no longer pending,
   * and every live server the model does not declare (a pending deletion of
   * the old process, or of a controller before a restart) gets a `del` and
   * waits like any removal. A pending deletion is never forgotten before the
   * read succeeds. Returns how many operations it applied.
   */
  async converge(model: ConfigModel): Promise<number> {
    const text = await this.o.api.execute('show servers state');
    const live = parseLiveServers(text).servers;
    const liveKeys = new Set(live.map((s) => key(s.backend, s.server)));
    const declared = new Set(model.backends.flatMap((b) => b.servers.map((s) => key(b.name, s.name))));
    for (const k of [...this.pending.keys()]) if (!liveKeys.has(k) || declared.has(k)) this.pending.delete(k);
    if (this.pending.size === 0) this.rechecks = 0;
    const ops = convergeOps(model, live);
    // A pending server is in maint already and waits for its connections: nothing to do again now.
    const todo = ops.filter((op) => !(op.op === 'del' && this.pending.has(key(op.backend, op.server.name))));
    await this.execute(todo);
    return todo.length;
  }
}

function key(backend: string, server: string): string {
  return `${backend}/${server}`;
}

function refused(failed: BatchReply[]): RuntimeUpdateError {
  const first = failed[0]!;
  const more = failed.length > 1 ? ` (and ${failed.length - 1} more refused)` : '';
  return new RuntimeUpdateError(describeRefusal(first.command, first.reply) + more, failed);
}

/** `add server` arguments: dynamic servers inherit nothing, so every parameter is explicit. */
export function addArgs(s: ServerModel): string {
  return [s.endpoint, `weight ${s.weight}`, s.params].filter(Boolean).join(' ');
}

/** True when the live server already is what the model says (address, port, weight, maint or not). */
export function liveMatches(want: ServerModel, s: LiveServer): boolean {
  // DNS names resolve inside HAProxy; only IP literals can be compared.
  if (isIP(want.address) !== 0 && s.addr !== want.address) return false;
  if (s.port !== want.port || s.weight !== want.weight) return false;
  const admin = liveAdmin(s);
  return admin !== 'drain' && (admin === 'maint') === (want.state === 'maint');
}

/** Keeps the state-file lines of servers that already match `desired` (see saveServerState). Pure. */
export function filterServerState(text: string, desired: ConfigModel): string {
  const want = new Map<string, ServerModel>();
  for (const b of desired.backends) for (const s of b.servers) want.set(`${b.name}/${s.name}`, s);
  const { servers, lines, header } = parseLiveServers(text);
  const kept = [...header];
  servers.forEach((s, i) => {
    const w = want.get(`${s.backend}/${s.server}`);
    if (w && liveMatches(w, s)) kept.push(lines[i]!);
  });
  return kept.join('\n') + '\n';
}

/** Operations that bring live servers (as `show servers state` reports them) in line with the model. Pure. */
export function convergeOps(model: ConfigModel, live: readonly LiveServer[]): ServerOp[] {
  const byBackend = new Map<string, Map<string, LiveServer>>();
  for (const s of live) {
    let m = byBackend.get(s.backend);
    if (!m) byBackend.set(s.backend, (m = new Map()));
    m.set(s.server, s);
  }
  const ops: ServerOp[] = [];
  for (const b of model.backends) {
    const running = byBackend.get(b.name) ?? new Map<string, LiveServer>();
    const wanted = new Set(b.servers.map((s) => s.name));
    for (const [name, s] of running) {
      if (!wanted.has(name)) {
        ops.push({ op: 'del', backend: b.name, server: { name, address: s.addr, port: s.port, endpoint: '', weight: s.weight, state: 'maint', params: '' } });
      }
    }
    for (const want of b.servers) {
      const s = running.get(want.name);
      if (!s) {
        ops.push({ op: 'add', backend: b.name, server: want });
        continue;
      }
      if (isIP(want.address) !== 0 && (s.addr !== want.address || s.port !== want.port)) ops.push({ op: 'addr', backend: b.name, server: want });
      if (s.weight !== want.weight) ops.push({ op: 'weight', backend: b.name, server: want });
      const admin = liveAdmin(s);
      if ((admin === 'maint') !== (want.state === 'maint') || admin === 'drain') ops.push({ op: 'state', backend: b.name, server: want });
    }
  }
  return ops;
}
