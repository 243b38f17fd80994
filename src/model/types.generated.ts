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
  /** Ordered routing rules (http mode only): the first rule whose conditions all match picks the backend. */
  rules: RouteRule[];
  /** Maximum concurrent client connections on this frontend. */
  maxconn?: number;
  timeouts: FrontendTimeouts;
  /** Add X-Forwarded-For (http mode). */
  forwardFor: boolean;
  /** HTTP connection mode: keep-alive (both sides), server-close (close towards servers), close. */
  keepAlive: KeepAliveMode;
}

/** Proxy mode: http (layer 7) or tcp (layer 4). */
export type Mode = 'http' | 'tcp';

export interface Bind {
  /** Address to listen on: `*` for all IPv4 addresses, an IPv4 or an IPv6 address. */
  address: string;
  /** TCP port to listen on. */
  port: number;
}

export interface RouteRule {
  /** Match the Host header (port ignored, case-insensitive); `*.example.com` matches any subdomain. */
  host?: string;
  /** Match paths equal to this prefix or below it (`/api` matches `/api` and `/api/x`, not `/apix`). */
  pathPrefix?: string;
  /** Match a request header sent once whose whole value is exactly this value. */
  header?: HeaderMatch;
  /** Backend (in the same namespace) that serves matching requests. */
  backend: string;
}

/** Match a request header sent once whose whole value is exactly this value. */
export interface HeaderMatch {
  /** Header name (case-insensitive). */
  name: string;
  /** The whole header value, compared exactly and case-sensitively (commas included: `yes` does not match `no, yes`). */
  value: string;
}

export interface FrontendTimeouts {
  /** Client inactivity timeout (HAProxy duration: 500ms, 5s, 1m). */
  client?: string;
  /** Time allowed for a complete HTTP request (HAProxy duration: 500ms, 5s, 1m). */
  httpRequest?: string;
  /** Time to wait for a new request on a kept-alive connection (HAProxy duration: 500ms, 5s, 1m). */
  httpKeepAlive?: string;
}

/** HTTP connection mode: keep-alive (both sides), server-close (close towards servers), close. */
export type KeepAliveMode = 'keep-alive' | 'server-close' | 'close';

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
