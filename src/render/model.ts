/**
 * The render model: resources turned into HAProxy terms (proxy names, bind
 * strings, ACLs, server lines). Pure. The template only prints this model;
 * every decision about HAProxy syntax is made here, where it can be tested.
 */
import { endpoint, proxyName } from '../model/naming.js';
import { rawConfigLines } from '../model/raw-config.js';
import { routingLines } from './routing.js';
import { HASH_BALANCE, type Backend, type Frontend, type MemberState } from '../model/types.js';

export interface GlobalSettings {
  /** Stats socket (runtime API), `expose-fd listeners` for hitless reloads. */
  adminSocket: string;
  /** Server states and weights dumped before a reload and loaded by the new worker. */
  serverStateFile: string;
  /** Upper bound on how long an old worker may keep serving after a reload. */
  hardStopAfter: string;
  /**
   * Spread the closing of an old worker's connections over this time. Off by
   * default: on 2.6 it resets keep-alive connections that `option
   * idle-close-on-response` would otherwise close cleanly (docs/decisions/0003).
   */
  closeSpreadTime?: string;
  /** Global maxconn; undefined lets HAProxy derive it from the file-descriptor limit. */
  maxconn?: number;
  /** Optional HAProxy stats page and built-in Prometheus exporter. */
  statsListener?: { address: string; port: number };
}

export interface ServerModel {
  name: string;
  address: string;
  port: number;
  /** `addr:port` as HAProxy reads it (`[::1]:80` for IPv6). */
  endpoint: string;
  weight: number;
  state: MemberState;
  /** Everything after the address that is neither weight nor state: also used by `add server`. */
  params: string;
}

export interface BackendModel {
  key: string;
  name: string;
  mode: 'http' | 'tcp';
  balance: string;
  lines: string[];
  servers: ServerModel[];
}

export interface FrontendModel {
  key: string;
  name: string;
  mode: 'http' | 'tcp';
  binds: string[];
  lines: string[];
  acls: string[];
  routes: string[];
  defaultBackend?: string;
}

export interface ConfigModel {
  global: GlobalSettings;
  frontends: FrontendModel[];
  backends: BackendModel[];
}

export { endpoint, proxyName } from '../model/naming.js';

/**
 * One configuration word that HAProxy reads back as exactly `s`: single quotes
 * keep spaces, `"`, `\`, `#` and `$` literal; a `'` closes the quote, is
 * written escaped, and the quote opens again (`it's` → `'it'\''s'`).
 */
export function haproxyQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

const KEEPALIVE_OPTION = {
  'keep-alive': 'option http-keep-alive',
  'server-close': 'option http-server-close',
  close: 'option httpclose',
} as const;

function frontendModel(f: Frontend): FrontendModel {
  const s = f.spec;
  const ns = f.metadata.namespace;
  const lines: string[] = [];
  if (s.maxconn !== undefined) lines.push(`maxconn ${s.maxconn}`);
  if (s.timeouts.client) lines.push(`timeout client ${s.timeouts.client}`);
  if (s.mode === 'http') {
    if (s.timeouts.httpRequest) lines.push(`timeout http-request ${s.timeouts.httpRequest}`);
    if (s.timeouts.httpKeepAlive) lines.push(`timeout http-keep-alive ${s.timeouts.httpKeepAlive}`);
    if (s.forwardFor) lines.push('option forwardfor');
    lines.push(KEEPALIVE_OPTION[s.keepAlive]);
  } else {
    lines.push('option tcplog');
  }
  // Raw lines (validated when the resource was accepted; re-checked by rawConfigLines).
  lines.push(...rawConfigLines(f));

  // Routing (http mode): src/render/routing.ts.
  const { acls, routes } = routingLines(ns, s.rules);

  return {
    key: `Frontend/${ns}/${f.metadata.name}`,
    name: proxyName(ns, f.metadata.name),
    mode: s.mode,
    binds: s.binds.map((b) => endpoint(b.address, b.port)),
    lines,
    acls,
    routes,
    defaultBackend: s.defaultBackend ? proxyName(ns, s.defaultBackend) : undefined,
  };
}

/**
 * Server parameters other than weight and state, identical in the file and in
 * `add server` (dynamic servers do not inherit `default-server`).
 */
export function serverParams(b: Backend): string {
  const parts: string[] = [];
  if (b.spec.maxconn !== undefined) parts.push(`maxconn ${b.spec.maxconn}`);
  const hc = b.spec.healthCheck;
  if (hc) parts.push(`check inter ${hc.interval} rise ${hc.rise} fall ${hc.fall}`);
  return parts.join(' ');
}

/** The weight HAProxy should run with: a draining member takes no new traffic. */
export const effectiveWeight = (m: { weight: number; state: MemberState }): number => (m.state === 'drain' ? 0 : m.weight);

/** The `balance` line's argument: hashing algorithms carry what they hash (validated: schema patterns). */
export function balanceText(s: Backend['spec']): string {
  if (s.balance === 'url_param') return `url_param ${s.balanceUrlParam}`;
  if (s.balance === 'hdr') return `hdr(${s.balanceHeader})`;
  return s.balance;
}

function backendModel(b: Backend): BackendModel {
  const s = b.spec;
  const lines: string[] = [];
  // Hashing algorithms are static in HAProxy 2.6 (no `add server`, no weight change) unless consistent.
  if (HASH_BALANCE.includes(s.balance)) lines.push('hash-type consistent');
  if (s.timeouts.connect) lines.push(`timeout connect ${s.timeouts.connect}`);
  if (s.timeouts.server) lines.push(`timeout server ${s.timeouts.server}`);
  if (s.timeouts.queue) lines.push(`timeout queue ${s.timeouts.queue}`);
  const hc = s.healthCheck;
  if (hc?.type === 'http') {
    lines.push('option httpchk');
    const send = [`http-check send meth ${hc.method ?? 'GET'} uri ${hc.path ?? '/'}`];
    if (hc.host) send.push(`hdr Host ${hc.host}`);
    lines.push(send.join(' '));
    lines.push('http-check expect status 200-399');
  }
  lines.push(...rawConfigLines(b));
  const params = serverParams(b);
  const servers = [...s.members]
    .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
    .map((m) => ({
      name: m.name,
      address: m.address,
      port: m.port,
      endpoint: endpoint(m.address, m.port),
      weight: effectiveWeight(m),
      state: m.state,
      params,
    }));
  return {
    key: `Backend/${b.metadata.namespace}/${b.metadata.name}`,
    name: proxyName(b.metadata.namespace, b.metadata.name),
    mode: s.mode,
    balance: balanceText(s),
    lines,
    servers,
  };
}

/**
 * Backend models by resource object. Resources are immutable once validated
 * (never mutated in the store), so an unchanged backend keeps its model from
 * pass to pass: at 100,000 servers that saves allocating the whole model
 * again, and lets the planner skip it by identity. Weak: no leak.
 */
const backendModels = new WeakMap<Backend, BackendModel>();
function cachedBackendModel(b: Backend): BackendModel {
  let m = backendModels.get(b);
  if (!m) backendModels.set(b, (m = backendModel(b)));
  return m;
}

/** Builds the model. Input order does not matter: output is sorted by proxy name. */
export function buildConfigModel(input: { frontends: readonly Frontend[]; backends: readonly Backend[]; global: GlobalSettings }): ConfigModel {
  const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    global: { statsListener: undefined, maxconn: undefined, closeSpreadTime: undefined, ...input.global },
    frontends: input.frontends.map(frontendModel).sort(byName),
    backends: input.backends.map(cachedBackendModel).sort(byName),
  };
}
