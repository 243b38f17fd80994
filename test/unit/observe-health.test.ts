/**
 * Readiness rules and the stats reader's cache, with fakes for the store,
 * reconciler, supervisor and stats socket.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplyState } from '../../src/observe/apply-state.js';
import { evaluateReadiness, type ReadinessInputs } from '../../src/observe/health.js';
import { StatsReader } from '../../src/observe/stats-reader.js';

function inputs(o: { synced?: boolean; started?: boolean; running?: boolean; lastOk?: boolean; error?: string } = {}): ReadinessInputs {
  const apply = new ApplyState();
  apply.lastOk = o.lastOk ?? true;
  apply.lastError = o.error;
  return {
    store: { allSynced: () => o.synced ?? true, unsyncedSources: () => (o.synced === false ? ['kubernetes'] : []) },
    reconciler: { haproxyStarted: o.started ?? true },
    supervisor: { isRunning: () => o.running ?? true },
    apply,
  };
}

test('ready only when sources are synced, HAProxy started and runs, and the last apply succeeded', () => {
  assert.deepEqual(evaluateReadiness(inputs()), {
    ready: true,
    checks: { sourcesSynced: true, haproxyStarted: true, haproxyRunning: true, configurationApplied: true },
    reasons: [],
  });
  const waiting = evaluateReadiness(inputs({ synced: false, started: false, running: false, lastOk: undefined as never }));
  assert.equal(waiting.ready, false);
  assert.deepEqual(waiting.reasons, ['sources still loading: kubernetes', 'HAProxy has not been started yet (no configuration applied)']);
  const notStarted = evaluateReadiness(inputs({ started: false, running: false, lastOk: false, error: 'bind 127.0.0.1:80: permission denied' }));
  assert.deepEqual(notStarted.reasons, ['HAProxy could not be started: bind 127.0.0.1:80: permission denied']);
  const down = evaluateReadiness(inputs({ running: false }));
  assert.equal(down.ready, false);
  assert.deepEqual(down.reasons, ['HAProxy is not running (the supervisor restarts it)']);
  const failed = evaluateReadiness(inputs({ lastOk: false, error: 'HAProxy rejected the configuration (haproxy -c)' }));
  assert.equal(failed.ready, false);
  assert.match(failed.reasons[0]!, /could not be applied: HAProxy rejected the configuration/);
});

const INFO = 'Name: HAProxy\nVersion: 2.6.12\n';
const STAT = '# pxname,svname,type,status,check_status,chkfail,\nfe,FRONTEND,0,OPEN,,,\nbe,s1,2,UP,L4OK,0,\n';
/** s1 in maintenance with its check paused: show stat hides the check result. */
const STAT_PAUSED = '# pxname,svname,type,status,check_status,chkfail,\nfe,FRONTEND,0,OPEN,,,\nbe,s1,2,MAINT,,0,\n';
const STATE = '1\n# be_id be_name srv_id srv_name\n';

function fakeRuntime(o: { failStat?: boolean; failState?: boolean; delayMs?: number; paused?: boolean } = {}) {
  const calls: string[] = [];
  return {
    calls,
    paused: o.paused ?? false,
    async execute(cmd: string): Promise<string> {
      calls.push(cmd);
      await new Promise((r) => setTimeout(r, o.delayMs ?? 1));
      if (cmd === 'show info') return INFO;
      if (cmd === 'show stat') {
        if (o.failStat) throw new Error('HAProxy socket: ECONNREFUSED');
        return this.paused ? STAT_PAUSED : STAT;
      }
      if (o.failState) throw new Error('Unknown command');
      return STATE;
    },
  };
}

test('stats reader: concurrent reads share one socket read; a fresh read after cacheMs', async () => {
  let now = 1000;
  const rt = fakeRuntime({ delayMs: 20 });
  const outcomes: boolean[] = [];
  const r = new StatsReader({ runtime: rt, cacheMs: 500, now: () => now, onRead: (o) => outcomes.push(o.ok) });
  const [a, b, c] = await Promise.all([r.read(), r.read(), r.read()]);
  assert.equal(r.reads, 1);
  assert.ok(a === b && b === c);
  assert.equal(a.table.rowCount, 2);
  assert.equal(a.info.Version, '2.6.12');
  assert.equal(a.serversState, undefined, 'no paused check: show servers state is not needed');
  now += 499;
  assert.equal(await r.read(), a, 'within cacheMs: the same read');
  now += 2;
  assert.notEqual(await r.read(), a, 'older than cacheMs: read again');
  assert.equal(r.reads, 2);
  assert.notEqual(await r.read(0), a, 'maxAgeMs 0: always a new read');
  assert.deepEqual(outcomes, [true, true, true]);
  assert.deepEqual(rt.calls.slice(0, 3).sort(), ['show info', 'show servers state', 'show stat'], 'the first read asks for all three');
  assert.deepEqual(rt.calls.slice(3), ['show info', 'show stat', 'show info', 'show stat'], 'then only what is needed');
});

test('stats reader: show servers state while some server check is paused (maintenance)', async () => {
  const rt = fakeRuntime();
  const r = new StatsReader({ runtime: rt, cacheMs: 0 });
  assert.equal((await r.read()).serversState, undefined);
  rt.paused = true;
  rt.calls.length = 0;
  assert.equal((await r.read()).serversState, STATE, 'read after show stat the first time it is needed');
  assert.deepEqual(rt.calls, ['show info', 'show stat', 'show servers state']);
  rt.calls.length = 0;
  assert.equal((await r.read()).serversState, STATE);
  assert.deepEqual(rt.calls.slice().sort(), ['show info', 'show servers state', 'show stat'], 'then alongside');
});

test('stats reader: a failed read is reported and not cached; show servers state is optional', async () => {
  const outcomes: boolean[] = [];
  const failing = new StatsReader({ runtime: fakeRuntime({ failStat: true }), onRead: (o) => outcomes.push(o.ok) });
  await assert.rejects(failing.read(), /cannot read HAProxy stats: HAProxy socket: ECONNREFUSED/);
  await assert.rejects(failing.read());
  assert.equal(failing.reads, 2, 'errors are not cached');
  assert.deepEqual(outcomes, [false, false]);
  const partial = new StatsReader({ runtime: fakeRuntime({ failState: true, paused: true }) });
  const s = await partial.read();
  assert.equal(s.serversState, undefined);
  assert.equal(s.table.rowCount, 2);
});
