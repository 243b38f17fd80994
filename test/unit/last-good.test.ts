/**
 * Last good values of Secret- and ConfigMap-derived inputs (model/last-good.ts),
 * without HAProxy: a Backend's CA bundle that goes bad after it served keeps
 * its last good value serving, the status says which reference and why,
 * nothing changes in HAProxy (the plan is a noop), a fix applies, and a
 * restarted controller (no last good values) refuses. Basic-auth users are the
 * exception (revocation must work): the Secret is authoritative line by line,
 * and one that is gone fails closed (every request 401).
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
    { lastGood: previous?.resolution.secretsInUse },
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

test('basic auth: the Secret is authoritative line by line: a removed user is gone at once, a bad line is skipped with a warning naming it, the others serve', () => {
  const good = pass([frontend, plainBackend], [usersSecret({ users: `alice:${SHA512_A}\nbob:${SHA512_B}\n` })]);
  assert.equal(outcomeOf(good, 'Frontend/default/admin').accepted, true);
  assert.match(good.text, /userlist default_admin\n\s+user alice password '\$6\$tp23/);
  assert.match(good.text, /user bob password/);
  assert.deepEqual(
    [...good.resolution.secretsInUse.users].map(([k, u]) => [k, u.map((x) => x.name)]),
    [['Secret/default/users', ['alice', 'bob']]],
  );

  // bob removed and a mistyped (MD5) line added in the same edit: bob is gone, carol's line is skipped, alice serves.
  const edited = pass([frontend, plainBackend], [usersSecret({ users: `alice:${SHA512_A}\ncarol:${MD5}\n` })], good);
  const o = outcomeOf(edited, 'Frontend/default/admin');
  assert.equal(o.accepted, true, 'the Secret parses: the Frontend is accepted with the good lines');
  assert.deepEqual((edited.resolution.frontends[0] as FrontendWithUsers).basicAuthUsers, [{ name: 'alice', hash: SHA512_A }]);
  assert.doesNotMatch(edited.text, /user bob/, 'the removed user is gone');
  assert.doesNotMatch(edited.text, /user carol/, 'the bad line gives no access');
  const note = o.notes?.find((n) => n.startsWith('spec.basicAuth.secretRef.name: '));
  assert.equal(
    note,
    'spec.basicAuth.secretRef.name: Secret default/users, key "users": line 2 (user "carol") is an MD5-crypt ($1$) hash, which is too weak; ' +
      'use a SHA-512 ($6$), SHA-256 ($5$), bcrypt ($2b$/$2y$) or yescrypt ($y$) hash, e.g. from `openssl passwd -6` or `mkpasswd -m yescrypt`; those lines are skipped, the other users serve',
  );
  assert.ok(!JSON.stringify(o).includes(MD5), 'never the hash');
  assert.equal(plan(edited, good, { runtimeUpdates: true }).kind, 'reload', 'the userlist is in haproxy.cfg: a reload');

  // A user listed twice (a new password appended, the old line left): neither line serves.
  const twice = pass([frontend, plainBackend], [usersSecret({ users: `alice:${SHA512_A}\nbob:${SHA512_B}\nbob:${SHA512_A}\n` })], good);
  assert.deepEqual((twice.resolution.frontends[0] as FrontendWithUsers).basicAuthUsers, [{ name: 'alice', hash: SHA512_A }]);
  assert.match(
    outcomeOf(twice, 'Frontend/default/admin').notes?.join('\n') ?? '',
    /line 3: user "bob" is also on line 2; list each user once \(neither line is used\)/,
  );

  // No user left (empty, only comments, only bad lines): every request is refused (an empty userlist), with a warning.
  for (const users of ['', '# nobody\n', `carol:${MD5}\n`]) {
    const none = pass([frontend, plainBackend], [usersSecret({ users })], good);
    const n = outcomeOf(none, 'Frontend/default/admin');
    assert.equal(n.accepted, true, JSON.stringify(users));
    assert.deepEqual((none.resolution.frontends[0] as FrontendWithUsers).basicAuthUsers, []);
    assert.match(none.text, /userlist default_admin\n\nfrontend default_admin\n/, 'an empty userlist');
    assert.match(none.text, /http-request auth realm restricted unless \{ http_auth\(default_admin\) \}/);
    assert.ok(
      n.notes?.some(
        (x) => x.startsWith('spec.basicAuth.secretRef.name: Secret default/users, key "users": ') && x.endsWith('; no user can log in: every request gets 401'),
      ),
      JSON.stringify(n.notes),
    );
  }
});

test('basic auth: a Secret deleted or without its users key after it served fails closed (no user, 401), also after a restart; one that never served is refused', () => {
  const good = pass([frontend, plainBackend], [usersSecret({ users: `alice:${SHA512_A}\n` })]);
  const cases: [string, SecretData[], RegExp, string][] = [
    [
      'no users key',
      [usersSecret({ htpasswd: `alice:${SHA512_A}\n` })],
      /^spec\.basicAuth\.secretRef\.name: Secret default\/users has no "users" key; add one/,
      'InvalidSpec',
    ],
    ['the Secret deleted', [], /^spec\.basicAuth\.secretRef\.name: Secret default\/users does not exist; create it with a "users" key/, 'SecretNotFound'],
  ];
  for (const [what, secrets, message, reason] of cases) {
    for (const [when, previous] of [
      ['after it served', good],
      // A restarted controller has the accepted resources (saved) and no values in memory: the same.
      ['after a restart', { ...good, resolution: { ...good.resolution, secretsInUse: { certificates: new Map(), caBundles: new Map(), users: new Map() } } }],
    ] as const) {
      const bad = pass([frontend, plainBackend], secrets, previous);
      const o = outcomeOf(bad, 'Frontend/default/admin');
      assert.ok(!o.accepted, `${what} ${when}`);
      assert.equal(o.reason, reason, what);
      assert.match(o.message, message, what);
      assert.ok(o.serving, `${what} ${when}: the last accepted version serves`);
      const note = o.notes?.find((n) => n.endsWith('; until then no user can log in: every request gets 401'));
      assert.ok(note, `${what} ${when}: the status says nobody gets in: ${JSON.stringify(o.notes)}`);
      assert.match(note, message, `${what}: the note names the field, the Secret and the problem`);
      assert.deepEqual((bad.resolution.frontends[0] as FrontendWithUsers).basicAuthUsers, [], `${what} ${when}: no user serves`);
      assert.match(bad.text, /userlist default_admin\n\nfrontend default_admin\n/, `${what} ${when}: an empty userlist`);
      assert.doesNotMatch(bad.text, /user alice/, `${what} ${when}: the old users are gone`);

      // Back: the new users apply, accepted, no warning left.
      const fixed = pass([frontend, plainBackend], [usersSecret({ users: `bob:${SHA512_B}\n` })], bad);
      const f = outcomeOf(fixed, 'Frontend/default/admin');
      assert.equal(f.accepted, true, `${what}: fixed`);
      assert.equal(f.notes, undefined);
      assert.match(fixed.text, /user bob password/);
      assert.doesNotMatch(fixed.text, /user alice/);
    }
  }
  // A Frontend never accepted whose Secret is missing never serves.
  const never = pass([frontend, plainBackend], []);
  assert.equal(never.resolution.frontends.length, 0);
  const n = outcomeOf(never, 'Frontend/default/admin');
  assert.ok(!n.accepted && n.reason === 'SecretNotFound' && !n.serving, JSON.stringify(n));
});

test('basic auth: a changed Frontend whose Secret is deleted serves its previous version, with no user', () => {
  const good = pass([frontend, plainBackend], [usersSecret({ users: `alice:${SHA512_A}\n` })]);
  const changed = declare({
    apiVersion: API,
    kind: 'Frontend',
    metadata: { name: 'admin' },
    spec: { binds: [{ port: 8080 }], defaultBackend: 'app', basicAuth: { secretRef: { name: 'users' }, realm: 'other' } },
  } as never);
  const bad = pass([changed, plainBackend], [], good);
  const o = outcomeOf(bad, 'Frontend/default/admin');
  assert.ok(!o.accepted && o.serving === frontend.resource);
  assert.equal(bad.text, good.text.replace(/\n {4}user alice password '[^']*'/, ''), 'the previous realm, no users');
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
  assert.deepEqual([...good.resolution.secretsInUse.caBundles.keys()], ['ConfigMap/default/ca']);
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
