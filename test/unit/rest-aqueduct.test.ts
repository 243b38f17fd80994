// Pure parts of the REST and etcd sources: aqueduct translation both ways, raw lines, etcd keys and values, tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRawLine, parseRawConfig, RAW_CONFIG_ANNOTATION } from '../../src/model/raw-config.js';
import type { Backend, Frontend } from '../../src/model/types.js';
import { validateResource } from '../../src/model/validate.js';
import { declareKv, parseEtcdKey, parseEtcdSpec } from '../../src/sources/etcd/keys.js';
import {
  backendFromAqueduct,
  backendToAqueduct,
  durationToMs,
  frontendFromAqueduct,
  frontendToAqueduct,
  memberServerName,
  msToDuration,
  parseBind,
} from '../../src/sources/rest/aqueduct.js';
import { tokensEqual } from '../../src/sources/rest/auth.js';
import { identifiedObject } from '../../src/model/declare.js';

const opts = { namespace: 'default', allowRawConfig: false };

function accept<T>(t: { resource?: Record<string, unknown>; issues: unknown[]; mapField(f: string): string }): T {
  assert.deepEqual(t.issues, []);
  const v = validateResource(t.resource);
  assert.deepEqual(
    v.issues.map((i) => `${t.mapField(i.field)}: ${i.message}`),
    [],
  );
  return v.resource as T;
}

test('aqueduct frontend → resource: binds, default backend, keepalive, rules', () => {
  const f = accept<Frontend>(
    frontendFromAqueduct(
      'myapp',
      {
        bind: '10.2.2.2:80,*:8080,:81,[::1]:443',
        backend: 'live',
        keepalive: 'server-close',
        rules: [
          { type: 'header', header: 'Host', operation: 'hdr_dom', value: 'staged.myapp.com', backend: 'staged' },
          { type: 'path', operation: 'path_beg', value: '/ecxd/', backend: 'ecxd' },
          { type: 'url', value: '/bar', backend: 'bar' },
          { type: 'header', header: 'X-Canary', operation: 'hdr', value: 'yes', backend: 'canary' },
          { type: 'header', header: 'host', operation: 'hdr_end', value: '.example.com', backend: 'ex' },
        ],
      },
      opts,
    ),
  );
  assert.deepEqual(f.metadata.name, 'myapp');
  assert.deepEqual(f.spec.binds, [
    { address: '10.2.2.2', port: 80 },
    { address: '*', port: 8080 },
    { address: '*', port: 81 },
    { address: '::1', port: 443 },
  ]);
  assert.equal(f.spec.defaultBackend, 'live');
  assert.equal(f.spec.keepAlive, 'server-close');
  assert.deepEqual(f.spec.rules, [
    { host: 'staged.myapp.com', backend: 'staged' },
    { host: '*.staged.myapp.com', backend: 'staged' },
    { pathPrefix: '/ecxd/', backend: 'ecxd' },
    { pathPrefix: '/bar', backend: 'bar' },
    { header: { name: 'X-Canary', value: 'yes' }, backend: 'canary' },
    { host: '*.example.com', backend: 'ex' },
  ]);
  // And back: the rules as written.
  const out = frontendToAqueduct(f);
  assert.equal(out.bind, '10.2.2.2:80,*:8080,*:81,[::1]:443');
  assert.equal(out.keepalive, 'server-close');
  assert.equal(out.rules.length, 5);
  assert.deepEqual(out.rules[2], { type: 'url', value: '/bar', backend: 'bar' });
});

test('a frontend written in our shape reads back in aqueduct shape', () => {
  const f = validateResource({
    apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
    kind: 'Frontend',
    metadata: { name: 'web' },
    spec: {
      binds: [{ port: 80 }],
      rules: [
        { host: 'a.com', backend: 'a' },
        { pathPrefix: '/x', backend: 'x' },
        { host: '*.b.com', backend: 'b' },
        { host: 'c.com', pathPrefix: '/c', backend: 'c' },
      ],
    },
  }).resource as Frontend;
  const out = frontendToAqueduct(f);
  assert.equal(out.bind, '*:80');
  assert.equal(out.backend, null);
  assert.equal(out.keepalive, 'default');
  assert.deepEqual(out.rules, [
    { type: 'header', header: 'host', operation: 'hdr', value: 'a.com', backend: 'a' },
    { type: 'path', operation: 'path_beg', value: '/x', backend: 'x' },
    { type: 'header', header: 'host', operation: 'hdr_end', value: '.b.com', backend: 'b' },
    { type: 'node-haproxy', rule: { host: 'c.com', pathPrefix: '/c', backend: 'c' }, backend: 'c' },
  ]);
});

test('aqueduct payloads that cannot be translated name the aqueduct field', () => {
  const issues = (body: Record<string, unknown>, o = opts) => {
    const t = frontendFromAqueduct('web', body, o);
    if (t.issues.length) return t.issues.map((i) => i.field);
    return validateResource(t.resource, undefined, { allowRawConfig: o.allowRawConfig }).issues.map((i) => t.mapField(i.field));
  };
  assert.deepEqual(issues({}), ['bind']);
  assert.deepEqual(issues({ bind: '*:80 ssl' }), ['bind']);
  assert.deepEqual(issues({ bind: '*:99999' }), ['bind']);
  assert.deepEqual(issues({ bind: '*:80', keepalive: 'x' }), ['keepalive']);
  assert.deepEqual(issues({ bind: '*:80', rules: [{ type: 'url', operation: 'url_reg', value: '^/a', backend: 'a' }] }), ['rules[0].operation']);
  assert.deepEqual(issues({ bind: '*:80', rules: [{ type: 'path', operation: 'path_reg', value: '^/a', backend: 'a' }] }), []);
  assert.deepEqual(issues({ bind: '*:80', rules: [{ type: 'path', operation: 'path_reg', value: "^/a'", backend: 'a' }] }), ['rules[0].value']);
  assert.deepEqual(issues({ bind: '*:80', rules: [{ type: 'cookie', value: 'a', backend: 'a' }] }), ['rules[0].type']);
  assert.deepEqual(issues({ bind: '*:80', rules: [{ type: 'header', header: 'X-A', operation: 'hdr_dom', value: 'a', backend: 'a' }] }), [
    'rules[0].operation',
  ]);
  assert.deepEqual(issues({ bind: '*:80', rules: [{ type: 'path', value: 'favicon.ico', backend: 'a' }] }), ['rules[0].value']);
  assert.deepEqual(issues({ bind: '*:80', rules: [{}, { type: 'path', value: '/ok', backend: 'Bad_Name' }] }), ['rules[0].value']);
  assert.deepEqual(
    issues({
      bind: '*:80',
      rules: [
        { type: 'path', value: '/a', backend: 'a' },
        { type: 'header', value: 'x.com', backend: 'Bad~' },
      ],
    }),
    ['rules[1].backend', 'rules[1].backend'],
  );
  assert.deepEqual(issues({ bind: '*:80', natives: ['option httplog'] }), ['natives']);
  assert.deepEqual(issues({ bind: '*:80', natives: ['option httplog', 'x\ny'] }, { ...opts, allowRawConfig: true }), ['natives[1]']);
  assert.deepEqual(issues({ bind: '*:80', colour: 'red' }), ['colour']);
  assert.deepEqual(issues({ bind: '*:80', key: 'other' }), ['key']);
});

test('aqueduct backend → resource and back, members, health and host', () => {
  const t = backendFromAqueduct(
    'live',
    {
      type: 'dynamic',
      name: 'myapp',
      version: '1.0.0',
      balance: 'source',
      host: 'myapp.com',
      health: { method: 'GET', uri: '/checkity-check', httpVersion: 'HTTP/1.1', interval: 5000 },
      members: [
        { name: 'myapp', version: '1.0.0', host: '10.10.240.121', port: 8080, meta: { pid: 1 } },
        { host: '::1', port: '8081' },
      ],
    },
    { ...opts, allowRawConfig: true },
  );
  const b = validateResource(t.resource, undefined, { allowRawConfig: true }).resource as Backend;
  assert.equal(b.spec.balance, 'source');
  assert.deepEqual(b.spec.healthCheck, { type: 'http', method: 'GET', path: '/checkity-check', host: 'myapp.com', interval: '5s', rise: 2, fall: 3 });
  assert.deepEqual(
    b.spec.members.map((m) => [m.name, m.address, m.port]),
    [
      ['10.10.240.121_8080', '10.10.240.121', 8080],
      ['m--1_8081', '::1', 8081],
    ],
  );
  assert.equal(b.metadata.annotations?.[RAW_CONFIG_ANNOTATION], '["http-request set-header Host myapp.com"]');
  const out = backendToAqueduct(b);
  assert.equal(out.type, 'dynamic');
  assert.equal(out.name, 'myapp');
  assert.equal(out.host, 'myapp.com');
  assert.deepEqual(out.natives, []);
  assert.deepEqual(out.health, { method: 'GET', uri: '/checkity-check', httpVersion: 'HTTP/1.1', interval: 5000 });
  assert.deepEqual(out.members[0], {
    id: '/myapp/1.0.0/10.10.240.121/8080',
    name: 'myapp',
    version: '1.0.0',
    host: '10.10.240.121',
    port: 8080,
    meta: { pid: 1 },
    server: '10.10.240.121_8080',
    state: 'ready',
    weight: 100,
  });

  // Without raw configuration, a Host rewrite is refused; without health, aqueduct's tcp checks every 2 s.
  assert.deepEqual(
    backendFromAqueduct('live', { type: 'static', host: 'myapp.com' }, opts).issues.map((i) => i.field),
    ['host'],
  );
  const plain = validateResource(backendFromAqueduct('s', { type: 'static', host: null, members: [] }, opts).resource).resource as Backend;
  assert.deepEqual(plain.spec.healthCheck, { type: 'tcp', interval: '2s', rise: 2, fall: 3 });
  assert.equal(backendToAqueduct(plain).health, undefined);
  assert.deepEqual(
    backendFromAqueduct('s', { type: 'spindrift' }, opts).issues.map((i) => i.field),
    ['type'],
  );
});

test('helpers: binds, durations, server names', () => {
  assert.deepEqual(parseBind('*:80', []), [{ address: '*', port: 80 }]);
  const issues: { field: string }[] = [];
  parseBind('80', issues as never);
  assert.equal(issues[0]?.field, 'bind');
  assert.equal(msToDuration(2000), '2s');
  assert.equal(msToDuration(1500), '1500ms');
  assert.equal(durationToMs('2s'), 2000);
  assert.equal(durationToMs('1m'), 60_000);
  assert.equal(durationToMs('250'), 250);
  assert.equal(memberServerName('10.0.0.1', 80), '10.0.0.1_80');
  assert.equal(memberServerName('fe80::1', 80), 'fe80--1_80');
});

test('raw lines: one directive each, no comment, no section, no managed keyword', () => {
  assert.equal(checkRawLine('http-request set-header X-A b'), undefined);
  assert.match(checkRawLine('a\nb')!, /newline/);
  assert.match(checkRawLine('a\rb')!, /newline/);
  assert.match(checkRawLine('a\u0000b')!, /control/);
  assert.match(checkRawLine('option httplog # x')!, /comment/);
  assert.match(checkRawLine(' option httplog')!, /space/);
  assert.match(checkRawLine('listen x')!, /new section/);
  assert.match(checkRawLine('Backend x')!, /new section/);
  assert.match(checkRawLine('server x 1.2.3.4:80')!, /managed/);
  assert.match(checkRawLine(42)!, /string/);
  assert.match(checkRawLine('x'.repeat(2000))!, /longer/);
  assert.deepEqual(parseRawConfig('{"a": 1}').problems.length, 1);
  assert.deepEqual(parseRawConfig('["option httplog", "bad # x"]').problems, [{ index: 1, message: 'contains "#", which starts a comment in haproxy.cfg' }]);
  const r = validateResource({
    apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
    kind: 'Backend',
    metadata: { name: 'b', annotations: { [RAW_CONFIG_ANNOTATION]: '["option httplog"]' } },
    spec: {},
  });
  assert.equal(r.issues[0]?.field, `metadata.annotations["${RAW_CONFIG_ANNOTATION}"]`, 'refused unless enabled');
});

test('etcd: spec, keys and values', () => {
  assert.deepEqual(parseEtcdSpec('etcd://127.0.0.1:2379/node-haproxy/'), { endpoints: ['127.0.0.1:2379'], prefix: '/node-haproxy' });
  assert.deepEqual(parseEtcdSpec('etcd://a:1,[::1]:2'), { endpoints: ['a:1', '[::1]:2'], prefix: '' });
  assert.throws(() => parseEtcdSpec('etcd://127.0.0.1/x'), /HOST:PORT/);
  assert.throws(() => parseEtcdSpec('etcd://127.0.0.1:2379/a b'), /prefix/);
  assert.deepEqual(parseEtcdKey('/p', '/p/backends/default/app'), { kind: 'Backend', namespace: 'default', name: 'app' });
  assert.ok('problem' in parseEtcdKey('/p', '/p/backends/app'));
  assert.ok('problem' in parseEtcdKey('/p', '/p/services/default/app'));

  const yaml = 'spec:\n  members:\n    - { name: a, address: 127.0.0.1, port: 80 }\n';
  const ok = declareKv('/p', '/p/backends/ns1/app', yaml, 'etcd', false);
  assert.equal(ok.declared?.key, 'Backend/ns1/app');
  assert.deepEqual(ok.declared?.issues, []);
  assert.equal(ok.declared?.resource?.metadata.namespace, 'ns1');
  const bad = declareKv('/p', '/p/backends/ns1/app', '{"spec": ', 'etcd', false);
  assert.equal(bad.declared?.key, 'Backend/ns1/app', 'a value that does not parse is still reported against its resource');
  assert.equal(bad.declared?.issues[0]?.origin, 'etcd:/p/backends/ns1/app');
  assert.equal(bad.declared?.issues[0]?.reason, 'ParseError');
  assert.equal(declareKv('/p', '/p/frontends/ns1/app', JSON.stringify({ kind: 'Backend' }), 'etcd', false).declared?.issues[0]?.field, 'kind');
  assert.equal(declareKv('/p', '/p/x', '{}', 'etcd', false).keyIssue?.origin, 'etcd:/p/x');
});

test('REST bodies: the URL fills in identity and must agree with the body; status is dropped', () => {
  // The declare step (model/declare.ts) with the identity the URL gives.
  const fromUrl = { expected: { kind: 'Backend' as const, namespace: 'ns', name: 'app', by: 'the URL' } };
  const r = identifiedObject({ spec: {}, status: { conditions: [] }, metadata: { uid: 'x', labels: { a: 'b' } } }, fromUrl).object;
  assert.deepEqual(r, {
    spec: {},
    apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
    kind: 'Backend',
    metadata: { labels: { a: 'b' }, name: 'app', namespace: 'ns' },
  });
  assert.match(identifiedObject({ metadata: { namespace: 'other' } }, fromUrl).issues[0]?.field ?? '', /metadata\.namespace/);
});

test('token comparison', () => {
  assert.equal(tokensEqual('abc', 'abc'), true);
  assert.equal(tokensEqual('abc', 'abd'), false);
  assert.equal(tokensEqual('abc', 'abcd'), false);
  assert.equal(tokensEqual('', 'abc'), false);
});
