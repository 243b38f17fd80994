/**
 * Issue 12, HTTP policy fields: validation messages, the users of a Secret,
 * the rendered lines and the plan. (Real HAProxy: test/integration/http-policy.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUsers, resolveBasicAuth } from '../../src/model/basic-auth.js';
import { checkRenderedConfig } from '../../src/model/raw-config.js';
import { splitHaproxyWords } from '../../src/model/haproxy-words.js';
import { resolve, type Declared } from '../../src/model/resolve.js';
import { SECRETS, secretKey, type SecretData } from '../../src/model/secrets.js';
import type { Frontend } from '../../src/model/types.js';
import { validateResource } from '../../src/model/validate.js';
import { buildConfigModel, type GlobalSettings } from '../../src/render/model.js';
import { backendPolicy, frontendPolicy, userLine } from '../../src/render/policy.js';
import { loadRenderer } from '../../src/render/render.js';
import { plan } from '../../src/reconcile/plan.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';
const global: GlobalSettings = { adminSocket: '/s/admin.sock', serverStateFile: '/s/state', hardStopAfter: '30s' };
const SHA512 = '$6$tp23yfbiwi1pa99B$8k.swTe.YWDSdJSoEVckcOtiGYm8xWFo3ho1Ek8G4nTFgjicc15AJOciuzhsYeg1Uu2fnRilkjViKIakOSdPo.';

const fe = (spec: Record<string, unknown>) => ({ apiVersion: API, kind: 'Frontend', metadata: { name: 'web' }, spec: { binds: [{ port: 8080 }], ...spec } });
const be = (spec: Record<string, unknown>) => ({
  apiVersion: API,
  kind: 'Backend',
  metadata: { name: 'app' },
  spec: { members: [{ name: 'a', address: '127.0.0.1', port: 9000 }], ...spec },
});
const problems = (raw: unknown) => validateResource(raw).issues.map((i) => `${i.field}: ${i.message}`);

test('policy fields: each mistake is refused naming the field and the fix', () => {
  assert.deepEqual(problems(fe({ ipAllowList: ['10.0.0.0/8'], ipDenyList: ['10.1.0.0/16'] })), [
    'spec.ipDenyList: is set together with ipAllowList; use one: ipAllowList serves only the listed clients, ipDenyList refuses the listed ones',
  ]);
  assert.deepEqual(problems(fe({ ipAllowList: ['10.0.0.0/33', '010.0.0.1', '2001:db8::/129', '::ffff:10.0.0.1', '1.2.3.4/08'] })), [
    'spec.ipAllowList[0]: "10.0.0.0/33" has prefix length /33; use 0-32 for an IPv4 network',
    'spec.ipAllowList[1]: "010.0.0.1" has zero-padded numbers, which libc reads as octal: HAProxy would use 8.0.0.1; write "8.0.0.1" if that is what you mean, without leading zeros',
    'spec.ipAllowList[2]: "2001:db8::/129" has prefix length /129; use 0-128 for an IPv6 network',
    'spec.ipAllowList[3]: "::ffff:10.0.0.1" is an IPv4-mapped IPv6 address; write the IPv4 address "10.0.0.1" instead',
    'spec.ipAllowList[4]: "1.2.3.4/08" has prefix length /08; use 0-32 for an IPv4 network',
  ]);
  assert.match(
    problems(fe({ ipDenyList: ['10.0.0.0/8 #'] }))[0]!,
    /^spec\.ipDenyList\[0\]: "10\.0\.0\.0\/8 #" is not allowed: use an IPv4 or IPv6 address, or a network in CIDR form/,
  );
  assert.deepEqual(problems(fe({ mode: 'tcp', ipAllowList: ['10.0.0.0/8'] })), [
    'spec.ipAllowList: ipAllowList applies to HTTP requests and needs mode "http" (mode is "tcp"); remove it or set mode: http',
  ]);
  assert.deepEqual(problems(fe({ rateLimit: { requests: 10, period: '10s', key: 'Header' } })), [
    'spec.rateLimit.header: is required with key Header: name the request header that identifies a client, like "X-Api-Key"',
  ]);
  assert.deepEqual(problems(fe({ rateLimit: { requests: 10, period: '0s' } })), ['spec.rateLimit.period: must be longer than 0, like "10s"']);
  assert.deepEqual(problems(fe({ rateLimit: { requests: 0, period: '1s' } })), ['spec.rateLimit.requests: 0 must be >= 1']);
  assert.deepEqual(problems(fe({ cors: { allowOrigins: ['*'], allowCredentials: true } })), [
    'spec.cors.allowCredentials: browsers refuse credentials with "Access-Control-Allow-Origin: *"; list the origins in allowOrigins, or set allowCredentials: false',
  ]);
  assert.deepEqual(problems(fe({ cors: { allowOrigins: ['*', 'https://a.example'] } })), [
    'spec.cors.allowOrigins: "*" allows every origin; list either "*" alone or the origins',
  ]);
  assert.match(
    problems(fe({ cors: { allowOrigins: ['https://a.example/path'] } }))[0]!,
    /^spec\.cors\.allowOrigins\[0\]: "https:\/\/a\.example\/path" is not allowed: use "\*" or an origin/,
  );
  assert.deepEqual(problems(fe({ basicAuth: { secretRef: { name: 'Users' } } })), [
    'spec.basicAuth.secretRef.name: "Users" is not allowed: use lowercase letters, digits, "-" and "." (a DNS-1123 name, like "web-api")',
  ]);
  assert.deepEqual(problems(be({ retries: { retryOn: ['none', 503] } })), ['spec.retries.retryOn: "none" turns retries off; list it alone or remove it']);
  assert.deepEqual(problems(be({ retries: { retryOn: [503, '503'] } })), ['spec.retries.retryOn: lists a condition twice; list each once']);
  assert.equal(problems(be({ retries: { retryOn: [599] } })).length, 1);
  assert.deepEqual(problems(be({ mode: 'tcp', sessionAffinity: {}, requestBodyMaxBytes: 10, retries: { retryOn: ['conn-failure'] } })), [
    'spec.sessionAffinity: sessionAffinity applies to HTTP requests and needs mode "http" (mode is "tcp"); remove it or set mode: http',
    'spec.requestBodyMaxBytes: requestBodyMaxBytes applies to HTTP requests and needs mode "http" (mode is "tcp"); remove it or set mode: http',
    'spec.retries.retryOn: needs mode "http" (mode is "tcp"); remove it: in tcp mode failed connections are retried (attempts)',
  ]);
});

test('policy fields get their documented defaults', () => {
  const f = validateResource(fe({ rateLimit: { requests: 5, period: '1s' }, basicAuth: { secretRef: { name: 'u' } }, cors: { allowOrigins: ['*'] } }))
    .resource as Frontend;
  assert.deepEqual(f.spec.rateLimit, { requests: 5, period: '1s', key: 'SourceIP', statusCode: 429 });
  assert.deepEqual(f.spec.basicAuth, { secretRef: { name: 'u' }, realm: 'restricted' });
  assert.deepEqual(f.spec.cors, {
    allowOrigins: ['*'],
    allowMethods: ['GET', 'HEAD', 'POST'],
    allowHeaders: [],
    exposeHeaders: [],
    maxAge: 600,
    allowCredentials: false,
  });
  const b = validateResource(be({ sessionAffinity: {}, retries: {} })).resource;
  assert.ok(b?.kind === 'Backend');
  assert.deepEqual(b.spec.sessionAffinity, { type: 'Cookie', cookieName: 'SRVID' });
  assert.deepEqual(b.spec.retries, { attempts: 3, redispatch: true });
});

test('users: allowed crypt hashes pass; every bad line is named, never its hash', () => {
  const bcrypt = '$2y$05$qnkTF01SYsVFFUKehDdLKOZ70a2T8I88cv7pvUskKKDCRIgcaL69C';
  const yescrypt = '$y$j9T$3CuEy3Y2xKTtOrFJAUBPQ/$hxhjsdvzWQXByLcyPO3ALnH7wzFNwndDpZoGe2L4Dy1';
  const ok = parseUsers(`# comment\n\nalice:${SHA512}\r\nbob:${bcrypt}\ncarol:${yescrypt}\n`);
  assert.deepEqual(ok.problems, []);
  assert.deepEqual(
    ok.users.map((u) => u.name),
    ['alice', 'bob', 'carol'],
  );
  const secrets = ['$apr1$abc$0123456789012345678901', '$1$bGbyr/Mk$SdkhP9roNLTgU3EZn19pt.', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', 'plaintext', `${SHA512}x`];
  const bad = parseUsers(['a b:x', 'nocolon', ...secrets.map((h, i) => `u${i}:${h}`), `alice:${SHA512}`, `alice:${SHA512}`, 'empty:'].join('\n'));
  assert.deepEqual(bad.problems, [
    'line 1: the user name is not allowed: use 1-64 letters, digits, "_", ".", "@" and "-", starting with a letter or digit',
    'line 2 is not "name:hash"',
    'line 3 (user "u0") is an Apache MD5 ($apr1$) hash, which HAProxy cannot check; use a SHA-512 ($6$), SHA-256 ($5$), bcrypt ($2b$/$2y$) or yescrypt ($y$) hash, e.g. from `openssl passwd -6` or `mkpasswd -m yescrypt`',
    'line 4 (user "u1") is an MD5-crypt ($1$) hash, which is too weak; use a SHA-512 ($6$), SHA-256 ($5$), bcrypt ($2b$/$2y$) or yescrypt ($y$) hash, e.g. from `openssl passwd -6` or `mkpasswd -m yescrypt`',
    'line 5 (user "u2") is an unsalted {SHA} hash, which HAProxy cannot check; use a SHA-512 ($6$), SHA-256 ($5$), bcrypt ($2b$/$2y$) or yescrypt ($y$) hash, e.g. from `openssl passwd -6` or `mkpasswd -m yescrypt`',
    'line 6 (user "u3") does not hold a crypt hash (plain text or DES passwords are refused); use a SHA-512 ($6$), SHA-256 ($5$), bcrypt ($2b$/$2y$) or yescrypt ($y$) hash, e.g. from `openssl passwd -6` or `mkpasswd -m yescrypt`',
    'line 7 (user "u4") holds a password hash that is not well-formed or not supported; use a SHA-512 ($6$), SHA-256 ($5$), bcrypt ($2b$/$2y$) or yescrypt ($y$) hash, e.g. from `openssl passwd -6` or `mkpasswd -m yescrypt`',
    'line 9: user "alice" is also on line 8; list each user once (neither line is used)',
    'line 10 (user "empty") has no password hash after ":"; use a SHA-512 ($6$), SHA-256 ($5$), bcrypt ($2b$/$2y$) or yescrypt ($y$) hash, e.g. from `openssl passwd -6` or `mkpasswd -m yescrypt`',
  ]);
  assert.deepEqual(bad.users, [], 'bad lines are skipped, and a user listed twice is on neither line');
  const mixed = parseUsers(`alice:${SHA512}\nbob:$1$bGbyr/Mk$SdkhP9roNLTgU3EZn19pt.\ncarol:${bcrypt}\n`);
  assert.deepEqual(
    mixed.users.map((u) => u.name),
    ['alice', 'carol'],
    'the good lines serve beside a bad one',
  );
  assert.equal(mixed.problems.length, 1);
  const all = bad.problems.join('\n');
  for (const h of [...secrets.slice(0, 3), SHA512]) assert.ok(!all.includes(h), 'a hash is never echoed');
  assert.deepEqual(parseUsers('\n# only a comment\n').problems, ['has no users: add "name:hash" lines']);
});

test('a hash reaches haproxy.cfg as one literal word: `$` single-quoted, never expanded', () => {
  const line = userLine({ name: 'alice', hash: SHA512 });
  assert.equal(line, `user alice password '${SHA512}'`);
  assert.deepEqual(
    splitHaproxyWords(line).words.map((w) => w.text),
    ['user', 'alice', 'password', SHA512],
  );
});

test('basic auth: the Secret is looked up in the frontend namespace; missing or without users it names the fix', () => {
  const f = validateResource({ ...fe({ basicAuth: { secretRef: { name: 'users' } } }), metadata: { name: 'web', namespace: 'shop' } }).resource as Frontend;
  const data = (ns: string, d: Record<string, string>): SecretData => ({
    kind: 'Secret',
    namespace: ns,
    name: 'users',
    type: 'Opaque',
    data: d,
    origin: 'test',
  });
  const discovered = (s: SecretData) => new Map([[SECRETS, new Map([[secretKey('Secret', s.namespace, s.name), s]])]]);
  assert.deepEqual(resolveBasicAuth(f, discovered(data('default', { users: `a:${SHA512}` }))), {
    problem: {
      field: 'spec.basicAuth.secretRef.name',
      reason: 'SecretNotFound',
      message: 'Secret shop/users does not exist; create it with a "users" key of "name:hash" lines, or fix the name',
    },
  });
  assert.deepEqual(resolveBasicAuth(f, discovered(data('shop', { htpasswd: `a:${SHA512}` }))), {
    problem: { field: 'spec.basicAuth.secretRef.name', reason: 'InvalidSpec', message: 'Secret shop/users has no "users" key; add one with "name:hash" lines' },
  });
  assert.deepEqual(resolveBasicAuth(f, discovered(data('shop', { users: `a:${SHA512}` }))), { users: [{ name: 'a', hash: SHA512 }] });
});

test('rendered policy: IP lists split over lines HAProxy can read, rules in order, userlist from the Secret', () => {
  const many = Array.from({ length: 100 }, (_, i) => `2001:db8:${i.toString(16)}::/48`);
  const f = validateResource(
    fe({ ipAllowList: many, rateLimit: { requests: 5, period: '1s' }, cors: { allowOrigins: ['https://a.example'] }, basicAuth: { secretRef: { name: 'u' } } }),
  ).resource as Frontend;
  const p = frontendPolicy(f, 'default_web');
  const acls = p.lines.filter((l) => l.startsWith('acl '));
  assert.equal(acls.length, 3);
  for (const l of acls) assert.ok(l.length < 2048 && splitHaproxyWords(l).words.length <= 64, l);
  const kinds = p.lines.map((l) => l.split(' ').slice(0, 2).join(' '));
  const at = (prefix: string) => p.lines.findIndex((l) => l.startsWith(prefix));
  assert.ok(at('http-request deny deny_status 403') < at('http-request track-sc0'), kinds.join(', '));
  assert.ok(at('http-request deny deny_status 429') < at('http-request return status 204'), 'the rate limit applies to preflights too');
  assert.ok(at('http-request return status 204') < at('http-request auth'), 'preflights (sent without credentials) are answered before auth');

  const declared: Declared[] = [
    { key: 'Frontend/default/web', origin: 't', source: 'files', resource: f, issues: [] },
    { key: 'Backend/default/app', origin: 't', source: 'files', resource: validateResource(be({})).resource, issues: [] },
  ];
  f.spec.defaultBackend = 'app';
  const secret: SecretData = { kind: 'Secret', namespace: 'default', name: 'u', type: 'Opaque', data: { users: `alice:${SHA512}` }, origin: 't' };
  const r = resolve({ declared, lastAccepted: new Map(), discovered: new Map([[SECRETS, new Map([[secretKey('Secret', 'default', 'u'), secret]])]]) });
  const text = loadRenderer()(buildConfigModel({ frontends: r.frontends, backends: r.backends, global }));
  assert.match(text, new RegExp(`\\nuserlist default_web\\n    user alice password '${SHA512.replace(/\$/g, '\\$')}'\\n\\nfrontend default_web\\n`));
  assert.match(text, /\n {4}http-request auth realm restricted unless \{ http_auth\(default_web\) \} \|\| \{ path_beg \/\.well-known\/acme-challenge\/ \}\n/);
  assert.deepEqual(checkRenderedConfig(text), [], 'every rendered policy line passes the property check');
});

test('the body limit: a declared length at once, a chunked body as far as it is buffered; sizes HAProxy reads', () => {
  const b = validateResource(be({ requestBodyMaxBytes: 1099511627776 })).resource;
  assert.ok(b?.kind === 'Backend');
  assert.deepEqual(backendPolicy(b), [
    'http-request deny deny_status 413 if { req.hdr_val(content-length) gt 1099511627776 }',
    'http-request wait-for-body time 5s at-least 1073741824 if !{ req.hdr(content-length) -m found }',
    'http-request deny deny_status 413 if !{ req.hdr(content-length) -m found } { req.body_size gt 1099511627776 }',
  ]);
});

test('plan: a member added to a backend with cookie affinity reloads unless HAProxy takes `cookie` on `add server`', () => {
  const build = (members: string[]) => {
    const b = validateResource(be({ sessionAffinity: {}, members: members.map((name, i) => ({ name, address: '127.0.0.1', port: 9000 + i })) })).resource!;
    const model = buildConfigModel({ frontends: [], backends: [b as never], global });
    return { model, text: loadRenderer()(model) };
  };
  const running = build(['a']);
  const desired = build(['a', 'b']);
  assert.match(desired.text, /server b 127\.0\.0\.1:9001 weight 100 cookie b\n/);
  assert.deepEqual(plan(desired, running, { runtimeUpdates: true }), {
    kind: 'reload',
    reasons: ['backend default_app server b added with an affinity cookie (sessionAffinity), which this HAProxy takes on no `add server` (2.6)'],
  });
  const p = plan(desired, running, { runtimeUpdates: true, dynamicServerCookies: true });
  assert.equal(p.kind, 'runtime');
});
