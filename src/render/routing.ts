/**
 * HTTP routing rendered with ACLs (issue 12, phase 1; docs/decisions/0011-http-routing.md). Pure.
 *
 * Two shapes, chosen per frontend:
 * - plain: every rule has one backend, no filter and no IP list; each rule is
 *   `use_backend <backend> if <its ACLs>`, in precedence order (the text
 *   older versions rendered, so upgrading reloads nothing);
 * - by rule id: as soon as one rule has a weighted split, filters or an IP list, the
 *   winning rule's index goes into `txn.nh_rule` (first match in precedence
 *   order), and filters, the split and `use_backend` test that variable. The
 *   filters of one rule therefore never apply to a request another rule won,
 *   and a rewrite does not change which rule won.
 *
 * Every value that is not a fixed keyword passed an allow-list pattern, and
 * free text (header values, regular expressions) is single-quoted; in
 * log-format strings (header values, paths, redirect locations) `%` is doubled.
 */
import { haproxyQuote } from './model.js';
import { ruleIpPolicy } from './policy.js';
import { proxyName } from '../model/naming.js';
import { durationMs, hasRuleLines, normaliseRule, precedence, weightSlots, type NormalRule } from '../model/routing.js';
import type { HeaderModifier, PathModifier, RequestRedirect, RouteRule, UrlRewrite } from '../model/types.js';

export interface RoutingLines {
  acls: string[];
  routes: string[];
  /**
   * How many of `routes` are the rule lookup (which rule wins) and the winning
   * rule's IP list: render/model.ts puts them before the frontend's CORS
   * preflight and basic auth, so a client a rule's list refuses gets 403 there.
   */
  lookup: number;
}

/** A literal inside a log-format string. */
const lit = (s: string): string => s.replace(/%/g, '%%');

const RULE_VAR = 'txn.nh_rule';
const SLOT_VAR = 'txn.nh_slot';
const PATH_VAR = 'txn.nh_path';
/** A timed rule's request timeout in ms, set in the frontend and read by the Backends it targets. */
const TIMEOUT_VAR = 'txn.nh_timeout';
/**
 * The line of a Backend that some rule with `timeouts.request` targets
 * (render/model.ts timedBackends): HAProxy refuses `set-timeout server` in a
 * frontend, so the frontend sets TIMEOUT_VAR for the rule that won and the
 * backend applies it; requests of other rules leave it unset and keep `timeout server`.
 */
export const REQUEST_TIMEOUT_LINE = `http-request set-timeout server var(${TIMEOUT_VAR}) if { var(${TIMEOUT_VAR}) -m found }`;
const DEFAULT_PORT = { http: 80, https: 443 } as const;

/** The ACL lines of rule `i` and the names a condition lists (all must match). */
export function conditions(i: number, m: NormalRule['matches'], prefix = 'r'): { acls: string[]; conds: string[] } {
  const acls: string[] = [];
  const conds: string[] = [];
  if (m.host) {
    const acl = `${prefix}${i}_host`;
    const host = m.host.toLowerCase();
    acls.push(
      host.startsWith('*.') ? `acl ${acl} req.hdr(host),field(1,:),lower -m end ${host.slice(1)}` : `acl ${acl} req.hdr(host),field(1,:),lower -m str ${host}`,
    );
    conds.push(acl);
  }
  const p = m.path;
  if (p) {
    const acl = `${prefix}${i}_path`;
    if (p.type === 'RegularExpression') {
      acls.push(`acl ${acl} path -m reg -- ${haproxyQuote(p.value)}`);
      conds.push(acl);
    } else if (p.type === 'Exact') {
      acls.push(`acl ${acl} path -m str ${p.value}`);
      conds.push(acl);
    } else if (p.value !== '/') {
      if (p.value.endsWith('/')) {
        acls.push(`acl ${acl} path_beg ${p.value}`);
      } else {
        acls.push(`acl ${acl} path -m str ${p.value}`);
        acls.push(`acl ${acl} path_beg ${p.value}/`);
      }
      conds.push(acl);
    }
  }
  m.headers?.forEach((h, j) => {
    // The whole value of a header sent once: req.fhdr does not split on commas (req.hdr
    // would match `yes` in `no, yes`), and a header sent twice is one comma-joined value
    // (RFC 9110), so it must occur once. `--` ends the flags: a value like `-i` is a pattern.
    const acl = j === 0 ? `${prefix}${i}_hdr` : `${prefix}${i}_hdr${j}`;
    acls.push(`acl ${acl}_once req.fhdr_cnt(${h.name}) eq 1`);
    acls.push(`acl ${acl} req.fhdr(${h.name}) -m ${h.type === 'RegularExpression' ? 'reg' : 'str'} -- ${haproxyQuote(h.value)}`);
    conds.push(`${acl}_once`, acl);
  });
  m.queryParams?.forEach((q, j) => {
    const acl = `${prefix}${i}_query${j}`;
    acls.push(`acl ${acl} url_param(${q.name}) -m ${q.type === 'RegularExpression' ? 'reg' : 'str'} -- ${haproxyQuote(q.value)}`);
    conds.push(acl);
  });
  if (m.method) {
    acls.push(`acl ${prefix}${i}_method method ${m.method}`);
    conds.push(`${prefix}${i}_method`);
  }
  return { acls, conds };
}

/** The prefix a ReplacePrefixMatch replaces: its length, and whether a request can equal it (no `/` after it). */
function prefixOf(rule: NormalRule): { length: number; exact?: string } {
  const value = rule.matches.path?.value ?? '/';
  if (value === '/') return { length: 0 };
  if (value.endsWith('/')) return { length: value.length - 1 };
  return { length: value.length, exact: value };
}

const trimSlash = (s: string): string => (s === '/' ? '' : s.replace(/\/$/, ''));

/** The redirect's path and query, as log-format variants with the condition each applies under. */
function redirectPaths(rule: NormalRule, path: PathModifier | undefined): { cond: string; text: string }[] {
  const QUERY = '{ query -m found }';
  if (!path) return [{ cond: '', text: '%[pathq]' }];
  if (path.type === 'ReplaceFullPath') {
    const v = lit(path.replaceFullPath ?? '/');
    return [
      { cond: QUERY, text: `${v}?%[query]` },
      { cond: `!${QUERY}`, text: v },
    ];
  }
  const r = trimSlash(path.replacePrefixMatch ?? '/');
  const { length, exact } = prefixOf(rule);
  const rest = length > 0 ? `%[pathq,bytes(${length})]` : '%[pathq]';
  if (!exact) return [{ cond: '', text: `${lit(r)}${rest}` }];
  const isExact = `{ path -m str ${exact} }`;
  return [
    { cond: `${isExact} ${QUERY}`, text: `${lit(r || '/')}?%[query]` },
    { cond: `${isExact} !${QUERY}`, text: lit(r || '/') },
    { cond: `!${isExact}`, text: `${lit(r)}${rest}` },
  ];
}

export function redirectLines(rule: NormalRule, rr: RequestRedirect, when: string): string[] {
  const scheme = rr.scheme ?? '%[ssl_fc,iif(https,http)]';
  let authority: string;
  if (rr.port !== undefined) {
    const host = rr.hostname ?? '%[req.hdr(host),field(1,:)]';
    authority = rr.scheme && DEFAULT_PORT[rr.scheme] === rr.port ? host : `${host}:${rr.port}`;
  } else if (rr.scheme) {
    authority = rr.hostname ?? '%[req.hdr(host),field(1,:)]';
  } else {
    // Neither scheme nor port: the request's port stays (the Host header's, when it names one).
    authority = rr.hostname ? `%[req.hdr(host),regsub(^[^:]*,${rr.hostname})]` : '%[req.hdr(host)]';
  }
  return redirectPaths(rule, rr.path).map(
    (v) =>
      `http-request redirect location ${haproxyQuote(`${scheme}://${authority}${v.text}`)} code ${rr.statusCode ?? 302} if ${when}${v.cond ? ` ${v.cond}` : ''}`,
  );
}

export function rewriteLines(rule: NormalRule, u: UrlRewrite, when: string): string[] {
  const out: string[] = [];
  if (u.hostname) out.push(`http-request set-header Host ${u.hostname} if ${when}`);
  const path = u.path;
  if (path?.type === 'ReplaceFullPath') out.push(`http-request set-path ${haproxyQuote(lit(path.replaceFullPath ?? '/'))} if ${when}`);
  if (path?.type === 'ReplacePrefixMatch') {
    const r = trimSlash(path.replacePrefixMatch ?? '/');
    const { length, exact } = prefixOf(rule);
    const rest = length > 0 ? `%[path,bytes(${length})]` : '%[path]';
    if (!exact) {
      out.push(`http-request set-path ${haproxyQuote(`${lit(r)}${rest}`)} if ${when}`);
    } else {
      // Computed first, set once: a rewritten path must not be tested again.
      const isExact = `{ path -m str ${exact} }`;
      out.push(`http-request set-var-fmt(${PATH_VAR}) ${haproxyQuote(lit(r || '/'))} if ${when} ${isExact}`);
      out.push(`http-request set-var-fmt(${PATH_VAR}) ${haproxyQuote(`${lit(r)}${rest}`)} if ${when} !${isExact}`);
      out.push(`http-request set-path %[var(${PATH_VAR})] if ${when}`);
    }
  }
  return out;
}

export function headerLines(side: 'http-request' | 'http-response', h: HeaderModifier, when: string): string[] {
  return [
    ...(h.set ?? []).map((x) => `${side} set-header ${x.name} ${haproxyQuote(lit(x.value))} if ${when}`),
    ...(h.add ?? []).map((x) => `${side} add-header ${x.name} ${haproxyQuote(lit(x.value))} if ${when}`),
    ...(h.remove ?? []).map((name) => `${side} del-header ${name} if ${when}`),
  ];
}

/**
 * A rule's filters, in order, applied when `when` (its rule id) holds: request
 * lines go to `requests`, response header changes to `responses`. Validation
 * (model/routing.ts checkRule) requires the member that matches each filter's type.
 * Then its request timeout, into TIMEOUT_VAR for the Backends it targets to apply
 * (HAProxy refuses `set-timeout server` in a frontend).
 */
export function filterLines(rule: RouteRule, normal: NormalRule, when: string, requests: string[], responses: string[]): void {
  for (const f of rule.filters ?? []) {
    if (f.type === 'RequestRedirect') requests.push(...redirectLines(normal, f.requestRedirect!, when));
    else if (f.type === 'URLRewrite') requests.push(...rewriteLines(normal, f.urlRewrite!, when));
    else if (f.type === 'RequestHeaderModifier') requests.push(...headerLines('http-request', f.requestHeaderModifier!, when));
    else responses.push(...headerLines('http-response', f.responseHeaderModifier!, when));
  }
  if (rule.timeouts?.request !== undefined) requests.push(`http-request set-var(${TIMEOUT_VAR}) int(${durationMs(rule.timeouts.request)}) if ${when}`);
}

/** True when a frontend's rules need the rule-id shape (a weighted split, filters, a request timeout, a redirect-only rule). */
export function needsRuleId(rules: readonly RouteRule[]): boolean {
  return rules.some((r) => hasRuleLines(r) || (r.backends?.length ?? 1) !== 1);
}

/** The ACL and routing lines of a frontend's rules (http mode). */
export function routingLines(namespace: string, rules: readonly RouteRule[]): RoutingLines {
  const normal = rules.map(normaliseRule);
  const perRule = normal.map((n, i) => conditions(i, n.matches));
  const acls = perRule.flatMap((c) => c.acls);
  const order = precedence(rules);
  const routes: string[] = [];
  if (!needsRuleId(rules)) {
    for (const i of order) {
      const conds = perRule[i]!.conds;
      const target = proxyName(namespace, normal[i]!.backends[0]!.name);
      routes.push(conds.length > 0 ? `use_backend ${target} if ${conds.join(' ')}` : `use_backend ${target}`);
    }
    return { acls, routes, lookup: 0 };
  }
  for (const i of order) {
    const conds = perRule[i]!.conds;
    routes.push(`http-request set-var(${RULE_VAR}) int(${i}) if !{ var(${RULE_VAR}) -m found }${conds.length > 0 ? ` ${conds.join(' ')}` : ''}`);
  }
  const weighted = normal.some((n) => n.backends.length > 1);
  if (weighted) routes.push(`http-request set-var(${SLOT_VAR}) rand(1000) if { var(${RULE_VAR}) -m found }`);
  const responses: string[] = [];
  const uses: string[] = [];
  // The winning rule's IP list answers 403 right after the lookup: before the frontend's CORS
  // preflight and basic auth (render/model.ts) and the rule's filters (a refused client gets no redirect).
  for (const i of order) {
    const ip = ruleIpPolicy(rules[i]!, `r${i}`, `{ var(${RULE_VAR}) -m int ${i} }`);
    acls.push(...ip.acls);
    routes.push(...ip.lines);
  }
  const lookup = routes.length;
  for (const i of order) {
    const when = `{ var(${RULE_VAR}) -m int ${i} }`;
    filterLines(rules[i]!, normal[i]!, when, routes, responses);
    const backends = normal[i]!.backends;
    if (backends.length === 1) uses.push(`use_backend ${proxyName(namespace, backends[0]!.name)} if ${when}`);
    else {
      weightSlots(backends.map((b) => b.weight)).forEach((slots, j) => {
        if (slots) uses.push(`use_backend ${proxyName(namespace, backends[j]!.name)} if ${when} { var(${SLOT_VAR}) -m int ${slots[0]}:${slots[1]} }`);
      });
    }
  }
  routes.push(...responses, ...uses);
  return { acls, routes, lookup };
}
