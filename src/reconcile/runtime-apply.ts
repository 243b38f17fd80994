/**
 * Applies server operations through HAProxy's runtime API, saves server
 * states before a reload, and corrects live servers after one.
 */
import { isIP } from 'node:net';
import { writeFileAtomic } from '../haproxy/atomic-file.js';
import type { ServerState } from '../haproxy/parse.js';
import type { RuntimeApi } from '../haproxy/runtime.js';
import type { ConfigModel, ServerModel } from '../render/model.js';
import type { RuntimeExecutor } from './reconciler.js';
import type { ServerOp } from './plan.js';

export interface RuntimeApplyOptions {
  api: RuntimeApi;
  serverStateFile: string;
  /** How long a deleted server may take to lose its last connections. */
  deleteTimeoutMs?: number;
}

const ORDER: Record<ServerOp['op'], number> = { del: 0, add: 1, addr: 2, weight: 3, state: 4 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RuntimeApply implements RuntimeExecutor {
  constructor(private readonly o: RuntimeApplyOptions) {}

  async execute(ops: readonly ServerOp[]): Promise<void> {
    const sorted = [...ops].sort((a, b) => ORDER[a.op] - ORDER[b.op]);
    for (const op of sorted) await this.one(op);
  }

  private async one(op: ServerOp): Promise<void> {
    const { api } = this.o;
    const s = op.server;
    switch (op.op) {
      case 'add':
        await api.addServer(op.backend, s.name, addArgs(s));
        if (s.params.includes('check')) await api.enableHealth(op.backend, s.name);
        if (s.state !== 'maint') await api.setServerState(op.backend, s.name, 'ready');
        return;
      case 'del':
        await this.remove(op.backend, s.name);
        return;
      case 'addr':
        await api.setServerAddr(op.backend, s.name, s.address, s.port);
        return;
      case 'weight':
        await api.setServerWeight(op.backend, s.name, s.weight);
        return;
      case 'state':
        await api.setServerState(op.backend, s.name, s.state === 'maint' ? 'maint' : 'ready');
        return;
    }
  }

  /** maint, close its sessions, then delete; waits briefly for connections to go. */
  private async remove(backend: string, server: string): Promise<void> {
    const { api } = this.o;
    await api.setServerState(backend, server, 'maint');
    await api.execute(`shutdown sessions server ${backend}/${server}`);
    const deadline = Date.now() + (this.o.deleteTimeoutMs ?? 1000);
    for (;;) {
      try {
        await api.delServer(backend, server);
        return;
      } catch (err) {
        if (Date.now() > deadline || !/connections/i.test(String((err as Error).message))) throw err;
        await sleep(20);
      }
    }
  }

  async saveServerState(): Promise<void> {
    const text = await this.o.api.execute('show servers state');
    if (text.startsWith('1\n')) await writeFileAtomic(this.o.serverStateFile, text);
  }

  async converge(model: ConfigModel): Promise<number> {
    const live = await this.o.api.showServersState();
    const ops = convergeOps(model, live);
    await this.execute(ops);
    return ops.length;
  }
}

/** `add server` arguments: dynamic servers inherit nothing, so every parameter is explicit. */
export function addArgs(s: ServerModel): string {
  return [s.endpoint, `weight ${s.weight}`, s.params].filter(Boolean).join(' ');
}

/** Operations that bring live servers (as `show servers state` reports them) in line with the model. Pure. */
export function convergeOps(model: ConfigModel, live: readonly ServerState[]): ServerOp[] {
  const byBackend = new Map<string, Map<string, ServerState>>();
  for (const s of live) {
    let m = byBackend.get(s.backend);
    if (!m) byBackend.set(s.backend, (m = new Map()));
    m.set(s.server, s);
  }
  const ops: ServerOp[] = [];
  for (const b of model.backends) {
    const running = byBackend.get(b.name) ?? new Map<string, ServerState>();
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
      // DNS names resolve inside HAProxy; only IP literals can be compared.
      if (isIP(want.address) !== 0 && (s.addr !== want.address || s.port !== want.port)) ops.push({ op: 'addr', backend: b.name, server: want });
      if (s.weight !== want.weight) ops.push({ op: 'weight', backend: b.name, server: want });
      const liveMaint = s.admin === 'maint';
      if (liveMaint !== (want.state === 'maint') || s.admin === 'drain') ops.push({ op: 'state', backend: b.name, server: want });
    }
  }
  return ops;
}
