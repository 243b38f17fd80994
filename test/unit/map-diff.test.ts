/**
 * The map planner's choice between single-entry operations (`add map`, `set
 * map`, `del map`) and a whole-map swap (reconcile/map-plan.ts planEntryOps,
 * decision 0011 "Small diffs"), on maps rendered from rules as the controller
 * renders them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapFile, mapRoutingLines, parseMap } from '../../src/render/routing-maps.js';
import { MAX_ENTRY_OPS, planEntryOps, planMaps, type FrontendMaps } from '../../src/reconcile/map-plan.js';
import type { RouteRule } from '../../src/model/types.js';

const maps = (rules: RouteRule[]): FrontendMaps => {
  const files = mapRoutingLines('default', 'default_web', rules, '/s').files;
  const get = (k: 'exact' | 'routes' | 'backends') => parseMap(files.get(mapFile('default_web', k))!);
  return { exact: get('exact'), routes: get('routes'), backends: get('backends') };
};
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
  assert.deepEqual(ops(BASE, to), ['set-map backends 200001000:200001999 default_canary']);
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
  assert.deepEqual(ops(split(100, 0), split(0, 100)), ['set-map backends 200002000:200002999 default_canary']);
  assert.equal(ops(split(90, 10), split(50, 50)), undefined, 'slots between a del and an add would have no backend');
  assert.equal(ops(split(100, 0), split(90, 10)), undefined);
});

test('a new rule at the end: its backends range first, then its key; removing it: the key first, then the range', () => {
  const added = [...BASE, { host: 'c.test', backend: 'canary' }];
  assert.deepEqual(ops(BASE, added), ['add-map backends 200003000:200003999 default_canary', 'add-map routes c.test/ 200003']);
  assert.deepEqual(ops(added, BASE), ['del-map routes c.test/', 'del-map backends 200003000:200003999']);
  const exact = [...BASE, { matches: { host: 'c.test', path: { type: 'Exact', value: '/x' } }, backend: 'api' } as RouteRule];
  assert.deepEqual(ops(BASE, exact), ['add-map backends 200003000:200003999 default_api', 'add-map exact c.test/x 200003']);
});

test('two key changes under two exact hosts are single entries; under one host, a wildcard or no host, a swap', () => {
  const two = [...BASE, { host: 'c.test', backend: 'canary' }, { host: 'd.test', backend: 'app' }];
  assert.deepEqual(ops(BASE, two), [
    'add-map backends 200003000:200003999 default_canary',
    'add-map backends 200004000:200004999 default_app',
    'add-map routes c.test/ 200003',
    'add-map routes d.test/ 200004',
  ]);
  // One request (c.test/v1/x) looks up both keys: adding the shorter first would send it to the wrong rule.
  const sameHost = [...BASE, { host: 'c.test', pathPrefix: '/v1', backend: 'canary' }, { host: 'c.test', backend: 'app' }];
  assert.equal(ops(BASE, sameHost), undefined);
  assert.equal(ops(BASE, [...BASE, { host: '*.c.test', backend: 'app' }, { host: 'e.test', backend: 'app' }]), undefined);
  assert.equal(ops(BASE, [...BASE, { pathPrefix: '/w', backend: 'app' }, { host: 'e.test', backend: 'app' }]), undefined);
  // One key alone is atomic for every request, even host-less.
  assert.deepEqual(ops(BASE, [...BASE, { pathPrefix: '/w', backend: 'app' }]), [
    'add-map backends 200003000:200003999 default_app',
    'add-map routes /w/ 200003',
  ]);
});

test('a rule id that changes meaning (a rule removed before others: ids shift) is a swap', () => {
  assert.equal(ops(BASE, BASE.slice(1)), undefined);
  assert.equal(ops(BASE, [{ host: 'new.test', backend: 'canary' }, ...BASE]), undefined);
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
    ops: [{ op: 'set-map', file: 'maps/default_web.backends.map', path: '/s/maps/default_web.backends.map', key: '200000000:200000999', value: 'default_api' }],
    reasons: [],
  });
  const swap = planMaps(input([{ host: 'new.test', backend: 'canary' }, ...BASE]) as unknown as Parameters<typeof planMaps>[0]);
  assert.deepEqual(
    swap.ops.map((o) => [o.op, o.file]),
    [
      ['replace-map', 'maps/default_web.routes.map'],
      ['replace-map', 'maps/default_web.backends.map'],
    ],
  );
});
