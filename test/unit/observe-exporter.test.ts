/**
 * HAProxy metrics written from `show stat` / `show info` text, without a
 * running HAProxy: the names, labels and values the built-in exporter
 * produces for each kind of row, and the cardinality controls.
 * (test/integration/observe-metrics.test.ts compares with a live built-in exporter.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkWriter, collectingWriter } from '../../src/observe/chunk-writer.js';
import { parseExposition } from '../../src/observe/exposition.js';
import { HaproxyExporter, familyFilter, type HaproxyMetricsOptions, type ScrapeRequest } from '../../src/observe/haproxy-exporter.js';
import { StatTable, StatTableBuilder } from '../../src/observe/stat-table.js';
import { allHaproxyMetricNames } from '../../src/observe/promex-metrics.js';

// The `show stat` header of HAProxy 2.6.12.
const HEADER =
  'pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,';
const COLUMNS = HEADER.split(',').slice(0, -1);

type Row = Record<string, string | number>;

/** CSV line for a row; CSV-quotes values with commas or quotes, like HAProxy. */
function line(row: Row): string {
  return (
    COLUMNS.map((c) => {
      const v = row[c] === undefined ? '' : String(row[c]);
      return /[",]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
    }).join(',') + ','
  );
}

function csv(rows: Row[]): string {
  return `# ${HEADER}\n${rows.map(line).join('\n')}\n\n`;
}

const FE: Row = {
  pxname: 'fe_web',
  svname: 'FRONTEND',
  type: 0,
  status: 'OPEN',
  mode: 'http',
  scur: 1,
  smax: 4,
  slim: 100,
  stot: 42,
  req_tot: 40,
  hrsp_1xx: 0,
  hrsp_2xx: 30,
  hrsp_3xx: 1,
  hrsp_4xx: 7,
  hrsp_5xx: 2,
  hrsp_other: 0,
  conn_tot: 41,
};
const FE_TCP: Row = { pxname: 'fe_tcp', svname: 'FRONTEND', type: 0, status: 'STOP', mode: 'tcp', stot: 3, req_tot: '', hrsp_2xx: '' };
const BE: Row = {
  pxname: 'be_app',
  svname: 'BACKEND',
  type: 1,
  status: 'UP',
  mode: 'http',
  stot: 40,
  req_tot: 40,
  hrsp_2xx: 30,
  hrsp_5xx: 2,
  weight: 3,
  act: 3,
  qtime: 0,
  ctime: 1,
  rtime: 12,
  ttime: 1003,
  rtime_max: 3003,
  lastsess: 2,
};
const srv = (name: string, extra: Row): Row => ({
  pxname: 'be_app',
  svname: name,
  type: 2,
  mode: 'http',
  stot: 10,
  hrsp_2xx: 10,
  weight: 1,
  uweight: 1,
  qtime: 0,
  ttime: 5,
  ...extra,
});
const SERVERS: Row[] = [
  srv('up', { status: 'UP', check_status: 'L7OK', check_code: 200, check_duration: 3, chkfail: 0 }),
  srv('going_down', { status: 'UP 1/3', check_status: '* L7STS', check_code: 503, check_duration: 12 }),
  srv('down', { status: 'DOWN', check_status: 'L4CON', check_duration: 0, chkfail: 9, downtime: 120 }),
  srv('maint', { status: 'MAINT', stot: 0, chkfail: 0 }), // a configured check, paused: no check_status
  srv('via', { status: 'MAINT (via be_app/up)', chkfail: 2 }),
  srv('drain', { status: 'DRAIN', check_status: 'L4OK', check_duration: 1 }),
  srv('nolb', { status: 'NOLB' }),
  srv('nocheck', { status: 'no check', check_desc: 'a "quoted", comma' }),
  srv('init', { status: 'DOWN 1/2', check_status: 'INI' }),
];
const BE_EMPTY: Row = { pxname: 'be_empty', svname: 'BACKEND', type: 1, status: 'UP', mode: 'http' };

const INFO = { Name: 'HAProxy', Version: '2.6.12-1+deb12u4', Nbthread: 2, Uptime_sec: 57, CumConns: 35, Tainted: 0 };

async function render(
  rows: Row[],
  options: HaproxyMetricsOptions = {},
  request: ScrapeRequest = {},
  serversState?: string,
  chunkSize?: number,
): Promise<string> {
  const { writer, result } = collectingWriter({ chunkSize });
  await new HaproxyExporter(options).write({ info: INFO, table: new StatTable(csv(rows)), serversState }, writer, request);
  return result().toString('latin1');
}

const ALL = [FE, FE_TCP, ...SERVERS, BE, BE_EMPTY];

test('StatTable: fields by column, quoted fields, empty and missing columns, row types', () => {
  const t = new StatTable(csv([FE, SERVERS[7]!]) + 'short,row\n');
  assert.equal(t.rowCount, 3);
  assert.equal(t.field(0, t.column('pxname')), 'fe_web');
  assert.equal(t.field(0, t.column('stot')), '42');
  assert.equal(t.isEmpty(0, t.column('qcur')), true);
  assert.equal(t.field(1, t.column('check_desc')), 'a "quoted", comma');
  assert.equal(t.field(1, t.column('mode')), 'http', 'a quoted comma does not shift later columns');
  assert.equal(t.rowType(0, t.column('type')), 0);
  assert.equal(t.rowType(1, t.column('type')), 2);
  assert.equal(t.field(2, t.column('svname')), 'row');
  assert.equal(t.isEmpty(2, t.column('stot')), true, 'columns a line lacks are empty');
  assert.equal(t.column('no_such_column'), -1);
  assert.equal(t.field(0, -1), '');
  assert.match(t.line(0), /^fe_web,FRONTEND,/);
  assert.throws(() => new StatTable('Unknown command\n'), /Unexpected show stat output/);
});

test('StatTableBuilder: the same table wherever the reply is split', () => {
  const text = csv([FE, SERVERS[7]!, BE]);
  const whole = new StatTable(text);
  for (const size of [1, 7, 64, 500]) {
    const b = new StatTableBuilder();
    for (let i = 0; i < text.length; i += size) b.push(text.slice(i, i + size));
    const t = b.finish();
    assert.deepEqual(t.lines, whole.lines, `pieces of ${size}`);
    assert.deepEqual([...t.starts], [...whole.starts]);
    assert.equal(t.field(1, t.column('check_desc')), 'a "quoted", comma');
  }
  const noNewline = new StatTableBuilder();
  noNewline.push('# pxname,svname,\nfe,FRONTEND,');
  assert.equal(noNewline.finish().field(0, 1), 'FRONTEND', 'a last line without a newline counts');
  const error = new StatTableBuilder();
  assert.throws(() => {
    error.push('Unknown command, but maybe one of the following ones is a better match:\n');
  }, /Unexpected show stat output/);
  assert.throws(() => new StatTableBuilder().finish(), /Unexpected show stat output/);
});

test('families: HELP and TYPE as HAProxy 2.6 writes them, counters are counters', async () => {
  const e = parseExposition(await render(ALL));
  assert.equal(e.type.get('haproxy_frontend_http_requests_total'), 'counter');
  assert.equal(e.type.get('haproxy_server_bytes_in_total'), 'counter');
  assert.equal(e.type.get('haproxy_backend_current_queue'), 'gauge');
  assert.equal(e.type.get('haproxy_process_failed_resolutions'), 'counter');
  assert.equal(e.help.get('haproxy_server_status'), 'Current status of the service, per state label value.');
  assert.equal(
    e.help.get('haproxy_frontend_http_responses_total'),
    'Total number of HTTP responses with status 100-199 returned by this object since the worker process started',
  );
  for (const [name, type] of e.type) {
    if (name.endsWith('_total')) assert.equal(type, 'counter', `${name} ends in _total`);
  }
  assert.equal(new Set(e.families).size, e.families.length, 'each family appears once');
});

test('frontends: values as in show stat, status UP unless stopped, http-only families for http proxies', async () => {
  const s = parseExposition(await render(ALL)).samples;
  assert.equal(s.get('haproxy_frontend_sessions_total{proxy="fe_web"}'), 42);
  assert.equal(s.get('haproxy_frontend_http_requests_total{proxy="fe_web"}'), 40);
  assert.equal(s.get('haproxy_frontend_http_responses_total{proxy="fe_web",code="2xx"}'), 30);
  assert.equal(s.get('haproxy_frontend_http_responses_total{proxy="fe_web",code="4xx"}'), 7);
  assert.equal(s.get('haproxy_frontend_http_responses_total{proxy="fe_web",code="other"}'), 0);
  assert.equal(s.get('haproxy_frontend_status{proxy="fe_web",state="UP"}'), 1);
  assert.equal(s.get('haproxy_frontend_status{proxy="fe_web",state="DOWN"}'), 0);
  assert.equal(s.get('haproxy_frontend_status{proxy="fe_tcp",state="DOWN"}'), 1, 'STOP is DOWN');
  assert.equal(s.get('haproxy_frontend_sessions_total{proxy="fe_tcp"}'), 3);
  assert.equal(s.has('haproxy_frontend_http_requests_total{proxy="fe_tcp"}'), false, 'no http families for tcp proxies');
  assert.equal(s.has('haproxy_frontend_http_responses_total{proxy="fe_tcp",code="2xx"}'), false);
  assert.ok(Number.isNaN(s.get('haproxy_frontend_denied_sessions_total{proxy="fe_web"}')), 'an empty field is NaN');
});

test('backends: times in seconds with six decimals, status by weight, aggregates of their servers', async () => {
  const text = await render(ALL);
  assert.match(text, /^haproxy_backend_total_time_average_seconds\{proxy="be_app"\} 1\.003000$/m);
  assert.match(text, /^haproxy_backend_max_response_time_seconds\{proxy="be_app"\} 3\.003000$/m);
  assert.match(text, /^haproxy_backend_response_time_average_seconds\{proxy="be_app"\} 0\.012000$/m);
  const s = parseExposition(text).samples;
  assert.equal(s.get('haproxy_backend_status{proxy="be_app",state="UP"}'), 1);
  assert.equal(s.get('haproxy_backend_http_responses_total{proxy="be_app",code="5xx"}'), 2);
  assert.equal(s.get('haproxy_backend_agg_server_status{proxy="be_app",state="UP"}'), 3, 'up, going_down, nocheck');
  assert.equal(s.get('haproxy_backend_agg_server_status{proxy="be_app",state="MAINT"}'), 2);
  assert.equal(s.get('haproxy_backend_agg_server_status{proxy="be_app",state="DOWN"}'), 2, 'down, init (going up)');
  assert.equal(s.get('haproxy_backend_agg_server_status{proxy="be_app",state="DRAIN"}'), 1);
  assert.equal(s.get('haproxy_backend_agg_server_status{proxy="be_app",state="NOLB"}'), 1);
  assert.equal(s.get('haproxy_backend_agg_server_check_status{proxy="be_app",state="UP"}'), 3);
  assert.equal(s.get('haproxy_backend_agg_check_status{proxy="be_app",state="L7OK"}'), 1);
  assert.equal(s.get('haproxy_backend_agg_check_status{proxy="be_app",state="L7STS"}'), 1, 'an in-progress check counts with its last result');
  assert.equal(s.get('haproxy_backend_agg_check_status{proxy="be_app",state="L4CON"}'), 1);
  assert.equal(s.has('haproxy_backend_agg_server_status{proxy="be_empty",state="UP"}'), false, 'no aggregates without servers');
  assert.equal(s.get('haproxy_backend_status{proxy="be_empty",state="UP"}'), 1);
});

test('servers: one sample per state, check metrics only with an enabled check', async () => {
  const s = parseExposition(await render(ALL)).samples;
  const state = (server: string): string[] =>
    ['DOWN', 'UP', 'MAINT', 'DRAIN', 'NOLB'].filter((st) => s.get(`haproxy_server_status{proxy="be_app",server="${server}",state="${st}"}`) === 1);
  assert.deepEqual(state('up'), ['UP']);
  assert.deepEqual(state('going_down'), ['UP']);
  assert.deepEqual(state('down'), ['DOWN']);
  assert.deepEqual(state('init'), ['DOWN']);
  assert.deepEqual(state('maint'), ['MAINT']);
  assert.deepEqual(state('via'), ['MAINT']);
  assert.deepEqual(state('drain'), ['DRAIN']);
  assert.deepEqual(state('nolb'), ['NOLB']);
  assert.deepEqual(state('nocheck'), ['UP']);
  assert.equal(s.get('haproxy_server_check_status{proxy="be_app",server="up",state="L7OK"}'), 1);
  assert.equal(s.get('haproxy_server_check_status{proxy="be_app",server="up",state="L4OK"}'), 0);
  assert.equal(s.get('haproxy_server_check_status{proxy="be_app",server="going_down",state="L7STS"}'), 1);
  assert.equal(s.get('haproxy_server_check_status{proxy="be_app",server="init",state="L7OK"}'), 0, 'INI is none of the exported results');
  assert.equal(s.has('haproxy_server_check_status{proxy="be_app",server="nocheck",state="L7OK"}'), false);
  assert.equal(s.get('haproxy_server_check_code{proxy="be_app",server="up"}'), 200);
  assert.equal(s.get('haproxy_server_check_code{proxy="be_app",server="down"}'), 0, 'no L5-7 code: 0');
  assert.equal(s.has('haproxy_server_check_code{proxy="be_app",server="nocheck"}'), false);
  assert.equal(s.get('haproxy_server_check_duration_seconds{proxy="be_app",server="going_down"}'), 0.012);
  assert.equal(s.has('haproxy_server_check_duration_seconds{proxy="be_app",server="maint"}'), false);
  assert.equal(s.get('haproxy_server_check_failures_total{proxy="be_app",server="down"}'), 9);
  assert.equal(s.get('haproxy_server_http_responses_total{proxy="be_app",server="up",code="2xx"}'), 10);
});

test('servers in maintenance: aggregates count their paused checks from show servers state', async () => {
  // srv_check_status: 15 = L7OK, 8 = L4CON, 1 = INI (HAProxy 2.6 HCHK_STATUS_*).
  const state = [
    '1',
    '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result',
    '3 be_app 4 maint 127.0.0.1 0 1 1 1 5 15 1',
    '3 be_app 5 via 127.0.0.1 0 2 1 1 5 8 1',
    '3 be_app 8 nocheck 127.0.0.1 2 0 1 1 5 1 0',
    '',
  ].join('\n');
  const s = parseExposition(await render(ALL, {}, {}, state)).samples;
  assert.equal(s.get('haproxy_backend_agg_check_status{proxy="be_app",state="L7OK"}'), 2, 'up + maint (paused, last L7OK)');
  assert.equal(s.get('haproxy_backend_agg_check_status{proxy="be_app",state="L4CON"}'), 2, 'down + via');
  assert.equal(s.has('haproxy_server_check_status{proxy="be_app",server="maint",state="L7OK"}'), false, 'a paused check has no check_status');
});

test('process: show info values, NaN when missing, build_info with the version label', async () => {
  const text = await render(ALL);
  const s = parseExposition(text).samples;
  assert.equal(s.get('haproxy_process_nbthread'), 2);
  assert.equal(s.get('haproxy_process_uptime_seconds'), 57);
  assert.equal(s.get('haproxy_process_connections_total'), 35);
  assert.ok(Number.isNaN(s.get('haproxy_process_current_zlib_memory')));
  assert.equal(s.get('haproxy_process_build_info{version="2.6.12-1+deb12u4"}'), 1);
});

test('the same text whatever the chunk size (lines never split wrongly across chunks)', async () => {
  const many: Row[] = [FE, BE];
  for (let i = 0; i < 300; i++) many.push(srv(`s${i}`, { status: i % 7 === 0 ? 'MAINT' : 'UP', check_status: 'L4OK', check_duration: i, stot: i * 1000 }));
  const big = await render(many, {}, {}, undefined, 256 * 1024);
  for (const size of [64, 333, 4096]) assert.equal(await render(many, {}, {}, undefined, size), big, `chunk size ${size}`);
});

test('a writer keeps at most maxChunks in flight and waits for the output to release one', async () => {
  const pending: (() => void)[] = [];
  let received = 0;
  const w = new ChunkWriter(
    (chunk, release) => {
      received += chunk.length;
      pending.push(release);
    },
    { chunkSize: 16, maxChunks: 2 },
  );
  w.ascii('0123456789abcdef');
  await w.flush(); // chunk 1 out, chunk 2 allocated
  w.ascii('0123456789abcdef');
  let third = false;
  const p = w.flush().then(() => (third = true)); // both chunks out: must wait
  await new Promise((r) => setImmediate(r));
  assert.equal(third, false, 'no third buffer while two are unreleased');
  pending.shift()!();
  await p;
  assert.equal(third, true);
  assert.equal(received, 32);
});

test('cardinality: servers off, include and exclude by name with *, unknown names refused', async () => {
  const noServers = parseExposition(await render(ALL, { serverMetrics: false }));
  assert.equal(noServers.families.filter((f) => f.startsWith('haproxy_server_')).length, 0);
  assert.ok(noServers.families.includes('haproxy_backend_status'));

  const only = parseExposition(await render(ALL, { include: ['haproxy_server_status', 'haproxy_frontend_*'] }));
  assert.ok(only.families.every((f) => f === 'haproxy_server_status' || f.startsWith('haproxy_frontend_')));
  assert.ok(only.families.includes('haproxy_frontend_sessions_total'));

  const without = parseExposition(await render(ALL, { exclude: ['haproxy_server_check_*', 'haproxy_process_*'] }));
  assert.ok(!without.families.some((f) => f.startsWith('haproxy_server_check_') || f.startsWith('haproxy_process_')));
  assert.ok(without.families.includes('haproxy_server_status'));

  assert.throws(() => familyFilter({ exclude: ['haproxy_server_bogus'] }), /matches no HAProxy metric/);
  assert.ok(allHaproxyMetricNames().includes('haproxy_server_check_status'));
});

test('scrape request: scope as the built-in exporter reads it, no-maint leaves maintenance servers out', async () => {
  const servers = parseExposition(await render(ALL, {}, { scopes: new Set(['server']) }));
  assert.ok(servers.families.length > 0 && servers.families.every((f) => f.startsWith('haproxy_server_')));
  const global = parseExposition(await render(ALL, {}, { scopes: new Set(['global', 'frontend']) }));
  assert.ok(global.families.every((f) => f.startsWith('haproxy_process_') || f.startsWith('haproxy_frontend_')));
  const noMaint = parseExposition(await render(ALL, {}, { noMaint: true })).samples;
  assert.equal(noMaint.has('haproxy_server_sessions_total{proxy="be_app",server="maint"}'), false);
  assert.equal(noMaint.has('haproxy_server_sessions_total{proxy="be_app",server="via"}'), false);
  assert.equal(noMaint.get('haproxy_server_sessions_total{proxy="be_app",server="up"}'), 10);
});

test('label values are escaped; a non-numeric value becomes NaN rather than breaking the format', async () => {
  const odd = srv('odd', { status: 'UP', stot: '12abc' });
  odd.pxname = 'be_app';
  const text = await render([
    { ...BE, pxname: 'be"x' },
    { ...odd, pxname: 'be"x' },
  ]);
  assert.match(text, /^haproxy_server_sessions_total\{proxy="be\\"x",server="odd"\} NaN$/m);
});

/** What the stats reader does with a renderer: rows as they are parsed, then finish(). */
function prerendered(exporter: HaproxyExporter, text: string, batchRows: number, serversState?: string) {
  const renderer = exporter.prerenderer()!;
  const b = new StatTableBuilder((view, from, to) => renderer.rows(view, from, to), batchRows);
  for (let i = 0; i < text.length; i += 97) b.push(text.slice(i, i + 97));
  const table = b.finish();
  return { info: INFO, table, serversState, prerendered: renderer.finish(table, serversState) };
}

async function writeText(exporter: HaproxyExporter, stats: Parameters<HaproxyExporter['write']>[0], request: ScrapeRequest = {}): Promise<string> {
  const { writer, result } = collectingWriter({ chunkSize: 4096 });
  await exporter.write(stats, writer, request);
  return result().toString('latin1');
}

test('server families rendered while the rows stream in are byte for byte the table render', async () => {
  const rows: Row[] = [FE, FE_TCP, BE_EMPTY];
  for (let b = 0; b < 3; b++) {
    for (let i = 0; i < 40; i++)
      rows.push(
        srv(`s${i}`, {
          pxname: `be${b}`,
          status: i % 5 === 0 ? 'MAINT' : 'UP',
          check_status: i % 3 ? 'L4OK' : '',
          check_duration: i,
          stot: i * 7,
          mode: b === 1 ? 'tcp' : 'http',
        }),
      );
    rows.push({ ...BE, pxname: `be${b}` });
  }
  const text = csv(rows);
  for (const batch of [1, 7, 1000]) {
    const exporter = new HaproxyExporter();
    const expected = await writeText(exporter, { info: INFO, table: new StatTable(text) });
    const stats = prerendered(exporter, text, batch);
    assert.equal(await writeText(exporter, stats), expected, `batches of ${batch} rows`);
    assert.equal(
      await writeText(exporter, stats, { noMaint: true }),
      await writeText(exporter, { info: INFO, table: new StatTable(text) }, { noMaint: true }),
      'no-maint renders from the table',
    );
    assert.equal(
      await writeText(exporter, stats, { scopes: new Set(['server']) }),
      await writeText(exporter, { info: INFO, table: new StatTable(text) }, { scopes: new Set(['server']) }),
    );
  }
  const noServers = new HaproxyExporter({ serverMetrics: false });
  assert.equal(noServers.prerenderer(), undefined, 'nothing to render ahead without server families');
});

test('rendered chunks are shared by reference and reused once the last user is done', async () => {
  const exporter = new HaproxyExporter();
  const text = csv(ALL);
  const stats = prerendered(exporter, text, 2);
  const expected = await writeText(exporter, { info: INFO, table: new StatTable(text) });
  // A slow output that holds the chunks: they must stay intact until it releases them.
  const held: { chunk: Uint8Array; release: () => void }[] = [];
  const slow = new ChunkWriter((chunk, release) => held.push({ chunk, release }), { maxChunks: 1000 });
  const writing = exporter.write(stats, slow);
  stats.prerendered!.release(); // the reader's reference goes (a newer read started)
  await writing;
  assert.equal(stats.prerendered!.acquire(), true, 'still alive: the slow output holds it');
  stats.prerendered!.release();
  const copy = Buffer.concat(held.map((h) => Buffer.from(h.chunk))).toString('latin1');
  assert.equal(copy, expected);
  for (const h of held) h.release();
  assert.equal(stats.prerendered!.acquire(), false, 'released once the output is done');
  // A stats object whose render was released falls back to the table.
  assert.equal(await writeText(exporter, stats), expected);
});
