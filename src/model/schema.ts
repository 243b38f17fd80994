/**
 * The one schema. Every source validates with it; the CRDs in crds/ are
 * generated from it (see crd.ts), so a manifest `node-haproxy validate`
 * accepts is accepted by the cluster and the REST API alike.
 *
 * It is written in the subset of JSON Schema that Kubernetes calls a
 * structural OpenAPI v3 schema. Every string that reaches haproxy.cfg has an
 * allow-list pattern: no space, quote, `#`, backslash, `$` or control
 * character can pass, so nothing can smuggle a newline, comment or directive
 * into the configuration. The exceptions are values rendered single-quoted
 * (regular expressions may hold `\` and `$`, header values to set inner
 * spaces): no quote, `#` or control character passes there either.
 */

export type JsonSchema = {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean' | 'number';
  /** The TypeScript type's name (src/model/gen-types.ts); a node without one is typed inline. */
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: readonly (string | number)[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
  anyOf?: JsonSchema[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
};

/** Allow-list patterns, exported so the REST translation and docs reuse them. */
export const PATTERNS = {
  /** DNS-1123 subdomain, the rule Kubernetes applies to object names. */
  name: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  /** DNS-1123 label, the rule Kubernetes applies to namespaces. */
  namespace: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
  /** HAProxy server names: letters, digits, `_`, `.`, `-`. */
  memberName: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
  /** A host name, an IPv4 address or an IPv6 address (checked further in semantic validation). */
  address: '^(([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)$',
  /** A bind address: `*`, an IPv4 address or an IPv6 address. */
  bindAddress: '^(\\*|[0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)$',
  /** A host to route on: a DNS name, optionally with a leading `*.` wildcard. */
  host: '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$',
  /** A URL path: RFC 3986 path characters, without quotes, `#`, `$`, `\` or space. */
  path: '^/[A-Za-z0-9._~!&()*+,;=:@%/-]*$',
  /** A path with an optional query, for HTTP health checks. */
  checkPath: '^/[A-Za-z0-9._~!&()*+,;=:@%/?-]*$',
  /** An HTTP header name (RFC 9110 token, restricted). */
  headerName: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
  /**
   * A header value to match exactly: visible characters without quotes, `#`, `$`, `\` or space.
   * (Rendered single-quoted after `--` as well, so no character, `-` first included, is read as syntax.)
   */
  headerValue: '^[A-Za-z0-9._~!&()*+,;=:@%/?<>\\[\\]{}|^`-]+$',
  /** A duration as HAProxy reads it: a number with an optional unit us, ms, s, m, h, d. */
  duration: '^[0-9]{1,9}(us|ms|s|m|h|d)?$',
  /** A URL query parameter name (RFC 3986 unreserved characters). */
  urlParam: '^[A-Za-z0-9._~-]+$',
  /** A Kubernetes port name (IANA service name). */
  portName: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
  /** An IPv4 or IPv6 address with an optional prefix length (checked further in semantic validation). */
  ipOrCidr: '^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)(/[0-9]{1,3})?$',
  /** A CORS origin: `*`, or a lowercase http(s) origin with an optional port and no path. */
  origin: '^(\\*|https?://[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?)$',
  /** A basic-auth realm: letters, digits, `_`, `.` and `-`. */
  realm: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
  /**
   * A regular expression (PCRE, checked by HAProxy itself before it is accepted): visible ASCII
   * without quotes, `#` or space. Rendered single-quoted, so `\` and `$` stay literal.
   */
  regex: '^[A-Za-z0-9._~!&()*+,;=:@%/?<>\\[\\]{}|^`$\\\\-]+$',
  /** A header value to set or add: visible characters and inner spaces, without quotes, `#`, `$` or `\`. */
  headerSetValue: '^[A-Za-z0-9._~!&()*+,;=:@%/?<>\\[\\]{}|^`-]([ A-Za-z0-9._~!&()*+,;=:@%/?<>\\[\\]{}|^`-]*[A-Za-z0-9._~!&()*+,;=:@%/?<>\\[\\]{}|^`-])?$',
  /** A host name without wildcard (redirect and rewrite targets). */
  hostname: '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$',
} as const;

const str = (pattern: string, description: string, maxLength = 253): JsonSchema => ({
  type: 'string',
  pattern,
  minLength: 1,
  maxLength,
  description,
});

const duration = (description: string): JsonSchema => str(PATTERNS.duration, `${description} (HAProxy duration: 500ms, 5s, 1m).`, 16);

const port: JsonSchema = { type: 'integer', minimum: 1, maximum: 65535 };
const mode: JsonSchema = { title: 'Mode', type: 'string', enum: ['http', 'tcp'], default: 'http', description: 'Proxy mode: http (layer 7) or tcp (layer 4).' };
const maxconn = (description: string): JsonSchema => ({ type: 'integer', minimum: 1, maximum: 1000000, description });

/** HTTP methods a CORS preflight may allow. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE'] as const;

/** HAProxy `retry-on` conditions (2.6 and 3.0) other than status codes. */
export const RETRY_ON = ['none', 'conn-failure', 'empty-response', 'junk-response', 'response-timeout', '0rtt-rejected', 'all-retryable-errors'] as const;
/** HTTP status codes HAProxy's `retry-on` takes. */
export const RETRY_STATUS = [401, 403, 404, 408, 425, 500, 501, 502, 503, 504] as const;

const ipList = (description: string): JsonSchema => ({
  type: 'array',
  minItems: 1,
  maxItems: 10000,
  items: str(PATTERNS.ipOrCidr, 'An IPv4 or IPv6 address, or a network in CIDR form (10.0.0.0/8, 2001:db8::/32).', 64),
  description,
});

function object(properties: Record<string, JsonSchema>, required: string[] = [], description?: string): JsonSchema {
  const s: JsonSchema = { type: 'object', properties, additionalProperties: false };
  if (required.length > 0) s.required = required;
  if (description) s.description = description;
  return s;
}

/* ---- HTTP routing (issue 12; docs/decisions/0011-http-routing.md) ---- */
const valueMatch = (title: string, what: string, namePattern: string): JsonSchema =>
  namedObject(
    title,
    {
      name: str(namePattern, `${what} name.`, 128),
      value: str(PATTERNS.regex, 'The value: compared exactly (type Exact: letters, digits and URL punctuation) or a regular expression.', 1024),
      type: {
        type: 'string',
        enum: ['Exact', 'RegularExpression'],
        default: 'Exact',
        description: 'Exact (whole value, case-sensitive) or RegularExpression (PCRE, unanchored).',
      },
    },
    ['name', 'value'],
  );

const pathModifier: JsonSchema = namedObject(
  'PathModifier',
  {
    type: { type: 'string', enum: ['ReplaceFullPath', 'ReplacePrefixMatch'], description: 'Replace the whole path, or the prefix the rule matched.' },
    replaceFullPath: str(PATTERNS.path, 'The new path (type ReplaceFullPath).', 1024),
    replacePrefixMatch: str(PATTERNS.path, 'What replaces the matched prefix (type ReplacePrefixMatch; the rule needs a PathPrefix match).', 1024),
  },
  ['type'],
);

const headerValues = (what: string): JsonSchema => ({
  type: 'array',
  maxItems: 16,
  description: what,
  items: namedObject(
    'HeaderValue',
    {
      name: str(PATTERNS.headerName, 'Header name.', 128),
      value: str(PATTERNS.headerSetValue, 'Header value (inner spaces allowed; `%` is literal).', 1024),
    },
    ['name', 'value'],
  ),
});

const headerModifier = (description: string): JsonSchema =>
  namedObject(
    'HeaderModifier',
    {
      set: headerValues('Headers to set, replacing any value they had.'),
      add: headerValues('Headers to add, after any value they had.'),
      remove: { type: 'array', maxItems: 16, items: str(PATTERNS.headerName, 'Header name.', 128), description: 'Headers to remove.' },
    },
    [],
    description,
  );

const routingRuleProperties: Record<string, JsonSchema> = {
  matches: namedObject(
    'RouteMatches',
    {
      host: str(PATTERNS.host, 'Match the Host header (port ignored, case-insensitive); `*.example.com` matches any subdomain, not example.com.'),
      path: namedObject(
        'PathMatch',
        {
          type: {
            title: 'PathMatchType',
            type: 'string',
            enum: ['Exact', 'PathPrefix', 'RegularExpression'],
            default: 'PathPrefix',
            description: 'How value matches the path (without query).',
          },
          value: str(
            PATTERNS.regex,
            'A path starting with "/" (Exact, PathPrefix: `/api` matches `/api` and `/api/x`, not `/apix`), or a regular expression.',
            1024,
          ),
        },
        ['value'],
        'Match the request path.',
      ),
      headers: {
        type: 'array',
        maxItems: 16,
        items: valueMatch('HeaderValueMatch', 'Header', PATTERNS.headerName),
        description: 'Match request headers (each sent once).',
      },
      queryParams: {
        type: 'array',
        maxItems: 16,
        items: valueMatch('QueryParamMatch', 'Query parameter', PATTERNS.urlParam),
        description: 'Match query parameters (the first occurrence).',
      },
      method: { title: 'HttpMethod', type: 'string', enum: HTTP_METHODS, description: 'Match the request method.' },
    },
    [],
    'Conditions, all of which must match (the long form of host, pathPrefix and header).',
  ),
  backends: {
    type: 'array',
    minItems: 1,
    maxItems: 16,
    description: 'Backends that serve matching requests, split by weight (the long form of backend).',
    items: namedObject(
      'WeightedBackend',
      {
        name: str(PATTERNS.name, 'Backend (in the same namespace).'),
        weight: {
          type: 'integer',
          minimum: 0,
          maximum: 1000,
          default: 1,
          description: 'Share of the requests: weight / sum of weights, in steps of 1/1000 (0 takes none).',
        },
      },
      ['name'],
    ),
  },
  timeouts: namedObject(
    'RouteTimeouts',
    {
      request: duration(
        "How long the backend may stay silent on a request this rule routes before HAProxy answers 504, instead of the Backend's timeouts.server; an inactivity timeout, so a response that keeps sending bytes outlives it",
      ),
    },
    [],
    'Timeouts of the requests this rule routes (http mode; the Gateway API HTTPRoute timeouts).',
  ),
  filters: {
    type: 'array',
    maxItems: 16,
    description: 'Changes applied to matching requests and their responses, in order.',
    items: namedObject(
      'RouteFilter',
      {
        type: { type: 'string', enum: ['RequestRedirect', 'URLRewrite', 'RequestHeaderModifier', 'ResponseHeaderModifier'] },
        requestRedirect: namedObject(
          'RequestRedirect',
          {
            scheme: { type: 'string', enum: ['http', 'https'], description: "Scheme of the location (default: the request's)." },
            hostname: str(PATTERNS.hostname, "Host of the location (default: the request's)."),
            path: pathModifier,
            port: { ...port, description: "Port of the location (default: the scheme's when scheme is set, else the request's)." },
            statusCode: { type: 'integer', enum: [301, 302, 303, 307, 308], default: 302, description: 'Redirect status.' },
          },
          [],
          'Answer with a redirect instead of forwarding.',
        ),
        urlRewrite: namedObject(
          'UrlRewrite',
          { hostname: str(PATTERNS.hostname, 'New Host header.'), path: pathModifier },
          [],
          'Rewrite the request before it is forwarded.',
        ),
        requestHeaderModifier: headerModifier('Change request headers before they are forwarded.'),
        responseHeaderModifier: headerModifier('Change response headers before they reach the client.'),
      },
      ['type'],
    ),
  },
  // Per-rule IP lists (render/policy.ts ruleIpPolicy): the frontend-level ones' schema and checks.
  ipAllowList: ipList(
    'Only clients whose source address is in this list are served by this rule; the others get 403 (they do not fall through to another rule). Not together with ipDenyList.',
  ),
  ipDenyList: ipList(
    'Clients whose source address is in this list get 403 from this rule (they do not fall through to another rule). Not together with ipAllowList.',
  ),
};
/* ---- end of HTTP routing ---- */

/** An object schema whose TypeScript type is the interface `title` (see gen-types.ts). */
function namedObject(title: string, properties: Record<string, JsonSchema>, required: string[] = [], description?: string): JsonSchema {
  return { title, ...object(properties, required, description) };
}

const secretRef = (title: string, kinds: readonly string[], description: string): JsonSchema =>
  namedObject(
    title,
    {
      name: str(PATTERNS.name, 'Name of the object, in the same namespace.'),
      kind: { type: 'string', enum: kinds, default: 'Secret', description: `Kind of the object: ${kinds.join(' or ')}.` },
    },
    ['name'],
    description,
  );

/** A Secret or ConfigMap (same namespace) holding a CA bundle under ca.crt: one node, so one CaRef type. */
const caRefSchema: JsonSchema = secretRef('CaRef', ['Secret', 'ConfigMap'], 'Secret or ConfigMap (same namespace) whose ca.crt holds the CA bundle.');

/** `spec.binds[].tls`: TLS termination (issue 11; README "TLS"). */
const bindTlsSchema: JsonSchema = namedObject(
  'BindTls',
  {
    certificateRefs: {
      type: 'array',
      minItems: 1,
      maxItems: 10000,
      description:
        "kubernetes.io/tls Secrets (tls.crt, tls.key) served on this bind, chosen by SNI from each certificate's DNS names; the first is the default.",
      items: secretRef('SecretRef', ['Secret'], "A kubernetes.io/tls Secret in the Frontend's namespace."),
    },
    minVersion: { type: 'string', enum: ['TLSv1.2', 'TLSv1.3'], default: 'TLSv1.2', description: 'Lowest TLS version accepted.' },
    alpn: {
      type: 'array',
      minItems: 1,
      maxItems: 2,
      items: { type: 'string', enum: ['h2', 'http/1.1'] },
      description: 'ALPN protocols offered to clients, in order of preference (http mode); h2 serves HTTP/2. Default: none (HTTP/1.1).',
    },
    clientCertificate: namedObject(
      'ClientCertificate',
      {
        caRef: caRefSchema,
        mode: {
          type: 'string',
          enum: ['Required', 'Optional'],
          default: 'Required',
          description: 'Required: refuse clients without a valid certificate; Optional: verify a certificate when one is sent.',
        },
      },
      ['caRef'],
      'Mutual TLS: verify client certificates.',
    ),
  },
  ['certificateRefs'],
  'Terminate TLS on this bind with certificates from Secrets.',
);

export const frontendSpecSchema: JsonSchema = namedObject(
  'FrontendSpec',
  {
    mode,
    binds: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      description: 'Listening sockets.',
      items: namedObject(
        'Bind',
        {
          address: { ...str(PATTERNS.bindAddress, 'Address to listen on: `*` for all IPv4 addresses, an IPv4 or an IPv6 address.', 64), default: '*' },
          port: { ...port, description: 'TCP port to listen on.' },
          acceptProxyProtocol: {
            type: 'boolean',
            description:
              '(Default false.) Expect the PROXY protocol (v1 or v2) on every connection to this bind (accept-proxy): the client address is the one in its header.',
          },
          tls: bindTlsSchema,
        },
        ['port'],
      ),
    },
    defaultBackend: str(PATTERNS.name, 'Backend (in the same namespace) that serves requests no rule matches.'),
    rules: {
      type: 'array',
      maxItems: 1000,
      default: [],
      description:
        'Routing rules (http mode only). Rules with header, query, method or regular-expression matches are tried first, in order; then host and path rules by specificity (docs/decisions/0011-http-routing.md).',
      items: namedObject(
        'RouteRule',
        {
          host: str(PATTERNS.host, 'Match the Host header (port ignored, case-insensitive); `*.example.com` matches any subdomain.'),
          pathPrefix: str(PATTERNS.path, 'Match paths equal to this prefix or below it (`/api` matches `/api` and `/api/x`, not `/apix`).', 1024),
          header: namedObject(
            'HeaderMatch',
            {
              name: str(PATTERNS.headerName, 'Header name (case-insensitive).', 128),
              value: str(
                PATTERNS.headerValue,
                'The whole header value, compared exactly and case-sensitively (commas included: `yes` does not match `no, yes`).',
                1024,
              ),
            },
            ['name', 'value'],
            'Match a request header sent once whose whole value is exactly this value.',
          ),
          backend: str(PATTERNS.name, 'Backend (in the same namespace) that serves matching requests (shorthand for backends: [{name}]).'),
          ...routingRuleProperties,
        },
        [],
      ),
    },
    maxconn: maxconn('Maximum concurrent client connections on this frontend.'),
    timeouts: {
      ...namedObject('FrontendTimeouts', {
        client: duration('Client inactivity timeout'),
        httpRequest: duration('Time allowed for a complete HTTP request'),
        httpKeepAlive: duration('Time to wait for a new request on a kept-alive connection'),
        tlsInspect: duration('With sniRoutes: how long to wait for the TLS ClientHello before routing to defaultBackend (default 5s)'),
      }),
      default: {},
    },
    forwardFor: { type: 'boolean', default: true, description: 'Add X-Forwarded-For (http mode).' },
    keepAlive: {
      title: 'KeepAliveMode',
      type: 'string',
      enum: ['keep-alive', 'server-close', 'close'],
      default: 'keep-alive',
      description: 'HTTP connection mode: keep-alive (both sides), server-close (close towards servers), close.',
    },
    httpsRedirect: namedObject(
      'HttpsRedirect',
      {
        port: { ...port, default: 443, description: 'HTTPS port in the Location (443 is left out of it).' },
        statusCode: { type: 'integer', enum: [301, 302, 307, 308], default: 301, description: 'Redirect status code.' },
      },
      [],
      'Redirect plain-HTTP requests (those not received over TLS) to https (http mode); paths under /.well-known/acme-challenge/ are routed as usual.',
    ),
    hsts: namedObject(
      'Hsts',
      {
        maxAge: { type: 'integer', minimum: 0, maximum: 1000000000, description: 'max-age in seconds.' },
        includeSubDomains: { type: 'boolean', default: false, description: 'Add includeSubDomains.' },
        preload: { type: 'boolean', default: false, description: 'Add preload (needs includeSubDomains and maxAge of at least 31536000).' },
      },
      ['maxAge'],
      'Send Strict-Transport-Security on responses sent over TLS (http mode).',
    ),
    sniRoutes: {
      type: 'array',
      maxItems: 1000,
      description:
        'TLS passthrough routing (tcp mode only): the first route naming the server name (SNI) of the ClientHello picks the backend; others go to defaultBackend.',
      items: namedObject(
        'SniRoute',
        {
          hosts: {
            type: 'array',
            minItems: 1,
            maxItems: 1000,
            description: 'Server names (case-insensitive); `*.example.com` matches any subdomain.',
            items: str(PATTERNS.host, 'A server name, or `*.domain`.'),
          },
          backend: str(PATTERNS.name, 'Backend (in the same namespace, mode tcp) that receives matching connections.'),
        },
        ['hosts', 'backend'],
      ),
    },
    // HTTP policy (issue 12): see src/render/policy.ts.
    ipAllowList: ipList('Only clients whose source address is in this list are served (http mode); the others get 403. Not together with ipDenyList.'),
    ipDenyList: ipList('Clients whose source address is in this list get 403 (http mode). Not together with ipAllowList.'),
    rateLimit: namedObject(
      'RateLimit',
      {
        requests: { type: 'integer', minimum: 1, maximum: 1000000000, description: 'Requests allowed per key within one period.' },
        period: duration('The sliding window the requests are counted over'),
        key: {
          title: 'RateLimitKey',
          type: 'string',
          enum: ['SourceIP', 'Header'],
          default: 'SourceIP',
          description: 'What a client is: its source address, or the value of a request header.',
        },
        header: str(PATTERNS.headerName, 'With key Header (required there): the request header whose value identifies a client.', 128),
        statusCode: { type: 'integer', minimum: 400, maximum: 599, default: 429, description: 'Status answered past the limit.' },
      },
      ['requests', 'period'],
      'Rate limit per client (http mode): past `requests` within `period`, requests are answered `statusCode`.',
    ),
    basicAuth: namedObject(
      'BasicAuth',
      {
        secretRef: object(
          { name: str(PATTERNS.name, 'Secret name (same namespace).') },
          ['name'],
          'Secret whose `users` key holds `name:crypt-hash` lines; in Kubernetes, of type `node-haproxy.io/basic-auth` (the only other type listed is kubernetes.io/tls).',
        ),
        realm: { ...str(PATTERNS.realm, 'Realm shown by the browser.', 64), default: 'restricted' },
        forwardCredentials: {
          type: 'boolean',
          description:
            "Pass the client's Authorization header on to the backend once authenticated (default true, as nginx and Traefik do); false removes it, so the members never see the user's password.",
        },
      },
      ['secretRef'],
      'HTTP basic authentication (http mode): users from a Secret; requests without valid credentials get 401.',
    ),
    cors: namedObject(
      'Cors',
      {
        allowOrigins: {
          type: 'array',
          minItems: 1,
          maxItems: 100,
          items: str(PATTERNS.origin, 'An origin (`https://app.example.com`, lowercase, no path) or `*` for any origin.', 261),
          description: 'Origins allowed to read responses; `*` for any (not with allowCredentials).',
        },
        allowMethods: {
          type: 'array',
          minItems: 1,
          maxItems: 9,
          default: ['GET', 'HEAD', 'POST'],
          items: { title: 'HttpMethod', type: 'string', enum: HTTP_METHODS },
          description: 'Methods a preflight allows.',
        },
        allowHeaders: {
          type: 'array',
          maxItems: 64,
          default: [],
          items: str(PATTERNS.headerName, 'A request header name.', 128),
          description: 'Request headers a preflight allows.',
        },
        exposeHeaders: {
          type: 'array',
          maxItems: 64,
          default: [],
          items: str(PATTERNS.headerName, 'A response header name.', 128),
          description: 'Response headers scripts may read.',
        },
        maxAge: { type: 'integer', minimum: 0, maximum: 86400, default: 600, description: 'Seconds a browser may cache a preflight answer.' },
        allowCredentials: { type: 'boolean', default: false, description: 'Allow cookies and credentials (Access-Control-Allow-Credentials: true).' },
      },
      ['allowOrigins'],
      'CORS (http mode): preflights answered by HAProxy, Access-Control-Allow-Origin on responses to allowed origins.',
    ),
  },
  ['binds'],
  'FrontendSpec: listening sockets and routing rules.',
);

export const backendSpecSchema: JsonSchema = namedObject(
  'BackendSpec',
  {
    mode,
    balance: {
      title: 'Balance',
      type: 'string',
      enum: ['roundrobin', 'leastconn', 'source', 'first', 'random', 'uri', 'url_param', 'hdr'],
      default: 'roundrobin',
      description:
        'Load-balancing algorithm. uri, url_param and hdr hash the request (http mode) with consistent hashing, so members still change at run time without a reload.',
    },
    balanceUrlParam: str(PATTERNS.urlParam, 'Query parameter whose value picks the member (balance url_param; required there, refused otherwise).', 128),
    balanceHeader: str(PATTERNS.headerName, 'Request header whose value picks the member (balance hdr; required there, refused otherwise).', 128),
    members: {
      type: 'array',
      maxItems: 10000,
      default: [],
      description: 'Static members (servers).',
      items: namedObject(
        'Member',
        {
          name: str(PATTERNS.memberName, 'Member name, unique in the backend (the HAProxy server name).', 63),
          address: str(PATTERNS.address, 'IP address or DNS name.', 253),
          port: { ...port, description: 'Port.' },
          weight: { type: 'integer', minimum: 0, maximum: 256, default: 100, description: 'Relative weight (0 takes no new traffic).' },
          state: {
            title: 'MemberState',
            type: 'string',
            enum: ['ready', 'drain', 'maint'],
            default: 'ready',
            description: 'ready: in rotation; drain: finish current sessions, take no new ones; maint: out of rotation.',
          },
        },
        ['name', 'address', 'port'],
      ),
    },
    service: namedObject(
      'ServiceRef',
      {
        name: str(PATTERNS.name, 'Service name (same namespace).'),
        port: {
          'x-kubernetes-int-or-string': true,
          anyOf: [
            { type: 'integer', minimum: 1, maximum: 65535 },
            { type: 'string', pattern: PATTERNS.portName, maxLength: 63 },
          ],
          description: 'Service port, by number or by name.',
        },
      },
      ['name', 'port'],
      'Take members from the endpoints of this Kubernetes Service (Kubernetes source only).',
    ),
    healthCheck: namedObject(
      'HealthCheck',
      {
        type: {
          title: 'HealthCheckType',
          type: 'string',
          enum: ['tcp', 'http'],
          default: 'tcp',
          description: 'tcp: connect; http: send a request and expect 2xx/3xx.',
        },
        method: { type: 'string', enum: ['GET', 'HEAD', 'OPTIONS', 'POST'], description: 'HTTP method (http checks; default GET). POST sends an empty body.' },
        path: str(PATTERNS.checkPath, 'HTTP path (http checks; default /).', 1024),
        host: str(PATTERNS.host, 'Host header to send (http checks).'),
        interval: { ...duration('Time between checks'), default: '2s' },
        rise: { type: 'integer', minimum: 1, maximum: 100, default: 2, description: 'Consecutive successes to mark a member up.' },
        fall: { type: 'integer', minimum: 1, maximum: 100, default: 3, description: 'Consecutive failures to mark a member down.' },
      },
      [],
      'Active health checks on every member.',
    ),
    timeouts: {
      ...namedObject('BackendTimeouts', {
        connect: duration('Time allowed to connect to a member'),
        server: duration('Server inactivity timeout'),
        queue: duration('Time a request may wait in the queue'),
      }),
      default: {},
    },
    maxconn: maxconn('Maximum concurrent connections per member; further requests queue.'),
    protocol: {
      title: 'BackendProtocol',
      type: 'string',
      enum: ['http/1.1', 'h2'],
      default: 'http/1.1',
      description: 'Protocol spoken to the members (http mode): h2 is HTTP/2 (h2c in clear, ALPN h2 with tls), for gRPC.',
    },
    proxyProtocol: { type: 'string', enum: ['v1', 'v2'], description: 'Send the PROXY protocol header to the members (send-proxy / send-proxy-v2).' },
    tls: namedObject(
      'BackendTls',
      {
        sni: str(PATTERNS.address, 'Server name to send (SNI), and the name the member certificate must carry when verified.'),
        verify: {
          type: 'string',
          enum: ['Required', 'None'],
          default: 'Required',
          description: 'Required: verify the member certificate (against caRef, or the system trust store); None: do not.',
        },
        caRef: caRefSchema,
      },
      [],
      'Connect to the members over TLS (re-encryption).',
    ),
    // HTTP policy (issue 12): see src/render/policy.ts.
    sessionAffinity: namedObject(
      'SessionAffinity',
      {
        type: { type: 'string', enum: ['Cookie'], default: 'Cookie', description: 'Cookie: HAProxy inserts a cookie naming the member.' },
        cookieName: { ...str(PATTERNS.headerName, 'Cookie name.', 64), default: 'SRVID' },
      },
      [],
      'Keep a client on one member (http mode): a cookie inserted by HAProxy (insert indirect nocache).',
    ),
    retries: namedObject(
      'Retries',
      {
        attempts: { type: 'integer', minimum: 0, maximum: 100, default: 3, description: 'Retries after a failed attempt.' },
        retryOn: {
          type: 'array',
          minItems: 1,
          maxItems: 32,
          items: {
            'x-kubernetes-int-or-string': true,
            // Hoisted onto the field for the CRD (crd.ts): the bounds apply to numbers, the pattern to strings.
            anyOf: [
              { type: 'integer', minimum: RETRY_STATUS[0], maximum: RETRY_STATUS[RETRY_STATUS.length - 1] },
              { type: 'string', pattern: `^(${[...RETRY_ON, ...RETRY_STATUS].join('|')})$` },
            ],
            description: `A condition (${RETRY_ON.join(', ')}) or a status code (${RETRY_STATUS.join(', ')}).`,
          },
          description: 'What is retried (HAProxy retry-on; default conn-failure). Needs mode http.',
        },
        redispatch: { type: 'boolean', default: true, description: 'Retry on another member (option redispatch) rather than the same one.' },
      },
      [],
      'Retry failed requests.',
    ),
    requestBodyMaxBytes: {
      type: 'integer',
      minimum: 0,
      maximum: 1099511627776,
      description: 'Largest request body in bytes (http mode); larger bodies get 413.',
    },
  },
  [],
  'BackendSpec: a pool of members.',
);

const metadataSchema: JsonSchema = {
  type: 'object',
  properties: {
    name: str(PATTERNS.name, 'Resource name (DNS-1123 subdomain: lowercase letters, digits, `-`, `.`).'),
    namespace: { ...str(PATTERNS.namespace, 'Namespace (DNS-1123 label).', 63), default: 'default' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
  required: ['name'],
  'x-kubernetes-preserve-unknown-fields': true,
};

export const statusSchema: JsonSchema = {
  type: 'object',
  properties: {
    observedGeneration: { type: 'integer' },
    conditions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          type: { type: 'string' },
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          reason: { type: 'string' },
          message: { type: 'string' },
          lastTransitionTime: { type: 'string' },
          observedGeneration: { type: 'integer' },
        },
        required: ['type', 'status'],
      },
    },
    members: {
      type: 'object',
      properties: { total: { type: 'integer' }, ready: { type: 'integer' } },
    },
  },
};

function resourceSchema(kind: 'Frontend' | 'Backend', spec: JsonSchema): JsonSchema {
  return {
    type: 'object',
    properties: {
      apiVersion: { type: 'string', enum: ['haproxy.node-haproxy.io/v1alpha1'] },
      kind: { type: 'string', enum: [kind] },
      metadata: metadataSchema,
      spec,
      status: statusSchema,
    },
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    additionalProperties: false,
  };
}

export const frontendSchema = resourceSchema('Frontend', frontendSpecSchema);
export const backendSchema = resourceSchema('Backend', backendSpecSchema);
