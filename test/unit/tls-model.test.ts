/**
 * TLS in the pure parts: the schema and semantic checks, resolve (missing and
 * bad Secrets, the last good certificate), render (bind options, crt-lists)
 * and the planner (a changed file is a change), and Secret documents of the
 * files source.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve, type Declared } from '../../src/model/resolve.js';
import { secretKey, SECRETS, type SecretData } from '../../src/model/secrets.js';
import { validateResource } from '../../src/model/validate.js';
import type { GlobalSettings } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { computeDesired } from '../../src/reconcile/desired.js';
import { plan } from '../../src/reconcile/plan.js';
import { parseManifests } from '../../src/sources/files/load.js';
import { TestPki, type Issued } from '../helpers/certs.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';
const global: GlobalSettings = { adminSocket: '/s/admin.sock', serverStateFile: '/s/state', hardStopAfter: '30s', stateDir: '/s' };
let pki: TestPki;
let a: Issued;
let b: Issued;
before(() => {
  pki = new TestPki();
  a = pki.issue({ cn: 'a.example.com', dns: ['a.example.com'] });
  b = pki.issue({ cn: 'b.example.com', dns: ['b.example.com', '*.b.example.com'] });
});
after(() => pki.cleanup());

const frontendRaw = (tls: unknown, mode = 'http') => ({
  apiVersion: API,
  kind: 'Frontend',
  metadata: { name: 'web' },
  spec: { mode, binds: [{ port: 443, tls }, { port: 80 }], defaultBackend: 'app' },
});
const declare = (raw: unknown): Declared => {
  const v = validateResource(raw, 'test');
  const r = raw as { kind: string; metadata: { name: string } };
  return { key: `${r.kind}/default/${r.metadata.name}`, origin: 'test', source: 'files', resource: v.resource, issues: v.issues };
};
const backend = declare({ apiVersion: API, kind: 'Backend', metadata: { name: 'app' }, spec: { members: [{ name: 'a1', address: '127.0.0.1', port: 8080 }] } });
const tlsSecret = (name: string, c: Issued, key = c.key): SecretData => ({
  kind: 'Secret',
  namespace: 'default',
  name,
  type: 'kubernetes.io/tls',
  data: { 'tls.crt': c.cert, 'tls.key': key },
  origin: 'test',
});
const discovered = (...s: SecretData[]) => new Map([[SECRETS, new Map(s.map((x) => [secretKey(x.kind, x.namespace, x.name), x]))]]);

test('schema: defaults, and the checks the schema cannot express', () => {
  const ok = validateResource(frontendRaw({ certificateRefs: [{ name: 'site' }] }));
  assert.deepEqual(ok.issues, []);
  assert.deepEqual((ok.resource as { spec: { binds: { tls?: unknown }[] } }).spec.binds[0]!.tls, {
    certificateRefs: [{ name: 'site', kind: 'Secret' }],
    minVersion: 'TLSv1.2',
  });
  const messages = (tls: unknown, mode?: string) => validateResource(frontendRaw(tls, mode)).issues.map((i) => `${i.field}: ${i.message}`);
  assert.deepEqual(messages({ certificateRefs: [] }), ['spec.binds[0].tls.certificateRefs: has 0 items; at least 1 is needed']);
  assert.deepEqual(messages({ certificateRefs: [{ name: 'x' }, { name: 'x' }] }), [
    'spec.binds[0].tls.certificateRefs[1]: Secret "x" is listed twice (also certificateRefs[0]); list each certificate once',
  ]);
  assert.deepEqual(messages({ certificateRefs: [{ name: 'x' }], alpn: ['h2'] }, 'tcp'), [
    'spec.binds[0].tls.alpn: ALPN negotiates HTTP versions and needs mode "http" (mode is "tcp"); remove alpn',
  ]);
  assert.match(messages({ certificateRefs: [{ name: 'x' }], minVersion: 'TLSv1.0' })[0]!, /minVersion: "TLSv1.0" is not one of "TLSv1.2", "TLSv1.3"/);
  assert.match(messages({ certificateRefs: [{ name: 'x', kind: 'ConfigMap' }] })[0]!, /certificateRefs\[0\]\.kind: "ConfigMap" is not one of "Secret"/);
  assert.deepEqual(messages({ certificateRefs: [{ name: 'x' }], clientCertificate: { caRef: { name: 'ca', kind: 'ConfigMap' } } }), []);
});

test('resolve: a missing Secret is a condition naming the field; a bad one later keeps the last good certificate', () => {
  const fe = declare(frontendRaw({ certificateRefs: [{ name: 'site-a' }, { name: 'site-b' }], alpn: ['h2', 'http/1.1'] }));
  const missing = resolve({ declared: [fe, backend], lastAccepted: new Map(), discovered: discovered(tlsSecret('site-a', a)) });
  const o = missing.outcomes.get('Frontend/default/web')!;
  assert.ok(!o.accepted);
  assert.equal(o.reason, 'SecretNotFound');
  assert.match(o.message, /^spec\.binds\[0\]\.tls\.certificateRefs\[1\]: Secret default\/site-b does not exist/);
  assert.equal(missing.frontends.length, 0, 'never accepted: nothing serves');

  const render = loadRenderer();
  const good = computeDesired({ declared: [fe, backend], discovered: discovered(tlsSecret('site-a', a), tlsSecret('site-b', b)) }, new Map(), global, render);
  assert.ok(good.resolution.outcomes.get('Frontend/default/web')!.accepted);
  assert.match(good.text, /bind \*:443 ssl crt-list \/s\/certs\/default_web\.0\.crtlist ssl-min-ver TLSv1\.2 alpn h2,http\/1\.1\n\s+bind \*:80\n/);
  assert.equal(
    good.files?.get('certs/default_web.0.crtlist'),
    '/s/certs/default/secret-site-a.pem a.example.com\n/s/certs/default/secret-site-b.pem b.example.com *.b.example.com\n',
  );
  assert.ok(good.files?.get('certs/default/secret-site-b.pem')?.includes('PRIVATE KEY'));

  // site-b now holds a's key: refused; b's last good certificate serves on, and nothing changes in HAProxy.
  const badB = tlsSecret('site-b', b, a.key);
  const bad = computeDesired(
    { declared: [fe, backend], discovered: discovered(tlsSecret('site-a', a), badB) },
    good.resolution.accepted,
    global,
    render,
    undefined,
    {
      lastGood: good.resolution.secretsInUse,
    },
  );
  const ob = bad.resolution.outcomes.get('Frontend/default/web')!;
  assert.ok(!ob.accepted);
  assert.equal(ob.reason, 'InvalidCertificate');
  assert.ok(ob.serving, 'the previous version serves');
  assert.match(ob.message, /certificateRefs\[1\]: Secret default\/site-b: tls\.key does not match/);
  assert.match(ob.notes?.join('\n') ?? '', new RegExp(`certificates in use: .*Secret default/site-b \\(serial ${b.serial}`));
  assert.deepEqual(plan(bad, good, { runtimeUpdates: true }), { kind: 'noop' });

  // A rotated good certificate: the text is the same, the file differs, and the planner sees it.
  const b2 = pki.issue({ cn: 'b.example.com', dns: ['b.example.com'] });
  const rotated = computeDesired(
    { declared: [fe, backend], discovered: discovered(tlsSecret('site-a', a), tlsSecret('site-b', b2)) },
    good.resolution.accepted,
    global,
    render,
  );
  assert.equal(rotated.text, good.text);
  assert.deepEqual(plan(rotated, good, { runtimeUpdates: true }), {
    kind: 'reload',
    reasons: ['file certs/default/secret-site-b.pem changed', 'file certs/default_web.0.crtlist changed'],
  });
});

test('render: mTLS puts verify and ca-file on the bind; the CA bundle is a file', () => {
  const fe = declare(
    frontendRaw({
      certificateRefs: [{ name: 'site-a' }],
      minVersion: 'TLSv1.3',
      clientCertificate: { caRef: { name: 'ca', kind: 'ConfigMap' }, mode: 'Optional' },
    }),
  );
  const ca: SecretData = { kind: 'ConfigMap', namespace: 'default', name: 'ca', type: 'ConfigMap', data: { 'ca.crt': a.cert }, origin: 'test' };
  const d = computeDesired({ declared: [fe, backend], discovered: discovered(tlsSecret('site-a', a), ca) }, new Map(), global, loadRenderer());
  assert.match(
    d.text,
    /bind \*:443 ssl crt-list \/s\/certs\/default_web\.0\.crtlist ssl-min-ver TLSv1\.3 verify optional ca-file \/s\/certs\/default\/configmap-ca\.ca\.pem\n/,
  );
  assert.equal(d.files?.get('certs/default/configmap-ca.ca.pem'), a.cert);
  const noCa = resolve({ declared: [fe, backend], lastAccepted: new Map(), discovered: discovered(tlsSecret('site-a', a)) });
  assert.match(
    noCa.outcomes.get('Frontend/default/web')!.accepted ? '' : (noCa.outcomes.get('Frontend/default/web') as { message: string }).message,
    /clientCertificate\.caRef: ConfigMap default\/ca does not exist/,
  );
});

test('files source: Secret and ConfigMap documents become SecretData; bad ones are issues naming the field', () => {
  const yaml = [
    `apiVersion: v1\nkind: Secret\nmetadata: {name: s1, namespace: shop}\ntype: kubernetes.io/tls\ndata: {tls.crt: ${Buffer.from('CRT').toString('base64')}, tls.key: ${Buffer.from('K').toString('base64')}}\nstringData: {tls.key: KEY}`,
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ca}\ndata: {ca.crt: PEM}',
    'apiVersion: v1\nkind: Secret\nmetadata: {name: bad}\ndata: {tls.crt: "not base64!"}',
    'apiVersion: v1\nkind: Secret\nmetadata: {name: files}\nstringDataFiles: {tls.crt: certs/full.pem}',
    'apiVersion: v1\nkind: Service\nmetadata: {name: other}',
  ].join('\n---\n');
  const r = parseManifests(yaml, 'tls.yaml', 'files', {}, {}, '/etc/m/tls.yaml');
  assert.equal(r.skipped, 1);
  const byKey = new Map(r.secrets?.map((s) => [s.key, s]));
  assert.deepEqual(byKey.get('Secret/shop/s1')?.value?.data, { 'tls.crt': 'CRT', 'tls.key': 'KEY' }, 'stringData wins over data');
  assert.deepEqual(byKey.get('ConfigMap/default/ca')?.value?.data, { 'ca.crt': 'PEM' }, 'ConfigMap data is text');
  assert.equal(byKey.get('Secret/default/bad')?.value, undefined);
  assert.deepEqual(
    r.issues.map((i) => `${i.origin} ${i.resource}: ${i.field}: ${i.message}`),
    ['tls.yaml#3 Secret default/bad: data.tls.crt: is not valid base64; encode the value (base64 -w0 FILE), or put the text under stringData'],
  );
  assert.deepEqual(byKey.get('Secret/default/files')?.files, { 'tls.crt': '/etc/m/certs/full.pem' }, 'relative to the manifest');
});

test('resolve: a certificate expiring within 14 days serves, with a warning in the outcome', () => {
  const soon = pki.issue({ cn: 'a.example.com', dns: ['a.example.com'], endDays: 3 });
  const fe = declare(frontendRaw({ certificateRefs: [{ name: 'site-a' }] }));
  const r = resolve({ declared: [fe, backend], lastAccepted: new Map(), discovered: discovered(tlsSecret('site-a', soon)) });
  const o = r.outcomes.get('Frontend/default/web')!;
  assert.ok(o.accepted);
  assert.equal(r.frontends.length, 1);
  assert.match(o.notes?.[1] ?? '', /^Secret default\/site-a: the certificate \(serial [0-9A-F]+\) expires at .*, in 2 day\(s\); renew it$/);
  // Past its notAfter it is refused (and, never accepted, does not serve).
  const later = resolve({
    declared: [fe, backend],
    lastAccepted: new Map(),
    discovered: discovered(tlsSecret('site-a', soon)),
    now: new Date(Date.now() + 4 * 86_400_000),
  });
  assert.match(
    (later.outcomes.get('Frontend/default/web') as { message: string }).message,
    /certificateRefs\[0\]: Secret default\/site-a: the certificate .* expired at/,
  );
  assert.equal(later.frontends.length, 0);
});
