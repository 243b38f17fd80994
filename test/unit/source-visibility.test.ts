/**
 * Broken inputs made visible (pure parts): a resource kept from a broken file
 * says it serves its last good version; a reference to a Secret or ConfigMap
 * a source declares but refuses says "is invalid (where: why)", not "does not
 * exist"; a bad base64 value is reported once, not also as missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve, type Declared } from '../../src/model/resolve.js';
import { INVALID_SECRETS, SECRETS, type InvalidSecret, type SecretData } from '../../src/model/secrets.js';
import { selfSignedCert } from '../helpers/certs.js';
import { validateResource } from '../../src/model/validate.js';
import type { Issue } from '../../src/model/types.js';
import { secretFromManifest } from '../../src/sources/secret-manifest.js';
import { secretsNamedIn } from '../../src/sources/files/file-source.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';
const b64 = (s: string) => Buffer.from(s).toString('base64');

function declared(raw: { kind: 'Frontend' | 'Backend'; metadata: { name: string } }, origin: string, stale?: Issue): Declared {
  const v = validateResource(raw, origin);
  assert.deepEqual(v.issues, []);
  return { key: `${raw.kind}/default/${raw.metadata.name}`, origin, source: 'files:/m', resource: v.resource, issues: [], ...(stale ? { stale } : {}) };
}
const backend = (name: string, extra: Record<string, unknown> = {}) =>
  ({ apiVersion: API, kind: 'Backend', metadata: { name }, spec: { members: [{ name: 'a', address: '127.0.0.1', port: 9000 }], ...extra } }) as const;
const frontend = (name: string, bind: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  ({
    apiVersion: API,
    kind: 'Frontend',
    metadata: { name },
    spec: { binds: [{ address: '127.0.0.1', port: 8080, ...bind }], defaultBackend: 'web', ...extra },
  }) as const;

test('a REST/etcd/files Secret with bad base64 in data.tls.crt is reported once, not also as missing', () => {
  const id = { kind: 'Secret' as const, namespace: 'default', name: 'shop-cert' };
  const r = secretFromManifest({ type: 'kubernetes.io/tls', data: { 'tls.crt': '!!', 'tls.key': b64('key') } }, id, 'rest');
  assert.deepEqual(
    r.problems.map((p) => p.field),
    ['data.tls.crt'],
  );
  assert.match(r.problems[0]!.message, /not valid base64/);
  // Truly missing is still reported.
  const missing = secretFromManifest({ type: 'kubernetes.io/tls', data: { 'tls.key': b64('key') } }, id, 'rest');
  assert.deepEqual(
    missing.problems.map((p) => `${p.field} ${p.message.split(';')[0]}`),
    ['data.tls.crt is missing'],
  );
});

test('a resource kept from a broken file serves, and its outcome says it is the last good version and why', () => {
  const stale: Issue = { origin: 'backends.yaml', field: '', reason: 'ParseError', message: 'the file is empty; its last good resources keep serving' };
  const res = resolve({ declared: [declared(backend('web'), 'backends.yaml#1', stale), declared(frontend('site'), 'site.yaml#1')], lastAccepted: new Map() });
  assert.deepEqual(
    res.backends.map((b) => b.metadata.name),
    ['web'],
    'it serves',
  );
  assert.ok(res.accepted.has('Backend/default/web'));
  assert.equal(res.outcomes.get('Frontend/default/site')?.accepted, true, 'what uses it is unaffected');
  const o = res.outcomes.get('Backend/default/web')!;
  assert.ok(!o.accepted);
  assert.equal(o.reason, 'ParseError');
  assert.equal(o.message, 'serving the last good version: backends.yaml: the file is empty; its last good resources keep serving');
  assert.equal(o.serving?.metadata.name, 'web');
  assert.equal(o.issues[0]?.resource, 'Backend default/web');
});

test('a reference to a Secret or ConfigMap a source declares but refuses: "is invalid (where: why)", never "does not exist"', () => {
  const bad: InvalidSecret = { origin: 'secrets.yaml#1', field: 'data.tls.key', message: 'is not valid base64; encode the value' };
  const invalid = new Map<string, InvalidSecret>([
    ['Secret/default/shop-cert', bad],
    ['Secret/default/users', { origin: 'etcd:/nh/secrets/default/users', field: '', message: 'the value is empty' }],
    ['ConfigMap/default/ca', { origin: 'broken.yaml', field: '', message: 'the file does not parse: bad indentation' }],
  ]);
  const discovered = new Map([[INVALID_SECRETS, invalid]]);
  const res = resolve({
    declared: [
      declared(backend('web'), 'b.yaml#1'),
      declared(backend('tls', { tls: { caRef: { kind: 'ConfigMap', name: 'ca' } } }), 'b.yaml#2'),
      declared(frontend('shop', { tls: { certificateRefs: [{ name: 'shop-cert' }] } }), 'f.yaml#1'),
      declared(frontend('admin', { port: 8081 }, { basicAuth: { secretRef: { name: 'users' } } }), 'f.yaml#2'),
      declared(frontend('other', { port: 8082, tls: { certificateRefs: [{ name: 'nowhere' }] } }), 'f.yaml#3'),
    ],
    lastAccepted: new Map(),
    discovered,
  });
  const message = (key: string) => {
    const o = res.outcomes.get(key)!;
    assert.ok(!o.accepted, key);
    return `${o.reason} ${o.message}`;
  };
  assert.equal(
    message('Frontend/default/shop'),
    'InvalidSpec spec.binds[0].tls.certificateRefs[0]: Secret default/shop-cert is invalid (secrets.yaml#1: data.tls.key: is not valid base64; encode the value); fix it there',
  );
  assert.equal(
    message('Frontend/default/admin'),
    'InvalidSpec spec.basicAuth.secretRef.name: Secret default/users is invalid (etcd:/nh/secrets/default/users: the value is empty); fix it there',
  );
  assert.equal(
    message('Backend/default/tls'),
    'InvalidSpec spec.tls.caRef: ConfigMap default/ca is invalid (broken.yaml: the file does not parse: bad indentation); fix it there',
  );
  assert.match(message('Frontend/default/other'), /^SecretNotFound .*Secret default\/nowhere does not exist/);
});

test('the Secrets a file that does not parse seems to declare', () => {
  const text = [
    'apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-cert\n  namespace: shop\nstringData:\n  tls.crt: [unclosed',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: "ca-bundle" }\ndata: {',
    `apiVersion: ${API}\nkind: Backend\nmetadata:\n  name: web\n`,
  ].join('\n---\n');
  assert.deepEqual(secretsNamedIn(text), ['Secret/shop/api-cert', 'ConfigMap/default/ca-bundle']);
});

test('a Secret whose source refuses its current value but still hands its last good data: what uses it serves, with a note naming where and why', () => {
  const cert = selfSignedCert('shop.example');
  const data: SecretData = {
    kind: 'Secret',
    namespace: 'default',
    name: 'shop-cert',
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': cert.cert, 'tls.key': cert.key },
    origin: 'secrets.yaml#1',
  };
  const refused: InvalidSecret = { origin: 'secrets.yaml', field: '', message: 'YAML does not parse at line 3, column 1: bad indentation' };
  const res = resolve({
    declared: [declared(backend('web'), 'b.yaml#1'), declared(frontend('shop', { tls: { certificateRefs: [{ name: 'shop-cert' }] } }), 'f.yaml#1')],
    lastAccepted: new Map(),
    discovered: new Map<string, ReadonlyMap<string, unknown>>([
      [SECRETS, new Map([['Secret/default/shop-cert', data]])],
      [INVALID_SECRETS, new Map([['Secret/default/shop-cert', refused]])],
    ]),
  });
  const o = res.outcomes.get('Frontend/default/shop')!;
  assert.equal(o.accepted, true);
  assert.ok(
    o.notes?.includes(
      'spec.binds[0].tls.certificateRefs[0]: Secret default/shop-cert serves its last good data; its source refuses the current one (secrets.yaml: YAML does not parse at line 3, column 1: bad indentation); fix it there',
    ),
    JSON.stringify(o.notes),
  );
});
