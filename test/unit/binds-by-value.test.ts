/**
 * Listening sockets compared by value (issue 9, class 6) and header values
 * rendered so HAProxy reads exactly them (class 8). Pure parts; the same
 * behaviour against real HAProxy is in test/integration/binds-and-headers.test.ts.
 */
import { test } from 'node:test';
import { createServer, type AddressInfo, type Server } from 'node:net';
import assert from 'node:assert/strict';
import { listeningSockets, type Listener } from '../../src/haproxy/preflight.js';
import { bindOverlap, bindValue, type BindValue, formatIPv6, inetAton, parseIPv6 } from '../../src/model/ip-address.js';
import { resolve, type Declared } from '../../src/model/resolve.js';
import { validateResource } from '../../src/model/validate.js';
import { buildConfigModel, haproxyQuote } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import type { Frontend } from '../../src/model/types.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';

const frontend = (name: string, binds: { address: string; port: number }[], rules: unknown[] = []) => ({
  apiVersion: API,
  kind: 'Frontend',
  metadata: { name },
  spec: { binds, defaultBackend: 'app', rules },
});
const backend = (address = '127.0.0.1') => ({
  apiVersion: API,
  kind: 'Backend',
  metadata: { name: 'app' },
  spec: { members: [{ name: 'a', address, port: 9000 }] },
});
function declare(raw: { kind: string; metadata: { name: string } }, origin = `${raw.metadata.name}.yaml`): Declared {
  const v = validateResource(raw, origin);
  return { key: `${raw.kind}/default/${raw.metadata.name}`, origin, source: 'files', resource: v.resource, issues: v.issues };
}
const issuesOf = (raw: unknown) => validateResource(raw, 'test.yaml#1').issues.map((i) => `${i.field}: ${i.message}`);

test('IPv6 text forms parse to one value and print in RFC 5952 form', () => {
  const same: [string, string][] = [
    ['::1', '::1'],
    ['0:0::1', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['0000::0001', '::1'],
    ['FE80::1', 'fe80::1'],
    ['fe80:0:0:0:0:0:0:1', 'fe80::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:DB8::0:1', '2001:db8::1'],
    ['::', '::'],
    ['0::0', '::'],
    ['1::', '1::'],
    ['::1.2.3.4', '::102:304'],
  ];
  for (const [text, canonical] of same) assert.equal(formatIPv6(parseIPv6(text)!), canonical, text);
  for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', ':1', '1:', '12345::1', 'g::1', '::1.2.3.04', '[::1]', 'fe80::1%eth0', '']) {
    assert.equal(parseIPv6(bad), undefined, bad);
  }
});

test('inet_aton reads number forms the way libc (and so HAProxy) does', () => {
  assert.equal(inetAton('127.000.000.010'), '127.0.0.8');
  assert.equal(inetAton('127.1'), '127.0.0.1');
  assert.equal(inetAton('0x7f.0.0.1'), '127.0.0.1');
  assert.equal(inetAton('2130706433'), '127.0.0.1');
  assert.equal(inetAton('010.0.0.1'), '8.0.0.1');
  assert.equal(inetAton('300.1.1.1'), undefined);
  assert.equal(inetAton('09.1.1.1'), undefined);
});

test('bind values: spellings of one socket are equal; a wildcard covers the addresses it listens on', () => {
  const rel = (a: string, b: string) => bindOverlap(bindValue(a)!, bindValue(b)!);
  for (const [a, b] of [
    ['*', '0.0.0.0'],
    ['::1', '0:0::1'],
    ['::', '0:0:0:0:0:0:0:0'],
    ['FE80::1', 'fe80::1'],
    ['10.0.0.1', '10.0.0.1'],
  ]) {
    assert.equal(rel(a!, b!), 'same', `${a} / ${b}`);
  }
  assert.equal(rel('*', '127.0.0.1'), 'covers');
  assert.equal(rel('127.0.0.1', '0.0.0.0'), 'within');
  // `::` is dual-stack on Linux (net.ipv6.bindv6only=0, HAProxy's default): it takes IPv4 too.
  assert.equal(rel('::', '127.0.0.1'), 'covers');
  assert.equal(rel('::', '*'), 'covers');
  assert.equal(rel('::', '::1'), 'covers');
  assert.equal(rel('::1', '::'), 'within');
  for (const [a, b] of [
    ['127.0.0.1', '127.0.0.2'],
    ['*', '::1'],
    ['127.0.0.1', '::1'],
    ['0.0.0.0', 'fe80::1'],
  ]) {
    assert.equal(rel(a!, b!), undefined, `${a} / ${b}`);
  }
});

test('bind addresses: only forms HAProxy reads as written are accepted; the error says what to write', () => {
  const one = (address: string) => issuesOf(frontend('web', [{ address, port: 80 }]));
  for (const ok of ['*', '0.0.0.0', '127.0.0.1', '::', '::1', '0:0::1', 'FE80::1', '2001:db8::1']) assert.deepEqual(one(ok), [], ok);

  assert.match(
    one('127.000.000.010').join('\n'),
    /^spec\.binds\[0\]\.address: "127\.000\.000\.010" has zero-padded numbers, which libc reads as octal: HAProxy would use 127\.0\.0\.8/,
  );
  assert.match(one('127.000.000.001').join('\n'), /^spec\.binds\[0\]\.address: .*zero-padded.*"127\.0\.0\.1"/);
  assert.match(one('010.0.0.1').join('\n'), /HAProxy would use 8\.0\.0\.1/);
  assert.match(
    one('::ffff:127.0.0.1').join('\n'),
    /^spec\.binds\[0\]\.address: "::ffff:127\.0\.0\.1" is an IPv4-mapped IPv6 address; write the IPv4 address "127\.0\.0\.1" instead/,
  );
  assert.match(one('::FFFF:7f00:1').join('\n'), /IPv4-mapped.*"127\.0\.0\.1"/);
  assert.match(one('1::2::3').join('\n'), /^spec\.binds\[0\]\.address: "1::2::3" is not a valid IPv6 address/);
  assert.match(one('300.1.1.1').join('\n'), /"300\.1\.1\.1" is not a valid IPv4 address/);
  // Refused by the schema pattern, with the form to use.
  for (const bad of ['127.1', '0x7f.0.0.1', '[::1]', 'fe80::1%eth0', '', 'localhost']) {
    assert.match(one(bad).join('\n'), /^spec\.binds\[0\]\.address: .* is not allowed: use "\*", an IPv4 address in dotted decimal/m, bad);
  }
});

test('member addresses: number forms libc reads loosely are refused, DNS names pass', () => {
  const one = (address: string) => issuesOf(backend(address));
  for (const ok of ['10.0.0.1', 'web.example.com', 'web-1', '::1', 'a1.b2.example']) assert.deepEqual(one(ok), [], ok);
  assert.match(one('127.000.000.010').join('\n'), /^spec\.members\[0\]\.address: .*HAProxy would use 127\.0\.0\.8/);
  assert.match(
    one('0x7f.0.0.1').join('\n'),
    /^spec\.members\[0\]\.address: "0x7f\.0\.0\.1" is not dotted decimal: HAProxy would read it as 127\.0\.0\.1; write "127\.0\.0\.1"/,
  );
  assert.match(one('127.1').join('\n'), /HAProxy would read it as 127\.0\.0\.1/);
  assert.match(one('2130706433').join('\n'), /HAProxy would read it as 127\.0\.0\.1/);
  assert.match(one('::ffff:10.0.0.1').join('\n'), /IPv4-mapped.*"10\.0\.0\.1"/);
});

test('one frontend listing one socket twice, in two spellings, is refused', () => {
  for (const [a, b] of [
    ['*', '0.0.0.0'],
    ['::1', '0:0::1'],
    ['::', '0::0'],
    ['127.0.0.1', '127.0.0.1'],
  ] as const) {
    const issues = issuesOf(
      frontend('web', [
        { address: a, port: 80 },
        { address: '10.0.0.1', port: 81 },
        { address: b, port: 80 },
      ]),
    );
    assert.equal(issues.length, 1, `${a} / ${b}: ${issues.join('; ')}`);
    assert.match(issues[0]!, /^spec\.binds\[2\]: .* port 80 is listed twice: spec\.binds\[0\] is the same socket/);
    if (a !== b) assert.match(issues[0]!, new RegExp(`written another way`));
  }
  // The same address on two ports, and a wildcard beside an address in one frontend, are fine.
  assert.deepEqual(
    issuesOf(
      frontend('web', [
        { address: '*', port: 80 },
        { address: '127.0.0.1', port: 80 },
        { address: '*', port: 81 },
      ]),
    ),
    [],
  );
});

test('two frontends on one socket, compared by value: the second is refused on the clashing bind, naming both', () => {
  const clash: [string, string, RegExp][] = [
    ['127.0.0.1', '127.0.0.1', /its spec\.binds\[0\]\.address "127\.0\.0\.1" is the same address/],
    ['::1', '0:0::1', /its spec\.binds\[0\]\.address "::1" is the same address written another way/],
    ['FE80::1', 'fe80:0::1', /same address written another way/],
    ['*', '0.0.0.0', /same address written another way \(every IPv4 address\)/],
    ['*', '127.0.0.1', /its spec\.binds\[0\]\.address "\*" listens on every IPv4 address on port \d+, "127\.0\.0\.1" included/],
    ['0.0.0.0', '10.1.2.3', /listens on every IPv4 address/],
    ['127.0.0.1', '*', /its spec\.binds\[0\]\.address "127\.0\.0\.1" is one of the addresses "\*" listens on/],
    ['::', '127.0.0.1', /listens on every IPv6 and IPv4 address/],
    ['::', '*', /listens on every IPv6 and IPv4 address/],
    ['::1', '::', /one of the addresses "::" listens on/],
    ['*', '::', /one of the addresses "::" listens on/],
  ];
  for (const [a, b, why] of clash) {
    const declared = [
      declare(frontend('a', [{ address: a, port: 8080 }])),
      // The clash is on the second bind: the field names it.
      declare(
        frontend('b', [
          { address: '127.0.0.1', port: 9090 },
          { address: b, port: 8080 },
        ]),
      ),
      declare(backend()),
    ];
    for (const order of [declared, [...declared].reverse()]) {
      const res = resolve({ declared: order, lastAccepted: new Map() });
      assert.deepEqual(
        res.frontends.map((f) => f.metadata.name),
        ['a'],
        `${a} / ${b}`,
      );
      const o = res.outcomes.get('Frontend/default/b');
      assert.ok(o && !o.accepted, `${a} / ${b} accepted`);
      assert.equal(o.reason, 'Conflict');
      assert.equal(o.issues[0]!.field, 'spec.binds[1].address');
      assert.equal(o.issues[0]!.resource, 'Frontend default/b');
      assert.equal(o.issues[0]!.origin, 'b.yaml');
      assert.match(o.issues[0]!.message, /is already used by Frontend default\/a: /);
      assert.match(o.issues[0]!.message, why, `${a} / ${b}: ${o.issues[0]!.message}`);
      assert.match(o.issues[0]!.message, /split its connections between them; choose another address or port$/);
    }
  }
  // The frontend that served first keeps the socket, even when the newcomer sorts first.
  const first = resolve({ declared: [declare(frontend('z', [{ address: '::1', port: 80 }])), declare(backend())], lastAccepted: new Map() });
  const both = resolve({
    declared: [declare(frontend('a', [{ address: '0:0::1', port: 80 }])), declare(frontend('z', [{ address: '::1', port: 80 }])), declare(backend())],
    lastAccepted: first.accepted,
  });
  assert.deepEqual(
    both.frontends.map((f) => f.metadata.name),
    ['z'],
  );
  assert.equal((both.outcomes.get('Frontend/default/a') as { issues: { field: string }[] }).issues[0]!.field, 'spec.binds[0].address');

  for (const [a, b] of [
    ['127.0.0.1', '127.0.0.2'],
    ['*', '::1'],
    ['127.0.0.1', '::1'],
    ['0.0.0.0', 'fe80::1'],
  ]) {
    const res = resolve({
      declared: [declare(frontend('a', [{ address: a!, port: 80 }])), declare(frontend('b', [{ address: b!, port: 80 }])), declare(backend())],
      lastAccepted: new Map(),
    });
    assert.equal(res.frontends.length, 2, `${a} / ${b} should both be accepted`);
  }
});

test('header rules render the whole value of a header sent once, never as a flag, quoted', () => {
  const values = ['yes', '-i', '-f', '-m', '--', 'a,b', 'no,yes', '$HOME', "it's", 'x#y', 'a b', 'back\\slash', '"q"'];
  assert.equal(haproxyQuote("it's"), "'it'\\''s'");
  assert.equal(haproxyQuote('-i'), "'-i'");
  const rules = values.map((value) => ({ header: { name: 'X-B', value }, backend: 'app' }));
  const f = {
    apiVersion: API,
    kind: 'Frontend',
    metadata: { name: 'web', namespace: 'default' },
    spec: { binds: [{ address: '127.0.0.1', port: 80 }], defaultBackend: 'app', rules, mode: 'http', timeouts: {}, forwardFor: true, keepAlive: 'keep-alive' },
  };
  const model = buildConfigModel({
    frontends: [f as unknown as Frontend],
    backends: [],
    global: { adminSocket: '/a', serverStateFile: '/s', hardStopAfter: '1s' },
  });
  const text = loadRenderer()(model);
  assert.match(text, /\n\s+acl r0_hdr_once req\.fhdr_cnt\(X-B\) eq 1\n\s+acl r0_hdr req\.fhdr\(X-B\) -m str -- 'yes'\n/);
  assert.match(text, /\n\s+acl r1_hdr req\.fhdr\(X-B\) -m str -- '-i'\n/);
  assert.match(text, /\n\s+acl r8_hdr req\.fhdr\(X-B\) -m str -- 'it'\\''s'\n/);
  assert.match(text, /\n\s+use_backend default_app if r0_hdr_once r0_hdr\n/);
  assert.doesNotMatch(text, /req\.hdr\(X-B\)/);

  // The schema keeps its allow-list: values starting with "-" and with commas pass; spaces, quotes, "\\", "#", "$" do not.
  const check = (value: string) => issuesOf(frontend('web', [{ address: '*', port: 80 }], [{ header: { name: 'X-B', value }, backend: 'app' }]));
  for (const ok of ['-i', '-f', '--', '-m', 'a,b', 'no,yes']) assert.deepEqual(check(ok), [], ok);
  for (const bad of ['a b', "it's", '"q"', 'x#y', '$HOME', 'back\\slash'])
    assert.match(check(bad).join('\n'), /^spec\.rules\[0\]\.header\.value: .* is not allowed/, bad);
});

test('the pre-flight reads listening sockets from /proc/net/tcp{,6} by value', async (t) => {
  const servers = await Promise.all(
    ['127.0.0.1', '::1'].map(
      (host) =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, host, () => resolve(s));
        }),
    ),
  );
  t.after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));
  const all = await listeningSockets();
  if (!all) return assert.fail('/proc/net/tcp is not readable');
  const wanted: [Server, BindValue][] = [
    [servers[0]!, { kind: 'ip4', addr: '127.0.0.1' }],
    [servers[1]!, { kind: 'ip6', addr: '::1' }],
  ];
  for (const [s, want] of wanted) {
    const port = (s.address() as AddressInfo).port;
    const found: Listener[] = all.filter((l) => l.port === port);
    assert.deepEqual(
      found.map((l) => l.value),
      [want],
      `port ${port}`,
    );
    assert.match(found[0]!.inode, /^[1-9]\d*$/);
  }
});
