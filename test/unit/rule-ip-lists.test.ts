/**
 * Per-rule IP allow and deny lists (issue 12): validation names
 * `spec.rules[i].ipAllowList[j]`, the lines rendered with and without routing
 * maps, their order (frontend policy, then the rule's list, then its filters)
 * and the plan's reason. (Real HAProxy: test/integration/rule-ip-lists.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitHaproxyWords } from '../../src/model/haproxy-words.js';
import { checkRenderedConfig } from '../../src/model/raw-config.js';
import { resolve } from '../../src/model/resolve.js';
import { routedBy, routingNote } from '../../src/model/routing.js';
import type { RouteRule } from '../../src/model/types.js';
import { validateResource } from '../../src/model/validate.js';
import { routingOf } from '../../src/plan/explain.js';
import { buildConfigModel, type GlobalSettings } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { aclReason, mapRoutingLines, parseMap, ruleIds } from '../../src/render/routing-maps.js';
import { routingLines } from '../../src/render/routing.js';
import { plan, type Rendered } from '../../src/reconcile/plan.js';
import { parseManifests } from '../../src/sources/files/load.js';
import { frontendToAqueduct } from '../../src/sources/rest/aqueduct.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';
const frontend = (rules: unknown[], extra: Record<string, unknown> = {}) => ({
  apiVersion: API,
  kind: 'Frontend',
  metadata: { name: 'web' },
  spec: { binds: [{ address: '127.0.0.1', port: 8080 }], defaultBackend: 'app', rules, ...extra },
});
const problems = (rules: unknown[]) => validateResource(frontend(rules)).issues.map((i) => `${i.field}: ${i.message}`);

const REDIRECT = { type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplaceFullPath', replaceFullPath: '/elsewhere' } } };

test('rule IP lists: each mistake is refused naming spec.rules[i].ipAllowList[j] and the fix, as on the frontend', () => {
  assert.deepEqual(problems([{ pathPrefix: '/a', backend: 'app', ipAllowList: ['10.0.0.0/8', '127.0.0.1/32'] }]), []);
  assert.deepEqual(
    problems([
      { pathPrefix: '/a', backend: 'app' },
      { pathPrefix: '/b', backend: 'app', ipAllowList: ['10.0.0.0/8', '010.0.0.1', '10.0.0.0/33'] },
      { pathPrefix: '/c', backend: 'app', ipDenyList: ['::ffff:10.0.0.1', '2001:db8::/129'] },
    ]),
    [
      'spec.rules[1].ipAllowList[1]: "010.0.0.1" has zero-padded numbers, which libc reads as octal: HAProxy would use 8.0.0.1; write "8.0.0.1" if that is what you mean, without leading zeros',
      'spec.rules[1].ipAllowList[2]: "10.0.0.0/33" has prefix length /33; use 0-32 for an IPv4 network',
      'spec.rules[2].ipDenyList[0]: "::ffff:10.0.0.1" is an IPv4-mapped IPv6 address; write the IPv4 address "10.0.0.1" instead',
      'spec.rules[2].ipDenyList[1]: "2001:db8::/129" has prefix length /129; use 0-128 for an IPv6 network',
    ],
  );
  // Both on one rule: refused, as on the frontend (one list says who is served).
  assert.deepEqual(problems([{ pathPrefix: '/a', backend: 'app', ipAllowList: ['10.0.0.0/8'], ipDenyList: ['10.1.0.0/16'] }]), [
    'spec.rules[0].ipDenyList: is set together with ipAllowList; use one: ipAllowList serves only the listed clients, ipDenyList refuses the listed ones',
  ]);
  // The schema's pattern and sizes, named under the rule.
  assert.match(
    problems([{ pathPrefix: '/a', backend: 'app', ipDenyList: ['10.0.0.0/8 #'] }])[0]!,
    /^spec\.rules\[0\]\.ipDenyList\[0\]: "10\.0\.0\.0\/8 #" is not allowed: use an IPv4 or IPv6 address, or a network in CIDR form/,
  );
  assert.equal(problems([{ pathPrefix: '/a', backend: 'app', ipAllowList: [] }]).length, 1);
  assert.match(problems([{ pathPrefix: '/a', backend: 'app', ipAllowList: [] }])[0]!, /^spec\.rules\[0\]\.ipAllowList: /);
});

test('rendered without maps: the rule-id shape, 403 for the rule that won, before its redirect; long lists over several ACL lines', () => {
  const rules = [
    { pathPrefix: '/admin', backend: 'x', ipAllowList: ['10.0.0.0/8', '::1'], filters: [REDIRECT] },
    { header: { name: 'X-Env', value: 'beta' }, backend: 'y', ipDenyList: ['127.0.0.1/32'] },
    { pathPrefix: '/', backend: 'z' },
  ] as RouteRule[];
  const r = routingLines('ns', rules);
  assert.ok(r.acls.includes('acl r0_ip_allowed src 10.0.0.0/8 ::1'), r.acls.join('\n'));
  assert.ok(r.acls.includes('acl r1_ip_denied src 127.0.0.1/32'), r.acls.join('\n'));
  const allow = 'http-request deny deny_status 403 if { var(txn.nh_rule) -m int 0 } !r0_ip_allowed';
  const deny = 'http-request deny deny_status 403 if { var(txn.nh_rule) -m int 1 } r1_ip_denied';
  assert.ok(r.routes.includes(allow) && r.routes.includes(deny), r.routes.join('\n'));
  const at = (prefix: string) => r.routes.findIndex((l) => l.startsWith(prefix));
  const lastWinner = r.routes.findLastIndex((l) => l.startsWith('http-request set-var(txn.nh_rule)'));
  assert.ok(lastWinner < r.routes.indexOf(allow), 'the winner is fixed before any list is tested');
  assert.ok(r.routes.indexOf(allow) < at('http-request redirect'), 'a refused client gets 403, not the redirect');
  // Only a list, no split and no filter: still the rule-id shape (the deny line names the rule).
  const only = routingLines('ns', [
    { pathPrefix: '/a', backend: 'x', ipDenyList: ['10.0.0.0/8'] },
    { pathPrefix: '/b', backend: 'x' },
  ] as RouteRule[]);
  assert.ok(
    only.routes.some((l) => l.startsWith('http-request set-var(txn.nh_rule) int(0)')),
    only.routes.join('\n'),
  );
  // Thousands of addresses: lines HAProxy can read (at most 64 words, 2,048 bytes), 40 addresses each, as the frontend's.
  const many = Array.from({ length: 100 }, (_, i) => `2001:db8:${i.toString(16)}::/48`);
  const big = routingLines('ns', [{ pathPrefix: '/a', backend: 'x', ipAllowList: many }] as RouteRule[]);
  const ipAcls = big.acls.filter((l) => l.startsWith('acl r0_ip_allowed src '));
  assert.equal(ipAcls.length, 3);
  for (const l of ipAcls) assert.ok(l.length < 2048 && splitHaproxyWords(l).words.length <= 64, l);
  assert.deepEqual(
    ipAcls.flatMap((l) => l.split(' ').slice(3)),
    many,
  );
});

const global = (routingMaps: boolean): GlobalSettings => ({
  adminSocket: '/run/nh/admin.sock',
  serverStateFile: '/run/nh/server-state',
  hardStopAfter: '30s',
  routingMaps,
});

function rendered(rules: unknown[], routingMaps: boolean, extra: Record<string, unknown> = {}): Rendered {
  const docs = ['app', 'x', 'y', 'z'].map((name) => ({
    apiVersion: API,
    kind: 'Backend',
    metadata: { name },
    spec: { members: [{ name: 'm1', address: '127.0.0.1', port: 9000 }] },
  }));
  const parsed = parseManifests([...docs, frontend(rules, extra)].map((d) => JSON.stringify(d)).join('\n---\n'), 'test.yaml');
  assert.deepEqual(parsed.issues, []);
  const r = resolve({ declared: parsed.declared ?? [], lastAccepted: new Map() });
  assert.deepEqual(
    [...r.outcomes.values()].filter((o) => !o.accepted).map((o) => o.issues),
    [],
  );
  const model = buildConfigModel({ frontends: r.frontends, backends: r.backends, global: global(routingMaps) });
  return { model, text: loadRenderer()(model), files: new Map(Object.entries(model.mapFiles ?? {})) };
}

test('rendered with maps: a host/path rule with a list keeps its map entry, gets an id haproxy.cfg names, and is reported as routed by ACL', () => {
  const rules = [
    { pathPrefix: '/admin', backend: 'x', ipAllowList: ['10.0.0.0/8'] },
    { pathPrefix: '/', backend: 'z' },
  ] as RouteRule[];
  const m = mapRoutingLines('ns', 'ns_web', rules, '/s');
  const [FILTERED, PLAIN] = ruleIds(rules) as [number, number];
  assert.deepEqual(m.ids, [FILTERED, PLAIN]);
  assert.deepEqual(parseMap(m.files.get('maps/ns_web.routes.map')!), [
    ['/', String(PLAIN)],
    ['/admin/', String(FILTERED)],
  ]);
  assert.ok(m.acls.includes(`acl a${FILTERED}_ip_allowed src 10.0.0.0/8`), m.acls.join('\n'));
  assert.ok(m.routes.includes(`http-request deny deny_status 403 if { var(txn.nh_rule) -m int ${FILTERED} } !a${FILTERED}_ip_allowed`));
  assert.equal(aclReason(rules[0]!), 'has an IP allow/deny list, which haproxy.cfg applies');
  assert.equal(routedBy(rules[0]!), 'acl');
  assert.equal(routedBy(rules[1]!), 'map');
  assert.equal(routingNote(rules), 'rules routed by map (runtime): 1; by ACL (reload on change): 0');
  const f = validateResource(frontend(rules)).resource;
  assert.ok(f?.kind === 'Frontend');
  assert.deepEqual(routingOf([f]), [{ frontend: 'default/web', map: [1], acl: [{ rule: 0, why: 'has an IP allow/deny list, which haproxy.cfg applies' }] }]);
  // An ACL rule (header match) with a list: named by its ACL-rule id.
  const header = mapRoutingLines(
    'ns',
    'ns_web',
    [{ header: { name: 'X-A', value: 'b' }, backend: 'y', ipDenyList: ['127.0.0.1/32'] }, ...rules] as RouteRule[],
    '/s',
  );
  assert.ok(header.routes.includes('http-request deny deny_status 403 if { var(txn.nh_rule) -m int 0 } a0_ip_denied'), header.routes.join('\n'));
});

test('order in haproxy.cfg: the frontend list, then the rule lists, then the rule redirects; every line passes the property check', () => {
  for (const maps of [false, true]) {
    const r = rendered(
      [
        { pathPrefix: '/admin', backend: 'x', ipAllowList: ['10.0.0.0/8'], filters: [REDIRECT] },
        { pathPrefix: '/open', backend: 'y', ipDenyList: ['192.0.2.0/24', '2001:db8::/32'] },
        { pathPrefix: '/', backend: 'z' },
      ],
      maps,
      { ipDenyList: ['198.51.100.0/24'] },
    );
    const lines = r.text.split('\n').map((l) => l.trim());
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const frontendDeny = at(/^http-request deny deny_status 403 if policy_ip_denied$/);
    const ruleAllow = at(/^http-request deny deny_status 403 if \{ var\(txn\.nh_rule\) -m int \d+ \} ![ra]\d+_ip_allowed$/);
    const ruleDeny = at(/^http-request deny deny_status 403 if \{ var\(txn\.nh_rule\) -m int \d+ \} [ra]\d+_ip_denied$/);
    const redirect = at(/^http-request redirect location /);
    assert.ok(frontendDeny >= 0 && ruleAllow >= 0 && ruleDeny >= 0 && redirect >= 0, r.text);
    assert.ok(frontendDeny < ruleAllow && frontendDeny < ruleDeny, `maps ${maps}: the frontend's list first`);
    assert.ok(ruleAllow < redirect, `maps ${maps}: the rule's list before its redirect`);
    assert.deepEqual(checkRenderedConfig(r.text), [], `maps ${maps}`);
  }
});

test('plan: changing a rule list reloads, naming the rule; with maps a rule without a list still changes only map files', () => {
  const base = [
    { pathPrefix: '/admin', backend: 'x', ipAllowList: ['10.0.0.0/8'] },
    { pathPrefix: '/', backend: 'z' },
  ];
  const running = rendered(base, true);
  const changed = rendered([{ ...base[0], ipAllowList: ['10.0.0.0/8', '127.0.0.1'] }, base[1]], true);
  const p = plan(changed, running, { runtimeUpdates: true });
  assert.equal(p.kind, 'reload');
  if (p.kind === 'reload')
    assert.ok(p.reasons.includes('frontend default_web: rule 0 has an IP allow/deny list, which haproxy.cfg applies'), p.reasons.join('; '));
  // A list removed: the rule is a plain map rule again (its id moves to the plain range): haproxy.cfg changes, one reload.
  assert.equal(plan(rendered([{ pathPrefix: '/admin', backend: 'x' }, base[1]], true), running, { runtimeUpdates: true }).kind, 'reload');
  // Retargeting the plain rule stays a map update.
  const retarget = rendered([base[0], { pathPrefix: '/', backend: 'y' }], true);
  assert.equal(retarget.text, running.text);
  assert.equal(plan(retarget, running, { runtimeUpdates: true }).kind, 'runtime');
});

test('the aqueduct view keeps a rule list: such a rule is shown in our form, not as a plain path rule', () => {
  const f = validateResource(
    frontend([
      { pathPrefix: '/admin', backend: 'x', ipAllowList: ['10.0.0.0/8'] },
      { pathPrefix: '/b', backend: 'y' },
    ]),
  ).resource;
  assert.ok(f?.kind === 'Frontend');
  assert.deepEqual(frontendToAqueduct(f).rules, [
    { type: 'node-haproxy', rule: { pathPrefix: '/admin', backend: 'x', ipAllowList: ['10.0.0.0/8'] }, backend: 'x' },
    { type: 'path', operation: 'path_beg', value: '/b', backend: 'y' },
  ]);
});
