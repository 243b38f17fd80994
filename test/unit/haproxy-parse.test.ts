import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminMode, parseServersState, parseShowInfo, parseShowProc, parseShowStat, splitCsvLine } from '../../src/haproxy/parse.js';
import { assertSingleCommand } from '../../src/haproxy/socket.js';
import { parseBindAddresses } from '../../src/haproxy/preflight.js';

// Outputs captured from HAProxy 2.6.12 (Debian 12) while writing src/haproxy.

export const SHOW_PROC = `#<PID>          <type>          <reloads>       <uptime>        <version>      
3113            master          1 [failed: 0]   0d00h00m04s     2.6.12-1+deb12u4
# workers
3224            worker          0               0d00h00m01s     2.6.12-1+deb12u4
# programs

`;

export const SHOW_PROC_OLD_WORKERS = `#<PID>          <type>          <reloads>       <uptime>        <version>      
4167            master          2 [failed: 0]   0d00h00m24s     2.6.12-1+deb12u4
# workers
4362            worker          0               0d00h00m01s     2.6.12-1+deb12u4
# old workers
4326            worker          1               0d00h00m05s     2.6.12-1+deb12u4
# programs

`;

export const SHOW_PROC_FAILED_RELOAD = `#<PID>          <type>          <reloads>       <uptime>        <version>      
3113            master          2 [failed: 1]   0d00h00m09s     2.6.12-1+deb12u4
# workers
3224            worker          1               0d00h00m06s     2.6.12-1+deb12u4
# programs

`;

export const SHOW_STAT = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
fe,FRONTEND,,,0,0,9979,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,0,0,0,0,0,0,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,0,0,0,0,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
be,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,10,1,0,0,0,2,0,,1,3,1,,0,,2,0,,0,L4OK,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer4 check passed,,2,3,4,,,,127.0.0.1:18081,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,10,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
be,s2,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,2,2,,1,3,2,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18082,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
be,BACKEND,0,0,0,0,998,0,0,0,0,0,,0,0,0,0,UP,10,1,0,,0,2,0,,1,3,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,10,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,

`;

export const SHOW_INFO = `Name: HAProxy
Version: 2.6.12-1+deb12u4
Release_date: 2026/10/17
Nbthread: 2
Nbproc: 1
Process_num: 1
Pid: 4170
Uptime: 0d 0h00m01s
Uptime_sec: 1
Memmax_MB: 0
PoolAlloc_MB: 0
PoolUsed_MB: 0
PoolFailed: 0
Ulimit-n: 20000
Maxsock: 20000
Maxconn: 9979
Hard_maxconn: 9979
CurrConns: 0
CumConns: 3
CumReq: 1
MaxSslConns: 0
CurrSslConns: 0
CumSslConns: 0
Maxpipes: 0
PipesUsed: 0
PipesFree: 0
ConnRate: 0
ConnRateLimit: 0
MaxConnRate: 0
SessRate: 0
SessRateLimit: 0
MaxSessRate: 0
SslRate: 0
SslRateLimit: 0
MaxSslRate: 0
SslFrontendKeyRate: 0
SslFrontendMaxKeyRate: 0
SslFrontendSessionReuse_pct: 0
SslBackendKeyRate: 0
SslBackendMaxKeyRate: 0
SslCacheLookups: 0
SslCacheMisses: 0
CompressBpsIn: 0
CompressBpsOut: 0
CompressBpsRateLim: 0
Tasks: 16
Run_queue: 0
Idle_pct: 100
node: vm
Stopping: 0
Jobs: 4
Unstoppable Jobs: 1
Listeners: 3
ActivePeers: 0
ConnectedPeers: 0
DroppedLogs: 0
BusyPolling: 0
FailedResolutions: 0
TotalBytesOut: 0
TotalSplicdedBytesOut: 0
BytesOutRate: 0
DebugCommandsIssued: 0
CumRecvLogs: 0
Build info: 2.6.12-1+deb12u4
Memmax_bytes: 0
PoolAlloc_bytes: 55736
PoolUsed_bytes: 55736
Start_time_sec: 1795468318
Tainted: 0

`;

export const SHOW_SERVERS_STATE = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 be 1 s1 127.0.0.1 2 0 10 10 2 6 3 4 6 0 0 0 - 18081 - 0 0 - - 0
3 be 2 s2 127.0.0.1 0 5 1 1 2 1 0 0 14 0 0 0 - 18082 - 0 0 - - 0
3 be 3 s3 127.0.0.1 0 1 5 5 0 1 0 0 2 0 0 0 - 18083 - 0 0 - - 0

`;

export const SHOW_SERVERS_STATE_NO_BACKEND = `Can't find backend.

`;

test('show proc: master reloads and failures, current workers', () => {
  const p = parseShowProc(SHOW_PROC);
  assert.deepEqual(p.master, {
    pid: 3113,
    type: 'master',
    reloads: 1,
    failedReloads: 0,
    uptime: '0d00h00m04s',
    version: '2.6.12-1+deb12u4',
  });
  assert.deepEqual(p.workers, [{ pid: 3224, type: 'worker', reloads: 0, uptime: '0d00h00m01s', version: '2.6.12-1+deb12u4' }]);
  assert.deepEqual(p.oldWorkers, []);
  assert.deepEqual(p.programs, []);
});

test('show proc: old workers finishing connections are listed apart', () => {
  const p = parseShowProc(SHOW_PROC_OLD_WORKERS);
  assert.equal(p.master.reloads, 2);
  assert.deepEqual(
    p.workers.map((w) => w.pid),
    [4362],
  );
  assert.deepEqual(
    p.oldWorkers.map((w) => [w.pid, w.reloads]),
    [[4326, 1]],
  );
});

test('show proc after a failed reload: failed count, the old worker is still current', () => {
  const p = parseShowProc(SHOW_PROC_FAILED_RELOAD);
  assert.equal(p.master.reloads, 2);
  assert.equal(p.master.failedReloads, 1);
  assert.deepEqual(
    p.workers.map((w) => [w.pid, w.reloads]),
    [[3224, 1]],
  );
});

test('show proc: anything else is an error quoting the text', () => {
  assert.throws(() => parseShowProc(''), /no master line/);
  assert.throws(() => parseShowProc('Unknown command.\n'), /Unknown command/);
});

test('show stat: rows keyed by column, numbers as numbers, empty as undefined', () => {
  const rows = parseShowStat(SHOW_STAT);
  assert.equal(rows.length, 4);
  assert.deepEqual(
    rows.map((r) => `${r.pxname}/${r.svname}`),
    ['fe/FRONTEND', 'be/s1', 'be/s2', 'be/BACKEND'],
  );
  const s1 = rows[1]!;
  assert.equal(s1.status, 'UP');
  assert.equal(s1.weight, 10);
  assert.equal(s1.scur, 0);
  assert.equal(s1.qlimit, undefined);
  assert.equal(s1.check_status, 'L4OK');
  assert.equal(s1.check_desc, 'Layer4 check passed');
  assert.equal(s1.lastsess, -1);
  assert.equal(s1.addr, '127.0.0.1:18081');
  assert.equal(rows[2]!.status, 'MAINT');
  assert.equal(rows[0]!.slim, 9979);
  assert.ok(!('' in s1), 'the trailing comma makes no empty column');
});

test('show stat: quoted CSV fields keep their commas and quotes', () => {
  assert.deepEqual(splitCsvLine('a,"b,c",,"say ""hi"""'), ['a', 'b,c', '', 'say "hi"']);
  const rows = parseShowStat('# pxname,svname,desc,\nbe,s1,"one, two",\n');
  assert.equal(rows[0]!.desc, 'one, two');
});

test('show stat: an error reply throws', () => {
  assert.throws(() => parseShowStat('Permission denied\n'), /Unexpected show stat/);
});

test('show info: key/value with numbers', () => {
  const info = parseShowInfo(SHOW_INFO);
  assert.equal(info.Name, 'HAProxy');
  assert.equal(info.Version, '2.6.12-1+deb12u4');
  assert.equal(info.Release_date, '2026/10/17');
  assert.equal(info.Maxconn, 9979);
  assert.equal(info.Uptime, '0d 0h00m01s');
  assert.equal(info['Unstoppable Jobs'], 1);
  assert.equal(info.node, 'vm');
});

test('show servers state: typed rows with admin state decoded', () => {
  const servers = parseServersState(SHOW_SERVERS_STATE);
  assert.equal(servers.length, 3);
  const [s1, s2, s3] = servers;
  assert.deepEqual(
    { ...s1!, raw: undefined },
    {
      backendId: 3,
      backend: 'be',
      serverId: 1,
      server: 's1',
      addr: '127.0.0.1',
      port: 18081,
      opState: 'running',
      adminFlags: 0,
      admin: 'ready',
      weight: 10,
      initialWeight: 10,
      secondsSinceLastChange: 2,
      fqdn: undefined,
      raw: undefined,
    },
  );
  assert.equal(s1!.raw.srv_check_status, '6');
  // "disabled" in the config: forced + config maint.
  assert.equal(s2!.adminFlags, 5);
  assert.equal(s2!.admin, 'maint');
  // Added with "add server": starts in (forced) maint, stopped.
  assert.equal(s3!.server, 's3');
  assert.equal(s3!.admin, 'maint');
  assert.equal(s3!.opState, 'stopped');
  assert.equal(s3!.weight, 5);
});

test('show servers state: drain is decoded; errors and other versions throw', () => {
  const header = SHOW_SERVERS_STATE.split('\n').slice(0, 2).join('\n');
  const drained = parseServersState(`${header}\n3 be 1 s1 127.0.0.1 2 8 10 10 2 6 3 4 6 0 0 0 - 18081 - 0 0 - - 0\n`);
  assert.equal(drained[0]!.admin, 'drain');
  assert.throws(() => parseServersState(SHOW_SERVERS_STATE_NO_BACKEND), /Can't find backend/);
  assert.throws(() => parseServersState(SHOW_SERVERS_STATE.replace(/^1\n/, '2\n')), /format version 1/);
  assert.deepEqual(parseServersState(`${header}\n`), []);
});

test('commands with ";" or line breaks are refused before sending', () => {
  assert.throws(() => assertSingleCommand('show stat; shutdown sessions'), /second command/);
  assert.throws(() => assertSingleCommand('show info\nshow stat'), /line break/);
  assert.throws(() => assertSingleCommand('  '), /empty/);
  assert.doesNotThrow(() => assertSingleCommand('@!1234 show servers state be_app'));
});

test('bind addresses for the pre-flight: TCP on IP literals only', () => {
  const cfg = [
    'frontend f',
    '  bind 127.0.0.1:8080',
    '  bind :80,*:81 ssl crt /x.pem',
    '  bind ipv6@:::8443 v4v6',
    '  bind 10.0.0.1:9000-9002',
    '  bind unix@/run/x.sock',
    '  bind /run/y.sock',
    '  bind myhost:80',
    '  bind "${PORT}"',
    '  bind 0.0.0.0:1-65535',
    '  # bind 127.0.0.1:1',
  ].join('\n');
  assert.deepEqual(
    parseBindAddresses(cfg).map((b) => `${b.line} ${b.host} ${b.port}`),
    ['2 127.0.0.1 8080', '3 0.0.0.0 80', '3 0.0.0.0 81', '4 :: 8443', '5 10.0.0.1 9000', '5 10.0.0.1 9001', '5 10.0.0.1 9002'],
  );
});

test('admin state: config maint alone (a "disabled" server set ready at runtime) serves', () => {
  // `disabled` sets 0x01|0x04; `set server ... state ready` clears only 0x01.
  assert.equal(adminMode(0x04), 'ready');
  assert.equal(adminMode(0x05), 'maint');
  assert.equal(adminMode(0x0c), 'drain');
  assert.equal(adminMode(0x20), 'maint', 'resolution maint');
  assert.equal(adminMode(0x40), 'maint', 'hostname maint');
  assert.equal(adminMode(0x10), 'drain', 'inherited drain');
});
