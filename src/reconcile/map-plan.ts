/**
 * The map planner: running + desired routing map files → runtime map
 * operations, or reasons to reload. Pure.
 *
 * Map files (render/routing-maps.ts) are auxiliary files under `maps/`. Maps
 * whose content changed, and that HAProxy already loaded, change at run time:
 * as a few single entries (`add map`, `set map`, `del map`) when no request
 * can see a mix of old and new between them (planEntryOps), else each as a
 * whole new version (`prepare map`, `add map @<ver>` per entry, `commit map
 * @<ver>`): requests see the old map or the new one, never half of each. What reloads, with the reason: a map file added or removed (a
 * frontend started or stopped routing by maps: haproxy.cfg changed too), and
 * a backends map naming a backend the running configuration does not have
 * ("new backend X": `use_backend` can only reach a backend HAProxy loaded).
 */
import { posix } from 'node:path';
import type { ConfigModel } from '../render/model.js';
import { isMapFile, mapFile, parseMap, type MapKind } from '../render/routing-maps.js';

/**
 * A map operation: `replace-map` swaps the whole map (a new version, atomic);
 * `add-map`, `set-map` and `del-map` change one entry of the live version
 * (`add map`, `set map`, `del map`), planned only when no request can see a
 * state between two of them that neither the old nor the new maps give
 * (planEntryOps below, decision 0011 "Small diffs").
 */
export type MapOp =
  | {
      op: 'replace-map';
      /** Path relative to the state directory (the auxiliary file). */
      file: string;
      /** Absolute path: HAProxy names a map by the file it loaded. */
      path: string;
      entries: [string, string][];
    }
  | { op: 'add-map' | 'set-map' | 'del-map'; file: string; path: string; key: string; /** Empty for del-map. */ value: string };

/** Most single-entry operations for one frontend's maps before the planner swaps whole maps instead. */
export const MAX_ENTRY_OPS = 16;

/** How many map entries an operation writes (a whole map for replace-map, one otherwise). */
export const mapOpEntries = (o: MapOp): number => (o.op === 'replace-map' ? o.entries.length : 1);

export interface MapPlan {
  ops: MapOp[];
  reasons: string[];
}

/** `runtime: map update (N entries)`: the summary of map operations. */
export function summarizeMaps(ops: readonly MapOp[]): string {
  const n = ops.reduce((a, o) => a + mapOpEntries(o), 0);
  const files = new Set(ops.map((o) => o.file)).size;
  return `map update (${n} entries in ${files} map${files === 1 ? '' : 's'})`;
}

export function describeMapOp(o: MapOp): string {
  if (o.op === 'replace-map') return `replace map ${o.file} (${o.entries.length} entries: prepare, add, commit)`;
  return `${o.op.replace('-map', '')} map ${o.file} ${o.key}${o.op === 'del-map' ? '' : ` ${o.value}`}`;
}

/**
 * Map operations for the map files that differ between `running` and `desired`
 * (`changed`: relative paths, from changedFiles), and reasons for those that
 * cannot change at run time.
 */
export function planMaps(input: {
  changed: readonly string[];
  desired: ReadonlyMap<string, string> | undefined;
  running: ReadonlyMap<string, string> | undefined;
  runningModel: Pick<ConfigModel, 'backends'>;
  stateDir: string;
}): MapPlan {
  const ops: MapOp[] = [];
  const reasons: string[] = [];
  const known = new Set(input.runningModel.backends.map((b) => b.name));
  /** Changed map files that can change at run time, by frontend (the proxy name in `maps/<proxy>.<kind>.map`). */
  const byProxy = new Map<string, string[]>();
  for (const file of input.changed) {
    if (!isMapFile(file)) continue;
    const want = input.desired?.get(file);
    const had = input.running?.get(file);
    if (want === undefined || had === undefined) {
      reasons.push(`map ${file} ${want === undefined ? 'removed' : 'added'} (routing by maps started or stopped on a frontend)`);
      continue;
    }
    const entries = parseMap(want);
    if (file.endsWith('.backends.map')) {
      const missing = [...new Set(entries.map(([, v]) => v).filter((v) => !known.has(v)))];
      if (missing.length > 0) {
        for (const b of missing) reasons.push(`new backend ${b} (a rule routes to it; HAProxy loads a backend only on a reload)`);
        continue;
      }
    }
    const proxy = proxyOfMap(file);
    byProxy.set(proxy, [...(byProxy.get(proxy) ?? []), file]);
  }
  if (reasons.length > 0) return { ops, reasons };
  for (const [proxy, files] of byProxy) {
    const content = (m: ReadonlyMap<string, string> | undefined, kind: MapKind): [string, string][] => parseMap(m?.get(mapFile(proxy, kind)) ?? '');
    const small = planEntryOps(
      { exact: content(input.running, 'exact'), routes: content(input.running, 'routes'), backends: content(input.running, 'backends') },
      { exact: content(input.desired, 'exact'), routes: content(input.desired, 'routes'), backends: content(input.desired, 'backends') },
    );
    if (small !== undefined) {
      for (const e of small) {
        const file = mapFile(proxy, e.kind);
        ops.push({ op: e.op, file, path: posix.join(input.stateDir, file), key: e.key, value: e.value });
      }
      continue;
    }
    for (const file of files) ops.push({ op: 'replace-map', file, path: posix.join(input.stateDir, file), entries: parseMap(input.desired!.get(file)!) });
  }
  return { ops, reasons };
}

/**
 * Why a map-routed frontend's haproxy.cfg text changed, rule by rule: each rule
 * haproxy.cfg holds (an ACL rule, or filters) that is new or different,
 * e.g. "frontend default_web: rule 2 uses a header match, which is routed by ACL".
 */
export function aclRuleReasons(desired: Pick<ConfigModel, 'aclRules' | 'frontends'>, running: Pick<ConfigModel, 'aclRules' | 'frontends'>): string[] {
  const out: string[] = [];
  const runningFe = new Map(running.frontends.map((f) => [f.name, JSON.stringify(f)]));
  for (const [name, notes] of Object.entries(desired.aclRules ?? {})) {
    const fe = desired.frontends.find((f) => f.name === name);
    if (!fe || runningFe.get(name) === JSON.stringify(fe)) continue;
    const had = new Set((running.aclRules?.[name] ?? []).map((n) => n.sig));
    for (const n of notes) if (!had.has(n.sig)) out.push(`frontend ${name}: rule ${n.index} ${n.why}`);
  }
  return out;
}

/** The frontend (proxy name) of a map file `maps/<proxy>.<kind>.map`. */
const proxyOfMap = (file: string): string => posix.basename(file).replace(/\.(exact|routes|backends)\.map$/, '');

/** One frontend's three maps, as `key value` entries. */
export interface FrontendMaps {
  exact: [string, string][];
  routes: [string, string][];
  backends: [string, string][];
}

export interface EntryOp {
  op: 'add-map' | 'set-map' | 'del-map';
  kind: MapKind;
  key: string;
  value: string;
}

/** Per key of one map: added, changed or removed (undefined when a map holds a key twice: not ours, swap it whole). */
function diffEntries(had: [string, string][], want: [string, string][]): { key: string; from?: string; to?: string }[] | undefined {
  const a = new Map(had);
  const b = new Map(want);
  if (a.size !== had.length || b.size !== want.length) return undefined;
  const out: { key: string; from?: string; to?: string }[] = [];
  for (const [k, v] of b) if (a.get(k) !== v) out.push({ key: k, ...(a.has(k) ? { from: a.get(k)! } : {}), to: v });
  for (const [k, v] of a) if (!b.has(k)) out.push({ key: k, from: v });
  return out;
}

const entryOp = (kind: MapKind, d: { key: string; from?: string; to?: string }): EntryOp =>
  d.to === undefined ? { op: 'del-map', kind, key: d.key, value: '' } : { op: d.from === undefined ? 'add-map' : 'set-map', kind, key: d.key, value: d.to };

/** The host part of a rule key (`<host><path>`): the exact host, `.suffix`, or empty. */
const keyHost = (key: string): string => key.slice(0, Math.max(0, key.indexOf('/')));

/**
 * Single-entry operations that take one frontend's maps from `running` to
 * `desired` such that every request, at every step, is routed as by the old
 * maps or by the new ones (never by a mix), or undefined when only a whole-map
 * swap can promise that (or the diff is larger than MAX_ENTRY_OPS).
 *
 * A request's rule is the first key of its lookup chain present in the exact
 * or prefix map (its host, its suffixes, no host; exact then prefix), and its
 * backend is the range of `ruleId*1000 + slot` in the backends map. So:
 * - rule keys: one changed key is atomic for every request; several are safe
 *   only when no request looks up two of them: each is under a different
 *   exact host (a wildcard or host-less key is in many hosts' chains);
 * - backend ranges of a rule id no key names before the change (a new rule)
 *   are written first, and those no key names after it (a removed rule) last:
 *   no request reaches them in between;
 * - a rule id named before and after: only one `set map` of one range whose
 *   key stays (a retarget, a 100/0 ↔ 0/100 shift), and no changed key names
 *   that id. A split whose ranges move (90/10 → 50/50) would leave slots with
 *   no backend or two between steps: swapped whole.
 */
export function planEntryOps(running: FrontendMaps, desired: FrontendMaps, max = MAX_ENTRY_OPS): EntryOp[] | undefined {
  const exact = diffEntries(running.exact, desired.exact);
  const routes = diffEntries(running.routes, desired.routes);
  const backends = diffEntries(running.backends, desired.backends);
  if (!exact || !routes || !backends) return undefined;
  const keys = [...exact.map((d) => entryOp('exact', d)), ...routes.map((d) => entryOp('routes', d))];
  if (keys.length + backends.length > max) return undefined;
  if (keys.length > 1) {
    const hosts = keys.map((k) => keyHost(k.key));
    if (hosts.some((h) => h === '' || h.startsWith('.')) || new Set(hosts).size !== hosts.length) return undefined;
  }
  const ids = (m: [string, string][][]): Set<string> => new Set(m.flat().map(([, v]) => v));
  const before = ids([running.exact, running.routes]);
  const after = ids([desired.exact, desired.routes]);
  const touched = new Set([...exact, ...routes].flatMap((d) => [d.from, d.to]).filter((v): v is string => v !== undefined));
  const byId = new Map<string, { key: string; from?: string; to?: string }[]>();
  for (const d of backends) {
    const m = /^(\d+):(\d+)$/.exec(d.key);
    if (!m) return undefined;
    const id = String(Math.floor(Number(m[1]) / 1000));
    if (String(Math.floor(Number(m[2]) / 1000)) !== id) return undefined;
    byId.set(id, [...(byId.get(id) ?? []), d]);
  }
  const first: EntryOp[] = [];
  const last: EntryOp[] = [];
  for (const [id, ds] of byId) {
    if (!before.has(id)) first.push(...ds.map((d) => entryOp('backends', d)));
    else if (!after.has(id)) last.push(...ds.map((d) => entryOp('backends', d)));
    else if (ds.length === 1 && ds[0]!.from !== undefined && ds[0]!.to !== undefined && !touched.has(id)) first.push(entryOp('backends', ds[0]!));
    else return undefined;
  }
  // Within a group, deletions before additions: a range key is never live twice.
  const order = (xs: EntryOp[]): EntryOp[] => [...xs.filter((x) => x.op === 'del-map'), ...xs.filter((x) => x.op !== 'del-map')];
  return [...order(first), ...keys, ...order(last)];
}
