/**
 * Pre-allocated server slots vs `add server`/`del server` on HAProxy 2.6:
 * latency of making a member live and of removing it (one runtime-API
 * connection per operation, the way the controller sends them), a burst of
 * 1,000, what survives a reload with and without rewriting the file, and what
 * idle slots cost in HAProxy memory. The choice is recorded in
 * docs/decisions/0002-member-updates.md.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HaproxySupervisor, statePaths } from '../src/haproxy/supervisor.js';
import { RuntimeApi, serverCommands, type RuntimeCommand } from '../src/haproxy/runtime.js';
import { findProcessesWithArg, signalProcess, waitForExit } from '../src/haproxy/process.js';
import { silentLogger } from '../src/log.js';
import { liveAdmin, parseLiveServers } from '../src/reconcile/server-updater.js';
import { HAPROXY_BIN } from './lib/harness.js';
import { freeLoopbackPort } from './lib/ports.js';
import { percentile, round, writeResult } from './lib/results.js';

const OPS = 200; // per approach and direction
const SLOTS = 100;
const BURST = 1000;
const SURVIVORS = 50;
const PLACEHOLDER = '127.0.0.2';

interface Member {
  name: string;
  port: number;
  weight: number;
}

function config(
  stateDir: string,
  port: number,
  extra: { slots?: number; slotBackends?: number; dynBackends?: number; slotLines?: (b: number, i: number) => string; dynLines?: (b: number) => string[] } = {},
): string {
  const p = statePaths(stateDir);
  const lines = [
    'global',
    `    stats socket ${p.adminSocket} mode 600 level admin expose-fd listeners`,
    `    server-state-file ${join(stateDir, 'server-state')}`,
    '    hard-stop-after 5s',
    '',
    'defaults',
    '    mode http',
    '    timeout connect 2s',
    '    timeout client 10s',
    '    timeout server 10s',
    '    load-server-state-from-file global',
    '',
    'frontend web',
    `    bind 127.0.0.1:${port}`,
    '    default_backend dyn0',
  ];
  for (let b = 0; b < (extra.slotBackends ?? 1); b++) {
    lines.push('', `backend slots${b}`, '    balance roundrobin');
    for (let i = 0; i < (extra.slots ?? SLOTS); i++) lines.push(`    ${extra.slotLines?.(b, i) ?? `server s${i} ${PLACEHOLDER}:1 weight 1 disabled`}`);
  }
  for (let b = 0; b < (extra.dynBackends ?? 1); b++) {
    lines.push('', `backend dyn${b}`, '    balance roundrobin', ...(extra.dynLines?.(b) ?? []).map((l) => `    ${l}`));
  }
  return lines.join('\n') + '\n';
}

const fill = (be: string, slot: string, m: Member): RuntimeCommand[] => [
  serverCommands.addr(be, slot, '127.0.0.1', m.port),
  serverCommands.weight(be, slot, m.weight),
  serverCommands.state(be, slot, 'ready'),
];
const empty = (be: string, slot: string): RuntimeCommand[] => [serverCommands.state(be, slot, 'maint')];
const add = (be: string, m: Member): RuntimeCommand[] => [
  serverCommands.add(be, m.name, `127.0.0.1:${m.port} weight ${m.weight}`),
  serverCommands.state(be, m.name, 'ready'),
];

async function timed(api: RuntimeApi, batches: RuntimeCommand[][]): Promise<number> {
  const t0 = performance.now();
  for (const b of batches) {
    const replies = await api.batch(b);
    const bad = replies.find((r) => !r.ok);
    if (bad) throw new Error(`${bad.command}: ${bad.reply}`);
  }
  return performance.now() - t0;
}

function workerRssMiB(stateDir: string, masterPid: number): number {
  const pids = findProcessesWithArg(statePaths(stateDir).masterSocket).filter((p) => p !== masterPid);
  return Math.round(pids.map((p) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0)).reduce((a, b) => a + b, 0) / 1024);
}

async function withHaproxy<T>(text: (dir: string) => string, fn: (sup: HaproxySupervisor, api: RuntimeApi, dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'nh-'));
  const sup = new HaproxySupervisor({ stateDir: dir, haproxyBin: HAPROXY_BIN, logger: silentLogger(), stopGraceMs: 2000 });
  try {
    await writeFile(join(dir, 'server-state'), '1\n');
    await sup.start(text(dir));
    return await fn(sup, new RuntimeApi({ socketPath: sup.paths.adminSocket }), dir);
  } finally {
    await sup.stop({ stopHaproxy: true }).catch(() => undefined);
    const left = findProcessesWithArg(statePaths(dir).masterSocket);
    for (const p of left) signalProcess(p, 'SIGKILL');
    await waitForExit(left, 2000);
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const port = await freeLoopbackPort();
  const memberPorts = await Promise.all(Array.from({ length: 4 }, () => freeLoopbackPort()));
  const member = (i: number): Member => ({ name: `m${i}`, port: memberPorts[i % 4]!, weight: 1 + (i % 200) });

  // 1. Latency per operation, one connection (batch) each, as ServerUpdater sends them.
  const lat = await withHaproxy(
    (dir) => config(dir, port),
    async (_sup, api) => {
      const out = { slotAdd: [] as number[], slotDel: [] as number[], dynAdd: [] as number[], dynDel: [] as number[] };
      for (let round = 0; round < OPS / SLOTS; round++) {
        for (let i = 0; i < SLOTS; i++) out.slotAdd.push(await timed(api, [fill('slots0', `s${i}`, member(i))]));
        for (let i = 0; i < SLOTS; i++) out.slotDel.push(await timed(api, [empty('slots0', `s${i}`)]));
        for (let i = 0; i < SLOTS; i++) out.dynAdd.push(await timed(api, [add('dyn0', member(i))]));
        // ServerUpdater: maint first, then del server once the server has no connection.
        for (let i = 0; i < SLOTS; i++)
          out.dynDel.push(await timed(api, [[serverCommands.state('dyn0', `m${i}`, 'maint')], [serverCommands.del('dyn0', `m${i}`)]]));
      }
      return out;
    },
  );

  // 2. A burst of 1,000 activations in one pass (batches of 500 commands per connection).
  const burst = await withHaproxy(
    (dir) => config(dir, port, { slotBackends: 10, dynBackends: 10 }),
    async (_sup, api) => {
      const slotCmds = Array.from({ length: BURST }, (_, k) => fill(`slots${k % 10}`, `s${Math.floor(k / 10)}`, member(k))).flat();
      const dynCmds = Array.from({ length: BURST }, (_, k) => add(`dyn${k % 10}`, { ...member(k), name: `m${Math.floor(k / 10)}` })).flat();
      return { slots: await timed(api, [slotCmds]), dyn: await timed(api, [dynCmds]) };
    },
  );

  // 3. What survives a reload: 50 members made live at run time, server states saved as HAProxy dumps them,
  //    then a reload (a) into the same file, (b) into a file rewritten with the members.
  const members = Array.from({ length: SURVIVORS }, (_, i) => member(i));
  const survival = async (rewrite: boolean) =>
    withHaproxy(
      (dir) => config(dir, port),
      async (sup, api, dir) => {
        await timed(
          api,
          members.map((m, i) => fill('slots0', `s${i}`, m)),
        );
        await timed(
          api,
          members.map((m) => add('dyn0', m)),
        );
        await writeFile(join(dir, 'server-state'), await api.execute('show servers state'));
        const next = rewrite
          ? config(dir, port, {
              slotLines: (_b, i) =>
                i < SURVIVORS ? `server s${i} 127.0.0.1:${members[i]!.port} weight ${members[i]!.weight}` : `server s${i} ${PLACEHOLDER}:1 weight 1 disabled`,
              dynLines: () => members.map((m) => `server ${m.name} 127.0.0.1:${m.port} weight ${m.weight}`),
            })
          : config(dir, port) + `# reload ${Date.now()}\n`;
        const r = await sup.apply(next);
        if (!r.ok) throw new Error(`reload failed: ${r.output}`);
        const live = parseLiveServers(await api.execute('show servers state')).servers;
        const ok = (be: string, name: (i: number) => string) =>
          members.filter((m, i) => {
            const s = live.find((x) => x.backend === be && x.server === name(i));
            return s && s.addr === '127.0.0.1' && s.port === m.port && s.weight === m.weight && liveAdmin(s) === 'ready';
          }).length;
        const slotsPartial = members.filter((m, i) => {
          const s = live.find((x) => x.backend === 'slots0' && x.server === `s${i}`);
          return s && liveAdmin(s) === 'ready' && s.port === m.port && s.addr !== '127.0.0.1';
        }).length;
        return { slots: ok('slots0', (i) => `s${i}`), dyn: ok('dyn0', (i) => members[i]!.name), slotsPartial };
      },
    );
  const kept = await survival(false);
  const rewritten = await survival(true);

  // 4. What idle slots cost: HAProxy worker memory with 10 × 1,000 idle slots vs none.
  const rss = async (slots: number) =>
    withHaproxy(
      (dir) => config(dir, port, { slotBackends: 10, slots }),
      async (sup, _api, dir) => workerRssMiB(dir, sup.masterPid!),
    );
  const rssNone = await rss(0);
  const rssSlots = await rss(1000);

  const s = (xs: number[]) => `${round(percentile(xs, 50), 2)} · ${round(percentile(xs, 99), 2)}`;
  writeResult({
    name: 'member-strategy',
    title: 'Member updates: pre-allocated slots vs add/del server',
    method:
      `HAProxy 2.6 alone, driven through RuntimeApi.batch (one stats-socket connection per operation, replies checked). ` +
      `Slots: \`server sN ${PLACEHOLDER}:1 weight 1 disabled\` filled with set server addr/weight/state and emptied with state maint. ` +
      `Dynamic: add server + state ready; removal is state maint, then del server. ${OPS} operations of each kind, a burst of ${BURST}, ` +
      `a reload after ${SURVIVORS} members were made live, and worker memory with idle slots.`,
    settings: { operations: OPS, slotsPerBackend: SLOTS, burst: BURST, survivors: SURVIVORS },
    targets: [],
    metrics: {
      'slot fill, p50 · p99 (ms)': s(lat.slotAdd),
      'slot empty, p50 · p99 (ms)': s(lat.slotDel),
      'add server + ready, p50 · p99 (ms)': s(lat.dynAdd),
      'maint + del server, p50 · p99 (ms)': s(lat.dynDel),
      [`burst of ${BURST} slot fills, one pass (ms)`]: round(burst.slots),
      [`burst of ${BURST} add server, one pass (ms)`]: round(burst.dyn),
      [`reload, file not rewritten: slot members intact (of ${SURVIVORS})`]: kept.slots,
      [`reload, file not rewritten: slot members ready on the file's address with the saved port (of ${SURVIVORS})`]: kept.slotsPartial,
      [`reload, file not rewritten: added servers intact (of ${SURVIVORS})`]: kept.dyn,
      [`reload, file rewritten: slot members intact (of ${SURVIVORS})`]: rewritten.slots,
      [`reload, file rewritten: added servers intact (of ${SURVIVORS})`]: rewritten.dyn,
      'HAProxy worker RSS, 10 empty backends (MiB)': rssNone,
      'HAProxy worker RSS, 10 backends × 1,000 idle slots (MiB)': rssSlots,
      'memory per idle slot (KiB)': round(((rssSlots - rssNone) * 1024) / 10_000, 1),
    },
    notes: [
      'Both approaches need the file rewritten after runtime changes: 2.6 does not take an IP address from the server-state file for a server whose configuration has an IP literal, but it does take the port.',
      'The controller uses add/del (docs/decisions/0002-member-updates.md).',
    ],
  });
}

await main();
