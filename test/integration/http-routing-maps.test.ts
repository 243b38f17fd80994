/**
 * Routing through maps (issue 12, phase 2; docs/decisions/0011-http-routing.md)
 * against real HAProxy with real requests: adding a host rule, retargeting a
 * path and shifting a split's weights change traffic with the master's reload
 * count unchanged, and the map files on disk equal the live maps (`show map`)
 * afterwards; a rule to a new backend, and a header rule, reload, and say why
 * (in the pass and in `node-haproxy plan`). Rule ids are hashes of the map
 * keys: a host rule inserted at the top or removed from the middle is a few
 * single entries, and a restarted controller adopts the maps unchanged.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLAN_EXIT_CODES } from '../../src/plan/explain.js';
import { routingFrontendYaml, backendYaml, startTestController, type ControllerFixture } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { httpGet, startUpstreams } from '../helpers/upstream.js';
import { RuntimeApi } from '../../src/haproxy/runtime.js';
import { hash53, isMapFile, parseMap, RULE_ID_BASE, RULE_ID_SPACE } from '../../src/render/routing-maps.js';
import { runCli } from '../helpers/cli.js';

const frontend = routingFrontendYaml;

const BASE = `
    - { host: api.test, backend: api }
    - { pathPrefix: /svc, backend: api }
    - matches: { path: { type: PathPrefix, value: /split } }
      backends: [{ name: api, weight: 90 }, { name: canary, weight: 10 }]
`;

async function fixture(t: TestContext) {
  const up = await startUpstreams(t, 'app', 'api', 'canary', 'extra');
  const port = await freePort();
  const backends = ['app', 'api', 'canary'].map((n) => backendYaml(n, [{ name: 'm1', port: up[n]!.port }])).join('---\n');
  const fx = await startTestController(t, { 'backends.yaml': backends, 'web.yaml': frontend(port, BASE) });
  return { fx, port, up };
}

const to = async (port: number, path: string, host = 'x.test'): Promise<string> => (await httpGet(port, path, 3000, { host })).body;

/** Writes the Frontend's rules and waits for the pass that applies them. */
async function change(fx: ControllerFixture, port: number, rules: string) {
  const pass = fx.nextPass((p) => p.kind !== 'noop' && p.kind !== 'waiting');
  await fx.write('web.yaml', frontend(port, rules));
  return pass;
}

/** Every map file on disk, compared with what HAProxy serves (`show map`). */
async function assertDiskEqualsLive(fx: ControllerFixture): Promise<number> {
  const api = new RuntimeApi({ socketPath: join(fx.stateDir, 'admin.sock') });
  const files = fx.controller.reconciler.runningRendered()?.files ?? new Map<string, string>();
  let checked = 0;
  for (const rel of [...files.keys()].filter(isMapFile)) {
    const disk = parseMap(await readFile(join(fx.stateDir, rel), 'utf8'));
    const live = (await api.execute(`show map ${join(fx.stateDir, rel)}`))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.trim().split(/\s+/).slice(1) as [string, string]);
    const sort = (x: [string, string][]) => x.map((e) => e.join(' ')).sort();
    assert.deepEqual(sort(live), sort(disk), `${rel}: live map differs from the file on disk`);
    checked++;
  }
  return checked;
}

test('adding a host rule, retargeting a path and shifting weights apply at run time: no reload, files equal live maps', async (t) => {
  const { fx, port } = await fixture(t);
  const sup = fx.controller.supervisor;
  const reloads = await sup.reloadCount();
  assert.equal(await to(port, '/', 'api.test'), 'api');
  assert.equal(await to(port, '/svc/x'), 'api');
  assert.equal(await to(port, '/', 'new.test'), 'app');

  // Add a host rule (listed first: precedence, not list order, decides).
  let rules = `    - { host: new.test, backend: canary }\n${BASE}`;
  let p = await change(fx, port, rules);
  assert.equal(p.kind, 'runtime', JSON.stringify(p));
  assert.match(p.summary ?? '', /map update \(\d+ entries/);
  assert.equal(await to(port, '/', 'new.test'), 'canary');
  assert.equal(await to(port, '/', 'api.test'), 'api', 'the other rules still route');

  // Retarget a path to another existing backend.
  rules = rules.replace('{ pathPrefix: /svc, backend: api }', '{ pathPrefix: /svc, backend: canary }');
  p = await change(fx, port, rules);
  assert.equal(p.kind, 'runtime', JSON.stringify(p));
  assert.equal(await to(port, '/svc/x'), 'canary');
  assert.equal(await to(port, '/svcx'), 'app', '/svcx is not under /svc');

  // Shift the split: 90/10 → 50/50 → 0/100, within ±5% after the runtime shift. 3,000 requests, not 1,000: at 50/50 one
  // standard deviation of 1,000 is 1.6%, so ±5% failed about once in 300 runs by chance alone; over 3,000 it is 5.5 deviations.
  const SAMPLE = 3000;
  for (const [a, c] of [
    [50, 50],
    [0, 100],
  ] as const) {
    rules = rules.replace(
      /backends: \[\{ name: api, weight: \d+ \}, \{ name: canary, weight: \d+ \}\]/,
      `backends: [{ name: api, weight: ${a} }, { name: canary, weight: ${c} }]`,
    );
    p = await change(fx, port, rules);
    assert.equal(p.kind, 'runtime', JSON.stringify(p));
    const counts = new Map<string, number>();
    for (let i = 0; i < SAMPLE; i++) {
      const b = await to(port, '/split/x');
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    t.diagnostic(`${a}/${c}: ${JSON.stringify([...counts])}`);
    const within = (name: string, weight: number) => {
      const got = counts.get(name) ?? 0;
      const want = (weight / 100) * SAMPLE;
      assert.ok(Math.abs(got - want) <= 0.05 * SAMPLE, `${name} got ${got} of ${SAMPLE} (want ${want} ± ${0.05 * SAMPLE})`);
    };
    within('api', a);
    within('canary', c);
  }

  // Removing a rule is a runtime change too.
  rules = rules.replace('    - { host: new.test, backend: canary }\n', '');
  p = await change(fx, port, rules);
  assert.equal(p.kind, 'runtime', JSON.stringify(p));
  assert.equal(await to(port, '/', 'new.test'), 'app');

  assert.equal(await sup.reloadCount(), reloads, 'the master did not reload');
  assert.equal(await assertDiskEqualsLive(fx), 3, 'three maps checked');
});

test('a rule to a new backend, or a header rule, reloads and says why', async (t) => {
  const { fx, port, up } = await fixture(t);
  const sup = fx.controller.supervisor;
  const reloads = await sup.reloadCount();
  const backends = ['app', 'api', 'canary', 'extra'].map((n) => backendYaml(n, [{ name: 'm1', port: up[n]!.port }])).join('---\n');
  let p = fx.nextPass((x) => x.kind !== 'noop' && x.kind !== 'waiting');
  await fx.write('backends.yaml', backends);
  await p; // the new Backend alone: a reload (a new backend section)
  const afterBackend = await sup.reloadCount();
  assert.ok(afterBackend > reloads);
  // Now that it runs, routing a rule to it is a map change.
  p = change(fx, port, `    - { host: extra.test, backend: extra }\n${BASE}`);
  assert.equal((await p).kind, 'runtime');
  assert.equal(await to(port, '/', 'extra.test'), 'extra');
  assert.equal(await sup.reloadCount(), afterBackend);

  // A header rule is in haproxy.cfg: a reload, with the reason naming the rule.
  const r = await change(fx, port, `    - { header: { name: X-Env, value: beta }, backend: canary }\n${BASE}`);
  assert.equal(r.kind, 'reload');
  assert.ok(
    r.reasons.some((x) => /rule 0 uses a header match, which is routed by ACL/.test(x)),
    r.reasons.join('; '),
  );
  assert.equal((await httpGet(port, '/svc/x', 3000, { 'x-env': 'beta' })).body, 'canary');
  assert.equal(await to(port, '/svc/x'), 'api');
  assert.equal(await assertDiskEqualsLive(fx), 3);
});

test('a rule to a backend HAProxy does not run yet reloads: "new backend"', async (t) => {
  const { fx, port, up } = await fixture(t);
  const p = fx.nextPass((x) => x.kind !== 'noop' && x.kind !== 'waiting');
  // One file, one pass: the new Backend and the rule that routes to it.
  await fx.write(
    'web.yaml',
    `${backendYaml('extra', [{ name: 'm1', port: up.extra!.port }])}---\n${frontend(port, `    - { host: extra.test, backend: extra }\n${BASE}`)}`,
  );
  const r = await p;
  assert.equal(r.kind, 'reload', JSON.stringify(r));
  assert.ok(
    r.reasons.some((x) => x.startsWith('new backend default_extra')),
    r.reasons.join('; '),
  );
  assert.equal(await to(port, '/', 'extra.test'), 'extra');
  assert.equal(await assertDiskEqualsLive(fx), 3);
});

/** The live entries of the frontend's maps: `<map kind> <key> <value>` → the entry's address in HAProxy (`show map`). */
async function liveEntries(fx: ControllerFixture): Promise<Map<string, string>> {
  const api = new RuntimeApi({ socketPath: join(fx.stateDir, 'admin.sock') });
  const out = new Map<string, string>();
  for (const kind of ['exact', 'routes', 'backends']) {
    const reply = await api.execute(`show map ${join(fx.stateDir, `maps/default_web.${kind}.map`)}`);
    for (const line of reply.split('\n').filter((l) => l.trim() !== '')) {
      const [addr, key, value] = line.trim().split(/\s+/);
      out.set(`${kind} ${key} ${value}`, addr!);
    }
  }
  return out;
}

/** How many entries kept their place in HAProxy (same key, value and address): all of them unless a map was swapped whole. */
const kept = (before: Map<string, string>, after: Map<string, string>): { same: number; common: number } => {
  const common = [...before.keys()].filter((k) => after.has(k));
  return { same: common.filter((k) => before.get(k) === after.get(k)).length, common: common.length };
};

test('small diffs apply as single map entries (add, set, del), no map swapped, no reload; show map equals the files after each', async (t) => {
  const { fx, port } = await fixture(t);
  const sup = fx.controller.supervisor;
  const reloads = await sup.reloadCount();
  const split = (a: number, c: number) => `    - matches: { path: { type: PathPrefix, value: /split } }
      backends: [{ name: api, weight: ${a} }, { name: canary, weight: ${c} }]
`;
  const base = BASE.replace(/ {4}- matches: \{ path: \{ type: PathPrefix, value: \/split[^]*$/, split(100, 0));
  let live = await liveEntries(fx);
  /** Applies the rules; asserts a runtime pass, the entry count, whether the entries in common stayed in place, and disk = live. */
  const step = async (rules: string, entries: number, inPlace: boolean): Promise<void> => {
    const p = await change(fx, port, rules);
    assert.equal(p.kind, 'runtime', JSON.stringify(p));
    assert.match(p.summary ?? '', new RegExp(`^map update \\(${entries} entries`), p.summary);
    const now = await liveEntries(fx);
    const k = kept(live, now);
    if (inPlace) assert.equal(k.same, k.common, 'single entries: every other entry is the same live entry');
    else assert.equal(k.same < k.common, true, 'a whole swap: new live entries');
    live = now;
    assert.equal(await assertDiskEqualsLive(fx), 3);
  };
  // 90/10 → 100/0 moves the split's ranges: the backends map is swapped whole (1 entry per other rule too).
  await step(base, 3, false);

  // A rule added at the end: its backend range, then its key.
  let rules = `${base}    - { host: new.test, backend: canary }\n`;
  await step(rules, 2, true);
  assert.equal(await to(port, '/', 'new.test'), 'canary');

  // Retargeted: one set map.
  rules = rules.replace('{ host: new.test, backend: canary }', '{ host: new.test, backend: api }');
  await step(rules, 1, true);
  assert.equal(await to(port, '/', 'new.test'), 'api');

  // 100/0 → 0/100 keeps the one range: one set map.
  rules = rules.replace(split(100, 0), split(0, 100));
  await step(rules, 1, true);
  for (let i = 0; i < 20; i++) assert.equal(await to(port, '/split/x'), 'canary');

  // Removed: the key, then the range.
  rules = rules.replace('    - { host: new.test, backend: api }\n', '');
  await step(rules, 2, true);
  assert.equal(await to(port, '/', 'new.test'), 'app');
  assert.equal(await to(port, '/', 'api.test'), 'api', 'the other rules still route');
  assert.equal(await sup.reloadCount(), reloads, 'the master did not reload');
});

test('with many host rules, one inserted at the top and one removed from the middle are single entries: no reload, no swap; a restarted controller changes nothing', async (t) => {
  const up = await startUpstreams(t, 'app', 'api', 'canary');
  const port = await freePort();
  const backends = ['app', 'api', 'canary'].map((n) => backendYaml(n, [{ name: 'm1', port: up[n]!.port }])).join('---\n');
  const N = 12;
  const hosts = Array.from({ length: N }, (_, i) => `h${i}.test`);
  const target = (i: number): string => (i % 2 === 0 ? 'api' : 'canary');
  const yaml = (list: { host: string; backend: string }[]): string => list.map((r) => `    - { host: ${r.host}, backend: ${r.backend} }\n`).join('');
  let rules = hosts.map((host, i) => ({ host, backend: target(i) }));
  const fx = await startTestController(t, { 'backends.yaml': backends, 'web.yaml': frontend(port, yaml(rules)) });
  const sup = fx.controller.supervisor;
  const reloads = await sup.reloadCount();
  /** Every listed host goes to its backend; the others fall to the default backend. */
  const assertRouting = async (list: { host: string; backend: string }[], gone: string[]): Promise<void> => {
    for (const r of list) assert.equal(await to(port, '/x', r.host), r.backend, r.host);
    for (const host of gone) assert.equal(await to(port, '/x', host), 'app', `${host} (removed) falls to the default backend`);
  };
  await assertRouting(rules, ['top.test']);
  let live = await liveEntries(fx);
  assert.equal(live.size, 2 * N, 'one key and one range per rule');
  /** Applies the rules: a runtime pass of `entries` single entries in the two maps, every other live entry kept in place. */
  const step = async (list: { host: string; backend: string }[], entries: number): Promise<void> => {
    const p = await change(fx, port, yaml(list));
    assert.equal(p.kind, 'runtime', JSON.stringify(p));
    // A swap would write every entry of a changed map (N keys, N ranges); single entries are one each.
    assert.equal(p.summary, `map update (${entries} entries in 2 maps)`);
    const now = await liveEntries(fx);
    const k = kept(live, now);
    assert.equal(k.same, k.common, 'every other entry is the same live entry (no map swapped)');
    live = now;
    assert.equal(await assertDiskEqualsLive(fx), 3, 'show map equals the files on disk');
  };

  // Inserted at the top of the list: its range, then its key.
  rules = [{ host: 'top.test', backend: 'canary' }, ...rules];
  await step(rules, 2);
  await assertRouting(rules, []);
  // Removed from the middle: its key, then its range.
  const middle = rules.splice(Math.floor(rules.length / 2), 1)[0]!;
  await step(rules, 2);
  await assertRouting(rules, [middle.host]);
  // Both at once, and a retarget: two keys under two exact hosts, their ranges, one set map.
  const second = rules.splice(3, 1)[0]!;
  rules = [{ host: 'first.test', backend: 'api' }, ...rules.map((r) => (r.host === 'h0.test' ? { ...r, backend: 'canary' } : r))];
  await step(rules, 5);
  await assertRouting(rules, [middle.host, second.host]);
  assert.equal(await sup.reloadCount(), reloads, 'the master did not reload');

  // Ids come from the declared rules alone: a restarted controller adopts HAProxy and its maps with no change.
  await fx.controller.stop({ stopHaproxy: false });
  const again = await fx.restart();
  await again.reconciler.settled();
  assert.equal(again.reconciler.last?.kind, 'noop', `adoption plans no change: ${JSON.stringify(again.reconciler.last)}`);
  assert.equal(await again.supervisor.reloadCount(), reloads, 'adoption reloads nothing');
  const adopted = await liveEntries(fx);
  assert.equal(kept(live, adopted).same, live.size, 'the live maps are untouched');
  assert.equal(adopted.size, live.size);
  await assertRouting(rules, [middle.host, second.host]);
});

test('a map entry HAProxy refuses falls back to one reload that serves the desired routing', async (t) => {
  const { fx, port } = await fixture(t);
  const sup = fx.controller.supervisor;
  assert.equal(await to(port, '/svc/x'), 'api');
  // Behind the controller's back: the /svc rule's backend range is gone from the live map, so `set map` answers "entry not found."
  const api = new RuntimeApi({ socketPath: join(fx.stateDir, 'admin.sock') });
  const backendsMap = join(fx.stateDir, 'maps/default_web.backends.map');
  // The /svc rule's id is the hash of its map key `/svc/` (render/routing-maps.ts ruleIds): slots id*1000..id*1000+999.
  const id = RULE_ID_BASE + (hash53('routes /svc/') % RULE_ID_SPACE);
  const svc = `${id * 1000}:${id * 1000 + 999}`;
  assert.ok(
    parseMap(await readFile(backendsMap, 'utf8')).some(([k, v]) => k === svc && v === 'default_api'),
    'the /svc rule has its range',
  );
  assert.equal((await api.execute(`del map ${backendsMap} ${svc}`)).trim(), '');
  const reloads = await sup.reloadCount();
  const p = await change(fx, port, BASE.replace('{ pathPrefix: /svc, backend: api }', '{ pathPrefix: /svc, backend: canary }'));
  assert.equal(p.kind, 'reload', JSON.stringify(p));
  assert.ok(
    p.reasons.some((r) =>
      /^routing map update failed \(set map maps\/default_web\.backends\.map .* failed .*entry not found.*\); falling back to a reload$/.test(r),
    ),
    p.reasons.join('; '),
  );
  assert.equal(await sup.reloadCount(), reloads + 1, 'one reload');
  assert.equal(await to(port, '/svc/x'), 'canary');
  assert.equal(await to(port, '/', 'api.test'), 'api');
  assert.equal(await assertDiskEqualsLive(fx), 3, 'the reload loaded the files: live maps equal them again');
});

test('node-haproxy plan says "runtime: map update" for a host rule and names the header rule that reloads', async (t) => {
  const { fx, port } = await fixture(t);
  const repo = await mkdtemp(join(tmpdir(), 'nh-plan-maps-'));
  t.after(() => rm(repo, { recursive: true, force: true }));
  await cp(fx.manifests, repo, { recursive: true });
  await writeFile(join(repo, 'web.yaml'), frontend(port, `    - { host: new.test, backend: canary }\n${BASE}`));
  let r = await cli('plan', repo, '--state-dir', fx.stateDir);
  assert.equal(r.status, PLAN_EXIT_CODES.runtime, r.stdout + r.stderr);
  // Listed first, the new rule is still two single entries (its id is its key's hash): its backends range, then its key.
  assert.match(r.stdout, /runtime: map update: add map maps\/default_web\.backends\.map \d+000:\d+999 default_canary\n/);
  assert.match(r.stdout, /runtime: map update: add map maps\/default_web\.routes\.map new\.test\/ \d+\n/);
  assert.doesNotMatch(r.stdout, /replace maps/);
  // A split whose ranges move (90/10 → 50/50) swaps the backends map whole.
  await writeFile(
    join(repo, 'web.yaml'),
    frontend(port, BASE.replace('weight: 90 }, { name: canary, weight: 10 }', 'weight: 50 }, { name: canary, weight: 50 }')),
  );
  r = await cli('plan', repo, '--state-dir', fx.stateDir);
  assert.equal(r.status, PLAN_EXIT_CODES.runtime, r.stdout + r.stderr);
  assert.match(r.stdout, /runtime: map update \(\d+ entries\): replace maps\/default_web\.backends\.map/);
  await writeFile(join(repo, 'web.yaml'), frontend(port, `    - { header: { name: X-Env, value: beta }, backend: canary }\n${BASE}`));
  r = await cli('plan', repo, '--state-dir', fx.stateDir);
  assert.equal(r.status, PLAN_EXIT_CODES.reload, r.stdout + r.stderr);
  assert.match(r.stdout, /reload: frontend default_web: rule 0 uses a header match, which is routed by ACL/);
});

test('node-haproxy plan lists which rules are routed by map (runtime) and which by ACL (reload on change)', async (t) => {
  const { fx, port } = await fixture(t);
  const repo = await mkdtemp(join(tmpdir(), 'nh-plan-routing-'));
  t.after(() => rm(repo, { recursive: true, force: true }));
  await cp(fx.manifests, repo, { recursive: true });
  await writeFile(join(repo, 'web.yaml'), frontend(port, `    - { header: { name: X-Env, value: beta }, backend: canary }\n${BASE}`));
  const r = await cli('plan', repo, '--state-dir', fx.stateDir);
  assert.equal(r.status, PLAN_EXIT_CODES.reload, r.stdout + r.stderr);
  assert.match(r.stdout, /\nRouting \(a change to a map rule applies at run time; to an ACL rule, it reloads\):\n/);
  assert.match(r.stdout, /\n {2}Frontend default\/web: rules 1, 2, 3 by map \(runtime\)\n/);
  assert.match(r.stdout, /\n {2}Frontend default\/web: rule 0 by ACL \(reload on change\): uses a header match, which is routed by ACL\n/);
  const json = await cli('plan', repo, '--state-dir', fx.stateDir, '--output', 'json');
  assert.deepEqual(JSON.parse(json.stdout).routing, [
    { frontend: 'default/web', map: [1, 2, 3], acl: [{ rule: 0, why: 'uses a header match, which is routed by ACL' }] },
  ]);
});

const cli = (...args: string[]) => runCli(args);
