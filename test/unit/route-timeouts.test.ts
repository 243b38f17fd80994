// rules[].timeouts.request (issue 12; docs/decisions/0011-http-routing.md), the pure parts:
// validation names spec.rules[i].timeouts.request; the frontend sets txn.nh_timeout for the
// rule that won, only the Backends a timed rule targets read it (every other backend's text
// is unchanged), with and without routing maps; the planner says why a backend changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationMs, routedBy } from '../../src/model/routing.js';
import { checkRenderedConfig } from '../../src/model/raw-config.js';
import { resolve, type Declared } from '../../src/model/resolve.js';
import { validateResource } from '../../src/model/validate.js';
import { buildConfigModel, type GlobalSettings } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { aclReason, ruleIds } from '../../src/render/routing-maps.js';
import { REQUEST_TIMEOUT_LINE, routingLines } from '../../src/render/routing.js';
import { plan, type Rendered } from '../../src/reconcile/plan.js';
import { parseManifests } from '../../src/sources/files/load.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';
const render = loadRenderer();
const global = (routingMaps: boolean): GlobalSettings => ({
  adminSocket: '/run/nh/admin.sock',
  serverStateFile: '/run/nh/server-state',
  hardStopAfter: '30s',
  routingMaps,
});

const frontendDoc = (rules: unknown[], mode = 'http') => ({
  apiVersion: API,
  kind: 'Frontend',
  metadata: { name: 'web' },
  spec: { mode, binds: [{ port: 8080 }], defaultBackend: 'app', rules },
});

/** `field: message` of every issue. */
const problems = (rules: unknown[], mode?: string): string[] => validateResource(frontendDoc(rules, mode)).issues.map((i) => `${i.field}: ${i.message}`);

function declared(rules: unknown[]): Declared[] {
  const docs: unknown[] = ['app', 'api', 'canary', 'slow'].map((name) => ({
    apiVersion: API,
    kind: 'Backend',
    metadata: { name },
    spec: { members: [{ name: 'm1', address: '127.0.0.1', port: 9000 }], timeouts: { server: '30s' } },
  }));
  docs.push(frontendDoc(rules));
  const r = parseManifests(docs.map((d) => JSON.stringify(d)).join('\n---\n'), 'test.yaml');
  assert.deepEqual(r.issues, []);
  return r.declared ?? [];
}

function rendered(rules: unknown[], routingMaps = true, reuse?: Declared[]): Rendered {
  const r = resolve({ declared: reuse ?? declared(rules), lastAccepted: new Map() });
  assert.deepEqual(
    [...r.outcomes.values()].filter((o) => !o.accepted).map((o) => o.issues),
    [],
  );
  const model = buildConfigModel({ frontends: r.frontends, backends: r.backends, global: global(routingMaps) });
  return { model, text: render(model), files: new Map(Object.entries(model.mapFiles ?? {})) };
}

/** The rendered `backend <name>` section. */
const section = (text: string, name: string): string => {
  const start = text.indexOf(`\nbackend ${name}\n`);
  assert.ok(start >= 0, `backend ${name} is rendered`);
  const end = text.indexOf('\n\n', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
};

const PLAIN: Record<string, unknown>[] = [
  { pathPrefix: '/timed', backend: 'slow' },
  { pathPrefix: '/free', backend: 'slow' },
  { host: 'api.test', backend: 'api' },
];
const TIMED: Record<string, unknown>[] = [{ pathPrefix: '/timed', backend: 'slow', timeouts: { request: '1s' } }, ...PLAIN.slice(1)];

test('durations become whole milliseconds, rounded up', () => {
  assert.equal(durationMs('10s'), 10_000);
  assert.equal(durationMs('250'), 250);
  assert.equal(durationMs('250ms'), 250);
  assert.equal(durationMs('1500us'), 2);
  assert.equal(durationMs('2m'), 120_000);
  assert.equal(durationMs('1h'), 3_600_000);
  assert.equal(durationMs('1d'), 86_400_000);
});

test('timeouts.request: accepted as a duration; errors name spec.rules[i].timeouts.request and say the fix', () => {
  assert.deepEqual(problems([{ pathPrefix: '/a', backend: 'a', timeouts: { request: '10s' } }]), []);
  const cases: [unknown[], string | undefined, RegExp][] = [
    [[{ pathPrefix: '/a', backend: 'a', timeouts: { request: 'soon' } }], undefined, /^spec\.rules\[0\]\.timeouts\.request: .*a number with an optional unit/],
    [
      [{ pathPrefix: '/a', backend: 'a', timeouts: { request: '0s' } }],
      undefined,
      /^spec\.rules\[0\]\.timeouts\.request: "0s" would never let a request wait; use a duration above 0/,
    ],
    [
      [{ pathPrefix: '/a', backend: 'a', timeouts: { request: '30d' } }],
      undefined,
      /^spec\.rules\[0\]\.timeouts\.request: "30d" is longer than HAProxy's longest timeout, 2147483647 ms/,
    ],
    [[{ pathPrefix: '/a', backend: 'a', timeouts: { reqest: '1s' } }], undefined, /^spec\.rules\[0\]\.timeouts\.reqest: is not a known field/],
    [
      [
        { pathPrefix: '/a', backend: 'a' },
        { pathPrefix: '/old', filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }], timeouts: { request: '1s' } },
      ],
      undefined,
      /^spec\.rules\[1\]\.timeouts\.request: does not apply to a rule that redirects/,
    ],
    [
      [{ pathPrefix: '/a', backend: 'a', timeouts: { request: '1s' } }],
      'tcp',
      /^spec\.rules\[0\]\.timeouts\.request: bounds an HTTP request's wait and needs mode "http"/,
    ],
  ];
  for (const [rules, mode, want] of cases) {
    const got = problems(rules, mode);
    assert.ok(
      got.some((p) => want.test(p)),
      `${JSON.stringify(rules)}: want ${want}, got ${JSON.stringify(got)}`,
    );
  }
});

test('without maps: the rule-id shape, the frontend sets txn.nh_timeout for the timed rule only', () => {
  const { routes } = routingLines('default', TIMED as never);
  assert.ok(routes.includes('http-request set-var(txn.nh_timeout) int(1000) if { var(txn.nh_rule) -m int 0 }'), routes.join('\n'));
  assert.equal(routes.filter((l) => l.includes('nh_timeout')).length, 1, 'only the timed rule sets it');
  assert.ok(routes.includes('use_backend default_slow if { var(txn.nh_rule) -m int 1 }'), 'the untimed rule to the same backend is routed by id too');
  // Without a timeout, the plain shape of earlier versions (no rule id).
  assert.ok(!routingLines('default', PLAIN as never).routes.some((l) => l.includes('nh_rule')));
});

test('only the Backends a timed rule targets render set-timeout; every other backend text is unchanged', () => {
  for (const maps of [false, true]) {
    const before = rendered(PLAIN, maps);
    const after = rendered(TIMED, maps);
    const slow = section(after.text, 'default_slow');
    assert.ok(slow.includes(`    ${REQUEST_TIMEOUT_LINE}`), slow);
    assert.ok(slow.includes('    timeout server 30s'), 'the backend keeps its own timeout server for the other rules');
    assert.ok(!section(before.text, 'default_slow').includes('set-timeout'));
    for (const b of ['default_app', 'default_api', 'default_canary']) assert.equal(section(after.text, b), section(before.text, b), `${b} (maps: ${maps})`);
    assert.equal(after.text.match(/set-timeout/g)?.length, 1, 'one backend reads it');
    assert.match(after.text, /http-request set-var\(txn\.nh_timeout\) int\(1000\) if \{ var\(txn\.nh_rule\) -m int \d+ \}/);
    assert.deepEqual(checkRenderedConfig(after.text), [], 'the rendered lines pass the property check');
  }
  // A split: every backend of it.
  const split = rendered([
    {
      pathPrefix: '/split',
      backends: [
        { name: 'api', weight: 90 },
        { name: 'canary', weight: 0 },
      ],
      timeouts: { request: '500ms' },
    },
  ]);
  for (const b of ['default_api', 'default_canary']) assert.ok(section(split.text, b).includes(REQUEST_TIMEOUT_LINE), b);
  assert.ok(!section(split.text, 'default_slow').includes('set-timeout'));
  const [splitId] = ruleIds([{ pathPrefix: '/split', backends: [] }] as never);
  assert.ok(split.text.includes(`int(500) if { var(txn.nh_rule) -m int ${splitId} }`), split.text);
});

test('with maps: a timed host/path rule is in haproxy.cfg by its filtered id, and says why', () => {
  const rule = TIMED[0]! as never;
  assert.equal(routedBy(rule), 'acl');
  assert.equal(aclReason(rule), 'has a request timeout, which haproxy.cfg sets');
  const r = rendered(TIMED);
  const ids = ruleIds(TIMED as never);
  assert.ok(r.text.includes(`http-request set-var(txn.nh_timeout) int(1000) if { var(txn.nh_rule) -m int ${ids[0]} }`), r.text);
  // The untimed rules stay map entries.
  const free = TIMED.findIndex((x) => x.pathPrefix === '/free');
  assert.match(r.files!.get('maps/default_web.routes.map') ?? '', new RegExp(`^/free/ ${ids[free]}$`, 'm'));
});

test('the plan: adding the first timed rule reloads and names the rule and the backend; removing it too; the same Backend object re-renders', () => {
  const docs = declared(PLAIN);
  const before = rendered(PLAIN, true, docs);
  // Same Backend objects, only the Frontend changes: the backend model must not come from the cache unchanged.
  const timedDocs = declared(TIMED).map((d) => (d.resource?.kind === 'Backend' ? docs.find((x) => x.key === d.key)! : d));
  const after = rendered(TIMED, true, timedDocs);
  assert.ok(section(after.text, 'default_slow').includes(REQUEST_TIMEOUT_LINE), 'not the model cached before a rule targeted it');
  const p = plan(after, before, { runtimeUpdates: true });
  assert.equal(p.kind, 'reload');
  const reasons = p.kind === 'reload' ? p.reasons : [];
  assert.ok(reasons.includes('frontend default_web: rule 0 has a request timeout, which haproxy.cfg sets'), reasons.join('; '));
  assert.ok(reasons.includes('backend default_slow now applies a request timeout: a rule with timeouts.request targets it'), reasons.join('; '));
  assert.ok(!reasons.some((x) => /default_(app|api|canary)/.test(x)), reasons.join('; '));
  const back = plan(rendered(PLAIN, true, docs), after, { runtimeUpdates: true });
  assert.ok(
    back.kind === 'reload' && back.reasons.includes('backend default_slow no longer applies request timeouts: no rule with timeouts.request targets it'),
    JSON.stringify(back),
  );
  // Changing only the value reloads too (the frontend's line), naming the rule.
  const longer = plan(rendered([{ ...TIMED[0], timeouts: { request: '2s' } }, ...PLAIN.slice(1)], true, undefined), after, { runtimeUpdates: true });
  assert.ok(
    longer.kind === 'reload' && longer.reasons.includes('frontend default_web: rule 0 has a request timeout, which haproxy.cfg sets'),
    JSON.stringify(longer),
  );
});
