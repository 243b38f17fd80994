/**
 * Applies server operations through HAProxy's runtime API, saves server
 * states before a reload, and corrects live servers after one.
 *
 * Commands go in batches over one connection each (RuntimeApi.batch), every
 * reply checked: a burst of 1,000 member changes costs a handful of
 * connections, not thousands. Measured on 2.6 (docs/decisions/0002): `add
 * server` starts the server in maint and ignores default-server (all
 * parameters are explicit), `del server` needs maint and no connection.
 */
import { isIP } from 'node:net';
import { writeFileAtomic } from '../util/atomic-file.js';
import { sleep } from '../util/backoff.js';
import { adminMode, type ServerState } from '../haproxy/parse.js';
import { describeRefusal, serverCommands, type BatchReply, type RuntimeApi, type RuntimeCommand } from '../haproxy/runtime.js';
import type { ConfigModel, ServerModel } from '../render/model.js';
import type { RuntimeExecutor } from './reconciler.js';
import type { ServerOp } from './plan.js';

export interface ServerUpdaterOptions {
  api: RuntimeApi;
  serverStateFile: string;
  /**
   * How long a removed server may keep serving the requests it has (in maint,
   * so it takes no new one) before they are cut (`shutdown sessions`). Default 1000 ms.
   */
  deleteTimeoutMs?: number;
  /** Commands per runtime-API connection. Default 500. */
  batchSize?: number;
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
  constructor(private readonly o: ServerUpdaterOptions) {}

  async execute(ops: readonly ServerOp[]): Promise<void> {
    const sorted = [...ops].sort((a, b) => ORDER[a.op] - ORDER[b.op]);
    const first: RuntimeCommand[] = [];
    const dels: ServerOp[] = [];
    for (const op of sorted) {
      const s = op.server;
      switch (op.op) {
        case 'add':
          first.push(serverCommands.add(op.backend, s.name, addArgs(s)));
          if (/(^| )check( |$)/.test(s.params)) first.push(serverCommands.enableHealth(op.backend, s.name));
          if (s.state !== 'maint') first.push(serverCommands.state(op.backend, s.name, 'ready'));
          break;
        case 'del':
          // Out of rotation now; deleted below once its requests are done.
          first.push(serverCommands.state(op.backend, s.name, 'maint'));
          dels.push(op);
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
    await this.run(first);
    if (dels.length > 0) await this.remove(dels);
  }

  private async run(commands: RuntimeCommand[]): Promise<BatchReply[]> {
    if (commands.length === 0) return [];
    const replies = await this.o.api.batch(commands, { chunkSize: this.o.batchSize });
    const failed = replies.filter((r) => !r.ok);
    if (failed.length > 0) throw refused(failed);
    return replies;
  }

  /**
   * Deletes servers already in maint. Those that still have connections get
   * until deleteTimeoutMs to finish them, then their sessions are shut down
   * and HAProxy gets as long again to release them before the update fails
   * (and the reconciler falls back to a reload).
   */
  private async remove(ops: ServerOp[]): Promise<void> {
    const api = this.o.api;
    const grace = this.o.deleteTimeoutMs ?? 1000;
    let deadline = Date.now() + grace;
    let pending = ops;
    let cut = false;
    for (;;) {
      const replies = await api.batch(
        pending.map((op) => serverCommands.del(op.backend, op.server.name)),
        { chunkSize: this.o.batchSize },
      );
      const failed = replies.filter((r) => !r.ok);
      const fatal = failed.filter((r) => !STILL_CONNECTED.test(r.reply));
      if (fatal.length > 0) throw refused(fatal);
      if (failed.length === 0) return;
      const busy = new Set(failed.map((r) => r.command));
      pending = pending.filter((op) => busy.has(serverCommands.del(op.backend, op.server.name).command));
      if (Date.now() >= deadline) {
        if (cut) throw refused(failed);
        // Their time is up: cut what is left, then give HAProxy time to release it (a busy
        // HAProxy can take longer than one retry; a give-up here costs a reload).
        await this.run(pending.map((op) => serverCommands.shutdownSessions(op.backend, op.server.name)));
        cut = true;
        deadline = Date.now() + grace;
      }
      await sleep(20);
    }
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

  async converge(model: ConfigModel): Promise<number> {
    const text = await this.o.api.execute('show servers state');
    const ops = convergeOps(model, parseLiveServers(text).servers);
    await this.execute(ops);
    return ops.length;
  }
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
