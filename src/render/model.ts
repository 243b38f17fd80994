/**
 * The render model: resources turned into HAProxy terms (proxy names, bind
 * strings, ACLs, server lines). Pure. The template only prints this model;
 * every decision about HAProxy syntax is made here, where it can be tested.
 */
import { posix } from 'node:path';
import { endpoint, proxyName } from '../model/naming.js';
import { rawConfigLines } from '../model/raw-config.js';
import type { DiscoveredValues } from '../model/discovered.js';
import { secretKey, type SecretData } from '../model/secrets.js';
import type { BackendWithCaBundle, BindTlsMaterial } from '../model/tls.js';
import { HASH_BALANCE, type Backend, type CaRef, type Frontend, type MemberState } from '../model/types.js';
import { backendPolicy, frontendPolicy, memberPolicyParams, type UserlistModel } from './policy.js';
import { tlsBindOptions } from './tls-files.js';
import { REQUEST_TIMEOUT_LINE, routingLines } from './routing.js';
import { normaliseRule } from '../model/routing.js';
import { mapRoutingLines, usesMaps, type AclRuleNote } from './routing-maps.js';

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
  /** Absolute state directory: TLS files (render/tls-files.ts) are named by absolute path under it. */
  stateDir?: string;
  /**
   * Route host/path rules through map files (render/routing-maps.ts), so their
   * changes apply at run time. The controller sets it; without it, every rule is
   * an ACL (render/routing.ts, phase 1).
   */
  routingMaps?: boolean;
}

/**
 * The state directory (absolute), where the admin socket is: auxiliary files
 * (certificates, CA bundles) live under it and are named by absolute path in
 * haproxy.cfg.
 */
export const stateDirOf = (g: Pick<GlobalSettings, 'adminSocket'>): string => posix.dirname(g.adminSocket);

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
  /**
   * Auxiliary files the servers' parameters name (a CA bundle for `ca-file`):
   * path relative to the state directory → content. Written before `haproxy -c`.
   */
  files?: Record<string, string>;
}

export interface FrontendModel {
  key: string;
  name: string;
  mode: 'http' | 'tcp';
  binds: string[];
  /** Settings, then the requests rules before the rule lookup: the frontend's IP list and rate limit. */
  lines: string[];
  acls: string[];
  /**
   * The rule lookup (which rule wins) and the winning rule's IP list; absent
   * when there is none (plain `use_backend` rules), so such a model compares
   * equal to one of earlier versions.
   */
  lookup?: string[];
  /**
   * After the lookup: the HTTPS redirect, the CORS preflight, basic auth, HSTS,
   * raw lines; absent when there are none. Order: docs/decisions/0011, "Order of
   * a frontend's request rules".
   */
  afterLookup?: string[];
  /** The rules' filters and `use_backend` lines. */
  routes: string[];
  defaultBackend?: string;
  /** Basic-auth users (spec.basicAuth), rendered as a `userlist` section before the frontend. */
  userlist: UserlistModel | undefined;
}

export interface ConfigModel {
  global: GlobalSettings;
  frontends: FrontendModel[];
  backends: BackendModel[];
  /**
   * Routing map files (render/routing-maps.ts) by path relative to the state
   * directory: auxiliary files, outside the frontends so that the planner
   * compares them as files (a map change is a runtime change), not as structure.
   */
  mapFiles?: Record<string, string>;
  /** Rules of map-routed frontends that haproxy.cfg holds, by frontend name: the planner names them in reload reasons. */
  aclRules?: Record<string, AclRuleNote[]>;
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

/** Paths the HTTPS redirect leaves alone: the ACME HTTP-01 challenge is answered in clear. */
export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/** How long a frontend with sniRoutes waits for the ClientHello when spec.timeouts.tlsInspect is not set. */
export const DEFAULT_TLS_INSPECT = '5s';

/** The Strict-Transport-Security value. */
export function hstsValue(h: { maxAge: number; includeSubDomains: boolean; preload: boolean }): string {
  return [`max-age=${h.maxAge}`, ...(h.includeSubDomains ? ['includeSubDomains'] : []), ...(h.preload ? ['preload'] : [])].join('; ');
}

/** A CA bundle's file under the state directory (the shared TLS layout): `certs/<ns>/secret-<name>.ca.pem`. */
export function caBundlePath(namespace: string, ref: CaRef): string {
  return `certs/${namespace}/${ref.kind === 'ConfigMap' ? 'configmap' : 'secret'}-${ref.name}.ca.pem`;
}

const KEEPALIVE_OPTION = {
  'keep-alive': 'option http-keep-alive',
  'server-close': 'option http-server-close',
  close: 'option httpclose',
} as const;

function frontendModel(
  f: Frontend,
  tls: readonly BindTlsMaterial[] | undefined,
  stateDir: string | undefined,
  maps?: Map<string, string>,
  notes?: Map<string, AclRuleNote[]>,
): FrontendModel {
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
  const name = proxyName(ns, f.metadata.name);
  const policy = frontendPolicy(f, name);
  // The frontend's IP list and rate limit; the rule lookup comes next (below), then `after`:
  // a client a rule's IP list refuses gets 403 before any redirect, preflight or password check.
  lines.push(...policy.lines.slice(0, policy.beforeRules));
  const after: string[] = [];
  if (s.httpsRedirect) {
    // Plain HTTP only (a TLS bind receives the same frontend), and never the ACME
    // HTTP-01 challenge, which must reach its backend in clear.
    const { port, statusCode } = s.httpsRedirect;
    const location = `https://%[req.hdr(host),field(1,:)]${port === 443 ? '' : `:${port}`}%[pathq]`;
    // Before the CORS preflight and basic auth: a password is never asked for (nor sent) in clear.
    after.push(`http-request redirect location ${location} code ${statusCode} if !{ ssl_fc } !{ path_beg ${ACME_CHALLENGE_PREFIX} }`);
  }
  after.push(...policy.lines.slice(policy.beforeRules));
  if (s.hsts) {
    // http-after-response: HAProxy's own answers (503, redirects) carry it too.
    after.push(`http-after-response set-header Strict-Transport-Security ${haproxyQuote(hstsValue(s.hsts))} if { ssl_fc }`);
  }
  if ((s.sniRoutes ?? []).length > 0) {
    lines.push(`tcp-request inspect-delay ${s.timeouts.tlsInspect ?? DEFAULT_TLS_INSPECT}`);
    lines.push('tcp-request content accept if { req_ssl_hello_type 1 }');
  }
  // Raw lines (validated when the resource was accepted; re-checked by rawConfigLines): after basic auth.
  after.push(...rawConfigLines(f));

  // Routing (http mode): src/render/routing.ts.
  const {
    acls,
    routes: routing,
    lookup,
  } = maps && stateDir && s.mode === 'http' && usesMaps(s.rules)
    ? (() => {
        const r = mapRoutingLines(ns, name, s.rules, stateDir);
        for (const [path, content] of r.files) maps.set(path, content);
        if (r.aclRules.length > 0) notes?.set(name, r.aclRules);
        return r;
      })()
    : routingLines(ns, s.rules);
  const routes = routing.slice(lookup);
  (s.sniRoutes ?? []).forEach((route, i) => {
    // One ACL, one line per name (ORed); names compared in lower case, wildcards as host rules do.
    const acl = `sni${i}`;
    for (const h of route.hosts) {
      const host = h.toLowerCase();
      acls.push(host.startsWith('*.') ? `acl ${acl} req.ssl_sni,lower -m end ${host.slice(1)}` : `acl ${acl} req.ssl_sni,lower -m str ${host}`);
    }
    routes.push(`use_backend ${proxyName(ns, route.backend)} if ${acl}`);
  });

  return {
    key: `Frontend/${ns}/${f.metadata.name}`,
    name,
    mode: s.mode,
    binds: s.binds.map((b, i) => {
      const m = b.tls && tls?.find((x) => x.bindIndex === i);
      const base = m ? `${endpoint(b.address, b.port)} ${tlsBindOptions(f, m, stateDir)}` : endpoint(b.address, b.port);
      return b.acceptProxyProtocol ? `${base} accept-proxy` : base;
    }),
    lines,
    acls,
    ...(lookup > 0 ? { lookup: routing.slice(0, lookup) } : {}),
    ...(after.length > 0 ? { afterLookup: after } : {}),
    routes,
    defaultBackend: s.defaultBackend ? proxyName(ns, s.defaultBackend) : undefined,
    userlist: policy.userlist,
  };
}

/**
 * Server parameters other than weight and state, identical in the file and in
 * `add server` (dynamic servers do not inherit `default-server`).
 */
export function serverParams(b: Backend, stateDir = '.'): string {
  const s = b.spec;
  const parts: string[] = [];
  const tls = s.tls;
  if (tls) {
    if (tls.verify === 'None') parts.push('ssl verify none');
    else {
      const ca = tls.caRef ? posix.join(stateDir, caBundlePath(b.metadata.namespace, tls.caRef)) : '@system-ca';
      parts.push(`ssl verify required ca-file ${ca}`);
    }
    // With sni, a verified certificate must also carry that name (HAProxy checks the SNI sent).
    if (tls.sni) parts.push(`sni str(${tls.sni.toLowerCase()})`);
    if (s.protocol === 'h2') parts.push('alpn h2');
  }
  if (s.protocol === 'h2') parts.push('proto h2');
  if (s.proxyProtocol) parts.push(s.proxyProtocol === 'v2' ? 'send-proxy-v2' : 'send-proxy');
  if (s.maxconn !== undefined) parts.push(`maxconn ${s.maxconn}`);
  const hc = s.healthCheck;
  if (hc) {
    parts.push(`check inter ${hc.interval} rise ${hc.rise} fall ${hc.fall}`);
    // Checks send no SNI and negotiate no ALPN unless told: the same as the traffic's.
    if (tls?.sni) parts.push(`check-sni ${tls.sni.toLowerCase()}`);
    if (tls && s.protocol === 'h2' && hc.type === 'http') parts.push('check-alpn h2');
  }
  return parts.join(' ');
}

/** `params` and a member's own parameters; the shared string itself when there are none. */
const withMemberParams = (params: string, own: string): string => (own ? (params ? `${params} ${own}` : own) : params);

/** The weight HAProxy should run with: a draining member takes no new traffic. */
export const effectiveWeight = (m: { weight: number; state: MemberState }): number => (m.state === 'drain' ? 0 : m.weight);

/** The `balance` line's argument: hashing algorithms carry what they hash (validated: schema patterns). */
export function balanceText(s: Backend['spec']): string {
  if (s.balance === 'url_param') return `url_param ${s.balanceUrlParam}`;
  if (s.balance === 'hdr') return `hdr(${s.balanceHeader})`;
  return s.balance;
}

/**
 * Backends (`Backend/<ns>/<name>`) that a rule with `timeouts.request` of an http
 * Frontend targets (every backend of a split): they render REQUEST_TIMEOUT_LINE,
 * every other backend's text stays as it was.
 */
export function timedBackends(frontends: readonly Frontend[]): Set<string> {
  const out = new Set<string>();
  for (const f of frontends) {
    if (f.spec.mode !== 'http') continue;
    for (const r of f.spec.rules) {
      if (r.timeouts?.request === undefined) continue;
      for (const b of normaliseRule(r).backends) out.add(`Backend/${f.metadata.namespace}/${b.name}`);
    }
  }
  return out;
}

function backendModel(b: Backend, stateDir: string, ca: string | undefined, timed: boolean): BackendModel {
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
  lines.push(...backendPolicy(b));
  if (timed && s.mode === 'http') lines.push(REQUEST_TIMEOUT_LINE);
  lines.push(...rawConfigLines(b));
  const params = serverParams(b, stateDir);
  // Only when there is one: models of backends without files stay as they were (and compare equal to persisted ones).
  const files = s.tls?.caRef && ca !== undefined ? { files: { [caBundlePath(b.metadata.namespace, s.tls.caRef)]: ca } } : {};
  const servers = [...s.members]
    .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
    .map((m) => ({
      name: m.name,
      address: m.address,
      port: m.port,
      endpoint: endpoint(m.address, m.port),
      weight: effectiveWeight(m),
      state: m.state,
      params: withMemberParams(params, memberPolicyParams(b, m)),
    }));
  return {
    key: `Backend/${b.metadata.namespace}/${b.metadata.name}`,
    name: proxyName(b.metadata.namespace, b.metadata.name),
    mode: s.mode,
    balance: balanceText(s),
    lines,
    servers,
    ...files,
  };
}

/**
 * Backend models by resource object. Resources are immutable once validated
 * (never mutated in the store), so an unchanged backend keeps its model from
 * pass to pass: at 100,000 servers that saves allocating the whole model
 * again, and lets the planner skip it by identity. Weak: no leak.
 */
const backendModels = new WeakMap<Backend, { stateDir: string; ca: string | undefined; timed: boolean; model: BackendModel }>();
function cachedBackendModel(b: Backend, stateDir: string, secrets: DiscoveredValues<SecretData> | undefined, timed: boolean): BackendModel {
  const ref = b.spec.tls?.caRef;
  // The CA bundle is an input too: a changed bundle is a changed model (and file). Resolve attaches
  // the one that serves (validated, or the last good one of a Secret that went bad); else the Secret's text.
  const attached = (b as BackendWithCaBundle).caBundle;
  const ca = ref && (attached ? attached.pem : secrets?.get(secretKey(ref.kind, b.metadata.namespace, ref.name))?.data['ca.crt']);
  const hit = backendModels.get(b);
  // So is whether a Frontend's rule with a request timeout targets it (timedBackends).
  if (hit && hit.stateDir === stateDir && hit.ca === ca && hit.timed === timed) return hit.model;
  const model = backendModel(b, stateDir, ca, timed);
  backendModels.set(b, { stateDir, ca, timed, model });
  return model;
}

/** Every auxiliary file the backends name (CA bundles): path relative to the state directory → content. */
export function backendFiles(model: Pick<ConfigModel, 'backends'>): Map<string, string> {
  const out = new Map<string, string>();
  for (const b of model.backends) for (const [path, content] of Object.entries(b.files ?? {})) out.set(path, content);
  return out;
}

/** Builds the model. Input order does not matter: output is sorted by proxy name. */
export function buildConfigModel(input: {
  frontends: readonly Frontend[];
  backends: readonly Backend[];
  global: GlobalSettings;
  /** Discovered Secrets and ConfigMaps (model/secrets.ts): CA bundles for backend TLS. */
  secrets?: DiscoveredValues<SecretData>;
  /** What each Frontend's TLS binds serve, by Frontend key (model/resolve.ts). */
  tls?: ReadonlyMap<string, readonly BindTlsMaterial[]>;
}): ConfigModel {
  const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const stateDir = input.global.stateDir ?? stateDirOf(input.global);
  const maps = input.global.routingMaps ? new Map<string, string>() : undefined;
  const notes = new Map<string, AclRuleNote[]>();
  const timed = timedBackends(input.frontends);
  const model: ConfigModel = {
    global: { statsListener: undefined, maxconn: undefined, closeSpreadTime: undefined, ...input.global },
    frontends: input.frontends
      .map((f) => frontendModel(f, input.tls?.get(`Frontend/${f.metadata.namespace}/${f.metadata.name}`), stateDir, maps, notes))
      .sort(byName),
    backends: input.backends
      .map((b) => cachedBackendModel(b, stateDir, input.secrets, timed.has(`Backend/${b.metadata.namespace}/${b.metadata.name}`)))
      .sort(byName),
  };
  if (maps && maps.size > 0) model.mapFiles = Object.fromEntries([...maps].sort(([a], [b]) => (a < b ? -1 : 1)));
  if (notes.size > 0) model.aclRules = Object.fromEntries(notes);
  return model;
}
