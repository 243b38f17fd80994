/**
 * Raw configuration policy: lines are read as HAProxy reads them
 * (haproxy-words.ts) and must pass the per-section allow-list; hostile
 * variants are refused whatever their disguise; the operator can narrow the
 * list; a rendered haproxy.cfg can be checked back line by line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { splitHaproxyWords } from '../../src/model/haproxy-words.js';
import {
  checkRawLine,
  checkRenderedConfig,
  DEFAULT_RAW_KEYWORDS,
  formatRawKeywords,
  parseRawConfigKeywords,
  RAW_CONFIG_FIELD,
  type RawSection,
} from '../../src/model/raw-config.js';
import { validateResource } from '../../src/model/validate.js';
import { resolve } from '../../src/model/resolve.js';
import { buildConfigModel } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { parseManifests } from '../../src/sources/files/load.js';
import { declaredFromObject } from '../../src/sources/kubernetes/index.js';
import { declareKv } from '../../src/sources/etcd/keys.js';
import { rawAnnotation, rawBackendYaml } from '../helpers/raw-config.js';

const words = (line: string) => {
  const r = splitHaproxyWords(line);
  assert.equal(r.problem, undefined, `${line}: ${r.problem}`);
  return r.words.map((w) => w.text);
};

test('tokenizer: quotes, escapes and spaces as HAProxy reads them', () => {
  assert.deepEqual(words('http-request  set-header X-A b'), ['http-request', 'set-header', 'X-A', 'b']);
  assert.deepEqual(words(`"global"`), ['global']);
  assert.deepEqual(words(`'glo'bal`), ['global']);
  assert.deepEqual(words(`"glo"'bal'`), ['global']);
  assert.deepEqual(words(`gl\\obal`), ['gl\\obal'], 'an unknown escape keeps its backslash');
  assert.deepEqual(words(`a\\ b c`), ['a b', 'c']);
  assert.deepEqual(words(`"a b" 'c d'`), ['a b', 'c d']);
  assert.deepEqual(words(`"a\\"b" 'a\\b' "a\\\\b" a\\'b a\\#b "a#b"`), ['a"b', 'a\\b', 'a\\b', "a'b", 'a#b', 'a#b']);
  assert.deepEqual(words(`'$HOME' $HOME \\$x`), ['$HOME', '$HOME', '\\$x'], '$ is literal outside double quotes');
  assert.deepEqual(words(`a "" b`), ['a', '', 'b'], 'an empty word in between counts');
  assert.deepEqual(words(`a ""`), ['a'], 'a trailing empty word does not');
  assert.deepEqual(words(`path_reg ^/api/v[0-9]+\\.json$`), ['path_reg', '^/api/v[0-9]+\\.json$']);
  const raw = splitHaproxyWords(`"global" x`).words[0]!;
  assert.deepEqual(raw, { text: 'global', raw: '"global"' });
});

test('tokenizer: what it cannot be sure of is reported, not guessed', () => {
  const cases: Array<[string, RegExp]> = [
    ['\\x67lobal', /escape "\\x"/],
    ['a\\tb', /escape "\\t"/],
    ['a\\nb', /escape "\\n"/],
    ['set-header X "${HOME}"', /environment/],
    ["set-header X '${HOME}'", /environment/],
    ['set-header X ${HOME}', /environment/],
    ['set-header X "$HOME"', /environment/],
    ['set-header X "\\$HOME"', /environment/],
    ['set-header X "${HOME[*]}"', /environment/],
    ['a # b', /comment/],
    ['a "b', /unmatched double quote at character 3/],
    ["a 'b", /unmatched single quote/],
    ['a\tb', /tab/],
    ['a\u00e9', /non-ASCII/],
    [Array.from({ length: 65 }, () => 'w').join(' '), /at most 64/],
  ];
  for (const [line, why] of cases) {
    const r = splitHaproxyWords(line);
    assert.ok(r.problem, `${JSON.stringify(line)} should be reported`);
    assert.match(r.problem, why, JSON.stringify(line));
    assert.deepEqual(r.words, []);
  }
});

/** Hostile lines: each refused in both sections, with what the refusal says. */
const HOSTILE: ReadonlyArray<[string, RegExp]> = [
  ['"global"', /opens a new section/],
  ["'glo'bal", /opens a new section/],
  ['"glo"bal', /opens a new section/],
  ['gl\\obal', /not a directive/],
  ['\\x67lobal', /escape/],
  ['"backend" other', /opens a new section/],
  ['"frontend" x', /opens a new section/],
  ['userlist u', /opens a new section/],
  ['program p', /opens a new section/],
  ['.if 1', /not a directive/],
  ['.endif', /not a directive/],
  ['lua-load /tmp/x.lua', /"lua-load" is not a directive/],
  ['"lua-load" /tmp/x.lua', /"lua-load" is not a directive/],
  ["lua-'load' /tmp/x.lua", /"lua-load" is not a directive/],
  ['lua-prepend-path /tmp/?.lua', /not a directive/],
  ['http-request lua.evil', /"http-request lua.evil" is not a directive/],
  ['http-request set-header X %[lua.evil]', /runs Lua/],
  ['tcp-request content lua.evil', /not a directive/],
  ['http-request use-service prometheus-exporter', /"http-request use-service" is not a directive/],
  ['http-request use-service lua.svc', /not a directive/],
  ['option external-check', /"option external-check" is not a directive/],
  ['external-check command /bin/sh', /not a directive/],
  ['external-check path /bin', /not a directive/],
  ['stats socket ipv4@127.0.0.1:9999 level admin', /"stats socket" is not a directive/],
  ['stats admin if TRUE', /"stats admin" is not a directive/],
  ['stats enable', /not a directive/],
  ['stats uri /stats', /not a directive/],
  ['errorfile 503 /etc/passwd', /"errorfile" is not a directive/],
  ['errorfiles myerrors', /not a directive/],
  ['http-request return status 200 file /etc/shadow', /"file" reads a local file/],
  ['http-request return status 200 "fi"le /etc/shadow', /"file" reads a local file/],
  ['http-request return status 200 lf-file /etc/shadow', /"lf-file" reads a local file/],
  ['http-request return errorfile /etc/shadow', /reads a local file/],
  ['http-request deny deny_status 403 errorfile /etc/passwd', /reads a local file/],
  ['http-request return errorfiles myerrors', /reads a local file/],
  ['http-response return status 200 file /etc/shadow', /reads a local file/],
  ['http-error status 503 file /etc/shadow', /reads a local file/],
  ['acl a path -f /etc/passwd', /"-f" loads patterns from a file/],
  ['acl a path "-f" /etc/passwd', /loads patterns from a file/],
  ['http-request deny if { path -f /etc/passwd }', /loads patterns from a file/],
  ['acl a path -M -f /etc/map', /loads patterns from a file/],
  ['http-request set-header X %[req.hdr(host),map(/etc/hosts)]', /map file/],
  ['http-request set-header X %[path,map_beg(/etc/hosts,x)]', /map file/],
  ['http-request set-map(/etc/m) %[src] x', /not a directive/],
  ['http-request add-acl(/etc/a) %[src]', /not a directive/],
  ['http-request del-map(/etc/m) %[src]', /not a directive/],
  ['http-request set-header X %[env(HOME)]', /environment/],
  ["http-request set-header X '%[env(HOME)]'", /environment/],
  ['http-request set-header X "%[env(HOME)]"', /environment/],
  ['http-request set-header X "${HOME}"', /environment/],
  ['http-request set-var(txn.x) env(PATH)', /environment/],
  ['http-request set-header X "$HOME"', /environment/],
  ['acl a env(HOME) -m found', /environment/],
  ['setenv FOO bar', /not a directive/],
  ['presetenv FOO bar', /not a directive/],
  ['unsetenv FOO', /not a directive/],
  ['resetenv', /not a directive/],
  ['http-request set-var(proc.x) str(a)', /process-wide/],
  ["http-request set-var('proc.x') str(a)", /quotes or escapes|process-wide/],
  ['http-request set-header X %[var(proc.x)]', /process-wide/],
  ['http-request track-sc0 src table other_ns', /not a directive/],
  ['http-request set-header X %[sc_http_req_rate(0,other_ns)]', /stick-table/],
  ['http-request set-header X %[src_conn_cnt(other_ns)]', /stick-table/],
  ['http-request set-header X %[src,table_http_req_rate(other_ns)]', /stick-table/],
  ['http-request sc-inc-gpc0(0)', /not a directive/],
  ['use_backend other_ns_app', /managed by node-haproxy/],
  ['server evil 10.0.0.1:80', /managed by node-haproxy/],
  ['default-server ca-file /etc/ssl/x', /managed by node-haproxy/],
  ['bind :8080', /managed by node-haproxy/],
  ['log /dev/log local0', /"log" is not a directive/],
  ['log 10.0.0.1:514 local0', /not a directive/],
  ['source 0.0.0.0 usesrc clientip', /not a directive/],
  ['option transparent', /not a directive/],
  ['option http_proxy', /not a directive/],
  ['filter spoe engine e config /etc/spoe.conf', /not a directive/],
  ['load-server-state-from-file local', /not a directive/],
  ['email-alert mailers m', /not a directive/],
  ['http-request do-resolve(txn.ip,dns) hdr(host)', /not a directive/],
  ['"http-request" set-header X y', /quotes or escapes/],
  ['http-request "set-header" X y', /quotes or escapes/],
  ['http-request\tdeny', /tab/],
  ['http-request deny # comment', /comment/],
  ['http-request deny\nglobal', /newline/],
];

test('hostile raw lines are refused in either section, whatever their disguise', () => {
  for (const section of ['frontend', 'backend'] as RawSection[]) {
    for (const [line, why] of HOSTILE) {
      const got = checkRawLine(line, section);
      assert.ok(got, `${section}: ${JSON.stringify(line)} must be refused`);
      assert.match(got, why, `${section}: ${JSON.stringify(line)}`);
    }
  }
});

test('useful raw lines are accepted where HAProxy takes them, and refused in the other section', () => {
  const both = [
    'http-request set-header X-Forwarded-Proto https',
    'http-request set-header X-A "a b"',
    "http-request set-header X-Id '%[uuid]'",
    'http-response set-header Strict-Transport-Security max-age=31536000',
    'http-response del-header Server',
    'http-request redirect scheme https unless { ssl_fc }',
    'http-request deny if { path_beg /admin }',
    'http-request deny if { path_reg ^/api/v[0-9]+\\.json$ }',
    'http-request return status 200 content-type text/plain string ok if { path /ping }',
    'http-request return status 503 content-type text/plain lf-string "down %[date]"',
    'http-request set-var(txn.host) req.hdr(host)',
    'http-after-response set-header X-Served-By node-haproxy',
    'acl api path_beg /api',
    'option httplog',
    'no option httplog',
    'compression algo gzip',
    'http-error status 503 content-type text/plain string "try later"',
    'log global',
    'redirect scheme https code 301 if !{ ssl_fc }',
  ];
  const frontendOnly = [
    'timeout client 30s',
    'capture request header Host len 64',
    'monitor-uri /health',
    'tcp-request connection reject if { src 10.0.0.0/8 }',
    'option http-ignore-probes',
  ];
  const backendOnly = [
    'timeout server 30s',
    'retries 3',
    'option redispatch',
    'http-check expect status 200',
    'cookie SRV insert indirect nocache',
    'hash-type consistent',
    'http-reuse safe',
    'option httpchk GET /healthz',
  ];
  for (const line of both) {
    assert.equal(checkRawLine(line, 'frontend'), undefined, `frontend: ${line}`);
    assert.equal(checkRawLine(line, 'backend'), undefined, `backend: ${line}`);
  }
  for (const line of frontendOnly) {
    assert.equal(checkRawLine(line, 'frontend'), undefined, line);
    assert.match(checkRawLine(line, 'backend')!, /not a directive raw configuration may use in a backend/, line);
  }
  for (const line of backendOnly) {
    assert.equal(checkRawLine(line, 'backend'), undefined, line);
    assert.match(checkRawLine(line, 'frontend')!, /not a directive raw configuration may use in a frontend/, line);
  }
});

test('the default allow-list names nothing that reaches files, programs, the environment or other proxies', () => {
  const forbidden =
    /^(external-check|stats|errorfiles?|setenv|presetenv|unsetenv|resetenv|server|default-server|source|use_backend|bind|mode|balance|filter|log (?!global)|email-alert|stick)\b|lua|use-service|set-map|add-acl|del-acl|del-map|track-sc|sc-|do-resolve|set-dst|set-src|option (transparent|http_proxy|external-check)|spoe|cache-/;
  for (const section of ['frontend', 'backend'] as const) {
    for (const entry of DEFAULT_RAW_KEYWORDS[section]) assert.doesNotMatch(entry, forbidden, `${section}: ${entry}`);
  }
});

test('--raw-config-keywords narrows the list; unknown entries are refused by name', () => {
  const policy = { rawConfigKeywords: parseRawConfigKeywords('http-request set-header, timeout') };
  assert.equal(checkRawLine('http-request set-header X y', 'backend', policy), undefined);
  assert.equal(checkRawLine('timeout server 5s', 'backend', policy), undefined, 'a first word selects its entries');
  assert.match(checkRawLine('http-request deny', 'backend', policy)!, /"http-request deny" is not allowed by this controller's --raw-config-keywords/);
  assert.match(checkRawLine('option httplog', 'backend', policy)!, /--raw-config-keywords/);
  // Narrowing never widens: a hostile line is refused for what it is.
  assert.match(checkRawLine('stats socket /tmp/s', 'backend', policy)!, /not a directive/);
  assert.throws(
    () => parseRawConfigKeywords('http-request set-header,lua-load,stats socket'),
    /"lua-load", "stats socket" are not in the default allow-list; the flag can only narrow it/,
  );
  assert.throws(() => parseRawConfigKeywords('http-request use-service'), /not in the default allow-list/);
  assert.deepEqual(parseRawConfigKeywords(' acl ,, option  httplog '), ['acl', 'option httplog']);
});

test('every source honours --raw-config-keywords the same way, naming resource and field', () => {
  const options = { allowRawConfig: true, rawConfigKeywords: ['timeout'] };
  const lines = ['timeout server 5s', 'http-response set-header X-Raw yes'];
  const expect = (issues: readonly { resource?: string; field: string; message: string }[]) => {
    assert.equal(issues.length, 1, JSON.stringify(issues));
    assert.equal(issues[0]!.resource, 'Backend default/app');
    assert.equal(issues[0]!.field, `${RAW_CONFIG_FIELD}[1]`);
    assert.match(issues[0]!.message, /--raw-config-keywords/);
  };
  expect(parseManifests(rawBackendYaml('app', lines, 9001), 'app.yaml', 'files', options).issues);
  const obj = {
    apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
    kind: 'Backend',
    metadata: { name: 'app', namespace: 'default', annotations: rawAnnotation(lines) },
    spec: { members: [] },
  };
  expect(declaredFromObject('Backend', obj, 'kubernetes', options).issues);
  expect(
    declareKv('/p', '/p/backends/default/app', JSON.stringify({ metadata: { annotations: rawAnnotation(lines) }, spec: {} }), 'etcd', options).declared!.issues,
  );
  expect(validateResource(obj, 'rest', options).issues);
  assert.deepEqual(validateResource(obj, 'rest', { allowRawConfig: true }).issues, [], 'the default list takes both');
});

const GLOBAL = { adminSocket: '/run/nh/admin.sock', serverStateFile: '/run/nh/server-state', hardStopAfter: '30s' };

test('checkRenderedConfig: the golden configuration and a rendered one with raw lines pass', () => {
  const golden = readFileSync(join(packageRoot(), 'test', 'golden', 'examples.cfg'), 'utf8');
  assert.deepEqual(checkRenderedConfig(golden), []);
  const yaml = `${rawBackendYaml('app', ['http-response set-header X-Raw "a b"', 'timeout server 5s', 'option redispatch'], 9001)}---
apiVersion: haproxy.node-haproxy.io/v1alpha1
kind: Frontend
metadata:
  name: web
  annotations:
    haproxy.node-haproxy.io/raw-config: '["http-request deny if { path_beg /admin }", "capture request header Host len 64"]'
spec:
  binds: [{ address: 127.0.0.1, port: 8080 }]
  maxconn: 100
  rules: [{ host: a.example, backend: app }, { pathPrefix: /x, header: { name: X-Canary, value: yes }, backend: app }]
  defaultBackend: app
`;
  const loaded = parseManifests(yaml, 'x.yaml', 'files', { allowRawConfig: true });
  assert.deepEqual(loaded.issues, []);
  const r = resolve({ declared: loaded.declared!, lastAccepted: new Map() });
  const cfg = loadRenderer()(
    buildConfigModel({ frontends: r.frontends, backends: r.backends, global: { ...GLOBAL, statsListener: { address: '127.0.0.1', port: 8404 } } }),
  );
  assert.match(cfg, /X-Raw "a b"/);
  assert.deepEqual(checkRenderedConfig(cfg), []);
});

test('checkRenderedConfig: a line out of place is found, with its line number', () => {
  const golden = readFileSync(join(packageRoot(), 'test', 'golden', 'examples.cfg'), 'utf8');
  const inject = (after: string, line: string) => golden.replace(after, `${after}\n${line}`);
  const cases: Array<[string, string, RegExp]> = [
    ['    balance leastconn', '    "global"', /opens a new section/],
    ['    balance leastconn', '    stats socket ipv4@127.0.0.1:9999 level admin', /"stats socket" is not a directive/],
    ['    balance leastconn', '    lua-load /tmp/x.lua', /not a directive/],
    ['    balance leastconn', '    http-request return status 200 file /etc/shadow', /local file/],
    ['    balance leastconn', '    bind :9999', /managed|not a directive|shape/],
    ['    bind 127.0.0.1:8080', '    bind 127.0.0.1:8081 ssl crt /etc/key.pem', /shape/],
    ['    bind 127.0.0.1:8080', '    timeout server 5s', /not a directive raw configuration may use in a frontend/],
    ['    server api-1 127.0.0.1:9003 weight 100', '    server x 127.0.0.1:1 weight 1 ca-file /etc/x', /shape/],
    ['    server api-1 127.0.0.1:9003 weight 100', 'global', /not a section|opens/],
    ['    server api-1 127.0.0.1:9003 weight 100', 'listen x', /not a section/],
    ['    server api-1 127.0.0.1:9003 weight 100', '# a comment', /comment/],
  ];
  for (const [after, line, why] of cases) {
    const problems = checkRenderedConfig(inject(after, line));
    assert.equal(problems.length, 1, `${line}: ${JSON.stringify(problems)}`);
    assert.equal(problems[0]!.text, line);
    assert.equal(inject(after, line).split('\n')[problems[0]!.line - 1], line);
    assert.match(problems[0]!.message, why, line);
  }
});

test('docs/decisions/0005 lists the default allow-list as the code has it', () => {
  const doc = readFileSync(join(packageRoot(), 'docs', 'decisions', '0005-raw-config-policy.md'), 'utf8');
  for (const section of ['frontend', 'backend'] as const) {
    const m = new RegExp(`\\n${section}:\\n\\n\`\`\`text\\n([^]*?)\\n\`\`\`\\n`).exec(doc);
    assert.ok(m, `no ${section} list in the appendix`);
    assert.equal(m[1], formatRawKeywords(DEFAULT_RAW_KEYWORDS[section]), `${section}: regenerate the appendix from formatRawKeywords()`);
  }
});

test("checkRenderedConfig: a header rule whose value looks like a flag or a keyword is the controller's own line, after --", () => {
  const cfg = (value: string): string =>
    [
      'global',
      '    master-worker',
      '',
      'defaults',
      '    mode http',
      '',
      'frontend default_web',
      '    mode http',
      '    bind 127.0.0.1:80',
      `    acl r0_hdr_once req.fhdr_cnt(X-A) eq 1`,
      `    acl r0_hdr req.fhdr(X-A) -m str -- ${value}`,
      '    use_backend default_app if r0_hdr_once r0_hdr',
      '',
    ].join('\n');
  for (const v of ["'-f'", "'file'", "'-i'", "'a,b'", "'--'"]) assert.deepEqual(checkRenderedConfig(cfg(v)), [], v);
  // The same value without the `--` the controller writes is a flag: refused.
  const bad = cfg("'x'").replace("-m str -- 'x'", '-m str -f /etc/passwd');
  assert.equal(checkRenderedConfig(bad).length, 1);
});
