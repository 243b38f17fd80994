// Pure parts of hitless member updates: reply splitting, live-state parsing,
// the state-file filter, converge operations, and the planner's fallbacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitPromptReplies } from '../../src/haproxy/runtime.js';
import { convergeOps, filterServerState, liveAdmin, parseLiveServers, parseServerConns } from '../../src/reconcile/server-updater.js';
import { dynamicBalance, isIpLiteral, plan, type Rendered } from '../../src/reconcile/plan.js';
import type { BackendModel, ConfigModel, ServerModel } from '../../src/render/model.js';

const HEADER =
  '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n';
const line = (be: string, srv: string, addr: string, port: number, admin: number, weight: number) =>
  `3 ${be} 1 ${srv} ${addr} 2 ${admin} ${weight} ${weight} 5 1 0 2 0 0 0 0 - ${port} - 0 0 - - 0`;

const server = (name: string, o: Partial<ServerModel> = {}): ServerModel => {
  const s = { name, address: '10.0.0.1', port: 80, weight: 100, state: 'ready' as const, params: '', ...o };
  return { ...s, endpoint: `${s.address}:${s.port}` };
};
const backend = (servers: ServerModel[], o: Partial<BackendModel> = {}): BackendModel => ({
  key: 'Backend/default/app',
  name: 'default_app',
  mode: 'http',
  balance: 'roundrobin',
  lines: [],
  servers,
  ...o,
});
const model = (b: BackendModel): ConfigModel => ({
  global: { adminSocket: '/s/admin.sock', serverStateFile: '/s/state', hardStopAfter: '30s' },
  frontends: [],
  backends: [b],
});
/** A Rendered whose text differs whenever the model does (the planner only needs that). */
const rendered = (b: BackendModel): Rendered => ({ model: model(b), text: JSON.stringify(b) });

test('interactive replies split one per command; a cut session does not split', () => {
  const out = '\n> New server registered.\n\n> \n> Server deleted.\n> No such server.\n\n> ';
  assert.deepEqual(splitPromptReplies(out, 4), ['New server registered.', '', 'Server deleted.', 'No such server.']);
  assert.equal(splitPromptReplies(out, 5), undefined);
  assert.equal(splitPromptReplies('\n> New server registered.\n', 1), undefined, 'no prompt after the reply: cut');
});

test('live servers: CMAINT alone (config "disabled", then set ready) is ready; forced maint and drain are not', () => {
  const { servers } = parseLiveServers(
    HEADER + [line('be', 'a', '10.0.0.1', 80, 4, 7), line('be', 'b', '10.0.0.2', 81, 5, 1), line('be', 'c', '10.0.0.3', 82, 8, 0)].join('\n') + '\n\n',
  );
  assert.deepEqual(
    servers.map((s) => [s.server, s.addr, s.port, s.weight, liveAdmin(s)]),
    [
      ['a', '10.0.0.1', 80, 7, 'ready'],
      ['b', '10.0.0.2', 81, 1, 'maint'],
      ['c', '10.0.0.3', 82, 0, 'drain'],
    ],
  );
  assert.throws(() => parseLiveServers('No such backend.\n'), /Unexpected show servers state/);
});

test('the state file keeps only servers already as declared, so a reload cannot resurrect stale state', () => {
  const b = backend([
    server('same'),
    server('forced', { state: 'ready' }),
    server('moved', { port: 90 }),
    server('reweighted', { weight: 5 }),
    server('off', { state: 'maint' }),
  ]);
  const text =
    HEADER +
    [
      line('default_app', 'same', '10.0.0.1', 80, 0, 100),
      line('default_app', 'forced', '10.0.0.1', 80, 1, 100), // CLI-forced maint, declared ready
      line('default_app', 'moved', '10.0.0.1', 80, 0, 100), // the port would win over the file's
      line('default_app', 'reweighted', '10.0.0.1', 80, 0, 3),
      line('default_app', 'off', '10.0.0.1', 80, 5, 100), // maint as declared: kept
      line('default_app', 'gone', '10.0.0.1', 80, 0, 100), // not declared any more
      line('other', 'same', '10.0.0.1', 80, 0, 100),
    ].join('\n') +
    '\n';
  const kept = parseLiveServers(filterServerState(text, model(b))).servers.map((s) => `${s.backend}/${s.server}`);
  assert.deepEqual(kept, ['default_app/same', 'default_app/off']);
});

test('converge: only what differs, drain as weight 0 and ready admin state', () => {
  const b = backend([server('a'), server('b', { state: 'drain', weight: 0 }), server('c'), server('d', { state: 'maint' })]);
  const live = parseLiveServers(
    HEADER +
      [
        line('default_app', 'a', '10.0.0.1', 80, 0, 100),
        line('default_app', 'b', '10.0.0.1', 80, 8, 100), // forced drain, declared weight 0
        line('default_app', 'd', '10.0.0.1', 80, 4, 100), // CMAINT only: serving, declared maint
        line('default_app', 'x', '10.0.0.9', 80, 0, 100),
      ].join('\n'),
  ).servers;
  const ops = convergeOps(model(b), live).map((o) => `${o.op} ${o.server.name}`);
  assert.deepEqual(ops, ['del x', 'weight b', 'state b', 'add c', 'state d']);
  assert.deepEqual(
    convergeOps(model(b), []).map((o) => o.op),
    ['add', 'add', 'add', 'add'],
  );
});

test('plan: member changes a static algorithm, a DNS name or the budget cannot take reload, with the reason', () => {
  const base = backend([server('a'), server('b')]);
  const add = backend([server('a'), server('b'), server('c')]);
  assert.equal(plan(rendered(add), rendered(base), { runtimeUpdates: true }).kind, 'runtime');

  const src = (servers: ServerModel[]) => backend(servers, { balance: 'source' });
  const p1 = plan(rendered(src([server('a'), server('b'), server('c')])), rendered(src([server('a'), server('b')])), { runtimeUpdates: true });
  assert.deepEqual(p1, { kind: 'reload', reasons: ['backend default_app server c added, and balance source takes no server at run time'] });
  const p2 = plan(rendered(src([server('a', { weight: 5 }), server('b')])), rendered(src([server('a'), server('b')])), { runtimeUpdates: true });
  assert.equal(p2.kind, 'reload');
  const p3 = plan(rendered(src([server('a', { state: 'maint' }), server('b')])), rendered(src([server('a'), server('b')])), { runtimeUpdates: true });
  assert.equal(p3.kind, 'runtime', 'maint is fine with a static algorithm');
  assert.ok(dynamicBalance({ balance: 'source', lines: ['hash-type consistent'] }));
  assert.ok(!dynamicBalance({ balance: 'static-rr', lines: [] }));

  const dns = plan(rendered(backend([server('a', { address: 'db.internal' }), server('b')])), rendered(base), { runtimeUpdates: true });
  assert.deepEqual(dns, { kind: 'reload', reasons: ['backend default_app server a address changed to the DNS name db.internal'] });
  assert.ok(isIpLiteral('10.1.2.3') && isIpLiteral('fd00::1') && !isIpLiteral('db.internal'));

  const budget = plan(rendered(add), rendered(base), { runtimeUpdates: true, maxRuntimeOps: 0 });
  assert.deepEqual(budget, { kind: 'reload', reasons: ['1 server changes exceed the runtime budget of 0 per pass'] });
});

test('plan: an unchanged backend object is skipped, a changed one is diffed', () => {
  const a = backend([server('a')]);
  const running = { model: { ...model(a), backends: [a] }, text: 'x' };
  assert.deepEqual(plan({ model: { ...model(a), backends: [a] }, text: 'y' }, running, { runtimeUpdates: true }), {
    kind: 'reload',
    reasons: ['configuration text changed'],
  });
  const b = backend([server('a', { weight: 3 })]);
  const p = plan({ model: model(b), text: 'y' }, running, { runtimeUpdates: true });
  assert.ok(p.kind === 'runtime' && p.summary === '1 weight');
});

test('parseServerConns reads used and idle server connections from show servers conn (2.6 and 3.0 print the same)', () => {
  const text = [
    '# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[2]',
    'default_app/a 3/1 127.0.0.1 35801 - 5000 0 3 3 0 2 -1 2 2 0',
    'default_app/b 3/2 127.0.0.1 35802 - 5000 1 1 1 0 0 -1 0 0 0',
    '',
  ].join('\n');
  assert.deepEqual(parseServerConns(text), [
    { backend: 'default_app', server: 'a', addr: '127.0.0.1', port: 35801, used: 0, idle: 2 },
    { backend: 'default_app', server: 'b', addr: '127.0.0.1', port: 35802, used: 1, idle: 0 },
  ]);
  assert.throws(() => parseServerConns("Can't find backend.\n"), /Unexpected show servers conn output/);
  assert.throws(() => parseServerConns('# bkname/svname addr port\nx/y 1.2.3.4 80\n'), /no used_cur column/);
});
