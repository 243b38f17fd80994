/**
 * Last good values of Secret- and ConfigMap-derived inputs (model/last-good.ts),
 * without HAProxy: a basic-auth Secret or a Backend's CA bundle that goes bad
 * after it served keeps its last good value serving, the status says which
 * reference and why, nothing changes in HAProxy (the plan is a noop), a fix
 * applies, and a restarted controller (no last good values) refuses.
 * Real HAProxy: test/integration/last-good.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FrontendWithUsers } from '../../src/model/basic-auth.js';
import { lastGoodNote, orLastGood } from '../../src/model/last-good.js';
import type { Outcome, Declared } from '../../src/model/resolve.js';
import { SECRETS, secretKey, type SecretData } from '../../src/model/secrets.js';
import type { BackendWithCaBundle } from '../../src/model/tls.js';
import type { Resource, ResourceKey } from '../../src/model/types.js';
import { validateResource } from '../../src/model/validate.js';
import type { GlobalSettings } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { computeDesired, type Desired } from '../../src/reconcile/desired.js';
import { plan } from '../../src/reconcile/plan.js';
import { selfSignedCert } from '../helpers/certs.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';
const global: GlobalSettings = { adminSocket: '/s/admin.sock', serverStateFile: '/s/state', hardStopAfter: '30s', stateDir: '/s' };
const render = loadRenderer();
const SHA512_A = '$6$tp23yfbiwi1pa99B$8k.swTe.YWDSdJSoEVckcOtiGYm8xWFo3ho1Ek8G4nTFgjicc15AJOciuzhsYeg1Uu2fnRilkjViKIakOSdPo.';
const SHA512_B = '$6$saltsaltsalt$' + 'b'.repeat(86);
const MD5 = '$1$bGbyr/Mk$SdkhP9roNLTgU3EZn19pt.';

const declare = (raw: { kind: string; metadata: { name: string } }): Declared => {
  const v = validateResource(raw, 'test');
  assert.deepEqual(v.issues, []);
  return { key: `${raw.kind}/default/${raw.metadata.name}`, origin: 'test', source: 'files', resource: v.resource, issues: [] };
};
const frontend = declare({
  apiVersion: API,
  kind: 'Frontend',
  metadata: { name: 'admin' },
  spec: { binds: [{ port: 8080 }], defaultBackend: 'app', basicAuth: { secretRef: { name: 'users' } } },
} as never);
const plainBackend = declare({
  apiVersion: API,
  kind: 'Backend',
  metadata: { name: 'app' },
  spec: { members: [{ name: 'a', address: '127.0.0.1', port: 9000 }] },
} as never);
const tlsBackend = declare({
  apiVersion: API,
  kind: 'Backend',
  metadata: { name: 'app' },
  spec: { members: [{ name: 'a', address: '127.0.0.1', port: 9443 }], tls: { sni: 'api.internal', caRef: { kind: 'ConfigMap', name: 'ca' } } },
} as never);

const usersSecret = (data: Record<string, string>): SecretData => ({
  kind: 'Secret',
  namespace: 'default',
  name: 'users',
  type: 'Opaque',
  data,
  origin: 'test',
});
const caMap = (caCrt: string): SecretData => ({
  kind: 'ConfigMap',
  namespace: 'default',
  name: 'ca',
  type: 'ConfigMap',
  data: { 'ca.crt': caCrt },
  origin: 'test',
});
const discovered = (...s: SecretData[]) => new Map([[SECRETS, new Map(s.map((x) => [secretKey(x.kind, x.namespace, x.name), x]))]]);

/** One pass as the reconciler runs it: the previous pass's accepted resources and values in use go back in. */
function pass(declared: Declared[], secrets: SecretData[], previous?: Desired): Desired {
  return computeDesired(
    { declared, discovered: discovered(...secrets) },
    previous?.resolution.accepted ?? new Map<ResourceKey, Resource>(),
    global,
    render,
    undefined,
    { lastTls: previous?.resolution.tlsInUse },
  );
}

const outcomeOf = (d: Desired, key: string): Outcome => {
  const o = d.resolution.outcomes.get(key);
  assert.ok(o, `an outcome for ${key}`);
  return o;
};

test('orLastGood: the fresh value when good, else the last good one with a note naming the field and the problem, else the problem', () => {
  const problem = { field: 'spec.x', reason: 'InvalidSpec' as const, message: 'Secret ns/s: bad; fix it' };
  assert.deepEqual(orLastGood({ value: 1 }, 2, 'thing'), { value: 1 });
  assert.deepEqual(orLastGood({ problem }, undefined, 'thing'), { problem });
  assert.deepEqual(orLastGood({ problem }, 2, 'thing'), { value: 2, warning: 'spec.x: Secret ns/s: bad; fix it; the last good thing keeps serving' });
  assert.equal(lastGoodNote(problem, 'thing'), 'spec.x: Secret ns/s: bad; fix it; the last good thing keeps serving');
});

test('basic auth: a Secret that goes bad after it served keeps its last good users serving, with a condition naming the Secret and the line', () => {
  const good = pass([frontend, plainBackend], [usersSecret({ users: `alice:${SHA512_A}\n` })]);
  assert.equal(outcomeOf(good, 'Frontend/default/admin').accepted, true);
  assert.match(good.text, /userlist default_admin\n\s+user alice password '\$6\$tp23/);
  assert.deepEqual([...good.resolution.tlsInUse.users], [['Secret/default/users', [{ name: 'alice', hash: SHA512_A }]]]);

  const cases: [string, SecretData[], RegExp, string][] = [
    [
      'a bad hash line',
      [usersSecret({ users: `alice:${SHA512_A}\nbob:${MD5}\n` })],
      /^spec\.basicAuth\.secretRef\.name: Secret default\/users, key "users": line 2 \(user "bob"\) is an MD5-crypt \(\$1\$\) hash, which is too weak; use a SHA-512/,
      'InvalidSpec',
    ],
    [
      'no users key',
      [usersSecret({ htpasswd: `alice:${SHA512_A}\n` })],
      /^spec\.basicAuth\.secretRef\.name: Secret default\/users has no "users" key; add one/,
      'InvalidSpec',
    ],
    ['the Secret deleted', [], /^spec\.basicAuth\.secretRef\.name: Secret default\/users does not exist; create it with a "users" key/, 'SecretNotFound'],
  ];
  for (const [what, secrets, message, reason] of cases) {
    const bad = pass([frontend, plainBackend], secrets, good);
    const o = outcomeOf(bad, 'Frontend/default/admin');
    assert.ok(!o.accepted, what);
    assert.equal(o.reason, reason, what);
    assert.match(o.message, message, what);
    assert.ok(o.serving, `${what}: the last accepted version serves`);
    const note = o.notes?.find((n) => n.endsWith('; the last good user list keeps serving'));
    assert.ok(note, `${what}: the status says the last good users serve: ${JSON.stringify(o.notes)}`);
    assert.match(note, message, `${what}: the note names the field, the Secret and the problem`);
    assert.ok(!o.message.includes(MD5) && !note.includes(MD5), 'never the hash');
    const served = bad.resolution.frontends[0] as FrontendWithUsers;
    assert.deepEqual(served.basicAuthUsers, [{ name: 'alice', hash: SHA512_A }], `${what}: the last good users serve`);
    assert.equal(bad.text, good.text, `${what}: haproxy.cfg does not change`);
    assert.deepEqual(plan(bad, good, { runtimeUpdates: true }), { kind: 'noop' }, what);
    assert.deepEqual([...bad.resolution.tlsInUse.users], [...good.resolution.tlsInUse.users], `${what}: the last good users carry over to the next pass`);

    // Still bad on the next pass: still the last good users.
    const again = pass([frontend, plainBackend], secrets, bad);
    assert.equal(again.text, good.text, `${what}: a second bad pass keeps them`);

    // Fixed: the new users apply, accepted, no warning left.
    const fixed = pass([frontend, plainBackend], [usersSecret({ users: `bob:${SHA512_B}\n` })], again);
    const f = outcomeOf(fixed, 'Frontend/default/admin');
    assert.equal(f.accepted, true, `${what}: fixed`);
    assert.equal(f.notes, undefined);
    assert.match(fixed.text, /user bob password/);
    assert.doesNotMatch(fixed.text, /user alice/);
  }

  // A restarted controller has the accepted resources (saved) but no last good users (memory only): refused.
  const restarted = computeDesired(
    { declared: [frontend, plainBackend], discovered: discovered(usersSecret({ users: `alice:${SHA512_A}\nbob:${MD5}\n` })) },
    good.resolution.accepted,
    global,
    render,
  );
  const r = outcomeOf(restarted, 'Frontend/default/admin');
  assert.ok(!r.accepted);
  assert.equal(r.serving, undefined, 'nothing of it serves');
  assert.match(r.message, /^spec\.basicAuth\.secretRef\.name: Secret default\/users, key "users": line 2/);
  assert.equal(restarted.resolution.frontends.length, 0);
  // A Frontend never accepted with a bad Secret never serves either.
  assert.equal(pass([frontend, plainBackend], []).resolution.frontends.length, 0);
});

test('basic auth: a changed Frontend whose Secret went bad serves its previous version with the last good users', () => {
  const good = pass([frontend, plainBackend], [usersSecret({ users: `alice:${SHA512_A}\n` })]);
  const changed = declare({
    apiVersion: API,
    kind: 'Frontend',
    metadata: { name: 'admin' },
    spec: { binds: [{ port: 8080 }], defaultBackend: 'app', basicAuth: { secretRef: { name: 'users' }, realm: 'other' } },
  } as never);
  const bad = pass([changed, plainBackend], [usersSecret({ users: `alice:${MD5}\n` })], good);
  const o = outcomeOf(bad, 'Frontend/default/admin');
  assert.ok(!o.accepted && o.serving === frontend.resource);
  assert.equal(bad.text, good.text, 'the previous realm and users');
});

test('backend caRef: a CA bundle that goes bad (garbage, no ca.crt, deleted) keeps its last good bundle verifying, with a condition naming the ConfigMap', () => {
  const ca = selfSignedCert('backend-ca');
  const other = selfSignedCert('other-ca');
  const good = pass([tlsBackend], [caMap(ca.cert)]);
  assert.equal(outcomeOf(good, 'Backend/default/app').accepted, true);
  assert.equal(good.files?.get('certs/default/configmap-ca.ca.pem'), ca.cert);
  assert.match(
    good.text,
    /server a 127\.0\.0\.1:9443 weight 100 ssl verify required ca-file \/s\/certs\/default\/configmap-ca\.ca\.pem sni str\(api\.internal\)/,
  );
  assert.equal((good.resolution.backends[0] as BackendWithCaBundle).caBundle?.pem, ca.cert);

  const noKey: SecretData = { ...caMap(''), data: { 'tls.crt': ca.cert } };
  const cases: [string, SecretData[], RegExp, string][] = [
    [
      'garbage',
      [caMap('this is not a certificate')],
      /^spec\.tls\.caRef: ConfigMap default\/ca: ca\.crt holds no PEM certificate; put the CA bundle/,
      'InvalidSpec',
    ],
    [
      'a block that does not parse',
      [caMap('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')],
      /^spec\.tls\.caRef: ConfigMap default\/ca: ca\.crt certificate 1 does not parse/,
      'InvalidCertificate',
    ],
    ['no ca.crt', [noKey], /^spec\.tls\.caRef: ConfigMap default\/ca has no ca\.crt/, 'SecretNotFound'],
    ['the ConfigMap deleted', [], /^spec\.tls\.caRef: ConfigMap default\/ca does not exist; create it with the CA bundle under ca\.crt/, 'SecretNotFound'],
  ];
  for (const [what, secrets, message, reason] of cases) {
    const bad = pass([tlsBackend], secrets, good);
    const o = outcomeOf(bad, 'Backend/default/app');
    assert.ok(!o.accepted, what);
    assert.equal(o.reason, reason, what);
    assert.match(o.message, message, what);
    assert.equal(o.serving, tlsBackend.resource, `${what}: the last accepted version serves`);
    const note = o.notes?.find((n) => n.endsWith('; the last good CA bundle keeps serving'));
    assert.ok(note, `${what}: the status says the last good bundle serves: ${JSON.stringify(o.notes)}`);
    assert.match(note, message, what);
    assert.equal(bad.text, good.text, `${what}: haproxy.cfg does not change`);
    assert.equal(bad.files?.get('certs/default/configmap-ca.ca.pem'), ca.cert, `${what}: the file keeps the last good bundle`);
    assert.deepEqual(plan(bad, good, { runtimeUpdates: true }), { kind: 'noop' }, what);
    // The next pass still has it.
    assert.equal(pass([tlsBackend], secrets, bad).files?.get('certs/default/configmap-ca.ca.pem'), ca.cert, `${what}: a second bad pass keeps it`);
  }

  // Fixed with another bundle: it applies.
  const fixed = pass([tlsBackend], [caMap(other.cert)], pass([tlsBackend], [caMap('garbage')], good));
  assert.equal(outcomeOf(fixed, 'Backend/default/app').accepted, true);
  assert.equal(fixed.files?.get('certs/default/configmap-ca.ca.pem'), other.cert);

  // A restarted controller: no last good bundle, refused, the Backend serves nothing.
  const restarted = computeDesired({ declared: [tlsBackend], discovered: discovered(caMap('garbage')) }, good.resolution.accepted, global, render);
  const r = outcomeOf(restarted, 'Backend/default/app');
  assert.ok(!r.accepted && r.serving === undefined);
  assert.match(r.message, /ConfigMap default\/ca: ca\.crt holds no PEM certificate/);
  assert.equal(restarted.resolution.backends.length, 0);
});

test('one mechanism: a CA bundle shared by a TLS bind and a Backend serves its last good version to both', () => {
  const ca = selfSignedCert('shared-ca');
  const site = selfSignedCert('site.example');
  const tlsSite: SecretData = {
    kind: 'Secret',
    namespace: 'default',
    name: 'site',
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': site.cert, 'tls.key': site.key },
    origin: 'test',
  };
  const mtls = declare({
    apiVersion: API,
    kind: 'Frontend',
    metadata: { name: 'web' },
    spec: {
      binds: [{ port: 443, tls: { certificateRefs: [{ name: 'site' }], clientCertificate: { caRef: { kind: 'ConfigMap', name: 'ca' } } } }],
      defaultBackend: 'app',
    },
  } as never);
  const good = pass([mtls, tlsBackend], [tlsSite, caMap(ca.cert)]);
  assert.ok([...good.resolution.outcomes.values()].every((o) => o.accepted));
  assert.deepEqual([...good.resolution.tlsInUse.caBundles.keys()], ['ConfigMap/default/ca']);
  const bad = pass([mtls, tlsBackend], [tlsSite, caMap('garbage')], good);
  assert.equal(bad.text, good.text);
  assert.deepEqual(plan(bad, good, { runtimeUpdates: true }), { kind: 'noop' });
  for (const [key, note] of [
    [
      'Frontend/default/web',
      /^spec\.binds\[0\]\.tls\.clientCertificate\.caRef: ConfigMap default\/ca: ca\.crt is not PEM.*; the last good CA bundle keeps serving$/,
    ],
    ['Backend/default/app', /^spec\.tls\.caRef: ConfigMap default\/ca: ca\.crt holds no PEM certificate.*; the last good CA bundle keeps serving$/],
  ] as const) {
    const o = outcomeOf(bad, key);
    assert.ok(!o.accepted && o.serving, key);
    assert.ok(
      o.notes?.some((n) => note.test(n)),
      `${key}: ${JSON.stringify(o.notes)}`,
    );
  }
});
