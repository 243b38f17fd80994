/**
 * thalassa-aqueduct compatibility: its frontend and backend payloads
 * translated to our resources and back. Pure.
 *
 * Aqueduct has no namespaces: its keys name resources in one namespace
 * (`default` unless configured). A key with capitals or `_` (`My_App`) names
 * the resource `my-app` (see resourceNameOfKey); the key as the client wrote
 * it is kept in the annotation and is the `key` of every answer. What has no
 * counterpart in our resources (a backend's Thalassa service name and version, members' names, versions
 * and meta, the health check's HTTP version, the rules as written) is kept in
 * an annotation, so a GET gives back what was PUT. Problems are reported with
 * aqueduct's field names (`bind`, `rules[1].operation`, `members[0].host`).
 *
 * Differences, documented in docs/rest-api.md:
 * - path rules: `path_beg`/`url_beg` become prefix rules (`/api` matches
 *   `/api` and `/api/...`, not `/apix`); `path` (and `url` without a query)
 *   become Exact path matches, `path_reg` RegularExpression ones; `url_reg`
 *   and `url` with a query are refused (the path and query are matched apart).
 * - balance: `uri`, `url_param NAME` and `hdr(NAME)` become hashing
 *   algorithms with `hash-type consistent` (aqueduct's were map-based).
 * - header rules: `hdr_dom(host)` matches the domain and its subdomains,
 *   `hdr`/`hdr_str` match exactly; on other headers `hdr`/`hdr_str` (exact)
 *   and `hdr_reg` (a RegularExpression header match).
 * - every backend gets aqueduct's `check inter <interval>` (tcp connect checks
 *   unless `health` asks for http).
 * - `natives` and `host` (a Host header rewrite) are raw configuration, refused
 *   unless the operator enabled it.
 */
import { parseDocument } from '../../model/document.js';
import { endpoint } from '../../model/naming.js';
import { RAW_CONFIG_ANNOTATION, RAW_CONFIG_FIELD, rawConfigLines } from '../../model/raw-config.js';
import { hasRuleLines } from '../../model/routing.js';
import { PATTERNS } from '../../model/schema.js';
import { API_VERSION, type Backend, type Frontend, type RouteRule } from '../../model/types.js';
import type { ApiIssue } from './http-io.js';
import { canonicalJson } from '../../model/signature.js';

export const AQUEDUCT_ANNOTATION = 'haproxy.node-haproxy.io/aqueduct';

export interface AqueductRule {
  type: string;
  operation?: string;
  header?: string;
  value: string;
  backend: string;
}

export interface AqueductFrontend {
  id: string;
  _type: 'frontend';
  key: string;
  name: string;
  bind: string;
  backend: string | null;
  mode: string;
  keepalive: string;
  rules: (AqueductRule | { type: 'node-haproxy'; rule: RouteRule; backend: string })[];
  natives: string[];
}

export interface AqueductMember {
  id: string;
  name?: string;
  version?: string;
  host: string;
  port: number;
  meta?: unknown;
  /** node-haproxy additions: the HAProxy server name, admin state and weight. */
  server: string;
  state: string;
  weight: number;
}

export interface AqueductHealth {
  method: string;
  uri: string;
  httpVersion: string;
  interval: number;
}

export interface AqueductBackend {
  id: string;
  _type: 'backend';
  key: string;
  type: string;
  name?: string;
  version?: string;
  balance: string;
  host: string | null;
  mode: string;
  health?: AqueductHealth;
  members: AqueductMember[];
  natives: string[];
}

export interface Translation {
  /** Our resource, not yet validated (undefined when the payload could not be translated). */
  resource?: Record<string, unknown>;
  /** Problems found while translating, with aqueduct's field names. */
  issues: ApiIssue[];
  /** Maps a field of our resource (from validation) to the aqueduct field it came from. */
  mapField(field: string): string;
}

export interface TranslateOptions {
  namespace: string;
  allowRawConfig: boolean;
}

type Obj = Record<string, unknown>;

/**
 * The resource name an aqueduct key maps to: lowercase, `_` → `-`
 * (`My_App` → `my-app`). Deterministic, so GET, PUT and DELETE of a key
 * meet the same resource; two keys that map to one name collide (the API
 * refuses the second with 409). A key still invalid after mapping is
 * reported on `key` by validation.
 */
export function resourceNameOfKey(key: string): string {
  return key.toLowerCase().replace(/_/g, '-');
}

/** The aqueduct key of a resource: the one its client wrote, while it still maps to the resource's name. */
export function aqueductKeyOf(r: { metadata: { name: string; annotations?: Record<string, string> } }): string {
  const key = storedOf<{ key: unknown }>(r).key;
  return typeof key === 'string' && resourceNameOfKey(key) === r.metadata.name ? key : r.metadata.name;
}

/** A backend reference as the client wrote it, while it still names `name`. */
function keyOrName(written: unknown, name: string): string {
  return typeof written === 'string' && resourceNameOfKey(written) === name ? written : name;
}
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v) ?? String(v);

/** Aqueduct accepted, and its GET answers carry, these bookkeeping fields: accepted and checked, never stored. */
function checkIdentity(body: Obj, type: 'frontend' | 'backend', key: string, issues: ApiIssue[]): void {
  if (body._type !== undefined && body._type !== type) issues.push({ field: '_type', message: `${show(body._type)} must be "${type}"` });
  if (body.id !== undefined && body.id !== `${type}/${key}`)
    issues.push({ field: 'id', message: `${show(body.id)} does not match the URL; it must be "${type}/${key}"` });
  if (body.key !== undefined && body.key !== key) issues.push({ field: 'key', message: `${show(body.key)} does not match the URL key ${show(key)}` });
}

function checkKnown(body: Obj, allowed: readonly string[], prefix: string, issues: ApiIssue[]): void {
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k))
      issues.push({ field: `${prefix}${k}`, message: `is not a known field; allowed: ${allowed.filter((a) => a !== 'status').join(', ')}` });
  }
}

/** `*:80,10.0.0.1:8080,[::1]:443` → binds. */
export function parseBind(bind: string, issues: ApiIssue[]): { address: string; port: number }[] {
  const out: { address: string; port: number }[] = [];
  for (const part of bind.split(',').map((p) => p.trim())) {
    const m = /^(\[([0-9A-Fa-f:.]+)\]|(.*)):([0-9]{1,5})$/.exec(part);
    if (!m) {
      issues.push({ field: 'bind', message: `${show(part)} is not ADDRESS:PORT; give a comma-separated list like "*:80,10.0.0.1:8080"` });
      continue;
    }
    const host = m[2] ?? m[3] ?? '';
    out.push({ address: host === '' || host === '*' ? '*' : host, port: Number(m[4]) });
  }
  return out;
}

const KEEPALIVE_IN: Record<string, string> = { default: 'keep-alive', close: 'close', 'server-close': 'server-close' };
const KEEPALIVE_OUT: Record<string, string> = { 'keep-alive': 'default', close: 'close', 'server-close': 'server-close' };

/** One aqueduct rule → our rules (hdr_dom on host gives two: the domain and its subdomains). */
function translateRule(r: unknown, i: number, issues: ApiIssue[]): RouteRule[] {
  const f = `rules[${i}]`;
  if (!isObj(r)) {
    issues.push({ field: f, message: 'must be an object like {"type": "path", "operation": "path_beg", "value": "/api", "backend": "api"}' });
    return [];
  }
  checkKnown(r, ['type', 'operation', 'header', 'value', 'backend', 'id'], `${f}.`, issues);
  const backend = typeof r.backend === 'string' ? resourceNameOfKey(r.backend) : (r.backend as string);
  if (typeof r.value !== 'string') {
    issues.push({ field: `${f}.value`, message: r.value === undefined ? 'is required' : `${show(r.value)} must be a string` });
    return [];
  }
  const value = r.value;
  const op = r.operation;
  if (op !== undefined && typeof op !== 'string') {
    issues.push({ field: `${f}.operation`, message: `${show(op)} must be a string` });
    return [];
  }
  switch (r.type) {
    case 'path':
    case 'url': {
      const operation = op ?? `${r.type}_beg`;
      if (operation === `${r.type}_beg`) return [{ pathPrefix: value, backend }];
      if (operation === 'path' || (operation === 'url' && !value.includes('?'))) return [{ matches: { path: { type: 'Exact', value } }, backend }];
      if (operation === 'path_reg') return [{ matches: { path: { type: 'RegularExpression', value } }, backend }];
      issues.push({
        field: `${f}.operation`,
        message:
          operation === 'url' || operation === 'url_reg'
            ? `${show(operation)} with a query is not supported: node-haproxy matches the path and query parameters separately; use "path"/"path_reg" (and a node-haproxy rule with matches.queryParams)`
            : `${show(operation)} is not supported: use "${r.type}_beg" (prefix), "${r.type}" (exact)${r.type === 'path' ? ' or "path_reg" (regular expression)' : ''}`,
      });
      return [];
    }
    case 'header': {
      const header = r.header ?? 'host';
      if (typeof header !== 'string') {
        issues.push({ field: `${f}.header`, message: `${show(header)} must be a header name` });
        return [];
      }
      const operation = op ?? 'hdr_dom';
      if (header.toLowerCase() === 'host') {
        if (operation === 'hdr_dom')
          return value.startsWith('*.')
            ? [{ host: value, backend }]
            : [
                { host: value, backend },
                { host: `*.${value}`, backend },
              ];
        if (operation === 'hdr' || operation === 'hdr_str') return [{ host: value, backend }];
        if (operation === 'hdr_end' && value.startsWith('.')) return [{ host: `*${value}`, backend }];
        issues.push({
          field: `${f}.operation`,
          message: `${show(operation)} is not supported on the host header; use "hdr_dom" (domain and subdomains), "hdr" (exact) or "hdr_end" with a value like ".example.com"`,
        });
        return [];
      }
      if (operation === 'hdr' || operation === 'hdr_str') return [{ header: { name: header, value }, backend }];
      if (operation === 'hdr_reg') return [{ matches: { headers: [{ name: header, value, type: 'RegularExpression' }] }, backend }];
      issues.push({
        field: `${f}.operation`,
        message: `${show(operation)} is not supported on header ${show(header)}; use "hdr" (exact value) or "hdr_reg" (regular expression)`,
      });
      return [];
    }
    default:
      issues.push({
        field: `${f}.type`,
        message: r.type === undefined ? 'is required: "path", "url" or "header"' : `${show(r.type)} is not one of "path", "url", "header"`,
      });
      return [];
  }
}

function translateRules(rules: unknown, issues: ApiIssue[]): { rules: RouteRule[]; origin: number[] } {
  const out: RouteRule[] = [];
  const origin: number[] = [];
  if (rules === undefined || rules === null) return { rules: out, origin };
  if (!Array.isArray(rules)) {
    issues.push({ field: 'rules', message: 'must be an array of rules' });
    return { rules: out, origin };
  }
  rules.forEach((r, i) => {
    for (const t of translateRule(r, i, issues)) {
      out.push(t);
      origin.push(i);
    }
  });
  return { rules: out, origin };
}

/** natives (and generated lines) → the raw-config annotation; refused unless enabled. */
function rawLines(natives: unknown, extra: string[], o: TranslateOptions, issues: ApiIssue[]): string[] | undefined {
  if (natives !== undefined && natives !== null && !Array.isArray(natives)) {
    issues.push({ field: 'natives', message: 'must be an array of strings' });
    return undefined;
  }
  const lines = [...((natives as unknown[] | undefined | null) ?? []), ...extra];
  if (lines.length === 0) return undefined;
  if (!o.allowRawConfig) {
    const isHost = !(natives as unknown[] | undefined)?.length;
    issues.push({
      field: isHost ? 'host' : 'natives',
      message: isHost
        ? 'rewriting the Host header needs raw configuration (node-haproxy has no Host rewrite field yet), and raw configuration is disabled on this controller; remove host, or ask the operator to enable raw configuration (--allow-raw-config)'
        : 'raw configuration is disabled on this controller; remove it, or ask the operator to enable raw configuration (--allow-raw-config)',
    });
    return undefined;
  }
  return lines as string[];
}

/** Our field → aqueduct field, shared by both kinds. */
function mapCommon(field: string, nativesCount: number): string | undefined {
  if (field === 'metadata.name') return 'key';
  if (field === 'spec.mode') return 'mode';
  const raw = field.startsWith(RAW_CONFIG_FIELD) ? /^\[(\d+)\]/.exec(field.slice(RAW_CONFIG_FIELD.length)) : undefined;
  if (raw) return Number(raw[1]) < nativesCount ? `natives[${raw[1]}]` : 'host';
  if (field.startsWith(RAW_CONFIG_FIELD)) return 'natives';
  return undefined;
}

export function frontendFromAqueduct(key: string, body: Obj, o: TranslateOptions): Translation {
  const issues: ApiIssue[] = [];
  checkKnown(body, ['id', '_type', 'key', 'name', 'bind', 'backend', 'mode', 'keepalive', 'rules', 'natives', 'status'], '', issues);
  checkIdentity(body, 'frontend', key, issues);
  if (body.name !== undefined && body.name !== key) issues.push({ field: 'name', message: `${show(body.name)} does not match the URL key ${show(key)}` });
  let binds: { address: string; port: number }[] = [];
  if (typeof body.bind !== 'string')
    issues.push({
      field: 'bind',
      message: body.bind === undefined ? 'is required, like "*:80" or "10.0.0.1:80,*:8080"' : `${show(body.bind)} must be a string like "*:80"`,
    });
  else binds = parseBind(body.bind, issues);
  if (body.backend !== undefined && body.backend !== null && typeof body.backend !== 'string')
    issues.push({ field: 'backend', message: `${show(body.backend)} must be a backend key` });
  const keepalive = body.keepalive ?? 'default';
  if (typeof keepalive !== 'string' || !(keepalive in KEEPALIVE_IN))
    issues.push({ field: 'keepalive', message: `${show(keepalive)} is not one of "default", "close", "server-close"` });
  const { rules, origin } = translateRules(body.rules, issues);
  const natives = rawLines(body.natives, [], o, issues);
  const nativesCount = natives?.length ?? 0;
  const mapField = (field: string): string => {
    const common = mapCommon(field, nativesCount);
    if (common) return common;
    if (field.startsWith('spec.binds')) return 'bind';
    if (field === 'spec.defaultBackend') return 'backend';
    if (field === 'spec.keepAlive') return 'keepalive';
    const r = /^spec\.rules\[(\d+)\](?:\.(\w+))?/.exec(field);
    if (r) {
      const i = origin[Number(r[1])] ?? Number(r[1]);
      if (r[2] === 'backend') return `rules[${i}].backend`;
      if (r[2] === 'header' && /\.name$/.test(field)) return `rules[${i}].header`;
      return r[2] ? `rules[${i}].value` : `rules[${i}]`;
    }
    if (field === 'spec.rules') return 'rules';
    return field;
  };
  if (issues.length > 0) return { issues, mapField };

  const stored = {
    key,
    bind: body.bind,
    backend: body.backend ?? null,
    mode: body.mode ?? 'http',
    keepalive,
    rules: body.rules ?? [],
    natives: body.natives ?? [],
  };
  const annotations: Record<string, string> = { [AQUEDUCT_ANNOTATION]: JSON.stringify(stored) };
  if (natives) annotations[RAW_CONFIG_ANNOTATION] = JSON.stringify(natives);
  const spec: Obj = { mode: body.mode ?? 'http', binds, rules, keepAlive: KEEPALIVE_IN[keepalive as string] };
  if (typeof body.backend === 'string' && body.backend !== '') spec.defaultBackend = resourceNameOfKey(body.backend);
  return {
    resource: { apiVersion: API_VERSION, kind: 'Frontend', metadata: { name: resourceNameOfKey(key), namespace: o.namespace, annotations }, spec },
    issues,
    mapField,
  };
}

/**
 * Aqueduct wrote `balance` into haproxy.cfg as given: the algorithms with a
 * counterpart are translated, the rest refused on `balance` with the reason.
 */
function balanceFromAqueduct(v: unknown, issues: ApiIssue[]): Obj {
  if (v === undefined || v === null) return { balance: 'roundrobin' };
  if (typeof v !== 'string') {
    issues.push({ field: 'balance', message: `${show(v)} must be a string like "roundrobin"` });
    return {};
  }
  const text = v.trim();
  if (['roundrobin', 'leastconn', 'source', 'first', 'random', 'uri'].includes(text)) return { balance: text };
  const param = /^url_param\s+(\S+)$/.exec(text);
  if (param && new RegExp(PATTERNS.urlParam).test(param[1]!)) return { balance: 'url_param', balanceUrlParam: param[1] };
  const hdr = /^hdr\(\s*([^()\s]+)\s*\)$/.exec(text);
  if (hdr && new RegExp(PATTERNS.headerName).test(hdr[1]!)) return { balance: 'hdr', balanceHeader: hdr[1] };
  issues.push({
    field: 'balance',
    message:
      `${show(v)} is not supported: use roundrobin, leastconn, source, first, random, uri, "url_param NAME" or "hdr(NAME)"` +
      ' (algorithm options such as uri depth/whole, url_param check_post, static-rr and rdp-cookie are not available)',
  });
  return {};
}

function balanceToAqueduct(s: Backend['spec']): string {
  if (s.balance === 'url_param') return `url_param ${s.balanceUrlParam}`;
  if (s.balance === 'hdr') return `hdr(${s.balanceHeader})`;
  return s.balance;
}

/** Aqueduct intervals are milliseconds; ours are HAProxy durations. */
export function msToDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export function durationToMs(d: string): number {
  const m = /^([0-9]+)(us|ms|s|m|h|d)?$/.exec(d);
  return m ? Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!) : NaN;
}

/** The HAProxy server name for an aqueduct member: `HOST_PORT`, in the characters server names allow. */
export function memberServerName(host: string, port: unknown): string {
  const name = `${host}_${String(port)}`.replace(/[^A-Za-z0-9_.-]/g, '-');
  return /^[A-Za-z0-9]/.test(name) ? name : `m${name}`;
}

interface StoredBackend {
  key?: string;
  type: string;
  name?: string;
  version?: string;
  host?: string | null;
  health?: Obj;
  natives: string[];
  members: Record<string, { name?: string; version?: string; meta?: unknown }>;
}

export function backendFromAqueduct(key: string, body: Obj, o: TranslateOptions): Translation {
  const issues: ApiIssue[] = [];
  checkKnown(body, ['id', '_type', 'key', 'type', 'name', 'version', 'balance', 'host', 'mode', 'members', 'natives', 'health', 'status'], '', issues);
  checkIdentity(body, 'backend', key, issues);
  const type = body.type ?? 'static';
  if (type !== 'static' && type !== 'dynamic') issues.push({ field: 'type', message: `${show(type)} is not one of "static", "dynamic"` });
  for (const f of ['name', 'version'] as const) {
    if (body[f] !== undefined && body[f] !== null && typeof body[f] !== 'string') issues.push({ field: f, message: `${show(body[f])} must be a string` });
  }
  const mode = body.mode ?? 'http';
  const balance = balanceFromAqueduct(body.balance, issues);
  const host = body.host === null || body.host === '' ? undefined : body.host;
  if (host !== undefined && (typeof host !== 'string' || !new RegExp(PATTERNS.host).test(host) || host.length > 253)) {
    issues.push({ field: 'host', message: `${show(host)} is not allowed: use a DNS name such as "myapp.example.com"` });
  }

  // Health: aqueduct checked every member (`check inter <interval>`), over http when asked.
  let healthCheck: Obj = { type: 'tcp', interval: '2s' };
  const health = body.health;
  if (health !== undefined && health !== null) {
    if (!isObj(health)) issues.push({ field: 'health', message: 'must be an object like {"method": "GET", "uri": "/health", "interval": 5000}' });
    else {
      checkKnown(health, ['method', 'uri', 'httpVersion', 'interval'], 'health.', issues);
      const interval = health.interval ?? 2000;
      if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 1)
        issues.push({ field: 'health.interval', message: `${show(interval)} must be a whole number of milliseconds, at least 1` });
      const httpVersion = health.httpVersion ?? 'HTTP/1.0';
      if (httpVersion !== 'HTTP/1.0' && httpVersion !== 'HTTP/1.1')
        issues.push({ field: 'health.httpVersion', message: `${show(httpVersion)} is not one of "HTTP/1.0", "HTTP/1.1"` });
      if (httpVersion === 'HTTP/1.1' && host === undefined)
        issues.push({ field: 'host', message: 'is required with health.httpVersion "HTTP/1.1" (it is the Host header of the check)' });
      healthCheck =
        mode === 'http'
          ? {
              type: 'http',
              method: health.method ?? 'GET',
              path: health.uri ?? '/',
              interval: typeof interval === 'number' ? msToDuration(interval) : interval,
              ...(httpVersion === 'HTTP/1.1' && typeof host === 'string' ? { host } : {}),
            }
          : { type: 'tcp', interval: typeof interval === 'number' ? msToDuration(interval) : interval };
    }
  }

  const members: Obj[] = [];
  const memberExtras: StoredBackend['members'] = {};
  if (body.members !== undefined && body.members !== null && !Array.isArray(body.members))
    issues.push({ field: 'members', message: 'must be an array of {"host": "10.0.0.1", "port": 8080}' });
  ((Array.isArray(body.members) ? body.members : []) as unknown[]).forEach((m, i) => {
    const f = `members[${i}]`;
    if (!isObj(m)) {
      issues.push({ field: f, message: 'must be an object like {"host": "10.0.0.1", "port": 8080}' });
      return;
    }
    checkKnown(m, ['host', 'port', 'name', 'version', 'meta', 'id', 'lastKnown', 'server', 'state', 'weight'], `${f}.`, issues);
    if (typeof m.host !== 'string') issues.push({ field: `${f}.host`, message: m.host === undefined ? 'is required' : `${show(m.host)} must be a string` });
    const port = typeof m.port === 'string' && /^[0-9]{1,5}$/.test(m.port) ? Number(m.port) : m.port;
    if (port === undefined) issues.push({ field: `${f}.port`, message: 'is required' });
    const server = memberServerName(String(m.host), port);
    const member: Obj = { name: server, address: m.host, port };
    if (m.weight !== undefined) member.weight = m.weight;
    if (m.state !== undefined) member.state = m.state;
    members.push(member);
    memberExtras[server] = { name: m.name as string | undefined, version: m.version as string | undefined, meta: m.meta };
  });

  const natives = rawLines(body.natives, typeof host === 'string' ? [`http-request set-header Host ${host}`] : [], o, issues);
  const nativesCount = Array.isArray(body.natives) ? body.natives.length : 0;
  const mapField = (field: string): string => {
    const common = mapCommon(field, nativesCount);
    if (common) return common;
    if (field === 'spec.balance' || field === 'spec.balanceUrlParam' || field === 'spec.balanceHeader') return 'balance';
    const m = /^spec\.members\[(\d+)\](?:\.(\w+))?/.exec(field);
    if (m) return m[2] === 'address' ? `members[${m[1]}].host` : m[2] === 'name' || !m[2] ? `members[${m[1]}]` : `members[${m[1]}].${m[2]}`;
    if (field === 'spec.members') return 'members';
    const h = /^spec\.healthCheck(?:\.(\w+))?/.exec(field);
    if (h) return h[1] === 'path' ? 'health.uri' : h[1] === 'host' ? 'host' : h[1] ? `health.${h[1]}` : 'health';
    return field;
  };
  if (issues.length > 0) return { issues, mapField };

  const stored: StoredBackend = {
    key,
    type: type as string,
    name: (body.name as string | undefined) ?? undefined,
    version: (body.version as string | undefined) ?? undefined,
    host: (host as string | undefined) ?? null,
    health: isObj(health) ? health : undefined,
    natives: (body.natives as string[] | undefined) ?? [],
    members: memberExtras,
  };
  const annotations: Record<string, string> = { [AQUEDUCT_ANNOTATION]: JSON.stringify(stored) };
  if (natives) annotations[RAW_CONFIG_ANNOTATION] = JSON.stringify(natives);
  const spec: Obj = { mode, ...balance, members, healthCheck };
  return {
    resource: { apiVersion: API_VERSION, kind: 'Backend', metadata: { name: resourceNameOfKey(key), namespace: o.namespace, annotations }, spec },
    issues,
    mapField,
  };
}

function storedOf<T>(r: { metadata: { annotations?: Record<string, string> } }): Partial<T> {
  const text = r.metadata.annotations?.[AQUEDUCT_ANNOTATION];
  if (!text) return {};
  try {
    // Bounded: the annotation can be set through any source.
    const v = parseDocument(text, { format: 'json' });
    return isObj(v) ? (v as Partial<T>) : {};
  } catch {
    return {};
  }
}

/** Our rule → aqueduct's rule, for resources not written through aqueduct routes. */
function ruleToAqueduct(r: RouteRule): AqueductFrontend['rules'][number] {
  const conditions = [r.host, r.pathPrefix, r.header].filter((c) => c !== undefined).length;
  const backend = r.backend ?? (r.backends?.length === 1 ? r.backends[0]!.name : undefined);
  const simple = backend !== undefined && !hasRuleLines(r);
  if (simple && conditions === 1 && !r.matches) {
    if (r.pathPrefix) return { type: 'path', operation: 'path_beg', value: r.pathPrefix, backend };
    if (r.header) return { type: 'header', header: r.header.name, operation: 'hdr', value: r.header.value, backend };
    if (r.host?.startsWith('*.')) return { type: 'header', header: 'host', operation: 'hdr_end', value: r.host.slice(1), backend };
    if (r.host) return { type: 'header', header: 'host', operation: 'hdr', value: r.host, backend };
  }
  const m = r.matches;
  if (simple && conditions === 0 && m && Object.keys(m).length === 1) {
    const p = m.path;
    if (p) return { type: 'path', operation: p.type === 'Exact' ? 'path' : p.type === 'PathPrefix' ? 'path_beg' : 'path_reg', value: p.value, backend };
    const h = m.headers?.length === 1 ? m.headers[0]! : undefined;
    if (h) return { type: 'header', header: h.name, operation: h.type === 'RegularExpression' ? 'hdr_reg' : 'hdr', value: h.value, backend };
  }
  // Several conditions, a split, filters, an IP list or a timeout in one rule: aqueduct cannot say that; show ours.
  return { type: 'node-haproxy', rule: r, backend: backend ?? '' };
}

export function frontendToAqueduct(f: Frontend): AqueductFrontend {
  const key = aqueductKeyOf(f);
  const stored = storedOf<{ rules: unknown[]; backend: unknown }>(f);
  let rules: AqueductFrontend['rules'] = f.spec.rules.map(ruleToAqueduct);
  if (Array.isArray(stored.rules)) {
    // The rules as written, while they still say what the resource does.
    const again = translateRules(stored.rules, []);
    if (canonicalJson(again.rules) === canonicalJson(f.spec.rules)) rules = stored.rules as AqueductRule[];
  }
  return {
    id: `frontend/${key}`,
    _type: 'frontend',
    key,
    name: key,
    bind: f.spec.binds.map((b) => endpoint(b.address, b.port)).join(','),
    backend: f.spec.defaultBackend === undefined ? null : keyOrName(stored.backend, f.spec.defaultBackend),
    mode: f.spec.mode,
    keepalive: KEEPALIVE_OUT[f.spec.keepAlive] ?? f.spec.keepAlive,
    rules,
    natives: rawConfigLines(f),
  };
}

export function membersToAqueduct(b: Backend): AqueductMember[] {
  const stored = storedOf<StoredBackend>(b);
  return b.spec.members.map((m) => {
    const extra = stored.members?.[m.name] ?? {};
    const id = extra.name && extra.version ? `/${extra.name}/${extra.version}/${m.address}/${m.port}` : `/${m.address}/${m.port}`;
    const out: AqueductMember = { id, host: m.address, port: m.port, server: m.name, state: m.state, weight: m.weight };
    if (extra.name !== undefined) out.name = extra.name;
    if (extra.version !== undefined) out.version = extra.version;
    if (extra.meta !== undefined) out.meta = extra.meta;
    return out;
  });
}

export function backendToAqueduct(b: Backend): AqueductBackend {
  const key = aqueductKeyOf(b);
  const stored = storedOf<StoredBackend>(b);
  const raw = rawConfigLines(b);
  const hostLine = stored.host ? `http-request set-header Host ${stored.host}` : undefined;
  const host = hostLine && raw[raw.length - 1] === hostLine ? stored.host! : null;
  const natives = host ? raw.slice(0, -1) : raw;
  const hc = b.spec.healthCheck;
  let health: AqueductHealth | undefined;
  if (hc?.type === 'http') {
    health = { method: hc.method ?? 'GET', uri: hc.path ?? '/', httpVersion: hc.host ? 'HTTP/1.1' : 'HTTP/1.0', interval: durationToMs(hc.interval) };
  } else if (hc && stored.health) {
    health = { method: 'GET', uri: '/', httpVersion: 'HTTP/1.0', ...(stored.health as Partial<AqueductHealth>), interval: durationToMs(hc.interval) };
  }
  const out: AqueductBackend = {
    id: `backend/${key}`,
    _type: 'backend',
    key,
    type: stored.type ?? 'static',
    balance: balanceToAqueduct(b.spec),
    host,
    mode: b.spec.mode,
    members: membersToAqueduct(b),
    natives,
  };
  if (stored.name) out.name = stored.name;
  if (stored.version) out.version = stored.version;
  if (health) out.health = health;
  return out;
}
