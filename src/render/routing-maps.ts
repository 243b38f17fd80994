/**
 * HTTP routing through HAProxy maps (issue 12, phase 2; docs/decisions/0011-http-routing.md). Pure.
 *
 * Host and path rules ("map-routable": an exact or `*.suffix` host and an
 * Exact or PathPrefix path, nothing else) are entries of two map files that
 * yield the winning rule's id; their backends (one, or a weighted split over
 * 1,000 slots) are ranges of a third, `map_int` keyed by `ruleId*1000 + slot`
 * (the backends of ACL rules stay `use_backend` lines in haproxy.cfg). haproxy.cfg holds only fixed lookups, the ACL rules
 * (headers, query parameters, method, regular expressions) and the filters,
 * so adding, removing or retargeting a host/path rule, or changing a split's
 * weights, changes map files only: reconcile/map-plan.ts applies that at run
 * time, no reload.
 *
 * Rule ids, stable across map-only changes:
 * - ACL rules: their position among the ACL rules (`a<k>_...` ACL names; any
 *   change to an ACL rule reloads anyway);
 * - map-routable rules (with or without filters or an IP list): RULE_ID_BASE + a hash of the
 *   rule's map key (`exact`/`routes` and `<hostkey><path>`), whatever its list
 *   position, so inserting or removing a rule anywhere changes no other rule's
 *   id, key or backend ranges (single map entries at run time), and a rule
 *   with filters keeps the id its haproxy.cfg lines name. Recomputed from the
 *   declared rules alone (no state). Only two rules with the same key (the
 *   later in precedence is shadowed) or a genuine hash collision make an id
 *   depend on another rule: see ruleIds.
 *
 * Lookups, in the precedence of decision 0011: ACL rules in list order; then
 * for the request's host, then its suffixes (`.b.example.com`, `.example.com`,
 * ... : at most WILDCARD_LEVELS labels stripped, longest suffix first), then no
 * host: the Exact-path map (`map_str`), then the PathPrefix map (`map_beg`,
 * longest prefix whatever the line order). A PathPrefix `/v1` is the key
 * `<host>/v1/` looked up with `<host><path>/`, so `/v1` and `/v1/x` match and
 * `/v1x` does not.
 */
import { proxyName } from '../model/naming.js';
import { hasIpList, isMapRoutable, normaliseRule, precedence, weightSlots, type NormalRule } from '../model/routing.js';
import type { RouteRule } from '../model/types.js';
import { ruleIpPolicy } from './policy.js';
import { conditions, filterLines, type RoutingLines } from './routing.js';

export const MAPS_DIR = 'maps';
/**
 * Map-routable rules' ids are RULE_ID_BASE + (hash mod RULE_ID_SPACE): 13 digits,
 * far above ACL rules' positions. `id*1000 + 999` stays below 2e15, inside
 * JavaScript's exact integers (2^53) and HAProxy's 64-bit ones (`int()`,
 * `-m int`, `mul`/`add`, `map_*_int` values and `map_int` range keys, in the
 * files and through `add map`/`set map`: measured on 2.6.12 and 3.0.11).
 */
export const RULE_ID_BASE = 1_000_000_000_000;
export const RULE_ID_SPACE = 1_000_000_000_000;
/** Most leading labels stripped from the Host when looking for a `*.suffix` rule. */
export const WILDCARD_LEVELS = 8;

export type MapKind = 'exact' | 'routes' | 'backends';

/** Relative path (under the state directory) of a frontend's map file. */
export const mapFile = (proxy: string, kind: MapKind): string => `${MAPS_DIR}/${proxy}.${kind}.map`;

/** True for a path under the state directory that holds a routing map. */
export const isMapFile = (relativePath: string): boolean => relativePath.startsWith(`${MAPS_DIR}/`) && relativePath.endsWith('.map');

const RULE = 'txn.nh_rule';
const SLOT = 'txn.nh_slot';
const HOST = 'txn.nh_host';
const KEY = 'txn.nh_key';
const BACKEND = 'txn.nh_backend';

/** A frontend's rules have a host/path rule: it is routed by maps. */
export function usesMaps(rules: readonly RouteRule[]): boolean {
  return rules.some((r) => isMapRoutable(normaliseRule(r).matches));
}

export interface MapRouting extends RoutingLines {
  /** Map files by path relative to the state directory → content (one `key value` line each). */
  files: Map<string, string>;
  /** The id of each rule, by list index. */
  ids: number[];
  /** Rules haproxy.cfg names (ACL rules, rules with filters): why, for the planner's reload reasons. */
  aclRules: AclRuleNote[];
}

/** A rule rendered into haproxy.cfg: changing it reloads. `sig` identifies its content. */
export interface AclRuleNote {
  index: number;
  why: string;
  sig: string;
}

/** Why a rule is in haproxy.cfg rather than only in the maps, or undefined. */
export function aclReason(rule: RouteRule): string | undefined {
  const m = normaliseRule(rule).matches;
  if (m.headers?.length) return 'uses a header match, which is routed by ACL';
  if (m.queryParams?.length) return 'uses a query parameter match, which is routed by ACL';
  if (m.method !== undefined) return 'uses a method match, which is routed by ACL';
  if (m.path?.type === 'RegularExpression') return 'uses a regular expression path, which is routed by ACL';
  if ((rule.filters?.length ?? 0) > 0) return 'has filters, which haproxy.cfg applies';
  if (hasIpList(rule)) return 'has an IP allow/deny list, which haproxy.cfg applies';
  if (rule.timeouts?.request !== undefined) return 'has a request timeout, which haproxy.cfg sets';
  return undefined;
}

/** The map key of a rule's host: the host, `.suffix` for `*.suffix`, empty for none. */
const hostKey = (m: NormalRule['matches']): string => {
  const h = m.host?.toLowerCase();
  return h === undefined ? '' : h.startsWith('*.') ? h.slice(1) : h;
};

/** The map and key of a map-routable rule: `exact` `<hostkey><path>`, or `routes` `<hostkey><prefix>/` (a host alone is the prefix `/`). */
export function mapKey(m: NormalRule['matches']): { kind: 'exact' | 'routes'; key: string } {
  const path = m.path ?? { type: 'PathPrefix' as const, value: '/' };
  if (path.type === 'Exact') return { kind: 'exact', key: hostKey(m) + path.value };
  return { kind: 'routes', key: hostKey(m) + (path.value.endsWith('/') ? path.value : `${path.value}/`) };
}

/** A 53-bit string hash (cyrb53, public domain): deterministic, fast, not cryptographic (collisions are probed, see ruleIds). */
export function hash53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * The rule id of each rule, by list index (see the module comment). A
 * map-routable rule's id is RULE_ID_BASE + hash53(`<map> <key>`) mod
 * RULE_ID_SPACE. When that id is taken, the next free one (wrapping) is used,
 * the rules taken in one order that does not depend on list position: by
 * `<map> <key>`, then (same key) in precedence. So a shadowed duplicate of a
 * key gets the next id after the rule that holds the key, and of two different
 * keys with the same hash (for 1,000 rules, a chance of about n²/2/10^12 =
 * 5e-7) the smaller key keeps the hashed id: only then does an id depend on
 * another rule (and changing that other rule may then be a whole-map swap).
 */
export function ruleIds(rules: readonly RouteRule[], order: readonly number[] = precedence(rules), normal = rules.map(normaliseRule)): number[] {
  const ids: number[] = [];
  let acl = 0;
  normal.forEach((n, i) => {
    if (!isMapRoutable(n.matches)) ids[i] = acl++;
  });
  const routable = order
    .filter((i) => isMapRoutable(normal[i]!.matches))
    .map((i) => {
      const k = mapKey(normal[i]!.matches);
      const identity = `${k.kind} ${k.key}`;
      return { i, identity, home: hash53(identity) % RULE_ID_SPACE };
    });
  // Usually every rule has its own hashed id; the order below matters only when two share one.
  if (new Set(routable.map((r) => r.home)).size < routable.length) {
    routable.sort((a, b) => (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0));
  }
  const taken = new Set<number>();
  for (const { i, home } of routable) {
    let h = home;
    while (taken.has(h)) h = (h + 1) % RULE_ID_SPACE;
    taken.add(h);
    ids[i] = RULE_ID_BASE + h;
  }
  return ids;
}

/** The ACL lines, routing lines and map files of a frontend's rules (http mode), routed by maps. */
export function mapRoutingLines(namespace: string, proxy: string, rules: readonly RouteRule[], stateDir: string): MapRouting {
  const normal = rules.map(normaliseRule);
  const order = precedence(rules);
  const ids = ruleIds(rules, order, normal);
  const abs = (kind: MapKind): string => `${stateDir.replace(/\/$/, '')}/${mapFile(proxy, kind)}`;
  const acls: string[] = [];
  const routes: string[] = [];
  const exact = new Map<string, number>();
  const prefix = new Map<string, number>();
  const notFound = `!{ var(${RULE}) -m found }`;

  for (const i of order) {
    const m = normal[i]!.matches;
    if (!isMapRoutable(m)) {
      const c = conditions(ids[i]!, m, 'a');
      acls.push(...c.acls);
      routes.push(`http-request set-var(${RULE}) int(${ids[i]}) if ${notFound}${c.conds.length > 0 ? ` ${c.conds.join(' ')}` : ''}`);
      continue;
    }
    const { kind, key } = mapKey(m);
    const map = kind === 'exact' ? exact : prefix;
    if (!map.has(key)) map.set(key, ids[i]!);
  }
  const lookups = (cond: string): string[] => [
    `http-request set-var-fmt(${KEY}) %[var(${HOST})]%[path] if ${notFound}${cond}`,
    `http-request set-var(${RULE}) var(${KEY}),map_str_int(${abs('exact')}) if ${notFound}${cond}`,
    `http-request set-var-fmt(${KEY}) %[var(${HOST})]%[path]/ if ${notFound}${cond}`,
    `http-request set-var(${RULE}) var(${KEY}),map_beg_int(${abs('routes')}) if ${notFound}${cond}`,
  ];
  routes.push(`http-request set-var(${HOST}) req.hdr(host),field(1,:),lower if ${notFound}`);
  routes.push(...lookups(''));
  for (let level = 1; level <= WILDCARD_LEVELS; level++) {
    routes.push(`http-request set-var(${HOST}) var(${HOST}),regsub(^[.]?[^.]*,) if ${notFound}`);
    routes.push(...lookups(` { var(${HOST}) -m beg . }`));
  }
  routes.push(`http-request set-var-fmt(${KEY}) %[path] if ${notFound}`);
  routes.push(`http-request set-var(${RULE}) var(${KEY}),map_str_int(${abs('exact')}) if ${notFound}`);
  routes.push(`http-request set-var-fmt(${KEY}) %[path]/ if ${notFound}`);
  routes.push(`http-request set-var(${RULE}) var(${KEY}),map_beg_int(${abs('routes')}) if ${notFound}`);
  routes.push(`http-request set-var(${SLOT}) rand(1000) if { var(${RULE}) -m found }`);
  routes.push(`http-request set-var(${BACKEND}) var(${RULE}),mul(1000),add(${SLOT}),map_int(${abs('backends')}) if { var(${RULE}) -m found }`);

  // The winning rule's IP list answers 403 right after the lookup: before the frontend's CORS
  // preflight and basic auth (render/model.ts) and the rule's filters (a refused client gets no redirect).
  for (const i of order) {
    const ip = ruleIpPolicy(rules[i]!, `a${ids[i]}`, `{ var(${RULE}) -m int ${ids[i]} }`);
    acls.push(...ip.acls);
    routes.push(...ip.lines);
  }
  const lookup = routes.length;
  // Filters: ACL rules and map-routable rules with filters, by their (stable) id.
  const responses: string[] = [];
  const backendLines: string[] = [];
  const aclUses: string[] = [];
  for (const i of order) {
    const id = ids[i]!;
    const when = `{ var(${RULE}) -m int ${id} }`;
    filterLines(rules[i]!, normal[i]!, when, routes, responses);
    const backends = normal[i]!.backends;
    const acl = !isMapRoutable(normal[i]!.matches);
    weightSlots(backends.map((b) => b.weight)).forEach((slots, j) => {
      if (!slots) return;
      const target = proxyName(namespace, backends[j]!.name);
      // An ACL rule's backends stay in haproxy.cfg (it reloads when it changes anyway, and says why).
      if (!acl) backendLines.push(`${id * 1000 + slots[0]}:${id * 1000 + slots[1]} ${target}`);
      else if (backends.length === 1) aclUses.push(`use_backend ${target} if ${when}`);
      else aclUses.push(`use_backend ${target} if ${when} { var(${SLOT}) -m int ${slots[0]}:${slots[1]} }`);
    });
  }
  routes.push(...responses, ...aclUses);
  routes.push(`use_backend %[var(${BACKEND})] if { var(${BACKEND}) -m found }`);

  const lines = (m: Map<string, number>): string =>
    [...m]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k} ${v}\n`)
      .join('');
  const files = new Map<string, string>([
    [mapFile(proxy, 'exact'), lines(exact)],
    [mapFile(proxy, 'routes'), lines(prefix)],
    [mapFile(proxy, 'backends'), backendLines.map((l) => `${l}\n`).join('')],
  ]);
  const aclRules: AclRuleNote[] = [];
  rules.forEach((r, index) => {
    const why = aclReason(r);
    const lists = hasIpList(r) ? [{ allow: r.ipAllowList, deny: r.ipDenyList }] : [];
    if (why) aclRules.push({ index, why, sig: JSON.stringify([normal[index], r.filters ?? [], ...lists, ...(r.timeouts ? [r.timeouts] : [])]) });
  });
  return { acls, routes, lookup, files, ids, aclRules };
}

/** The `key value` entries of a map file's content (blank lines and `#` comments skipped). */
export function parseMap(content: string): [string, string][] {
  const out: [string, string][] = [];
  for (const raw of content.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.search(/\s/);
    out.push(sp < 0 ? [line, ''] : [line.slice(0, sp), line.slice(sp).trim()]);
  }
  return out;
}
