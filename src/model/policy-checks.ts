/**
 * Semantic checks of the HTTP policy fields (issue 12) that the schema cannot
 * express. Pure. Called from validate.ts; each problem names the field and the fix.
 */
import { ipLiteralProblem, parseIPv4, parseIPv6 } from './ip-address.js';
import { RETRY_STATUS } from './schema.js';
import type { Backend, Frontend } from './types.js';

type Add = (field: string, message: string) => void;

const show = (v: unknown): string => JSON.stringify(v);

/** Why `entry` (an address or a CIDR network) is refused, or undefined. */
export function ipOrCidrProblem(entry: string): string | undefined {
  const slash = entry.indexOf('/');
  const addr = slash < 0 ? entry : entry.slice(0, slash);
  const bad = ipLiteralProblem(addr);
  if (bad) return bad;
  const v6 = addr.includes(':');
  if (v6 ? !parseIPv6(addr) : !parseIPv4(addr)) return `${show(entry)} is not an IPv4 or IPv6 address`;
  if (slash < 0) return undefined;
  const len = entry.slice(slash + 1);
  const max = v6 ? 128 : 32;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(len) || Number(len) > max)
    return `${show(entry)} has prefix length /${len}; use 0-${max} for an ${v6 ? 'IPv6' : 'IPv4'} network`;
  return undefined;
}

/** The IP allow and deny lists of a frontend or of one rule (`at` is `spec` or `spec.rules[i]`): one of them, every entry valid. */
function checkIpLists(lists: { ipAllowList?: string[]; ipDenyList?: string[] }, at: string, add: Add): void {
  if (lists.ipAllowList && lists.ipDenyList)
    add(`${at}.ipDenyList`, 'is set together with ipAllowList; use one: ipAllowList serves only the listed clients, ipDenyList refuses the listed ones');
  for (const list of ['ipAllowList', 'ipDenyList'] as const) {
    lists[list]?.forEach((entry, i) => {
      const bad = ipOrCidrProblem(entry);
      if (bad) add(`${at}.${list}[${i}]`, bad);
    });
  }
}

const HTTP_ONLY = (field: string, mode: string) =>
  `${field} applies to HTTP requests and needs mode "http" (mode is ${show(mode)}); remove it or set mode: http`;

export function checkFrontendPolicy(f: Frontend, add: Add): void {
  const s = f.spec;
  const named: [string, unknown][] = [
    ['ipAllowList', s.ipAllowList],
    ['ipDenyList', s.ipDenyList],
    ['rateLimit', s.rateLimit],
    ['basicAuth', s.basicAuth],
    ['cors', s.cors],
  ];
  for (const [field, value] of named) if (value !== undefined && s.mode !== 'http') add(`spec.${field}`, HTTP_ONLY(field, s.mode));
  checkIpLists(s, 'spec', add);
  // A rule's lists: the same checks, named under the rule (rules need mode http: validate.ts says so).
  s.rules.forEach((rule, i) => checkIpLists(rule, `spec.rules[${i}]`, add));
  const rl = s.rateLimit;
  if (rl) {
    if (rl.key === 'Header' && !rl.header)
      add('spec.rateLimit.header', 'is required with key Header: name the request header that identifies a client, like "X-Api-Key"');
    if (rl.key !== 'Header' && rl.header) add('spec.rateLimit.header', `applies to key Header only (key is ${show(rl.key)}); remove it or set key: Header`);
    if (/^0+(us|ms|s|m|h|d)?$/.test(rl.period)) add('spec.rateLimit.period', 'must be longer than 0, like "10s"');
  }
  const cors = s.cors;
  if (cors) {
    const any = cors.allowOrigins.includes('*');
    if (any && cors.allowOrigins.length > 1) add('spec.cors.allowOrigins', '"*" allows every origin; list either "*" alone or the origins');
    if (any && cors.allowCredentials)
      add(
        'spec.cors.allowCredentials',
        'browsers refuse credentials with "Access-Control-Allow-Origin: *"; list the origins in allowOrigins, or set allowCredentials: false',
      );
    cors.allowOrigins.forEach((o, i) => {
      const port = /:([0-9]+)$/.exec(o.replace(/^https?:\/\//, ''));
      if (port && (Number(port[1]) < 1 || Number(port[1]) > 65535)) add(`spec.cors.allowOrigins[${i}]`, `${show(o)} has port ${port[1]}; use 1-65535`);
    });
  }
}

export function checkBackendPolicy(b: Backend, add: Add): void {
  const s = b.spec;
  if (s.sessionAffinity && s.mode !== 'http') add('spec.sessionAffinity', HTTP_ONLY('sessionAffinity', s.mode));
  if (s.requestBodyMaxBytes !== undefined && s.mode !== 'http') add('spec.requestBodyMaxBytes', HTTP_ONLY('requestBodyMaxBytes', s.mode));
  const on = s.retries?.retryOn;
  if (on) {
    if (s.mode !== 'http')
      add('spec.retries.retryOn', `needs mode "http" (mode is ${show(s.mode)}); remove it: in tcp mode failed connections are retried (attempts)`);
    on.forEach((k, i) => {
      if (typeof k === 'number' && !(RETRY_STATUS as readonly number[]).includes(k))
        add(`spec.retries.retryOn[${i}]`, `${k} is not a status HAProxy retries on; use one of ${RETRY_STATUS.join(', ')}`);
    });
    if (on.includes('none') && on.length > 1) add('spec.retries.retryOn', '"none" turns retries off; list it alone or remove it');
    if (new Set(on.map(String)).size !== on.length) add('spec.retries.retryOn', 'lists a condition twice; list each once');
  }
}
