/**
 * What differs between HAProxy 2.6 and 3.0, on text captured from both
 * (2.6.12-1+deb12u4 and 3.0.11 built by scripts/build-haproxy.sh): version
 * detection, runtime API answers, the exporter's families. The live
 * comparisons run in the integration tests with HAPROXY_BIN set to either.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addrChanged, serverCommands } from '../../src/haproxy/runtime.js';
import { detectHaproxyVersion, parseHaproxyVersion, unsupportedVersionProblem, versionAtLeast } from '../../src/haproxy/version.js';
import { collectingWriter } from '../../src/observe/chunk-writer.js';
import { parseExposition } from '../../src/observe/exposition.js';
import { HaproxyExporter, parseShowResolvers } from '../../src/observe/haproxy-exporter.js';
import { promexTables } from '../../src/observe/promex-metrics.js';
import { StatTable } from '../../src/observe/stat-table.js';
import { blameSections } from '../../src/haproxy/check-output.js';

test('haproxy -v of 2.6, 3.0 and older versions is parsed', () => {
  assert.deepEqual(parseHaproxyVersion('HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\nStatus: long-term supported branch'), {
    major: 2,
    minor: 6,
    patch: 12,
    text: '2.6.12-1+deb12u4',
  });
  assert.deepEqual(parseHaproxyVersion('HAProxy version 3.0.11-9e587df 2025/06/02 - https://haproxy.org/'), {
    major: 3,
    minor: 0,
    patch: 11,
    text: '3.0.11-9e587df',
  });
  assert.deepEqual(parseHaproxyVersion('HA-Proxy version 1.8.19-1+deb10u3 2020/08/01'), { major: 1, minor: 8, patch: 19, text: '1.8.19-1+deb10u3' });
  assert.equal(parseHaproxyVersion('nginx version: nginx/1.22.1'), undefined);
  assert.equal(versionAtLeast({ major: 3, minor: 0 }, 2, 6), true);
  assert.equal(versionAtLeast({ major: 2, minor: 5 }, 2, 6), false);
});

test('a version older than 2.6 is refused with a message naming the version, the binary and the fix', () => {
  assert.equal(unsupportedVersionProblem(parseHaproxyVersion('HAProxy version 2.6.0 2022/05/31')!, 'haproxy'), undefined);
  assert.equal(unsupportedVersionProblem(parseHaproxyVersion('HAProxy version 3.0.11-9e587df 2025/06/02')!, 'haproxy'), undefined);
  const problem = unsupportedVersionProblem(parseHaproxyVersion('HAProxy version 2.4.22-0+deb11u1 2023/02/14')!, '/usr/sbin/haproxy');
  assert.match(problem!, /^HAProxy 2\.4\.22-0\+deb11u1 \(\/usr\/sbin\/haproxy\) is older than 2\.6, the oldest version node-haproxy supports/);
  assert.match(problem!, /install HAProxy 2\.6 or newer .* point --haproxy-bin at it$/);
});

test('detectHaproxyVersion runs the binary: refuses an old one, a missing one and one that prints no version', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nh-ver-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const fake = async (name: string, body: string): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, `#!/bin/sh\n${body}\n`);
    await chmod(p, 0o755);
    return p;
  };
  const old = await fake('haproxy-2.4', "echo 'HAProxy version 2.4.22-0+deb11u1 2023/02/14 - https://haproxy.org/'");
  await assert.rejects(detectHaproxyVersion(old), /HAProxy 2\.4\.22-0\+deb11u1 \(.*haproxy-2\.4\) is older than 2\.6/);
  const ok = await fake('haproxy-3.0', "echo 'HAProxy version 3.0.11-9e587df 2025/06/02 - https://haproxy.org/'");
  assert.deepEqual(await detectHaproxyVersion(ok), { major: 3, minor: 0, patch: 11, text: '3.0.11-9e587df' });
  await assert.rejects(
    detectHaproxyVersion(join(dir, 'missing')),
    /Cannot run HAProxy binary ".*missing" \(ENOENT\): install HAProxy 2\.6 or newer, or pass its path with --haproxy-bin/,
  );
  const other = await fake('not-haproxy', "echo 'hello'");
  await assert.rejects(detectHaproxyVersion(other), /printed no HAProxy version \(first line: hello\)/);
});

test('set server addr: every success answer of 2.6 and 3.0 is a success, errors of both are refusals', () => {
  const accept = serverCommands.addr('be', 's1', '127.0.0.1', 80).accept;
  assert.equal(accept, addrChanged);
  const successes = [
    // 2.6.12
    "no need to change the addr, no need to change the port by 'stats socket command'",
    "IP changed from '127.0.0.1' to '127.0.0.2', no need to change the port by 'stats socket command'",
    "no need to change the addr, port changed from '19181' to '19183' by 'stats socket command'",
    // 3.0.11: the unchanged part is not named; nothing to change is "nothing changed"
    'nothing changed',
    "IP changed from '127.0.0.1' to '127.0.0.2' by 'stats socket command'",
    "port changed from '19181' to '19183' by 'stats socket command'",
  ];
  for (const r of successes) assert.equal(accept(r), true, r);
  for (const r of ["Invalid addr 'bogus' by 'stats socket command'", "Invalid addr 'bogus'", 'No such server.', '']) assert.equal(accept(r), false, r);
});

test('haproxy -c on 3.0 blames the same sections as on 2.6 (captured 3.0.11 output)', () => {
  const cfg = [
    'global',
    'defaults',
    '    mode http',
    'frontend default_web',
    '    bind 192.0.2.1:18080',
    '    http-request frobnicate',
    '    default_backend default_app',
    'backend default_app',
    '    balance bogus',
    '    server a 127.0.0.1:1',
  ].join('\n');
  const parse = `[NOTICE]   (1754) : haproxy version is 3.0.11-9e587df
[ALERT]    (1754) : config : parsing [/tmp/nh/candidate-1-2.cfg:6]: 'http-request' expects 'wait-for-handshake', 'set-log-level', but got 'frobnicate'.
[ALERT]    (1754) : config : parsing [/tmp/nh/candidate-1-2.cfg:9] : balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hash', 'hdr(name)', 'rdp-cookie(name)', 'log-hash' and 'sticky' options.
[ALERT]    (1754) : config : Error(s) found in configuration file : /tmp/nh/candidate-1-2.cfg`;
  assert.deepEqual(
    blameSections(parse, cfg).map((b) => [b.proxy, b.line]),
    [
      ['default_web', 6],
      ['default_app', 9],
    ],
  );
  // A reload that cannot bind: 3.0 adds "protocol tcpv4:" and a final period.
  const bind = `[ALERT]    (1767) : Binding [/tmp/nh/haproxy.cfg:5] for frontend default_web: protocol tcpv4: cannot bind socket (Cannot assign requested address) for [192.0.2.1:18080].
[ALERT]    (1767) : [/var/cache/node-haproxy/haproxy-3.0.11/haproxy.main()] Some protocols failed to start their listeners! Exiting.`;
  const [b, ...rest] = blameSections(bind, cfg);
  assert.equal(rest.length, 0);
  assert.equal(b!.proxy, 'default_web');
  assert.equal(b!.line, 5);
  assert.match(b!.message, /^line 5: Binding for frontend default_web: protocol tcpv4: cannot bind socket/);
  // A missing backend, worded alike on both.
  assert.deepEqual(
    blameSections("[ALERT]    (1763) : config : Proxy 'default_web': unable to find required use_backend: 'nope'.", cfg).map((x) => x.proxy),
    ['default_web'],
  );
});

// `show stat` of 3.0.11 for one server (only the columns the families read matter here).
const STAT_HEADER = 'pxname,svname,qcur,scur,stot,status,weight,act,bck,type,mode,check_status,chkfail,uweight,';
const STAT = `# ${STAT_HEADER}
fe,FRONTEND,,0,3,OPEN,,,,0,http,,,,
be,s1,0,0,3,UP,1,1,0,2,http,,,1,
be,s2,0,0,0,UP,1,0,1,2,http,,,1,
be,BACKEND,0,0,3,UP,1,1,1,1,http,,,2,

`;
const RESOLVERS = `Resolvers section default
 nameserver 10.255.255.53:
  sent:        4
  snd_error:   0
  valid:       3
  update:      0
  cname:       0
  cname_error: 0
  any_err:     1
  nx:          1
  timeout:     0
  refused:     0
  other:       0
  invalid:     0
  too_big:     0
  truncated:   0
  outdated:    0

`;

async function scrape(version: { major: number; minor: number } | undefined, request = {}) {
  const { writer, result } = collectingWriter();
  const exporter = new HaproxyExporter({}, version);
  await exporter.write({ info: { Version: '3.0.11-9e587df' }, table: new StatTable(STAT), resolvers: RESOLVERS }, writer, request);
  return { exporter, e: parseExposition(result().toString('latin1')) };
}

test('exporter on 3.0: server active/backup after weight, the deprecated HELP, resolver families; none of them on 2.6', async () => {
  const v30 = await scrape({ major: 3, minor: 0 });
  assert.equal(v30.exporter.follows, '3.0');
  const fams = [...v30.e.type.keys()];
  const at = (f: string) => fams.indexOf(f);
  assert.ok(at('haproxy_server_weight') >= 0);
  assert.equal(at('haproxy_server_active'), at('haproxy_server_weight') + 1);
  assert.equal(at('haproxy_server_backup'), at('haproxy_server_weight') + 2);
  assert.equal(v30.e.samples.get('haproxy_server_active{proxy="be",server="s1"}'), 1);
  assert.equal(v30.e.samples.get('haproxy_server_backup{proxy="be",server="s2"}'), 1);
  assert.equal(v30.e.help.get('haproxy_backend_agg_server_check_status'), "[DEPRECATED] Backend's aggregated gauge of servers' status");
  assert.equal(fams.at(-1), 'haproxy_resolver_outdated', 'resolvers come last');
  assert.equal(v30.e.samples.get('haproxy_resolver_sent{resolver="default",nameserver="10.255.255.53"}'), 4);
  assert.equal(v30.e.samples.get('haproxy_resolver_send_error{resolver="default",nameserver="10.255.255.53"}'), 0);
  assert.equal(v30.e.samples.get('haproxy_resolver_any_err{resolver="default",nameserver="10.255.255.53"}'), 1);
  assert.equal(v30.e.type.get('haproxy_resolver_sent'), 'gauge');
  assert.equal(v30.exporter.wantsResolvers, true);
  // scope=resolver alone
  const only = await scrape({ major: 3, minor: 0 }, { scopes: new Set(['resolver']) });
  assert.deepEqual(
    [...only.e.type.keys()].every((f) => f.startsWith('haproxy_resolver_')),
    true,
  );

  for (const v of [undefined, { major: 2, minor: 6 }]) {
    const v26 = await scrape(v);
    assert.equal(v26.exporter.follows, '2.6');
    assert.equal(v26.exporter.wantsResolvers, false);
    const f26 = [...v26.e.type.keys()];
    assert.equal(f26.includes('haproxy_server_active'), false);
    assert.equal(
      f26.some((f) => f.startsWith('haproxy_resolver_')),
      false,
    );
    assert.equal(v26.e.help.get('haproxy_backend_agg_server_check_status'), "Backend's aggregated gauge of servers' state check status");
  }
  // Newer 3.x follows 3.0; 2.7 to 2.9 follow 2.6.
  assert.equal(promexTables({ major: 3, minor: 2 }).follows, '3.0');
  assert.equal(promexTables({ major: 2, minor: 8 }).follows, '2.6');
});

test('cardinality options accept the names of either version (a setting survives an upgrade)', () => {
  assert.doesNotThrow(() => new HaproxyExporter({ exclude: ['haproxy_resolver_*', 'haproxy_server_active'] }, { major: 2, minor: 6 }));
  const e = new HaproxyExporter({ exclude: ['haproxy_resolver_*'] }, { major: 3, minor: 0 });
  assert.equal(e.wantsResolvers, false);
  assert.equal(
    e.families().some((f) => f.startsWith('haproxy_resolver_')),
    false,
  );
});

test('show resolvers: several sections and nameservers', () => {
  const text = `Resolvers section default
 nameserver 10.0.0.53:
  sent:        1
  snd_error:   0
 nameserver 10.0.0.54:
  sent:        2
Resolvers section dns
 nameserver ns1:
  sent:        3
`;
  assert.deepEqual(
    parseShowResolvers(text).map((n) => [n.resolver, n.nameserver, n.counters.get('sent')]),
    [
      ['default', '10.0.0.53', '1'],
      ['default', '10.0.0.54', '2'],
      ['dns', 'ns1', '3'],
    ],
  );
  assert.deepEqual(parseShowResolvers(''), []);
});
