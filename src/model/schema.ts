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
const mode: JsonSchema = { type: 'string', enum: ['http', 'tcp'], default: 'http', description: 'Proxy mode: http (layer 7) or tcp (layer 4).' };
const maxconn = (description: string): JsonSchema => ({ type: 'integer', minimum: 1, maximum: 1000000, description });

function object(properties: Record<string, JsonSchema>, required: string[] = [], description?: string): JsonSchema {
  const s: JsonSchema = { type: 'object', properties, additionalProperties: false };
  if (required.length > 0) s.required = required;
  if (description) s.description = description;
  return s;
}

/* ---- HTTP routing (issue 12; docs/decisions/0011-http-routing.md) ---- */
const valueMatch = (what: string, namePattern: string): JsonSchema =>
  object(
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

const pathModifier: JsonSchema = object(
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
  items: object(
    {
      name: str(PATTERNS.headerName, 'Header name.', 128),
      value: str(PATTERNS.headerSetValue, 'Header value (inner spaces allowed; `%` is literal).', 1024),
    },
    ['name', 'value'],
  ),
});

const headerModifier = (description: string): JsonSchema =>
  object(
    {
      set: headerValues('Headers to set, replacing any value they had.'),
      add: headerValues('Headers to add, after any value they had.'),
      remove: { type: 'array', maxItems: 16, items: str(PATTERNS.headerName, 'Header name.', 128), description: 'Headers to remove.' },
    },
    [],
    description,
  );

const routingRuleProperties: Record<string, JsonSchema> = {
  matches: object(
    {
      host: str(PATTERNS.host, 'Match the Host header (port ignored, case-insensitive); `*.example.com` matches any subdomain, not example.com.'),
      path: object(
        {
          type: {
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
      headers: { type: 'array', maxItems: 16, items: valueMatch('Header', PATTERNS.headerName), description: 'Match request headers (each sent once).' },
      queryParams: {
        type: 'array',
        maxItems: 16,
        items: valueMatch('Query parameter', PATTERNS.urlParam),
        description: 'Match query parameters (the first occurrence).',
      },
      method: {
        type: 'string',
        enum: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'],
        description: 'Match the request method.',
      },
    },
    [],
    'Conditions, all of which must match (the long form of host, pathPrefix and header).',
  ),
  backends: {
    type: 'array',
    minItems: 1,
    maxItems: 16,
    description: 'Backends that serve matching requests, split by weight (the long form of backend).',
    items: object(
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
  filters: {
    type: 'array',
    maxItems: 16,
    description: 'Changes applied to matching requests and their responses, in order.',
    items: object(
      {
        type: { type: 'string', enum: ['RequestRedirect', 'URLRewrite', 'RequestHeaderModifier', 'ResponseHeaderModifier'] },
        requestRedirect: object(
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
        urlRewrite: object({ hostname: str(PATTERNS.hostname, 'New Host header.'), path: pathModifier }, [], 'Rewrite the request before it is forwarded.'),
        requestHeaderModifier: headerModifier('Change request headers before they are forwarded.'),
        responseHeaderModifier: headerModifier('Change response headers before they reach the client.'),
      },
      ['type'],
    ),
  },
};
/* ---- end of HTTP routing ---- */

export const frontendSpecSchema: JsonSchema = object(
  {
    mode,
    binds: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      description: 'Listening sockets.',
      items: object(
        {
          address: { ...str(PATTERNS.bindAddress, 'Address to listen on: `*` for all IPv4 addresses, an IPv4 or an IPv6 address.', 64), default: '*' },
          port: { ...port, description: 'TCP port to listen on.' },
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
      items: object(
        {
          host: str(PATTERNS.host, 'Match the Host header (port ignored, case-insensitive); `*.example.com` matches any subdomain.'),
          pathPrefix: str(PATTERNS.path, 'Match paths equal to this prefix or below it (`/api` matches `/api` and `/api/x`, not `/apix`).', 1024),
          header: object(
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
      ...object({
        client: duration('Client inactivity timeout'),
        httpRequest: duration('Time allowed for a complete HTTP request'),
        httpKeepAlive: duration('Time to wait for a new request on a kept-alive connection'),
      }),
      default: {},
    },
    forwardFor: { type: 'boolean', default: true, description: 'Add X-Forwarded-For (http mode).' },
    keepAlive: {
      type: 'string',
      enum: ['keep-alive', 'server-close', 'close'],
      default: 'keep-alive',
      description: 'HTTP connection mode: keep-alive (both sides), server-close (close towards servers), close.',
    },
  },
  ['binds'],
  'FrontendSpec: listening sockets and routing rules.',
);

export const backendSpecSchema: JsonSchema = object(
  {
    mode,
    balance: {
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
      items: object(
        {
          name: str(PATTERNS.memberName, 'Member name, unique in the backend (the HAProxy server name).', 63),
          address: str(PATTERNS.address, 'IP address or DNS name.', 253),
          port: { ...port, description: 'Port.' },
          weight: { type: 'integer', minimum: 0, maximum: 256, default: 100, description: 'Relative weight (0 takes no new traffic).' },
          state: {
            type: 'string',
            enum: ['ready', 'drain', 'maint'],
            default: 'ready',
            description: 'ready: in rotation; drain: finish current sessions, take no new ones; maint: out of rotation.',
          },
        },
        ['name', 'address', 'port'],
      ),
    },
    service: object(
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
    healthCheck: object(
      {
        type: { type: 'string', enum: ['tcp', 'http'], default: 'tcp', description: 'tcp: connect; http: send a request and expect 2xx/3xx.' },
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
      ...object({
        connect: duration('Time allowed to connect to a member'),
        server: duration('Server inactivity timeout'),
        queue: duration('Time a request may wait in the queue'),
      }),
      default: {},
    },
    maxconn: maxconn('Maximum concurrent connections per member; further requests queue.'),
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
