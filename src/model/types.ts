/**
 * Resource types: what people declare. One shape for every source
 * (YAML files, Kubernetes custom resources, the REST API, etcd).
 */

export const API_GROUP = 'haproxy.node-haproxy.io';
export const API_VERSION_NAME = 'v1alpha1';
export const API_VERSION = `${API_GROUP}/${API_VERSION_NAME}`;
export const DEFAULT_NAMESPACE = 'default';

export const KINDS = ['Frontend', 'Backend'] as const;
export type Kind = (typeof KINDS)[number];

export type Mode = 'http' | 'tcp';
export type Balance = 'roundrobin' | 'leastconn' | 'source' | 'first' | 'random' | 'uri' | 'url_param' | 'hdr';
/** The algorithms that hash the request (http mode); rendered with `hash-type consistent`. */
export const HASH_BALANCE: readonly Balance[] = ['uri', 'url_param', 'hdr'];
export type MemberState = 'ready' | 'drain' | 'maint';
export type KeepAliveMode = 'keep-alive' | 'server-close' | 'close';
export type HealthCheckType = 'tcp' | 'http';

export interface ObjectMeta {
  name: string;
  namespace: string;
  generation?: number;
  resourceVersion?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Bind {
  address: string;
  port: number;
}

export interface HeaderMatch {
  name: string;
  value: string;
}

/* ---- HTTP routing (issue 12; docs/decisions/0011-http-routing.md) ---- */
export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';
export type ValueMatchType = 'Exact' | 'RegularExpression';
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'CONNECT' | 'OPTIONS' | 'TRACE' | 'PATCH';

export interface PathMatch {
  type: PathMatchType;
  value: string;
}

export interface ValueMatch {
  name: string;
  value: string;
  type: ValueMatchType;
}

/** Every listed condition must match. */
export interface RouteMatches {
  host?: string;
  path?: PathMatch;
  headers?: ValueMatch[];
  queryParams?: ValueMatch[];
  method?: HttpMethod;
}

export interface WeightedBackend {
  name: string;
  /** 0..1000, default 1; the split has 1,000 slots (docs/decisions/0011). */
  weight: number;
}

export interface PathModifier {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface RequestRedirect {
  scheme?: 'http' | 'https';
  hostname?: string;
  path?: PathModifier;
  port?: number;
  statusCode: 301 | 302 | 303 | 307 | 308;
}

export interface UrlRewrite {
  hostname?: string;
  path?: PathModifier;
}

export interface HeaderValue {
  name: string;
  value: string;
}

export interface HeaderModifier {
  set?: HeaderValue[];
  add?: HeaderValue[];
  remove?: string[];
}

export type RouteFilter =
  | { type: 'RequestRedirect'; requestRedirect: RequestRedirect }
  | { type: 'URLRewrite'; urlRewrite: UrlRewrite }
  | { type: 'RequestHeaderModifier'; requestHeaderModifier: HeaderModifier }
  | { type: 'ResponseHeaderModifier'; responseHeaderModifier: HeaderModifier };

/**
 * A routing rule: every condition it names must match. `host`, `pathPrefix`,
 * `header` and `backend` are shorthands for `matches` and `backends`
 * (model/routing.ts normalises them; both forms on one rule is an error).
 */
export interface RouteRule {
  host?: string;
  pathPrefix?: string;
  header?: HeaderMatch;
  backend?: string;
  matches?: RouteMatches;
  backends?: WeightedBackend[];
  filters?: RouteFilter[];
}
/* ---- end of HTTP routing ---- */

export interface FrontendTimeouts {
  client?: string;
  httpRequest?: string;
  httpKeepAlive?: string;
}

export interface FrontendSpec {
  mode: Mode;
  binds: Bind[];
  defaultBackend?: string;
  rules: RouteRule[];
  maxconn?: number;
  timeouts: FrontendTimeouts;
  forwardFor: boolean;
  keepAlive: KeepAliveMode;
}

export interface Member {
  name: string;
  address: string;
  port: number;
  weight: number;
  state: MemberState;
}

export interface ServiceRef {
  name: string;
  port: number | string;
}

export interface HealthCheck {
  type: HealthCheckType;
  method?: string;
  path?: string;
  host?: string;
  interval: string;
  rise: number;
  fall: number;
}

export interface BackendTimeouts {
  connect?: string;
  server?: string;
  queue?: string;
}

export interface BackendSpec {
  mode: Mode;
  balance: Balance;
  /** balance url_param: the query parameter to hash. */
  balanceUrlParam?: string;
  /** balance hdr: the request header to hash. */
  balanceHeader?: string;
  members: Member[];
  service?: ServiceRef;
  healthCheck?: HealthCheck;
  timeouts: BackendTimeouts;
  /** Maximum concurrent connections per member; further requests queue. */
  maxconn?: number;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface ResourceStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  members?: { total: number; ready: number };
}

export interface Frontend {
  apiVersion: typeof API_VERSION;
  kind: 'Frontend';
  metadata: ObjectMeta;
  spec: FrontendSpec;
  status?: ResourceStatus;
}

export interface Backend {
  apiVersion: typeof API_VERSION;
  kind: 'Backend';
  metadata: ObjectMeta;
  spec: BackendSpec;
  status?: ResourceStatus;
}

export type Resource = Frontend | Backend;

/** `Kind/namespace/name`: the identity of a resource across sources. */
export type ResourceKey = string;

export function resourceKey(kind: Kind, namespace: string, name: string): ResourceKey {
  return `${kind}/${namespace}/${name}`;
}

export function keyOf(r: { kind: Kind; metadata: { namespace: string; name: string } }): ResourceKey {
  return resourceKey(r.kind, r.metadata.namespace, r.metadata.name);
}

export function parseKey(key: ResourceKey): { kind: Kind; namespace: string; name: string } {
  const [kind, namespace, name] = key.split('/');
  return { kind: kind as Kind, namespace: namespace ?? '', name: name ?? '' };
}

/**
 * One problem with an input. `field` is a dotted path into the resource
 * (`spec.rules[1].host`); `origin` says where the resource came from
 * (a file and document index, a Kubernetes object, an etcd key).
 */
export interface Issue {
  origin?: string;
  resource?: string;
  field: string;
  message: string;
  reason: IssueReason;
}

export type IssueReason =
  | 'ParseError'
  | 'InvalidSpec'
  | 'BackendNotFound'
  /** Valid, but HAProxy refuses the configuration it renders to (src/reconcile/refusals.ts). */
  | 'RejectedByHAProxy'
  | 'Conflict'
  | 'Duplicate';

export function formatIssue(i: Pick<Issue, 'field' | 'message'> & Partial<Pick<Issue, 'origin' | 'resource'>>, o: { where?: boolean } = {}): string {
  const where = o.where === false ? '' : [i.origin, i.resource].filter(Boolean).join(': ');
  return `${where ? where + ': ' : ''}${i.field ? i.field + ': ' : ''}${i.message}`;
}

/** `field: message`, without where it was found (a status message, an API error). */
export const formatProblem = (i: Pick<Issue, 'field' | 'message'>): string => formatIssue(i, { where: false });
