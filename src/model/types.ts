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

/** A routing rule: every condition it names must match; the first matching rule wins. */
export interface RouteRule {
  host?: string;
  pathPrefix?: string;
  header?: HeaderMatch;
  backend: string;
}

export interface FrontendTimeouts {
  client?: string;
  httpRequest?: string;
  httpKeepAlive?: string;
}

// HTTP policy (issue 12): rendered by src/render/policy.ts.
export type RateLimitKey = 'SourceIP' | 'Header';

export interface RateLimit {
  /** Requests allowed per key within one period. */
  requests: number;
  /** The sliding window, as an HAProxy duration. */
  period: string;
  key: RateLimitKey;
  /** key Header: the request header that identifies a client. */
  header?: string;
  statusCode: number;
}

export interface BasicAuth {
  /** A Secret in the Frontend's namespace whose `users` key holds `name:crypt-hash` lines. */
  secretRef: { name: string };
  realm: string;
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | 'CONNECT' | 'TRACE';

export interface Cors {
  allowOrigins: string[];
  allowMethods: HttpMethod[];
  allowHeaders: string[];
  exposeHeaders: string[];
  /** Seconds a browser may cache a preflight answer. */
  maxAge: number;
  allowCredentials: boolean;
}

export interface SessionAffinity {
  type: 'Cookie';
  cookieName: string;
}

export type RetryOn = 'none' | 'conn-failure' | 'empty-response' | 'junk-response' | 'response-timeout' | '0rtt-rejected' | 'all-retryable-errors';
/** Status codes `retry-on` takes, as a number or a string (`503`, `"503"`). */
export type RetryStatus = 401 | 403 | 404 | 408 | 425 | 500 | 501 | 502 | 503 | 504;

export interface Retries {
  attempts: number;
  retryOn?: (RetryOn | RetryStatus | `${RetryStatus}`)[];
  redispatch: boolean;
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
  ipAllowList?: string[];
  ipDenyList?: string[];
  rateLimit?: RateLimit;
  basicAuth?: BasicAuth;
  cors?: Cors;
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
  sessionAffinity?: SessionAffinity;
  retries?: Retries;
  /** Largest request body in bytes; larger bodies get 413. */
  requestBodyMaxBytes?: number;
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
  /** A Secret a resource names (spec.basicAuth.secretRef) does not exist. */
  | 'SecretNotFound'
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
