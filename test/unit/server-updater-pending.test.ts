/**
 * ServerUpdater's pending deletions (docs/decisions/0002, item 8) against a
 * scripted runtime API: what HAProxy answers is decided by the test (the
 * integration tests in runtime-delete-idle drive real HAProxy).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerUpdater } from '../../src/reconcile/server-updater.js';
import type { BatchReply, RuntimeApi, RuntimeCommand } from '../../src/haproxy/runtime.js';
import type { ConfigModel, ServerModel } from '../../src/render/model.js';
import type { Logger, LogFields } from '../../src/log.js';

/** Servers of backend `app` by name, with their used connections; answers the commands ServerUpdater sends. */
class ScriptedHaproxy {
  readonly servers = new Map<string, { used: number; port: number }>();
  readonly sent: string[] = [];
  failStateRead = false;

  constructor(names: string[]) {
    for (const n of names) this.servers.set(n, { used: 0, port: 80 });
  }

  reply(command: string): string {
    this.sent.push(command);
    const m = /^(del server|set server|show servers conn) (\S+)/.exec(command);
    if (command === 'show servers state') {
      if (this.failStateRead) throw new Error('connect ENOENT admin.sock');
      const lines = [...this.servers].map(([n, s], i) => `3 app ${i + 1} ${n} 127.0.0.1 2 0 1 1 10 ${s.port}`);
      return (
        [
          '1',
          '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_port',
          ...lines,
        ].join('\n') + '\n'
      );
    }
    if (m?.[1] === 'show servers conn') {
      const rows = [...this.servers].map(([n, s]) => `app/${n} 3/1 127.0.0.1 ${s.port} - 5000 ${s.used} 1 1 0 0 -1 0 0 0`);
      return ['# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[2]', ...rows].join(
        '\n',
      );
    }
    const name = m?.[2]?.split('/')[1] ?? '';
    const s = this.servers.get(name);
    if (!s) return 'No such server.';
    if (m?.[1] === 'del server') {
      if (s.used > 0) return 'Server still has connections attached to it, cannot remove it.';
      this.servers.delete(name);
      return 'Server deleted.';
    }
    if (/ addr /.test(command)) return 'nothing changed';
    return '';
  }

  api(): RuntimeApi {
    return {
      batch: async (commands: readonly RuntimeCommand[]): Promise<BatchReply[]> =>
        commands.map((c) => {
          const reply = this.reply(c.command);
          return { command: c.command, reply, ok: c.accept(reply) };
        }),
      execute: async (command: string) => this.reply(command),
    } as unknown as RuntimeApi;
  }
}

function server(name: string): ServerModel {
  return { name, address: '127.0.0.1', port: 80, endpoint: '127.0.0.1:80', weight: 1, state: 'ready', params: '' };
}

function model(names: string[]): ConfigModel {
  return {
    global: {},
    frontends: [],
    backends: [{ key: 'k', name: 'app', mode: 'http', balance: 'roundrobin', lines: [], servers: names.map(server) }],
  } as unknown as ConfigModel;
}

function capture(): { logger: Logger; warnings: { msg: string; fields?: LogFields }[] } {
  const warnings: { msg: string; fields?: LogFields }[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (msg, fields) => void warnings.push({ msg, fields }),
    error() {},
    child: () => logger,
  };
  return { logger, warnings };
}

const DEL = (name: string) => ({ op: 'del' as const, backend: 'app', server: server(name) });
const ADD = (name: string) => ({ op: 'add' as const, backend: 'app', server: server(name) });

test('a server pending longer than longWaitMs is logged once with its connection counts; rechecks back off to 30 s once all have waited a minute', async () => {
  const h = new ScriptedHaproxy(['a', 'b']);
  h.servers.get('a')!.used = 2;
  let now = 0;
  const { logger, warnings } = capture();
  const u = new ServerUpdater({ api: h.api(), serverStateFile: '/nonexistent', deleteWaitMs: 0, logger, longWaitMs: 300_000, now: () => now });
  await u.execute([DEL('a')]);
  assert.equal(u.pendingDeletes, 1);
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) delays.push((await u.finishDeletes())!.recheckAfterMs);
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000], 'doubling up to 5 s while the wait is young');
  now = 61_000;
  assert.deepEqual(
    [(await u.finishDeletes())!.recheckAfterMs, (await u.finishDeletes())!.recheckAfterMs],
    [25_600, 30_000],
    'doubling on up to 30 s once it has waited a minute',
  );
  assert.equal(warnings.length, 0);
  now = 301_000;
  await u.finishDeletes();
  await u.finishDeletes();
  assert.equal(warnings.length, 1, 'logged once');
  assert.equal(warnings[0]!.fields?.server, 'app/a');
  assert.equal(warnings[0]!.fields?.usedConnections, 2);
  assert.equal(warnings[0]!.fields?.waitedSeconds, 301);

  // A new removal is looked at soon again, whatever the old one's backoff.
  h.servers.get('b')!.used = 1;
  await u.execute([DEL('b')]);
  assert.equal((await u.finishDeletes({ tryNow: false }))!.recheckAfterMs, 100);
  h.servers.get('a')!.used = 0;
  h.servers.get('b')!.used = 0;
  assert.equal(await u.finishDeletes(), undefined);
  assert.deepEqual([...h.servers.keys()], []);
});

test('a name added again while its deletion is pending cancels it: set back, no add server, no longer pending', async () => {
  const h = new ScriptedHaproxy(['a']);
  h.servers.get('a')!.used = 1;
  const u = new ServerUpdater({ api: h.api(), serverStateFile: '/nonexistent', deleteWaitMs: 0 });
  await u.execute([DEL('a')]);
  assert.equal(u.pendingDeletes, 1);
  h.sent.length = 0;
  await u.execute([ADD('a')]);
  assert.deepEqual(h.sent, ['set server app/a addr 127.0.0.1 port 80', 'set server app/a weight 1', 'set server app/a state ready']);
  assert.equal(u.pendingDeletes, 0);
  h.servers.get('a')!.used = 0;
  assert.equal(await u.finishDeletes(), undefined);
  assert.ok(h.servers.has('a'), 'not deleted once its connections end');
});

test('converge keeps pending deletions until the live servers are read, and takes live servers off the model as pending', async () => {
  const h = new ScriptedHaproxy(['a', 'b']);
  h.servers.get('a')!.used = 1;
  let now = 0;
  const u = new ServerUpdater({ api: h.api(), serverStateFile: '/nonexistent', deleteWaitMs: 0, now: () => now });
  await u.execute([DEL('a')]);
  h.failStateRead = true;
  await assert.rejects(u.converge(model(['b'])), /ENOENT/);
  assert.equal(u.pendingDeletes, 1, 'a failed read forgets nothing');
  h.failStateRead = false;
  now = 1000;
  await u.converge(model(['b']));
  assert.deepEqual(
    u.pendingServers().map((p) => [p.server, p.waitedMs]),
    [['a', 1000]],
    'still pending, since when it was removed',
  );

  // A fresh updater (a restarted controller) takes a live server the model does not declare as pending.
  const fresh = new ServerUpdater({ api: h.api(), serverStateFile: '/nonexistent', deleteWaitMs: 0 });
  h.sent.length = 0;
  assert.equal(await fresh.converge(model(['b'])), 1);
  assert.ok(h.sent.includes('set server app/a state maint'));
  assert.equal(fresh.pendingDeletes, 1);
  h.servers.get('a')!.used = 0;
  assert.equal(await fresh.finishDeletes(), undefined);
  assert.deepEqual([...h.servers.keys()], ['b']);
});
