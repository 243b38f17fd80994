/**
 * The map planner's choice between single-entry operations (`add map`, `set
 * map`, `del map`) and a whole-map swap (reconcile/map-plan.ts planEntryOps,
 * decision 0011 "Small diffs"), on maps rendered from rules as the controller
 * renders them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash53, mapFile, mapRoutingLines, parseMap, RULE_ID_BASE, RULE_ID_SPACE } from '../../src/render/routing-maps.js';
import { MAX_ENTRY_OPS, planEntryOps, planMaps, type FrontendMaps } from '../../src/reconcile/map-plan.js';
import type { RouteRule } from '../../src/model/types.js';

const maps = (rules: RouteRule[]): FrontendMaps => {
  const files = mapRoutingLines('default', 'default_web', rules, '/s').files;
  const get = (k: 'exact' | 'routes' | 'backends') => parseMap(files.get(mapFile('default_web', k))!);
  return { exact: get('exact'), routes: get('routes'), backends: get('backends') };
};
/** A rule's id (its map key's hash, decision 0011) and its whole backends range. */
const id = (map: 'exact' | 'routes', key: string): number => RULE_ID_BASE + (hash53(`${map} ${key}`) % RULE_ID_SPACE);
const rangeOf = (ruleId: number): string => `${ruleId * 1000}:${ruleId * 1000 + 999}`;
const range = (map: 'exact' | 'routes', key: string): string => rangeOf(id(map, key));
const ops = (from: RouteRule[], to: RouteRule[]) => planEntryOps(maps(from), maps(to))?.map((o) => `${o.op} ${o.kind} ${o.key} ${o.value}`.trim());

const BASE: RouteRule[] = [
  { host: 'a.test', backend: 'app' },
  { host: 'b.test', pathPrefix: '/v1', backend: 'api' },
  {
    matches: { path: { type: 'PathPrefix', value: '/split' } },
    backends: [
      { name: 'api', weight: 100 },
      { name: 'canary', weight: 0 },
    ],
  },
];

test('retargeting a rule is one set map of its backends range', () => {
  const to = BASE.map((r, i) => (i === 1 ? { ...r, backend: 'canary' } : r));
  assert.deepEqual(ops(BASE, to), [`set-map backends ${range('routes', 'b.test/v1/')} default_canary`]);
});

test('a 100/0 → 0/100 shift keeps the range: one set map; 90/10 → 50/50 moves ranges: a whole swap', () => {
  const split = (a: number, c: number): RouteRule[] => [
    ...BASE.slice(0, 2),
    {
      matches: { path: { type: 'PathPrefix', value: '/split' } },
      backends: [
        { name: 'api', weight: a },
        { name: 'canary', weight: c },
      ],
    },
  ];
  assert.deepEqual(ops(split(100, 0), split(0, 100)), [`set-map backends ${range('routes', '/split/')} default_canary`]);
  assert.equal(ops(split(90, 10), split(50, 50)), undefined, 'slots between a del and an add would have no backend');
  assert.equal(ops(split(100, 0), split(90, 10)), undefined);
});

test('a new rule at the end: its backends range first, then its key; removing it: the key first, then the range', () => {
  const added = [...BASE, { host: 'c.test', backend: 'canary' }];
  const c = range('routes', 'c.test/');
  assert.deepEqual(ops(BASE, added), [`add-map backends ${c} default_canary`, `add-map routes c.test/ ${id('routes', 'c.test/')}`]);
  assert.deepEqual(ops(added, BASE), ['del-map routes c.test/', `del-map backends ${c}`]);
  const exact = [...BASE, { matches: { host: 'c.test', path: { type: 'Exact', value: '/x' } }, backend: 'api' } as RouteRule];
  assert.deepEqual(ops(BASE, exact), [`add-map backends ${range('exact', 'c.test/x')} default_api`, `add-map exact c.test/x ${id('exact', 'c.test/x')}`]);
});

test('two key changes under two exact hosts are single entries; under one host, a wildcard or no host, a swap', () => {
  const two = [...BASE, { host: 'c.test', backend: 'canary' }, { host: 'd.test', backend: 'app' }];
  assert.deepEqual(ops(BASE, two), [
    `add-map backends ${range('routes', 'c.test/')} default_canary`,
    `add-map backends ${range('routes', 'd.test/')} default_app`,
    `add-map routes c.test/ ${id('routes', 'c.test/')}`,
    `add-map routes d.test/ ${id('routes', 'd.test/')}`,
  ]);
  // One request (c.test/v1/x) looks up both keys: adding the shorter first would send it to the wrong rule.
  const sameHost = [...BASE, { host: 'c.test', pathPrefix: '/v1', backend: 'canary' }, { host: 'c.test', backend: 'app' }];
  assert.equal(ops(BASE, sameHost), undefined);
  assert.equal(ops(BASE, [...BASE, { host: '*.c.test', backend: 'app' }, { host: 'e.test', backend: 'app' }]), undefined);
  assert.equal(ops(BASE, [...BASE, { pathPrefix: '/w', backend: 'app' }, { host: 'e.test', backend: 'app' }]), undefined);
  // One key alone is atomic for every request, even host-less.
  assert.deepEqual(ops(BASE, [...BASE, { pathPrefix: '/w', backend: 'app' }]), [
    `add-map backends ${range('routes', '/w/')} default_app`,
    `add-map routes /w/ ${id('routes', '/w/')}`,
  ]);
});

test('ids do not depend on position: a rule inserted at the top or removed from the middle is single entries, no other rule touched', () => {
  const n = range('routes', 'new.test/');
  assert.deepEqual(ops(BASE, [{ host: 'new.test', backend: 'canary' }, ...BASE]), [
    `add-map backends ${n} default_canary`,
    `add-map routes new.test/ ${id('routes', 'new.test/')}`,
  ]);
  assert.deepEqual(ops(BASE, [BASE[0]!, BASE[2]!]), ['del-map routes b.test/v1/', `del-map backends ${range('routes', 'b.test/v1/')}`]);
  assert.deepEqual(ops(BASE, BASE.slice(1)), ['del-map routes a.test/', `del-map backends ${range('routes', 'a.test/')}`]);
  // Both at once (two keys under two exact hosts): the new range, both keys, then the old range.
  assert.deepEqual(ops(BASE, [{ host: 'new.test', backend: 'canary' }, BASE[0]!, BASE[2]!]), [
    `add-map backends ${n} default_canary`,
    `add-map routes new.test/ ${id('routes', 'new.test/')}`,
    'del-map routes b.test/v1/',
    `del-map backends ${range('routes', 'b.test/v1/')}`,
  ]);
  // Reordering the list changes nothing.
  assert.deepEqual(ops(BASE, [...BASE].reverse()), []);
});

test('an id that depends on another rule (a hash collision, a shadowed duplicate) changes meaning when that rule goes: a swap where a mix could show', () => {
  // `routes h1236059.test/` and `routes h345568.test/` hash alike: the smaller key has the hashed id, the other the next one.
  const x: RouteRule = { host: 'h345568.test', backend: 'canary' };
  const y: RouteRule = { host: 'h1236059.test', backend: 'api' };
  // y removed: x takes y's id, whose range names another backend: the id changes meaning under a changed key.
  assert.equal(ops([...BASE, x, y], [...BASE, x]), undefined);
  // x removed: y keeps its id; single entries.
  assert.deepEqual(ops([...BASE, x, y], [...BASE, y]), ['del-map routes h345568.test/', `del-map backends ${rangeOf(id('routes', 'h345568.test/') + 1)}`]);
  // A shadowed duplicate removed: the key keeps its rule and id, only the duplicate's range goes.
  const dup: RouteRule = { host: 'a.test', backend: 'canary' };
  assert.deepEqual(ops([...BASE, dup], BASE), [`del-map backends ${rangeOf(id('routes', 'a.test/') + 1)}`]);
});

test(`more than ${MAX_ENTRY_OPS} single-entry operations: a swap`, () => {
  const many = (n: number): RouteRule[] => [...BASE, ...Array.from({ length: n }, (_, i) => ({ host: `h${i}.test`, backend: 'api' }))];
  assert.equal(planEntryOps(maps(BASE), maps(many(MAX_ENTRY_OPS / 2)))?.length, MAX_ENTRY_OPS);
  assert.equal(ops(BASE, many(MAX_ENTRY_OPS / 2 + 1)), undefined);
});

test('planMaps: single entries as add-map/set-map/del-map operations on absolute paths, a swap as replace-map per changed map', () => {
  const files = (rules: RouteRule[]) => mapRoutingLines('default', 'default_web', rules, '/s').files;
  const input = (to: RouteRule[]) => {
    const running = files(BASE);
    const desired = files(to);
    const changed = [...desired.keys()].filter((f) => running.get(f) !== desired.get(f));
    return { changed, desired, running, runningModel: { backends: ['app', 'api', 'canary'].map((n) => ({ name: `default_${n}` })) }, stateDir: '/s' };
  };
  const small = planMaps(input(BASE.map((r, i) => (i === 0 ? { ...r, backend: 'api' } : r))) as unknown as Parameters<typeof planMaps>[0]);
  assert.deepEqual(small, {
    ops: [
      { op: 'set-map', file: 'maps/default_web.backends.map', path: '/s/maps/default_web.backends.map', key: range('routes', 'a.test/'), value: 'default_api' },
    ],
    reasons: [],
  });
  // A host-less key and another: a request can look up both (a swap).
  const swap = planMaps(
    input([{ pathPrefix: '/w', backend: 'canary' }, { host: 'new.test', backend: 'canary' }, ...BASE]) as unknown as Parameters<typeof planMaps>[0],
  );
  assert.deepEqual(
    swap.ops.map((o) => [o.op, o.file]),
    [
      ['replace-map', 'maps/default_web.routes.map'],
      ['replace-map', 'maps/default_web.backends.map'],
    ],
  );
});
