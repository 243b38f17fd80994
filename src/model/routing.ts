/**
 * HTTP routing rules in one form (issue 12; docs/decisions/0011-http-routing.md). Pure.
 *
 * A rule may use the shorthands `host`, `pathPrefix`, `header` and `backend`
 * or the long form `matches` and `backends`; `normaliseRule` is the one
 * place that turns the first into the second, so render and resolve read one
 * shape. Both forms on one rule is refused by `checkRule` naming the field.
 */
import { PATTERNS } from './schema.js';
import type { RouteMatches, RouteRule, WeightedBackend } from './types.js';

export interface NormalRule {
  matches: RouteMatches;
  backends: WeightedBackend[];
}

/** The long form of `rule` (matches and backends), whichever form it was written in. */
export function normaliseRule(rule: RouteRule): NormalRule {
  const matches: RouteMatches = { ...(rule.matches ?? {}) };
  if (rule.host !== undefined) matches.host = rule.host;
  if (rule.pathPrefix !== undefined) matches.path = { type: 'PathPrefix', value: rule.pathPrefix };
  if (rule.header) matches.headers = [{ name: rule.header.name, value: rule.header.value, type: 'Exact' }];
  const backends = rule.backends ?? (rule.backend !== undefined ? [{ name: rule.backend, weight: 1 }] : []);
  return { matches, backends };
}

/** The field a backend reference of rule `i` is written in (`backend` or `backends[j].name`). */
export function backendFields(rule: RouteRule, i: number): { field: string; name: string }[] {
  if (rule.backend !== undefined) return [{ field: `spec.rules[${i}].backend`, name: rule.backend }];
  return (rule.backends ?? []).map((b, j) => ({ field: `spec.rules[${i}].backends[${j}].name`, name: b.name }));
}

/**
 * A rule a host/path map could route (phase 2): only a host and an Exact or
 * PathPrefix path. Others (headers, query parameters, method, regular
 * expressions) are "ACL rules" and come first in precedence.
 */
export function isMapRoutable(m: RouteMatches): boolean {
  return !m.headers?.length && !m.queryParams?.length && m.method === undefined && m.path?.type !== 'RegularExpression';
}

/**
 * Rule indexes in precedence order: ACL rules first, in rule order; then host
 * and path rules by specificity: exact host over wildcard host (longer suffix
 * first) over no host; within that, an Exact path over a PathPrefix, longer
 * paths first; ties keep rule order.
 */
export function precedence(rules: readonly RouteRule[]): number[] {
  const normal = rules.map(normaliseRule);
  const key = (i: number): number[] => {
    const m = normal[i]!.matches;
    if (!isMapRoutable(m)) return [0, 0, 0, 0, 0, i];
    const host = m.host?.toLowerCase();
    const hostRank = host === undefined ? 2 : host.startsWith('*.') ? 1 : 0;
    const path = m.path ?? { type: 'PathPrefix', value: '/' };
    return [1, hostRank, -(host?.length ?? 0), path.type === 'Exact' ? 0 : 1, -path.value.length, i];
  };
  const keys = rules.map((_, i) => key(i));
  return rules
    .map((_, i) => i)
    .sort((a, b) => {
      const ka = keys[a]!;
      const kb = keys[b]!;
      for (let k = 0; k < ka.length; k++) if (ka[k] !== kb[k]) return ka[k]! - kb[k]!;
      return 0;
    });
}

/** Split of 1,000 slots by weight: [lo, hi] inclusive per backend, undefined for weight 0. */
export function weightSlots(weights: readonly number[], slots = 1000): ([number, number] | undefined)[] {
  const total = weights.reduce((a, w) => a + w, 0);
  if (total === 0) return weights.map(() => undefined);
  // Largest remainder, then every positive weight gets at least one slot.
  const exact = weights.map((w) => (w * slots) / total);
  const n = exact.map(Math.floor);
  let left = slots - n.reduce((a, x) => a + x, 0);
  const order = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left === 0) break;
    n[i]!++;
    left--;
  }
  weights.forEach((w, i) => {
    if (w > 0 && n[i] === 0) {
      const big = n.indexOf(Math.max(...n));
      n[big]!--;
      n[i] = 1;
    }
  });
  let lo = 0;
  return n.map((c) => {
    if (c === 0) return undefined;
    const r: [number, number] = [lo, lo + c - 1];
    lo += c;
    return r;
  });
}

/** Milliseconds in one unit of an HAProxy duration (no unit: milliseconds). */
const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, '': 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** The longest timeout HAProxy takes: 2^31-1 ms (~24.8 days). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** An HAProxy duration (schema pattern `duration`) in whole milliseconds, rounded up (`500us` is 1). */
export function durationMs(d: string): number {
  const m = /^([0-9]+)(us|ms|s|m|h|d)?$/.exec(d);
  if (!m) throw new Error(`${JSON.stringify(d)} is not a duration`);
  return Math.ceil(Number(m[1]) * UNIT_MS[m[2] ?? '']!);
}

/**
 * The rule has lines of its own in haproxy.cfg, applied when it won (filters, a
 * request timeout): it is rendered by rule id, and changing it reloads.
 */
/** A rule with lines of its own in haproxy.cfg (filters, a request timeout, an IP list): it needs the rule-id shape and is routed by ACL. */
export const hasRuleLines = (rule: RouteRule): boolean => (rule.filters?.length ?? 0) > 0 || rule.timeouts?.request !== undefined || hasIpList(rule);

const pathPattern = new RegExp(PATTERNS.path);
const valuePattern = new RegExp(PATTERNS.headerValue);

/** Checks on one rule that the schema cannot express; `add(field, message)` per problem. */
export function checkRule(rule: RouteRule, i: number, add: (field: string, message: string) => void): void {
  const f = `spec.rules[${i}]`;
  const shorthand = (['host', 'pathPrefix', 'header'] as const).filter((k) => rule[k] !== undefined);
  if (rule.matches && shorthand.length > 0) {
    add(`${f}.${shorthand[0]}`, `is a shorthand for matches; this rule also has matches. Move ${shorthand[0]} into matches (or drop matches)`);
  }
  if (rule.backend !== undefined && rule.backends) {
    add(`${f}.backend`, 'is a shorthand for backends; this rule also has backends. Use one of them');
  }
  const { matches: m } = normaliseRule(rule);
  if (m.host === undefined && !m.path && !m.headers?.length && !m.queryParams?.length && m.method === undefined) {
    add(f, 'a rule needs at least one of host, pathPrefix or header (or matches with host, path, headers, queryParams or method)');
  }
  if (rule.matches?.path) {
    const p = rule.matches.path;
    if (p.type !== 'RegularExpression' && !pathPattern.test(p.value)) {
      add(
        `${f}.matches.path.value`,
        `${JSON.stringify(p.value)} is not allowed for type ${p.type}: use a path starting with "/" made of letters, digits and ._~!&()*+,;=:@%/- (or type RegularExpression)`,
      );
    }
  }
  for (const list of ['headers', 'queryParams'] as const) {
    rule.matches?.[list]?.forEach((h, j) => {
      if (h.type === 'Exact' && !valuePattern.test(h.value)) {
        add(
          `${f}.matches.${list}[${j}].value`,
          `${JSON.stringify(h.value)} is not allowed for type Exact: use visible characters without spaces, quotes, "#", "$" or "\\" (or type RegularExpression)`,
        );
      }
    });
  }
  const filters = rule.filters ?? [];
  const redirect = filters.findIndex((x) => x.type === 'RequestRedirect');
  const rewrite = filters.findIndex((x) => x.type === 'URLRewrite');
  filters.forEach((x, j) => {
    const ff = `${f}.filters[${j}]`;
    const member = {
      RequestRedirect: 'requestRedirect',
      URLRewrite: 'urlRewrite',
      RequestHeaderModifier: 'requestHeaderModifier',
      ResponseHeaderModifier: 'responseHeaderModifier',
    }[x.type];
    const present = Object.keys(x).filter((k) => k !== 'type');
    if (!(member in x)) add(`${ff}.${member}`, `is required with type ${x.type}`);
    for (const k of present) if (k !== member) add(`${ff}.${k}`, `does not apply to type ${x.type}; remove it (type ${x.type} reads ${member})`);
    const path = x.type === 'RequestRedirect' ? x.requestRedirect?.path : x.type === 'URLRewrite' ? x.urlRewrite?.path : undefined;
    if (path) {
      const pf = `${ff}.${member}.path`;
      const want = path.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
      const other = path.type === 'ReplaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
      if (path[want] === undefined) add(`${pf}.${want}`, `is required with type ${path.type}`);
      if (path[other] !== undefined) add(`${pf}.${other}`, `does not apply to type ${path.type}; remove it`);
      if (path.type === 'ReplacePrefixMatch' && m.path?.type !== 'PathPrefix') {
        add(
          `${pf}.type`,
          'ReplacePrefixMatch replaces the prefix the rule matched, and this rule has no PathPrefix path match; add one or use ReplaceFullPath',
        );
      }
    }
    if (x.type === 'RequestRedirect' && j !== redirect) add(`${ff}.type`, 'a rule can redirect once; remove one RequestRedirect');
    if (x.type === 'URLRewrite' && j !== rewrite) add(`${ff}.type`, 'a rule can rewrite the URL once; merge the URLRewrite filters');
  });
  if (redirect >= 0 && rewrite >= 0) {
    add(`${f}.filters[${rewrite}]`, 'a rule cannot both redirect and rewrite (a redirect answers the client; nothing is forwarded); remove one');
  }
  const backends = rule.backends ?? (rule.backend !== undefined ? [{ name: rule.backend, weight: 1 }] : []);
  if (redirect < 0 && backends.length === 0) {
    add(`${f}.backend`, 'is required: name the backend that serves this rule (backend or backends), unless the rule redirects (a RequestRedirect filter)');
  }
  if (backends.length > 0 && backends.every((b) => b.weight === 0)) {
    add(`${f}.backends`, 'every backend has weight 0, so no request could be served; give one a weight above 0');
  }
  const timeout = rule.timeouts?.request;
  if (timeout !== undefined) {
    const tf = `${f}.timeouts.request`;
    const ms = durationMs(timeout);
    if (ms === 0)
      add(
        tf,
        `${JSON.stringify(timeout)} would never let a request wait; use a duration above 0 (like "10s"), or remove it to keep the Backend's timeouts.server`,
      );
    else if (ms > MAX_TIMEOUT_MS)
      add(tf, `${JSON.stringify(timeout)} is longer than HAProxy's longest timeout, ${MAX_TIMEOUT_MS} ms (about 24 days); use a shorter duration`);
    if (redirect >= 0)
      add(tf, 'does not apply to a rule that redirects (HAProxy answers the client, no backend is asked); remove it, or the RequestRedirect filter');
  }
  const seen = new Set<string>();
  rule.backends?.forEach((b, j) => {
    if (seen.has(b.name)) add(`${f}.backends[${j}].name`, `${JSON.stringify(b.name)} is listed twice; list each backend once`);
    seen.add(b.name);
  });
}

/** The regular expressions rule `i` holds, with the field each is written in (for HAProxy's own check). */
export function regexFields(rule: RouteRule, i: number): { field: string; value: string }[] {
  const f = `spec.rules[${i}].matches`;
  const out: { field: string; value: string }[] = [];
  const m = rule.matches;
  if (m?.path?.type === 'RegularExpression') out.push({ field: `${f}.path.value`, value: m.path.value });
  for (const list of ['headers', 'queryParams'] as const) {
    m?.[list]?.forEach((h, j) => {
      if (h.type === 'RegularExpression') out.push({ field: `${f}.${list}[${j}].value`, value: h.value });
    });
  }
  return out;
}

/** A rule with an IP allow or deny list: its `http-request deny` line names its rule id in haproxy.cfg, as filters do. */
export const hasIpList = (rule: RouteRule): boolean => rule.ipAllowList !== undefined || rule.ipDenyList !== undefined;

/** How a rule is routed: by the routing maps (a change applies at run time) or by ACL lines in haproxy.cfg (a change reloads). */
export function routedBy(rule: RouteRule): 'map' | 'acl' {
  return isMapRoutable(normaliseRule(rule).matches) && !hasRuleLines(rule) ? 'map' : 'acl';
}

/** How a status note about routing starts (resolve's notes; the others are certificate notes). */
export const RULES_ROUTED = 'rules routed by ';
const RULE_NOTE = /^rule \d+: /;

/** Whether an outcome note is about routing (rule outcomes), not certificates. */
export const isRoutingNote = (note: string): boolean => note.startsWith(RULES_ROUTED) || RULE_NOTE.test(note);

/** The note saying which rules the maps route and which haproxy.cfg routes, e.g. `rules routed by map (runtime): 1, 2; by ACL (reload on change): 0`. */
export function routingNote(rules: readonly RouteRule[]): string | undefined {
  if (rules.length === 0) return undefined;
  const map: number[] = [];
  const acl: number[] = [];
  rules.forEach((r, i) => (routedBy(r) === 'map' ? map : acl).push(i));
  const parts = [...(map.length > 0 ? [`map (runtime): ${map.join(', ')}`] : []), ...(acl.length > 0 ? [`ACL (reload on change): ${acl.join(', ')}`] : [])];
  return `${RULES_ROUTED}${parts.join('; by ')}`;
}
