/**
 * The map planner: running + desired routing map files → runtime map
 * operations, or reasons to reload. Pure.
 *
 * Map files (render/routing-maps.ts) are auxiliary files under `maps/`. A map
 * whose content changed, and that HAProxy already loaded, is replaced at run
 * time as a whole new version (`prepare map`, `add map @<ver>` per entry,
 * `commit map @<ver>`): requests see the old map or the new one, never half
 * of each. What reloads, with the reason: a map file added or removed (a
 * frontend started or stopped routing by maps: haproxy.cfg changed too), and
 * a backends map naming a backend the running configuration does not have
 * ("new backend X": `use_backend` can only reach a backend HAProxy loaded).
 */
import { posix } from 'node:path';
import type { ConfigModel } from '../render/model.js';
import { isMapFile, parseMap } from '../render/routing-maps.js';

export interface MapOp {
  op: 'replace-map';
  /** Path relative to the state directory (the auxiliary file). */
  file: string;
  /** Absolute path: HAProxy names a map by the file it loaded. */
  path: string;
  entries: [string, string][];
}

export interface MapPlan {
  ops: MapOp[];
  reasons: string[];
}

/** `runtime: map update (N entries)`: the summary of map operations. */
export function summarizeMaps(ops: readonly MapOp[]): string {
  const n = ops.reduce((a, o) => a + o.entries.length, 0);
  return `map update (${n} entries in ${ops.length} map${ops.length === 1 ? '' : 's'})`;
}

export function describeMapOp(o: MapOp): string {
  return `replace map ${o.file} (${o.entries.length} entries: prepare, add, commit)`;
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
    ops.push({ op: 'replace-map', file, path: posix.join(input.stateDir, file), entries });
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
