/**
 * HTTP policy (issue 12) in HAProxy terms: IP allow and deny lists, rate
 * limits, basic auth, CORS on a frontend; session affinity, retries and a
 * request-body limit on a backend. Pure. Called from render/model.ts; every
 * value here passed the schema's allow-lists and policy-checks.ts.
 *
 * A frontend's request rules run in this order, each able to answer the
 * request itself: the IP list (403), the rate limit (429 by default), then
 * (render/model.ts) the rule lookup and the winning rule's IP list (403), the
 * HTTPS redirect, the CORS preflight (204, before authentication: browsers send
 * preflights without credentials), basic auth (401). The first
 * `beforeRules` lines of `FrontendPolicy.lines` are the ones before the rule
 * lookup: a client a rule's list refuses must never reach the preflight or the
 * password check (docs/decisions/0011, "Order of a frontend's request rules").
 */
import type { AuthUser, FrontendWithUsers } from '../model/basic-auth.js';
import type { Backend, Cors, Frontend, Member, RouteRule } from '../model/types.js';
import { ACME_CHALLENGE_PREFIX, haproxyQuote } from './model.js';

/** Addresses per `acl` line: HAProxy reads at most 64 words and 2,048 bytes a line (40 IPv6 networks fit). */
const ACL_VALUES_PER_LINE = 40;

/** The largest `wait-for-body ... at-least` HAProxy 2.6 and 3.0 take that we tried (2^30; 2^40 is refused). */
const WAIT_FOR_BODY_MAX = 1073741824;

/** A `userlist` section rendered before the frontend that uses it. */
export interface UserlistModel {
  name: string;
  users: string[];
}

export interface FrontendPolicy {
  /** Lines in the frontend section, in order. */
  lines: string[];
  /**
   * How many of `lines` run before the rule lookup (the IP list and the rate
   * limit); the others (CORS, basic auth) after the winning rule's IP list.
   */
  beforeRules: number;
  userlist?: UserlistModel;
}

function aclLines(name: string, fetch: string, values: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < values.length; i += ACL_VALUES_PER_LINE) out.push(`acl ${name} ${fetch} ${values.slice(i, i + ACL_VALUES_PER_LINE).join(' ')}`);
  return out;
}

/**
 * The IP list of one routing rule, in the frontend's form (named ACLs, 40
 * addresses a line, so a list of thousands parses): the ACL lines, named
 * `<name>_ip_allowed` or `<name>_ip_denied`, and the deny line for the
 * requests that rule won (`when`: its rule-id condition). Rendered right
 * after the rule lookup: after the frontend's IP list and rate limit, before
 * the HTTPS redirect, the CORS preflight, basic auth and the rule's filters
 * (render/routing.ts, render/model.ts).
 */
export function ruleIpPolicy(rule: Pick<RouteRule, 'ipAllowList' | 'ipDenyList'>, name: string, when: string): { acls: string[]; lines: string[] } {
  const acls: string[] = [];
  const lines: string[] = [];
  if (rule.ipAllowList) {
    acls.push(...aclLines(`${name}_ip_allowed`, 'src', rule.ipAllowList));
    lines.push(`http-request deny deny_status 403 if ${when} !${name}_ip_allowed`);
  }
  if (rule.ipDenyList) {
    acls.push(...aclLines(`${name}_ip_denied`, 'src', rule.ipDenyList));
    lines.push(`http-request deny deny_status 403 if ${when} ${name}_ip_denied`);
  }
  return { acls, lines };
}

function corsLines(c: Cors): { request: string[]; response: string[] } {
  const any = c.allowOrigins.includes('*');
  const allowed = '{ var(txn.cors_origin) -m found }';
  const request = any
    ? ['http-request set-var(txn.cors_origin) str(*) if { req.fhdr(origin) -m found }']
    : [`http-request set-var(txn.cors_origin) req.fhdr(origin) if { req.fhdr(origin) -m str ${c.allowOrigins.join(' ')} }`];
  const origin = any ? "'*'" : '%[var(txn.cors_origin)]';
  const preflight = [
    'http-request return status 204',
    `hdr Access-Control-Allow-Origin ${origin}`,
    `hdr Access-Control-Allow-Methods ${haproxyQuote(c.allowMethods.join(', '))}`,
  ];
  if (c.allowHeaders.length > 0) preflight.push(`hdr Access-Control-Allow-Headers ${haproxyQuote(c.allowHeaders.join(', '))}`);
  preflight.push(`hdr Access-Control-Max-Age ${c.maxAge}`);
  if (c.allowCredentials) preflight.push('hdr Access-Control-Allow-Credentials true');
  if (!any) preflight.push('hdr Vary Origin');
  preflight.push(`if METH_OPTIONS ${allowed} { req.fhdr(access-control-request-method) -m found }`);
  request.push(preflight.join(' '));
  const response = [`http-response set-header Access-Control-Allow-Origin ${origin} if ${allowed}`];
  if (c.allowCredentials) response.push(`http-response set-header Access-Control-Allow-Credentials true if ${allowed}`);
  if (c.exposeHeaders.length > 0)
    response.push(`http-response set-header Access-Control-Expose-Headers ${haproxyQuote(c.exposeHeaders.join(', '))} if ${allowed}`);
  // The answer depends on Origin: caches must keep one copy per origin.
  if (!any) response.push('http-response add-header Vary Origin');
  return { request, response };
}

/** The userlist line of one user: the hash single-quoted, so `$` is never read as an environment variable. */
export const userLine = (u: AuthUser): string => `user ${u.name} password ${haproxyQuote(u.hash)}`;

/** Policy lines of a frontend (http mode; validation refuses the fields in tcp mode). */
export function frontendPolicy(f: Frontend, proxyName: string): FrontendPolicy {
  const s = f.spec;
  const lines: string[] = [];
  if (s.ipAllowList) {
    lines.push(...aclLines('policy_ip_allowed', 'src', s.ipAllowList));
    lines.push('http-request deny deny_status 403 if !policy_ip_allowed');
  }
  if (s.ipDenyList) {
    lines.push(...aclLines('policy_ip_denied', 'src', s.ipDenyList));
    lines.push('http-request deny deny_status 403 if policy_ip_denied');
  }
  const rl = s.rateLimit;
  if (rl) {
    // One table per frontend; `ipv6` also keeps IPv4 clients (as IPv4-mapped addresses).
    const table = rl.key === 'Header' ? 'type string len 128' : 'type ipv6';
    lines.push(`stick-table ${table} size 100k expire ${rl.period} store http_req_rate(${rl.period})`);
    lines.push(rl.key === 'Header' ? `http-request track-sc0 req.fhdr(${rl.header})` : 'http-request track-sc0 src');
    lines.push(`http-request deny deny_status ${rl.statusCode} if { sc_http_req_rate(0) gt ${rl.requests} }`);
  }
  // Refused clients count against the rate limit (a password guess that gets 401 or 403 too): it comes before them.
  const beforeRules = lines.length;
  const cors = s.cors && corsLines(s.cors);
  if (cors) lines.push(...cors.request);
  let userlist: UserlistModel | undefined;
  if (s.basicAuth) {
    const users = (f as FrontendWithUsers).basicAuthUsers ?? [];
    userlist = { name: proxyName, users: users.map(userLine) };
    // ACME HTTP-01 challenges pass without a password (the CA's validator has none; the token is public by design), as httpsRedirect lets them pass in clear.
    lines.push(`http-request auth realm ${s.basicAuth.realm} unless { http_auth(${proxyName}) } || { path_beg ${ACME_CHALLENGE_PREFIX} }`);
    // After the check: the members never see the credentials (basicAuth.forwardCredentials: false).
    if (s.basicAuth.forwardCredentials === false) lines.push('http-request del-header Authorization');
  }
  if (cors) lines.push(...cors.response);
  return { lines, beforeRules, userlist };
}

/** Policy lines of a backend. */
export function backendPolicy(b: Backend): string[] {
  const s = b.spec;
  const lines: string[] = [];
  if (s.sessionAffinity) lines.push(`cookie ${s.sessionAffinity.cookieName} insert indirect nocache`);
  if (s.retries) {
    lines.push(`retries ${s.retries.attempts}`);
    if (s.retries.retryOn) lines.push(`retry-on ${s.retries.retryOn.map(String).join(' ')}`);
    // Every retry goes to another member (`1`), not only the last: no wait on the one that failed.
    if (s.retries.redispatch) lines.push('option redispatch 1');
  }
  const max = s.requestBodyMaxBytes;
  if (max !== undefined) {
    // A declared length is refused at once, whatever its size. A chunked body is
    // buffered (up to the buffer size, tune.bufsize: 16 kB by default) and measured.
    lines.push(`http-request deny deny_status 413 if { req.hdr_val(content-length) gt ${max} }`);
    // (`at-least` reads at most a 32-bit size; the buffer is far smaller anyway.)
    lines.push(`http-request wait-for-body time 5s at-least ${Math.min(max + 1, WAIT_FOR_BODY_MAX)} if !{ req.hdr(content-length) -m found }`);
    lines.push(`http-request deny deny_status 413 if !{ req.hdr(content-length) -m found } { req.body_size gt ${max} }`);
  }
  return lines;
}

/**
 * Server parameters a policy adds to one member, in the file and in `add
 * server` alike (ServerModel.params): the affinity cookie's value is the member name.
 */
export function memberPolicyParams(b: Backend, m: Pick<Member, 'name'>): string {
  return b.spec.sessionAffinity ? `cookie ${m.name}` : '';
}
