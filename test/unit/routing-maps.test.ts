/**
 * Routing through maps (render/routing-maps.ts) and the map planner
 * (reconcile/map-plan.ts, through reconcile/plan.ts): which changes keep
 * haproxy.cfg's text and only change map files, and the plan's reasons.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from '../../src/model/resolve.js';
import { parseManifests } from '../../src/sources/files/load.js';
import type { Declared } from '../../src/model/resolve.js';
import { buildConfigModel, type GlobalSettings } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import { hash53, mapRoutingLines, parseMap, ruleIds, RULE_ID_BASE, RULE_ID_SPACE } from '../../src/render/routing-maps.js';
import { plan, type Rendered } from '../../src/reconcile/plan.js';
import { payloadChunks, PAYLOAD_BYTES } from '../../src/reconcile/map-updater.js';
import { checkRenderedConfig } from '../../src/model/raw-config.js';
import type { RouteRule } from '../../src/model/types.js';

const global: GlobalSettings = {
  adminSocket: '/run/nh/admin.sock',
  serverStateFile: '/run/nh/server-state',
  hardStopAfter: '30s',
  routingMaps: true,
};
const render = loadRenderer();
const API = 'haproxy.node-haproxy.io/v1alpha1';

function declared(rules: unknown[], backends = ['app', 'api', 'canary']): Declared[] {
  const docs: unknown[] = backends.map((name) => ({
    apiVersion: API,
    kind: 'Backend',
    metadata: { name },
    spec: { members: [{ name: 'm1', address: '127.0.0.1', port: 9000 }] },
  }));
  docs.push({
    apiVersion: API,
    kind: 'Frontend',
    metadata: { name: 'web' },
    spec: { binds: [{ address: '127.0.0.1', port: 8080 }], defaultBackend: 'app', rules },
  });
  const r = parseManifests(docs.map((d) => JSON.stringify(d)).join('\n---\n'), 'test.yaml');
  assert.deepEqual(r.issues, []);
  return r.declared ?? [];
}

function rendered(rules: unknown[], backends?: string[]): Rendered {
  const r = resolve({ declared: declared(rules, backends), lastAccepted: new Map() });
  assert.deepEqual(
    [...r.outcomes.values()].filter((o) => !o.accepted).map((o) => o.issues),
    [],
  );
  const model = buildConfigModel({ frontends: r.frontends, backends: r.backends, global });
  return { model, text: render(model), files: new Map(Object.entries(model.mapFiles ?? {})) };
}

/** The id a map-routable rule gets from its map key alone (no collision): RULE_ID_BASE + hash53(`<map> <key>`) mod RULE_ID_SPACE. */
const idOf = (map: 'exact' | 'routes', key: string): number => RULE_ID_BASE + (hash53(`${map} ${key}`) % RULE_ID_SPACE);

const BASE = [
  { host: 'api.test', backend: 'api' },
  { host: '*.wild.test', pathPrefix: '/v1', backend: 'canary' },
  { matches: { path: { type: 'Exact', value: '/exact' } }, backend: 'api' },
  {
    pathPrefix: '/split',
    backends: [
      { name: 'api', weight: 90 },
      { name: 'canary', weight: 10 },
    ],
  },
];

test('host and path rules are map entries: the keys, the ids and the backend ranges', () => {
  const r = rendered(BASE);
  const files = r.files!;
  assert.deepEqual(parseMap(files.get('maps/default_web.exact.map')!), [['/exact', String(idOf('exact', '/exact'))]]);
  assert.deepEqual(parseMap(files.get('maps/default_web.routes.map')!), [
    ['.wild.test/v1/', String(idOf('routes', '.wild.test/v1/'))],
    ['/split/', String(idOf('routes', '/split/'))],
    ['api.test/', String(idOf('routes', 'api.test/'))],
  ]);
  const split = idOf('routes', '/split/') * 1000;
  const backends = parseMap(files.get('maps/default_web.backends.map')!);
  assert.ok(
    backends.some(([k, v]) => k === `${split}:${split + 899}` && v === 'default_api'),
    JSON.stringify(backends),
  );
  assert.ok(
    backends.some(([k, v]) => k === `${split + 900}:${split + 999}` && v === 'default_canary'),
    JSON.stringify(backends),
  );
  assert.match(r.text, /use_backend %\[var\(txn\.nh_backend\)\] if \{ var\(txn\.nh_backend\) -m found \}/);
  assert.match(r.text, /map_beg_int\(\/run\/nh\/maps\/default_web\.routes\.map\)/);
  // The property check of rendered configurations (fuzz tests) knows these lines, and an ACL rule's a<k> names.
  assert.deepEqual(checkRenderedConfig(r.text), []);
  assert.deepEqual(checkRenderedConfig(rendered([...BASE, { header: { name: 'X-Env', value: 'beta' }, backend: 'canary' }]).text), []);
});

test('map entries go to HAProxy as payloads that fit its buffer', () => {
  const entries = Array.from({ length: 1000 }, (_, i): [string, string] => [`${i * 1000}:${i * 1000 + 999}`, 'default_api']);
  const chunks = payloadChunks(entries, PAYLOAD_BYTES);
  assert.ok(chunks.length > 1 && chunks.every((c) => c.length <= PAYLOAD_BYTES), chunks.map((c) => c.length).join(','));
  assert.deepEqual(
    chunks.join('\n').split('\n'),
    entries.map(([k, v]) => `${k} ${v}`),
  );
  assert.deepEqual(payloadChunks([], PAYLOAD_BYTES), []);
});

test('adding, removing and retargeting host/path rules and shifting weights change only map files', () => {
  const base = rendered(BASE);
  const variants: unknown[][] = [
    [{ host: 'new.test', backend: 'canary' }, ...BASE],
    BASE.slice(1),
    [{ host: 'api.test', backend: 'canary' }, ...BASE.slice(1)],
    [
      ...BASE.slice(0, 3),
      {
        pathPrefix: '/split',
        backends: [
          { name: 'api', weight: 50 },
          { name: 'canary', weight: 50 },
        ],
      },
    ],
    [
      ...BASE.slice(0, 3),
      {
        pathPrefix: '/split',
        backends: [
          { name: 'api', weight: 0 },
          { name: 'canary', weight: 100 },
        ],
      },
    ],
  ];
  for (const v of variants) {
    const d = rendered(v);
    assert.equal(d.text, base.text, `haproxy.cfg unchanged for ${JSON.stringify(v)}`);
    const p = plan(d, base, { runtimeUpdates: true });
    assert.equal(p.kind, 'runtime', JSON.stringify(p));
    if (p.kind === 'runtime') {
      assert.match(p.summary, /^map update \(\d+ entries in \d maps?\)$/);
      assert.ok((p.maps ?? []).every((m) => m.path.startsWith('/run/nh/maps/')));
    }
  }
});

test('rule ids: a hash of the map key, whatever the list position; a rule with filters keeps its id and its haproxy.cfg lines; ACL rules are numbered among themselves', () => {
  const filtered = {
    host: 'f.test',
    backend: 'api',
    filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: 'b' }] } }],
  };
  const header = { header: { name: 'X-Env', value: 'beta' }, backend: 'canary' };
  const a = ruleIds([header, filtered] as RouteRule[]);
  const b = ruleIds([{ host: 'n.test', backend: 'api' }, header, { host: 'm.test', backend: 'api' }, filtered] as RouteRule[]);
  assert.deepEqual(a, [0, idOf('routes', 'f.test/')]);
  assert.deepEqual(b, [idOf('routes', 'n.test/'), 0, idOf('routes', 'm.test/'), idOf('routes', 'f.test/')]);
  // Every id fits HAProxy's and JavaScript's integers with its 1,000 slots.
  for (const id of b.slice(2)) assert.ok(id >= RULE_ID_BASE && id * 1000 + 999 < Number.MAX_SAFE_INTEGER, String(id));
  // Inserted anywhere, removed anywhere, reordered: every other rule keeps its id.
  const plain = ['a.test', 'b.test', 'c.test', 'd.test'].map((host) => ({ host, backend: 'api' })) as RouteRule[];
  const idsBy = (rules: RouteRule[]) => new Map(ruleIds(rules).map((id, i) => [rules[i]!.host, id]));
  const all = idsBy(plain);
  for (const variant of [
    [{ host: 'new.test', backend: 'api' }, ...plain],
    [plain[0]!, plain[1]!, plain[3]!],
    [...plain].reverse(),
    [plain[0]!, { matches: { host: 'new.test', path: { type: 'Exact', value: '/x' } }, backend: 'api' }, ...plain.slice(1)],
  ] as RouteRule[][]) {
    for (const [host, id] of idsBy(variant)) if (all.has(host)) assert.equal(id, all.get(host), `${host} in ${JSON.stringify(variant)}`);
  }
  const before = rendered([filtered, header]);
  const after = rendered([{ host: 'n.test', backend: 'api' }, { host: 'g.test', backend: 'api', filters: filtered.filters }, header, filtered]);
  assert.ok(
    before.text.includes(`http-request set-header X-A 'b' if { var(txn.nh_rule) -m int ${idOf('routes', 'f.test/')} }`),
    'the filter line names the hashed id',
  );
  const lines = (text: string) => new Set(text.split('\n'));
  const gone = [...lines(before.text)].filter((l) => !lines(after.text).has(l));
  assert.deepEqual(gone, [], 'a rule with filters inserted before another changes none of its lines (only adds its own)');
  const plainBefore = rendered([header, filtered]);
  const plainAfter = rendered([{ host: 'n.test', backend: 'api' }, header, filtered]);
  assert.equal(plainAfter.text, plainBefore.text, 'a plain host rule inserted before others changes no haproxy.cfg line');
  assert.equal(plan(plainAfter, plainBefore, { runtimeUpdates: true }).kind, 'runtime');
});

test('rule ids: a shadowed duplicate key and a genuine hash collision probe to the next free id, in an order that is not list order', () => {
  // Two keys whose hashes collide (found by search): `routes h345568.test/` and `routes h1236059.test/`.
  const x = { host: 'h345568.test', backend: 'api' };
  const y = { host: 'h1236059.test', backend: 'canary' };
  const home = idOf('routes', 'h345568.test/');
  assert.equal(idOf('routes', 'h1236059.test/'), home, 'the two keys do collide');
  // The smaller key (`routes h1236059.test/` < `routes h345568.test/`) keeps the hashed id, whichever is listed first.
  assert.deepEqual(ruleIds([x, y] as RouteRule[]), [home + 1, home]);
  assert.deepEqual(ruleIds([y, x] as RouteRule[]), [home, home + 1]);
  assert.deepEqual(ruleIds([x] as RouteRule[]), [home], 'alone, each has the hashed id');
  // The same key twice: the first in precedence holds the key and the hashed id, the shadowed one the next id.
  const r = mapRoutingLines(
    'ns',
    'ns_fe',
    [
      { pathPrefix: '/v1', backend: 'a' },
      { pathPrefix: '/v1/', backend: 'b' },
    ] as RouteRule[],
    '/s',
  );
  assert.deepEqual(r.ids, [idOf('routes', '/v1/') + 1, idOf('routes', '/v1/')]);
});

test('a header rule, a regular expression and changed filters reload, the reason naming the rule', () => {
  const base = rendered(BASE);
  const d = rendered([...BASE, { header: { name: 'X-Env', value: 'beta' }, backend: 'canary' }]);
  const p = plan(d, base, { runtimeUpdates: true });
  assert.equal(p.kind, 'reload');
  if (p.kind === 'reload') assert.ok(p.reasons.includes('frontend default_web: rule 4 uses a header match, which is routed by ACL'), p.reasons.join('; '));
  const re = plan(rendered([...BASE, { matches: { path: { type: 'RegularExpression', value: '^/x[0-9]+$' } }, backend: 'api' }]), base, {
    runtimeUpdates: true,
  });
  assert.ok(re.kind === 'reload' && re.reasons.some((x) => /rule 4 uses a regular expression path/.test(x)), JSON.stringify(re));
});

test('a rule routed to a backend the running configuration lacks reloads: "new backend"', () => {
  const base = rendered(BASE, ['app', 'api', 'canary', 'extra']);
  // As if `extra` were not running yet: the same desired state against a running model without it.
  const running: Rendered = { ...base, model: { ...base.model, backends: base.model.backends.filter((b) => b.name !== 'default_extra') } };
  const d = rendered([{ host: 'e.test', backend: 'extra' }, ...BASE], ['app', 'api', 'canary', 'extra']);
  const p = plan(d, running, { runtimeUpdates: true });
  assert.equal(p.kind, 'reload');
  if (p.kind === 'reload')
    assert.ok(
      p.reasons.some((x) => x.startsWith('new backend default_extra')),
      p.reasons.join('; '),
    );
});

test('map files: PathPrefix keys end with "/", so /v1 and /v1/x match and /v1x does not; duplicates keep the first in precedence', () => {
  const r = mapRoutingLines(
    'ns',
    'ns_fe',
    [
      { pathPrefix: '/v1', backend: 'a' },
      { pathPrefix: '/v1/', backend: 'b' },
    ] as RouteRule[],
    '/s',
  );
  // `/v1/` is longer: first in precedence.
  assert.deepEqual(parseMap(r.files.get('maps/ns_fe.routes.map')!), [['/v1/', String(idOf('routes', '/v1/'))]]);
  assert.equal(r.ids[1], idOf('routes', '/v1/'));
});
