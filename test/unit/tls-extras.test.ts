/**
 * Issue 11 (part 3), without HAProxy: the fields' validation (errors name the
 * field and the fix), their resolution (sniRoutes' backends, a backend's
 * caRef) and what they render. test/integration/tls-extras.test.ts runs them
 * against real HAProxy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DiscoveredValues } from '../../src/model/discovered.js';
import { checkRenderedConfig } from '../../src/model/raw-config.js';
import { resolve, type Declared } from '../../src/model/resolve.js';
import { SECRETS, secretKey, type SecretData } from '../../src/model/secrets.js';
import { keyOf, type Backend, type Frontend } from '../../src/model/types.js';
import { validateResource } from '../../src/model/validate.js';
import { backendFiles, buildConfigModel, type GlobalSettings } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { selfSignedCert } from '../helpers/certs.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';
const global: GlobalSettings = {
  adminSocket: '/run/nh/admin.sock',
  serverStateFile: '/run/nh/server-state',
  hardStopAfter: '30s',
};
const render = loadRenderer();

function valid<T extends Frontend | Backend>(raw: object): T {
  const r = validateResource(raw);
  assert.deepEqual(r.issues, []);
  return r.resource as T;
}

function problems(raw: object): string[] {
  return validateResource(raw).issues.map((i) => `${i.field}: ${i.message}`);
}

const frontend = (spec: object, name = 'web') => ({ apiVersion: API, kind: 'Frontend', metadata: { name }, spec });
const backend = (spec: object, name = 'app') => ({ apiVersion: API, kind: 'Backend', metadata: { name }, spec });
const declared = (r: Frontend | Backend): Declared => ({ key: keyOf(r), origin: 'test', source: 'test', resource: r, issues: [] });
const member = { name: 'a', address: '10.0.0.1', port: 443 };

function renderAll(resources: (Frontend | Backend)[], secrets?: DiscoveredValues<SecretData>): string {
  const r = resolve({ declared: resources.map(declared), lastAccepted: new Map(), discovered: secrets && new Map([[SECRETS, secrets]]) });
  for (const o of r.outcomes.values()) assert.ok(o.accepted, o.accepted ? '' : o.message);
  const text = render(buildConfigModel({ frontends: r.frontends, backends: r.backends, global, secrets }));
  assert.deepEqual(checkRenderedConfig(text), [], 'the rendered lines pass the property check');
  return text;
}

test('defaults: no PROXY protocol, no redirect, no HSTS, no sniRoutes, protocol http/1.1, no tls', () => {
  const f = valid<Frontend>(frontend({ binds: [{ port: 80 }], defaultBackend: 'app' }));
  assert.equal(f.spec.binds[0]!.acceptProxyProtocol, undefined, 'absent: false (left out so resources compare as before)');
  assert.equal(f.spec.sniRoutes, undefined);
  assert.equal(f.spec.httpsRedirect, undefined);
  assert.equal(f.spec.hsts, undefined);
  const withRedirect = valid<Frontend>(frontend({ binds: [{ port: 80 }], httpsRedirect: {}, hsts: { maxAge: 60 } }));
  assert.deepEqual(withRedirect.spec.httpsRedirect, { port: 443, statusCode: 301 });
  assert.deepEqual(withRedirect.spec.hsts, { maxAge: 60, includeSubDomains: false, preload: false });
  const b = valid<Backend>(backend({ members: [member], tls: {} }));
  assert.equal(b.spec.protocol, 'http/1.1');
  assert.equal(b.spec.proxyProtocol, undefined);
  assert.deepEqual(b.spec.tls, { verify: 'Required' });
  const ca = valid<Backend>(backend({ tls: { caRef: { name: 'ca' } } }));
  assert.deepEqual(ca.spec.tls?.caRef, { name: 'ca', kind: 'Secret' });
});

test('bad values name the field and the fix', () => {
  const cases: [object, RegExp][] = [
    [frontend({ mode: 'tcp', binds: [{ port: 80 }], httpsRedirect: {} }), /^spec\.httpsRedirect: .*needs mode "http"/],
    [frontend({ mode: 'tcp', binds: [{ port: 80 }], hsts: { maxAge: 1 } }), /^spec\.hsts: .*needs mode "http"/],
    [frontend({ binds: [{ port: 80 }], hsts: {} }), /^spec\.hsts\.maxAge: is required/],
    [
      frontend({ binds: [{ port: 80 }], hsts: { maxAge: 60, preload: true } }),
      /^spec\.hsts\.preload: .*includeSubDomains: true and maxAge of at least 31536000/,
    ],
    [frontend({ binds: [{ port: 80 }], httpsRedirect: { statusCode: 303 } }), /^spec\.httpsRedirect\.statusCode: 303 is not one of 301, 302, 307, 308/],
    [frontend({ binds: [{ port: 80 }], httpsRedirect: { port: 0 } }), /^spec\.httpsRedirect\.port: 0 must be >= 1/],
    [frontend({ binds: [{ port: 80, acceptProxyProtocol: 'yes' }] }), /^spec\.binds\[0\]\.acceptProxyProtocol: "yes" must be boolean/],
    [frontend({ binds: [{ port: 80 }], sniRoutes: [{ hosts: ['a.example.com'], backend: 'a' }] }), /^spec\.sniRoutes: .*needs mode "tcp"/],
    [
      frontend({ mode: 'tcp', binds: [{ port: 80 }], sniRoutes: [{ hosts: [], backend: 'a' }] }),
      /^spec\.sniRoutes\[0\]\.hosts: has 0 items; at least 1 is needed/,
    ],
    [
      frontend({ mode: 'tcp', binds: [{ port: 80 }], sniRoutes: [{ hosts: ['a b'], backend: 'a' }] }),
      /^spec\.sniRoutes\[0\]\.hosts\[0\]: "a b" is not allowed: use a DNS name/,
    ],
    [
      frontend({
        mode: 'tcp',
        binds: [{ port: 80 }],
        sniRoutes: [
          { hosts: ['a.example.com'], backend: 'a' },
          { hosts: ['A.example.com'], backend: 'b' },
        ],
      }),
      /^spec\.sniRoutes\[1\]\.hosts\[0\]: "A\.example\.com" is already routed by spec\.sniRoutes\[0\]\.hosts\[0\]/,
    ],
    [frontend({ mode: 'tcp', binds: [{ port: 80 }], timeouts: { tlsInspect: '2s' } }), /^spec\.timeouts\.tlsInspect: applies to sniRoutes only/],
    [backend({ mode: 'tcp', protocol: 'h2' }), /^spec\.protocol: h2 is HTTP\/2 and needs mode "http"/],
    [backend({ protocol: 'h3' }), /^spec\.protocol: "h3" is not one of "http\/1\.1", "h2"/],
    [backend({ proxyProtocol: 'v3' }), /^spec\.proxyProtocol: "v3" is not one of "v1", "v2"/],
    [backend({ tls: { verify: 'Optional' } }), /^spec\.tls\.verify: "Optional" is not one of "Required", "None"/],
    [backend({ tls: { verify: 'None', caRef: { name: 'ca' } } }), /^spec\.tls\.caRef: .*remove caRef or set verify: Required/],
    [backend({ tls: { sni: '10.0.0.1' } }), /^spec\.tls\.sni: "10\.0\.0\.1" is an IP address/],
    [backend({ tls: { sni: 'x y' } }), /^spec\.tls\.sni: "x y" is not allowed/],
    [backend({ tls: { caRef: { name: 'ca', kind: 'Pod' } } }), /^spec\.tls\.caRef\.kind: "Pod" is not one of "Secret", "ConfigMap"/],
    // Redirecting to a plain bind of the same frontend would redirect again, forever.
    [
      frontend({ binds: [{ port: 80 }, { port: 8080 }], defaultBackend: 'app', httpsRedirect: { port: 8080 } }),
      /^spec\.httpsRedirect\.port: 8080 is spec\.binds\[1\], which has no tls: the redirected request would be redirected again, in a loop; point port at a TLS bind, or add tls to spec\.binds\[1\]$/,
    ],
    [frontend({ binds: [{ port: 443 }], defaultBackend: 'app', httpsRedirect: {} }), /^spec\.httpsRedirect\.port: 443 is spec\.binds\[0\], which has no tls/],
  ];
  for (const [raw, want] of cases) {
    const got = problems(raw);
    assert.ok(
      got.some((p) => want.test(p)),
      `${JSON.stringify(raw)}: want ${want}, got ${JSON.stringify(got)}`,
    );
  }
});

test('httpsRedirect to a TLS bind of the same frontend, or to a port it does not bind, is accepted', () => {
  const tlsBind = { port: 8443, tls: { certificateRefs: [{ name: 'site' }] } };
  assert.deepEqual(problems(frontend({ binds: [{ port: 80 }, tlsBind], defaultBackend: 'app', httpsRedirect: { port: 8443 } })), []);
  assert.deepEqual(problems(frontend({ binds: [{ port: 80 }], defaultBackend: 'app', httpsRedirect: {} })), []);
});

test('httpsRedirect, hsts and acceptProxyProtocol render: plain HTTP only, ACME exempt, HSTS over TLS only', () => {
  const f = valid<Frontend>(
    frontend({
      binds: [{ port: 80, acceptProxyProtocol: true }, { port: 81 }],
      defaultBackend: 'app',
      httpsRedirect: {},
      hsts: { maxAge: 31536000, includeSubDomains: true, preload: true },
    }),
  );
  const text = renderAll([f, valid(backend({ members: [member] }))]);
  assert.match(text, /^ {4}bind \*:80 accept-proxy$/m);
  assert.match(text, /^ {4}bind \*:81$/m);
  assert.match(
    text,
    /^ {4}http-request redirect location https:\/\/%\[req\.hdr\(host\),field\(1,:\)\]%\[pathq\] code 301 if !\{ ssl_fc \} !\{ path_beg \/\.well-known\/acme-challenge\/ \}$/m,
  );
  assert.match(text, /^ {4}http-after-response set-header Strict-Transport-Security 'max-age=31536000; includeSubDomains; preload' if \{ ssl_fc \}$/m);

  const other = valid<Frontend>(
    frontend({ binds: [{ port: 80 }], defaultBackend: 'app', httpsRedirect: { port: 8443, statusCode: 308 }, hsts: { maxAge: 0 } }),
  );
  const t2 = renderAll([other, valid(backend({ members: [member] }))]);
  assert.match(t2, /redirect location https:\/\/%\[req\.hdr\(host\),field\(1,:\)\]:8443%\[pathq\] code 308 if /);
  assert.match(t2, /set-header Strict-Transport-Security 'max-age=0' if \{ ssl_fc \}/);
});

test('sniRoutes render an inspect delay, a ClientHello accept and one ACL per route, names in lower case', () => {
  const f = valid<Frontend>(
    frontend({
      mode: 'tcp',
      binds: [{ port: 8443 }],
      sniRoutes: [
        { hosts: ['A.Example.com', '*.B.example.com'], backend: 'a' },
        { hosts: ['c.example.com'], backend: 'c' },
      ],
      defaultBackend: 'fallback',
    }),
  );
  const tcp = (name: string) => valid<Backend>(backend({ mode: 'tcp', members: [member] }, name));
  const text = renderAll([f, tcp('a'), tcp('c'), tcp('fallback')]);
  const section = text.slice(text.indexOf('frontend default_web'), text.indexOf('\n\n', text.indexOf('frontend default_web')));
  assert.deepEqual(section.split('\n').slice(3), [
    '    option tcplog',
    '    tcp-request inspect-delay 5s',
    '    tcp-request content accept if { req_ssl_hello_type 1 }',
    '    acl sni0 req.ssl_sni,lower -m str a.example.com',
    '    acl sni0 req.ssl_sni,lower -m end .b.example.com',
    '    acl sni1 req.ssl_sni,lower -m str c.example.com',
    '    use_backend default_a if sni0',
    '    use_backend default_c if sni1',
    '    default_backend default_fallback',
  ]);
  const slow = valid<Frontend>(frontend({ ...f.spec, timeouts: { tlsInspect: '2s' } }));
  assert.match(renderAll([slow, tcp('a'), tcp('c'), tcp('fallback')]), /tcp-request inspect-delay 2s/);
});

test('sniRoutes backends resolve like rules: missing is BackendNotFound, another mode is refused, on the route field', () => {
  const f = valid<Frontend>(frontend({ mode: 'tcp', binds: [{ port: 8443 }], sniRoutes: [{ hosts: ['a.example.com'], backend: 'a' }] }));
  const r = resolve({ declared: [declared(f)], lastAccepted: new Map() });
  const o = r.outcomes.get('Frontend/default/web');
  assert.ok(o && !o.accepted);
  assert.equal(o.reason, 'BackendNotFound');
  assert.equal(o.issues[0]!.field, 'spec.sniRoutes[0].backend');
  const http = resolve({ declared: [declared(f), declared(valid(backend({ members: [member] }, 'a')))], lastAccepted: new Map() });
  const o2 = http.outcomes.get('Frontend/default/web');
  assert.ok(o2 && !o2.accepted);
  assert.match(o2.message, /^spec\.sniRoutes\[0\]\.backend: Backend default\/a has mode http but this frontend has mode tcp/);
});

test('backend tls, h2 and PROXY protocol render on every server line, the same words `add server` gets', () => {
  const cases: [object, string][] = [
    [{ tls: {} }, 'ssl verify required ca-file @system-ca'],
    [{ tls: { verify: 'None' } }, 'ssl verify none'],
    [{ tls: { sni: 'API.internal' }, protocol: 'h2' }, 'ssl verify required ca-file @system-ca sni str(api.internal) alpn h2 proto h2'],
    [{ protocol: 'h2' }, 'proto h2'],
    [{ proxyProtocol: 'v1' }, 'send-proxy'],
    [{ proxyProtocol: 'v2', maxconn: 10 }, 'send-proxy-v2 maxconn 10'],
    [
      { tls: { sni: 'api.internal' }, protocol: 'h2', healthCheck: { type: 'http' } },
      'ssl verify required ca-file @system-ca sni str(api.internal) alpn h2 proto h2 check inter 2s rise 2 fall 3 check-sni api.internal check-alpn h2',
    ],
  ];
  for (const [spec, params] of cases) {
    const b = valid<Backend>(backend({ members: [member], ...spec }));
    const model = buildConfigModel({ frontends: [], backends: [b], global });
    assert.equal(model.backends[0]!.servers[0]!.params, params, JSON.stringify(spec));
    assert.match(renderAll([b]), new RegExp(`server a 10\\.0\\.0\\.1:443 weight 100 ${params.replace(/[()]/g, '\\$&')}$`, 'm'));
  }
});

test('caRef: the CA bundle is a file under the state directory, named by absolute path; missing or empty is refused on spec.tls.caRef', () => {
  const ca: SecretData = {
    kind: 'Secret',
    namespace: 'default',
    name: 'backend-ca',
    type: 'Opaque',
    data: { 'ca.crt': selfSignedCert('backend-ca').cert },
    origin: 'test',
  };
  const secrets = new Map([[secretKey('Secret', 'default', 'backend-ca'), ca]]);
  const b = valid<Backend>(backend({ members: [member], tls: { caRef: { name: 'backend-ca' }, sni: 'api.internal' } }));
  const text = renderAll([b], secrets);
  assert.match(
    text,
    /server a 10\.0\.0\.1:443 weight 100 ssl verify required ca-file \/run\/nh\/certs\/default\/secret-backend-ca\.ca\.pem sni str\(api\.internal\)$/m,
  );
  const model = buildConfigModel({ frontends: [], backends: [b], global, secrets });
  assert.deepEqual([...backendFiles(model)], [['certs/default/secret-backend-ca.ca.pem', ca.data['ca.crt']]]);
  // A ConfigMap: its own file name.
  const cm = valid<Backend>(backend({ members: [member], tls: { caRef: { name: 'backend-ca', kind: 'ConfigMap' } } }));
  const cmSecrets = new Map([[secretKey('ConfigMap', 'default', 'backend-ca'), { ...ca, kind: 'ConfigMap' as const, type: 'ConfigMap' }]]);
  assert.match(renderAll([cm], cmSecrets), /ca-file \/run\/nh\/certs\/default\/configmap-backend-ca\.ca\.pem/);
  // A changed bundle is a changed model (the plan sees it), for the same resource object.
  const changed = new Map([[secretKey('Secret', 'default', 'backend-ca'), { ...ca, data: { 'ca.crt': ca.data['ca.crt'] + ca.data['ca.crt'] } }]]);
  assert.equal(buildConfigModel({ frontends: [], backends: [b], global, secrets }).backends[0], model.backends[0], 'unchanged: the cached model');
  assert.notEqual(buildConfigModel({ frontends: [], backends: [b], global, secrets: changed }).backends[0], model.backends[0]);

  const refused = (s: DiscoveredValues<SecretData> | undefined, last?: Backend) =>
    resolve({ declared: [declared(b)], lastAccepted: new Map(last ? [[keyOf(b), last]] : []), discovered: s && new Map([[SECRETS, s]]) });
  const missing = refused(undefined).outcomes.get('Backend/default/app');
  assert.ok(missing && !missing.accepted);
  assert.equal(missing.reason, 'SecretNotFound');
  assert.equal(missing.issues[0]!.field, 'spec.tls.caRef');
  assert.match(missing.message, /Secret default\/backend-ca does not exist; create it with the CA bundle under ca\.crt/);
  const noKey = refused(new Map([[secretKey('Secret', 'default', 'backend-ca'), { ...ca, data: { 'tls.crt': 'x' } }]])).outcomes.get('Backend/default/app');
  assert.ok(noKey && !noKey.accepted);
  assert.match(noKey.message, /has no ca\.crt/);
  const garbage = refused(new Map([[secretKey('Secret', 'default', 'backend-ca'), { ...ca, data: { 'ca.crt': 'nope' } }]])).outcomes.get('Backend/default/app');
  assert.ok(garbage && !garbage.accepted);
  assert.match(garbage.message, /ca\.crt holds no PEM certificate/);
  // The last accepted version (without the reference) keeps serving.
  const before = valid<Backend>(backend({ members: [member], tls: { verify: 'None' } }));
  const kept = refused(undefined, before);
  assert.equal(kept.backends[0]?.spec.tls?.verify, 'None');
  const o = kept.outcomes.get('Backend/default/app');
  assert.ok(o && !o.accepted && o.serving === before);
});

test('caRef: a malformed CA bundle is refused on spec.tls.caRef with the message a frontend client CA gets, and the last good version serves', () => {
  const good = selfSignedCert('backend-ca');
  const secretWith = (caCrt: string): DiscoveredValues<SecretData> =>
    new Map([
      [
        secretKey('Secret', 'default', 'backend-ca'),
        { kind: 'Secret' as const, namespace: 'default', name: 'backend-ca', type: 'Opaque', data: { 'ca.crt': caCrt }, origin: 'test' },
      ],
    ]);
  const b = valid<Backend>(backend({ members: [member], tls: { caRef: { name: 'backend-ca' } } }));
  const run = (s: DiscoveredValues<SecretData>, last?: Backend) =>
    resolve({ declared: [declared(b)], lastAccepted: new Map(last ? [[keyOf(b), last]] : []), discovered: new Map([[SECRETS, s]]) });
  // A valid bundle (two certificates) is accepted.
  assert.ok(run(secretWith(good.cert + good.cert)).outcomes.get('Backend/default/app')?.accepted);
  const cases: [string, RegExp][] = [
    // Base64 that is not a certificate.
    ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', /^Secret default\/backend-ca: ca\.crt certificate 1 does not parse/],
    // A key among the certificates.
    [good.cert + good.key, /^Secret default\/backend-ca: ca\.crt block 2 is a "PRIVATE KEY", not a "CERTIFICATE"/],
  ];
  for (const [caCrt, want] of cases) {
    const o = run(secretWith(caCrt)).outcomes.get('Backend/default/app');
    assert.ok(o && !o.accepted, `refused: ${caCrt.slice(0, 40)}`);
    assert.equal(o.reason, 'InvalidCertificate');
    assert.equal(o.issues[0]!.field, 'spec.tls.caRef');
    assert.match(o.issues[0]!.message, want);
    assert.match(o.message, /^spec\.tls\.caRef: /);
  }
  // The frontend's client CA gets the same words for the same bundle.
  const fe = valid<Frontend>(
    frontend({
      binds: [{ port: 443, tls: { certificateRefs: [{ name: 'site' }], clientCertificate: { caRef: { name: 'backend-ca' } } } }],
      defaultBackend: 'app',
    }),
  );
  const site = selfSignedCert('site.example');
  const both = new Map(secretWith(cases[0]![0]));
  both.set(secretKey('Secret', 'default', 'site'), {
    kind: 'Secret',
    namespace: 'default',
    name: 'site',
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': site.cert, 'tls.key': site.key },
    origin: 'test',
  });
  const plain = valid<Backend>(backend({ members: [member] }));
  const feOutcome = resolve({ declared: [declared(fe), declared(plain)], lastAccepted: new Map(), discovered: new Map([[SECRETS, both]]) }).outcomes.get(
    'Frontend/default/web',
  );
  assert.ok(feOutcome && !feOutcome.accepted);
  const feIssue = feOutcome.issues.find((i) => i.field === 'spec.binds[0].tls.clientCertificate.caRef');
  const beOutcome = run(secretWith(cases[0]![0])).outcomes.get('Backend/default/app');
  assert.ok(beOutcome && !beOutcome.accepted);
  assert.equal(beOutcome.issues[0]!.message, feIssue?.message, 'the same message for the same bundle');
  // The last accepted version keeps serving while the bundle is bad.
  const before = valid<Backend>(backend({ members: [member], tls: { verify: 'None' } }));
  assert.equal(run(secretWith(cases[1]![0]), before).backends[0]?.spec.tls?.verify, 'None');
});
