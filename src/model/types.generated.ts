// Generated from src/model/schema.ts by scripts/gen-types.mjs. Do not edit: change the schema, then run `npm run gen`.
// The resource types people declare; src/model/types.ts re-exports them.

/** FrontendSpec: listening sockets and routing rules. */
export interface FrontendSpec {
  /** Proxy mode: http (layer 7) or tcp (layer 4). */
  mode: Mode;
  /** Listening sockets. */
  binds: Bind[];
  /** Backend (in the same namespace) that serves requests no rule matches. */
  defaultBackend?: string;
  /** Routing rules (http mode only). Rules with header, query, method or regular-expression matches are tried first, in order; then host and path rules by specificity (docs/decisions/0011-http-routing.md). */
  rules: RouteRule[];
  /** Maximum concurrent client connections on this frontend. */
  maxconn?: number;
  timeouts: FrontendTimeouts;
  /** Add X-Forwarded-For (http mode). */
  forwardFor: boolean;
  /** HTTP connection mode: keep-alive (both sides), server-close (close towards servers), close. */
  keepAlive: KeepAliveMode;
  /** Redirect plain-HTTP requests (those not received over TLS) to https (http mode); paths under /.well-known/acme-challenge/ are routed as usual. */
  httpsRedirect?: HttpsRedirect;
  /** Send Strict-Transport-Security on responses sent over TLS (http mode). */
  hsts?: Hsts;
  /** TLS passthrough routing (tcp mode only): the first route naming the server name (SNI) of the ClientHello picks the backend; others go to defaultBackend. */
  sniRoutes?: SniRoute[];
  /** Only clients whose source address is in this list are served (http mode); the others get 403. Not together with ipDenyList. */
  ipAllowList?: string[];
  /** Clients whose source address is in this list get 403 (http mode). Not together with ipAllowList. */
  ipDenyList?: string[];
  /** Rate limit per client (http mode): past `requests` within `period`, requests are answered `statusCode`. */
  rateLimit?: RateLimit;
  /** HTTP basic authentication (http mode): users from a Secret; requests without valid credentials get 401. */
  basicAuth?: BasicAuth;
  /** CORS (http mode): preflights answered by HAProxy, Access-Control-Allow-Origin on responses to allowed origins. */
  cors?: Cors;
}

/** Proxy mode: http (layer 7) or tcp (layer 4). */
export type Mode = 'http' | 'tcp';

export interface Bind {
  /** Address to listen on: `*` for all IPv4 addresses, an IPv4 or an IPv6 address. */
  address: string;
  /** TCP port to listen on. */
  port: number;
  /** (Default false.) Expect the PROXY protocol (v1 or v2) on every connection to this bind (accept-proxy): the client address is the one in its header. */
  acceptProxyProtocol?: boolean;
  /** Terminate TLS on this bind with certificates from Secrets. */
  tls?: BindTls;
}

/** Terminate TLS on this bind with certificates from Secrets. */
export interface BindTls {
  /** kubernetes.io/tls Secrets (tls.crt, tls.key) served on this bind, chosen by SNI from each certificate's DNS names; the first is the default. */
  certificateRefs: SecretRef[];
  /** Lowest TLS version accepted. */
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** ALPN protocols offered to clients, in order of preference (http mode); h2 serves HTTP/2. Default: none (HTTP/1.1). */
  alpn?: ('h2' | 'http/1.1')[];
  /** Mutual TLS: verify client certificates. */
  clientCertificate?: ClientCertificate;
}

/** A kubernetes.io/tls Secret in the Frontend's namespace. */
export interface SecretRef {
  /** Name of the object, in the same namespace. */
  name: string;
  /** Kind of the object: Secret. */
  kind: 'Secret';
}

/** Mutual TLS: verify client certificates. */
export interface ClientCertificate {
  /** Secret or ConfigMap (same namespace) whose ca.crt holds the CA bundle. */
  caRef: CaRef;
  /** Required: refuse clients without a valid certificate; Optional: verify a certificate when one is sent. */
  mode: 'Required' | 'Optional';
}

/** Secret or ConfigMap (same namespace) whose ca.crt holds the CA bundle. */
export interface CaRef {
  /** Name of the object, in the same namespace. */
  name: string;
  /** Kind of the object: Secret or ConfigMap. */
  kind: 'Secret' | 'ConfigMap';
}

export interface RouteRule {
  /** Match the Host header (port ignored, case-insensitive); `*.example.com` matches any subdomain. */
  host?: string;
  /** Match paths equal to this prefix or below it (`/api` matches `/api` and `/api/x`, not `/apix`). */
  pathPrefix?: string;
  /** Match a request header sent once whose whole value is exactly this value. */
  header?: HeaderMatch;
  /** Backend (in the same namespace) that serves matching requests (shorthand for backends: [{name}]). */
  backend?: string;
  /** Conditions, all of which must match (the long form of host, pathPrefix and header). */
  matches?: RouteMatches;
  /** Backends that serve matching requests, split by weight (the long form of backend). */
  backends?: WeightedBackend[];
  /** Timeouts of the requests this rule routes (http mode; the Gateway API HTTPRoute timeouts). */
  timeouts?: RouteTimeouts;
  /** Changes applied to matching requests and their responses, in order. */
  filters?: RouteFilter[];
  /** Only clients whose source address is in this list are served by this rule; the others get 403 (they do not fall through to another rule). Not together with ipDenyList. */
  ipAllowList?: string[];
  /** Clients whose source address is in this list get 403 from this rule (they do not fall through to another rule). Not together with ipAllowList. */
  ipDenyList?: string[];
}

/** Match a request header sent once whose whole value is exactly this value. */
export interface HeaderMatch {
  /** Header name (case-insensitive). */
  name: string;
  /** The whole header value, compared exactly and case-sensitively (commas included: `yes` does not match `no, yes`). */
  value: string;
}

/** Conditions, all of which must match (the long form of host, pathPrefix and header). */
export interface RouteMatches {
  /** Match the Host header (port ignored, case-insensitive); `*.example.com` matches any subdomain, not example.com. */
  host?: string;
  /** Match the request path. */
  path?: PathMatch;
  /** Match request headers (each sent once). */
  headers?: HeaderValueMatch[];
  /** Match query parameters (the first occurrence). */
  queryParams?: QueryParamMatch[];
  /** Match the request method. */
  method?: HttpMethod;
}

/** Match the request path. */
export interface PathMatch {
  /** How value matches the path (without query). */
  type: PathMatchType;
  /** A path starting with "/" (Exact, PathPrefix: `/api` matches `/api` and `/api/x`, not `/apix`), or a regular expression. */
  value: string;
}

/** How value matches the path (without query). */
export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';

export interface HeaderValueMatch {
  /** Header name. */
  name: string;
  /** The value: compared exactly (type Exact: letters, digits and URL punctuation) or a regular expression. */
  value: string;
  /** Exact (whole value, case-sensitive) or RegularExpression (PCRE, unanchored). */
  type: 'Exact' | 'RegularExpression';
}

export interface QueryParamMatch {
  /** Query parameter name. */
  name: string;
  /** The value: compared exactly (type Exact: letters, digits and URL punctuation) or a regular expression. */
  value: string;
  /** Exact (whole value, case-sensitive) or RegularExpression (PCRE, unanchored). */
  type: 'Exact' | 'RegularExpression';
}

/** Match the request method. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | 'CONNECT' | 'TRACE';

export interface WeightedBackend {
  /** Backend (in the same namespace). */
  name: string;
  /** Share of the requests: weight / sum of weights, in steps of 1/1000 (0 takes none). */
  weight: number;
}

/** Timeouts of the requests this rule routes (http mode; the Gateway API HTTPRoute timeouts). */
export interface RouteTimeouts {
  /** How long the backend may stay silent on a request this rule routes before HAProxy answers 504, instead of the Backend's timeouts.server; an inactivity timeout, so a response that keeps sending bytes outlives it (HAProxy duration: 500ms, 5s, 1m). */
  request?: string;
}

export interface RouteFilter {
  type: 'RequestRedirect' | 'URLRewrite' | 'RequestHeaderModifier' | 'ResponseHeaderModifier';
  /** Answer with a redirect instead of forwarding. */
  requestRedirect?: RequestRedirect;
  /** Rewrite the request before it is forwarded. */
  urlRewrite?: UrlRewrite;
  /** Change request headers before they are forwarded. */
  requestHeaderModifier?: HeaderModifier;
  /** Change response headers before they reach the client. */
  responseHeaderModifier?: HeaderModifier;
}

/** Answer with a redirect instead of forwarding. */
export interface RequestRedirect {
  /** Scheme of the location (default: the request's). */
  scheme?: 'http' | 'https';
  /** Host of the location (default: the request's). */
  hostname?: string;
  path?: PathModifier;
  /** Port of the location (default: the scheme's when scheme is set, else the request's). */
  port?: number;
  /** Redirect status. */
  statusCode: 301 | 302 | 303 | 307 | 308;
}

export interface PathModifier {
  /** Replace the whole path, or the prefix the rule matched. */
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  /** The new path (type ReplaceFullPath). */
  replaceFullPath?: string;
  /** What replaces the matched prefix (type ReplacePrefixMatch; the rule needs a PathPrefix match). */
  replacePrefixMatch?: string;
}

/** Rewrite the request before it is forwarded. */
export interface UrlRewrite {
  /** New Host header. */
  hostname?: string;
  path?: PathModifier;
}

/** Change request headers before they are forwarded. */
export interface HeaderModifier {
  /** Headers to set, replacing any value they had. */
  set?: HeaderValue[];
  /** Headers to add, after any value they had. */
  add?: HeaderValue[];
  /** Headers to remove. */
  remove?: string[];
}

export interface HeaderValue {
  /** Header name. */
  name: string;
  /** Header value (inner spaces allowed; `%` is literal). */
  value: string;
}

export interface FrontendTimeouts {
  /** Client inactivity timeout (HAProxy duration: 500ms, 5s, 1m). */
  client?: string;
  /** Time allowed for a complete HTTP request (HAProxy duration: 500ms, 5s, 1m). */
  httpRequest?: string;
  /** Time to wait for a new request on a kept-alive connection (HAProxy duration: 500ms, 5s, 1m). */
  httpKeepAlive?: string;
  /** With sniRoutes: how long to wait for the TLS ClientHello before routing to defaultBackend (default 5s) (HAProxy duration: 500ms, 5s, 1m). */
  tlsInspect?: string;
}

/** HTTP connection mode: keep-alive (both sides), server-close (close towards servers), close. */
export type KeepAliveMode = 'keep-alive' | 'server-close' | 'close';

/** Redirect plain-HTTP requests (those not received over TLS) to https (http mode); paths under /.well-known/acme-challenge/ are routed as usual. */
export interface HttpsRedirect {
  /** HTTPS port in the Location (443 is left out of it). */
  port: number;
  /** Redirect status code. */
  statusCode: 301 | 302 | 307 | 308;
}

/** Send Strict-Transport-Security on responses sent over TLS (http mode). */
export interface Hsts {
  /** max-age in seconds. */
  maxAge: number;
  /** Add includeSubDomains. */
  includeSubDomains: boolean;
  /** Add preload (needs includeSubDomains and maxAge of at least 31536000). */
  preload: boolean;
}

export interface SniRoute {
  /** Server names (case-insensitive); `*.example.com` matches any subdomain. */
  hosts: string[];
  /** Backend (in the same namespace, mode tcp) that receives matching connections. */
  backend: string;
}

/** Rate limit per client (http mode): past `requests` within `period`, requests are answered `statusCode`. */
export interface RateLimit {
  /** Requests allowed per key within one period. */
  requests: number;
  /** The sliding window the requests are counted over (HAProxy duration: 500ms, 5s, 1m). */
  period: string;
  /** What a client is: its source address, or the value of a request header. */
  key: RateLimitKey;
  /** With key Header (required there): the request header whose value identifies a client. */
  header?: string;
  /** Status answered past the limit. */
  statusCode: number;
}

/** What a client is: its source address, or the value of a request header. */
export type RateLimitKey = 'SourceIP' | 'Header';

/** HTTP basic authentication (http mode): users from a Secret; requests without valid credentials get 401. */
export interface BasicAuth {
  /** Secret whose `users` key holds `name:crypt-hash` lines; in Kubernetes, of type `node-haproxy.io/basic-auth` (the only other type listed is kubernetes.io/tls). */
  secretRef: {
    /** Secret name (same namespace). */
    name: string;
  };
  /** Realm shown by the browser. */
  realm: string;
  /** Pass the client's Authorization header on to the backend once authenticated (default true, as nginx and Traefik do); false removes it, so the members never see the user's password. */
  forwardCredentials?: boolean;
}

/** CORS (http mode): preflights answered by HAProxy, Access-Control-Allow-Origin on responses to allowed origins. */
export interface Cors {
  /** Origins allowed to read responses; `*` for any (not with allowCredentials). */
  allowOrigins: string[];
  /** Methods a preflight allows. */
  allowMethods: HttpMethod[];
  /** Request headers a preflight allows. */
  allowHeaders: string[];
  /** Response headers scripts may read. */
  exposeHeaders: string[];
  /** Seconds a browser may cache a preflight answer. */
  maxAge: number;
  /** Allow cookies and credentials (Access-Control-Allow-Credentials: true). */
  allowCredentials: boolean;
}

/** BackendSpec: a pool of members. */
export interface BackendSpec {
  /** Proxy mode: http (layer 7) or tcp (layer 4). */
  mode: Mode;
  /** Load-balancing algorithm. uri, url_param and hdr hash the request (http mode) with consistent hashing, so members still change at run time without a reload. */
  balance: Balance;
  /** Query parameter whose value picks the member (balance url_param; required there, refused otherwise). */
  balanceUrlParam?: string;
  /** Request header whose value picks the member (balance hdr; required there, refused otherwise). */
  balanceHeader?: string;
  /** Static members (servers). */
  members: Member[];
  /** Take members from the endpoints of this Kubernetes Service (Kubernetes source only). */
  service?: ServiceRef;
  /** Active health checks on every member. */
  healthCheck?: HealthCheck;
  timeouts: BackendTimeouts;
  /** Maximum concurrent connections per member; further requests queue. */
  maxconn?: number;
  /** Protocol spoken to the members (http mode): h2 is HTTP/2 (h2c in clear, ALPN h2 with tls), for gRPC. */
  protocol: BackendProtocol;
  /** Send the PROXY protocol header to the members (send-proxy / send-proxy-v2). */
  proxyProtocol?: 'v1' | 'v2';
  /** Connect to the members over TLS (re-encryption). */
  tls?: BackendTls;
  /** Keep a client on one member (http mode): a cookie inserted by HAProxy (insert indirect nocache). */
  sessionAffinity?: SessionAffinity;
  /** Retry failed requests. */
  retries?: Retries;
  /** Largest request body in bytes (http mode); larger bodies get 413. */
  requestBodyMaxBytes?: number;
}

/** Load-balancing algorithm. uri, url_param and hdr hash the request (http mode) with consistent hashing, so members still change at run time without a reload. */
export type Balance = 'roundrobin' | 'leastconn' | 'source' | 'first' | 'random' | 'uri' | 'url_param' | 'hdr';

export interface Member {
  /** Member name, unique in the backend (the HAProxy server name). */
  name: string;
  /** IP address or DNS name. */
  address: string;
  /** Port. */
  port: number;
  /** Relative weight (0 takes no new traffic). */
  weight: number;
  /** ready: in rotation; drain: finish current sessions, take no new ones; maint: out of rotation. */
  state: MemberState;
}

/** ready: in rotation; drain: finish current sessions, take no new ones; maint: out of rotation. */
export type MemberState = 'ready' | 'drain' | 'maint';

/** Take members from the endpoints of this Kubernetes Service (Kubernetes source only). */
export interface ServiceRef {
  /** Service name (same namespace). */
  name: string;
  /** Service port, by number or by name. */
  port: number | string;
}

/** Active health checks on every member. */
export interface HealthCheck {
  /** tcp: connect; http: send a request and expect 2xx/3xx. */
  type: HealthCheckType;
  /** HTTP method (http checks; default GET). POST sends an empty body. */
  method?: 'GET' | 'HEAD' | 'OPTIONS' | 'POST';
  /** HTTP path (http checks; default /). */
  path?: string;
  /** Host header to send (http checks). */
  host?: string;
  /** Time between checks (HAProxy duration: 500ms, 5s, 1m). */
  interval: string;
  /** Consecutive successes to mark a member up. */
  rise: number;
  /** Consecutive failures to mark a member down. */
  fall: number;
}

/** tcp: connect; http: send a request and expect 2xx/3xx. */
export type HealthCheckType = 'tcp' | 'http';

export interface BackendTimeouts {
  /** Time allowed to connect to a member (HAProxy duration: 500ms, 5s, 1m). */
  connect?: string;
  /** Server inactivity timeout (HAProxy duration: 500ms, 5s, 1m). */
  server?: string;
  /** Time a request may wait in the queue (HAProxy duration: 500ms, 5s, 1m). */
  queue?: string;
}

/** Protocol spoken to the members (http mode): h2 is HTTP/2 (h2c in clear, ALPN h2 with tls), for gRPC. */
export type BackendProtocol = 'http/1.1' | 'h2';

/** Connect to the members over TLS (re-encryption). */
export interface BackendTls {
  /** Server name to send (SNI), and the name the member certificate must carry when verified. */
  sni?: string;
  /** Required: verify the member certificate (against caRef, or the system trust store); None: do not. */
  verify: 'Required' | 'None';
  /** Secret or ConfigMap (same namespace) whose ca.crt holds the CA bundle. */
  caRef?: CaRef;
}

/** Keep a client on one member (http mode): a cookie inserted by HAProxy (insert indirect nocache). */
export interface SessionAffinity {
  /** Cookie: HAProxy inserts a cookie naming the member. */
  type: 'Cookie';
  /** Cookie name. */
  cookieName: string;
}

/** Retry failed requests. */
export interface Retries {
  /** Retries after a failed attempt. */
  attempts: number;
  /** What is retried (HAProxy retry-on; default conn-failure). Needs mode http. */
  retryOn?: (number | string)[];
  /** Retry on another member (option redispatch) rather than the same one. */
  redispatch: boolean;
}
