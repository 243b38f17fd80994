import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateResource } from '../../src/model/validate.js';
import { backendSchema, frontendSchema, type JsonSchema } from '../../src/model/schema.js';

const frontend = () => ({
  apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
  kind: 'Frontend',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    binds: [{ address: '127.0.0.1', port: 8080 }],
    defaultBackend: 'app',
    rules: [{ host: 'api.example.com', pathPrefix: '/api', header: { name: 'X-Env', value: 'canary' }, backend: 'api' }],
    timeouts: { client: '30s', httpRequest: '5s', httpKeepAlive: '2s' },
  },
});

const backend = () => ({
  apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
  kind: 'Backend',
  metadata: { name: 'app' },
  spec: {
    members: [{ name: 'app-1', address: '10.0.0.1', port: 80 }],
    healthCheck: { type: 'http', path: '/healthz', host: 'app.internal', interval: '2s' },
    timeouts: { connect: '1s', server: '30s', queue: '5s' },
  },
});

function set(obj: unknown, path: string, value: unknown): void {
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  let cur = obj as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  cur[parts.at(-1)!] = value;
}

test('valid resources pass and get the documented defaults', () => {
  const f = validateResource(frontend());
  assert.deepEqual(f.issues, []);
  assert.equal(f.resource?.kind, 'Frontend');
  if (f.resource?.kind !== 'Frontend') return;
  assert.equal(f.resource.spec.mode, 'http');
  assert.equal(f.resource.spec.forwardFor, true);
  assert.equal(f.resource.spec.keepAlive, 'keep-alive');

  const b = validateResource(backend());
  assert.deepEqual(b.issues, []);
  if (b.resource?.kind !== 'Backend') return assert.fail('not a backend');
  assert.equal(b.resource.metadata.namespace, 'default');
  assert.equal(b.resource.spec.balance, 'roundrobin');
  assert.deepEqual(b.resource.spec.members[0], { name: 'app-1', address: '10.0.0.1', port: 80, weight: 100, state: 'ready' });
  assert.equal(b.resource.spec.healthCheck?.rise, 2);
});

test('validation does not modify its input', () => {
  const raw = backend();
  const before = JSON.stringify(raw);
  validateResource(raw);
  assert.equal(JSON.stringify(raw), before);
});

const INJECTIONS = ['a\nb', 'a\r\nglobal', 'x # comment', 'a b', 'a"b', "a'b", 'a\\b', '${HOME}', 'a\tb', 'a;b'];

const FRONTEND_STRINGS = [
  'metadata.name',
  'metadata.namespace',
  'spec.binds[0].address',
  'spec.defaultBackend',
  'spec.rules[0].host',
  'spec.rules[0].pathPrefix',
  'spec.rules[0].header.name',
  'spec.rules[0].header.value',
  'spec.rules[0].backend',
  'spec.timeouts.client',
  'spec.timeouts.httpRequest',
  'spec.timeouts.httpKeepAlive',
];
const BACKEND_STRINGS = [
  'metadata.name',
  'metadata.namespace',
  'spec.members[0].name',
  'spec.members[0].address',
  'spec.healthCheck.path',
  'spec.healthCheck.host',
  'spec.healthCheck.interval',
  'spec.timeouts.connect',
  'spec.timeouts.server',
  'spec.timeouts.queue',
];

for (const [kind, make, fields] of [
  ['Frontend', frontend, FRONTEND_STRINGS],
  ['Backend', backend, BACKEND_STRINGS],
] as const) {
  for (const field of fields) {
    test(`${kind} ${field}: newline, #, space, quotes, backslash, $ and ; are rejected with the field named`, () => {
      for (const bad of INJECTIONS) {
        const raw = make();
        // `;` is legal in URL paths and header values, and not special in haproxy.cfg.
        if (bad === 'a;b' && /(pathPrefix|\.path|header\.value)$/.test(field)) continue;
        set(raw, field, field.endsWith('pathPrefix') || field.endsWith('.path') ? `/${bad}` : bad);
        const r = validateResource(raw, 'test.yaml#1');
        assert.equal(r.resource, undefined, `${field}=${JSON.stringify(bad)} was accepted`);
        const issue = r.issues.find((i) => i.field === field);
        assert.ok(issue, `no issue names ${field} for ${JSON.stringify(bad)}: ${JSON.stringify(r.issues)}`);
        assert.equal(issue.origin, 'test.yaml#1');
        assert.match(issue.message, /is not allowed: use /);
      }
    });
  }
}

test('service.port accepts a number or a port name, and nothing else', () => {
  const ok = (port: unknown) => {
    const raw = backend() as Record<string, unknown> & { spec: Record<string, unknown> };
    raw.spec.members = [];
    raw.spec.service = { name: 'web', port };
    return validateResource(raw);
  };
  assert.deepEqual(ok(8080).issues, []);
  assert.deepEqual(ok('http').issues, []);
  for (const bad of ['http\nx', 'a b', 'HTTP', 0, 70000]) {
    const r = ok(bad);
    assert.ok(
      r.issues.some((i) => i.field === 'spec.service.port'),
      `${JSON.stringify(bad)} accepted: ${JSON.stringify(r.issues)}`,
    );
  }
});

test('every free-form string in the schema has an allow-list pattern', () => {
  const missing: string[] = [];
  const walk = (s: JsonSchema, path: string) => {
    if (s.type === 'string' && !s.enum && !s.pattern && !path.startsWith('status') && !path.includes('labels') && !path.includes('annotations')) {
      missing.push(path);
    }
    for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, path ? `${path}.${k}` : k);
    if (s.items) walk(s.items, `${path}[]`);
    for (const a of s.anyOf ?? []) walk(a, path);
  };
  walk(frontendSchema, '');
  walk(backendSchema, '');
  // apiVersion and kind are enums; every other string must be pattern-checked.
  assert.deepEqual(missing, []);
});

test('unknown fields, wrong types and out-of-range numbers name the field and the fix', () => {
  const raw = frontend() as ReturnType<typeof frontend> & { spec: Record<string, unknown> };
  raw.spec.bindz = [];
  raw.spec.maxconn = 'many';
  raw.spec.binds = [{ address: '127.0.0.1', port: 70000 }];
  const r = validateResource(raw, 'web.yaml#1');
  const by = new Map(r.issues.map((i) => [i.field, i.message]));
  assert.match(by.get('spec.bindz') ?? '', /not a known field/);
  assert.match(by.get('spec.maxconn') ?? '', /must be integer/);
  assert.match(by.get('spec.binds[0].port') ?? '', /must be <= 65535/);
  assert.ok(r.issues.every((i) => i.resource === 'Frontend shop/web'));
});

test('semantic checks: addresses, tcp rules, empty rules, duplicate members, service with members', () => {
  const f = frontend();
  set(f, 'spec.binds[0].address', '300.1.1.1');
  assert.match(
    validateResource(f)
      .issues.map((i) => `${i.field}: ${i.message}`)
      .join('\n'),
    /spec\.binds\[0\]\.address: "300\.1\.1\.1" is not a valid IPv4 address/,
  );

  const tcp = frontend() as ReturnType<typeof frontend> & { spec: Record<string, unknown> };
  tcp.spec.mode = 'tcp';
  assert.ok(validateResource(tcp).issues.some((i) => i.field === 'spec.rules' && /need mode "http"/.test(i.message)));

  const empty = frontend();
  empty.spec.rules = [{ backend: 'api' } as never];
  assert.ok(validateResource(empty).issues.some((i) => i.field === 'spec.rules[0]' && /at least one of host, pathPrefix or header/.test(i.message)));

  const dup = backend();
  dup.spec.members.push({ name: 'app-1', address: '10.0.0.2', port: 80 });
  assert.ok(validateResource(dup).issues.some((i) => i.field === 'spec.members[1].name' && /unique/.test(i.message)));

  const both = backend() as ReturnType<typeof backend> & { spec: Record<string, unknown> };
  both.spec.service = { name: 'web', port: 80 };
  assert.ok(validateResource(both).issues.some((i) => i.field === 'spec.service' && /either static members or a service/.test(i.message)));
});

test('wrong apiVersion or kind says what to use', () => {
  const r1 = validateResource({ ...frontend(), apiVersion: 'v1' });
  assert.match(r1.issues[0]!.message, /use "haproxy\.node-haproxy\.io\/v1alpha1"/);
  const r2 = validateResource({ ...frontend(), kind: 'Ingress' });
  assert.match(r2.issues[0]!.message, /use "Frontend" or "Backend"/);
});

test('a list over its limit is reported by its count, not quoted back', () => {
  const rules = Array.from({ length: 1001 }, (_, i) => ({ host: `h${i}.test`, backend: 'app' }));
  const r = validateResource({
    apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
    kind: 'Frontend',
    metadata: { name: 'web' },
    spec: { binds: [{ address: '127.0.0.1', port: 8080 }], defaultBackend: 'app', rules },
  });
  const messages = r.issues.map((i) => `${i.field}: ${i.message}`);
  assert.deepEqual(messages, ['spec.rules: has 1001 items; at most 1000 are allowed: split it (another resource) or remove some']);
});
