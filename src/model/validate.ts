/**
 * Validation of one resource against the schema, with defaults applied.
 * Errors name the field and say what is allowed, so the user knows the fix.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isIP } from 'node:net';
import { bindValue, ipLiteralProblem } from './ip-address.js';
import { checkBackendPolicy, checkFrontendPolicy } from './policy-checks.js';
import { checkRule } from './routing.js';
import { parseRawConfig, RAW_CONFIG_ANNOTATION, RAW_CONFIG_FIELD, sectionOfKind, type RawConfigPolicy } from './raw-config.js';
import { backendSchema, frontendSchema, PATTERNS, type JsonSchema } from './schema.js';
import { API_VERSION, DEFAULT_NAMESPACE, HASH_BALANCE, type Issue, type Kind, type Resource } from './types.js';

const HELP_BY_NAME: Record<keyof typeof PATTERNS, string> = {
  name: 'lowercase letters, digits, "-" and "." (a DNS-1123 name, like "web-api")',
  namespace: 'lowercase letters, digits and "-" (a DNS-1123 label)',
  memberName: 'letters, digits, "_", "." and "-", starting with a letter or digit',
  address: 'an IPv4 address, an IPv6 address or a DNS name',
  bindAddress: '"*", an IPv4 address in dotted decimal (like 10.0.0.1) or an IPv6 address without brackets or zone (like ::1)',
  host: 'a DNS name such as "example.com", optionally "*.example.com"',
  path: 'a path starting with "/" made of letters, digits and ._~!&()*+,;=:@%/- (no spaces, quotes, "#" or "$")',
  checkPath: 'a path starting with "/" with an optional query (no spaces, quotes, "#" or "$")',
  headerName: 'letters, digits, "_", "." and "-"',
  headerValue: 'visible characters without spaces, quotes, "#", "$" or "\\"',
  duration: 'a number with an optional unit us, ms, s, m, h or d (like "5s" or "500ms")',
  urlParam: 'a query parameter name: letters, digits, ".", "_", "~" and "-"',
  portName: 'a port name: lowercase letters, digits and "-"',
  ipOrCidr: 'an IPv4 or IPv6 address, or a network in CIDR form (like 10.0.0.0/8 or 2001:db8::/32)',
  origin: '"*" or an origin such as "https://app.example.com" (lowercase scheme and host, optional port, no path)',
  realm: 'letters, digits, "_", "." and "-"',
  regex: 'a regular expression of visible ASCII characters without spaces, quotes or "#"',
  headerSetValue: 'visible characters and inner spaces, without quotes, "#", "$" or "\\"',
  hostname: 'a DNS name such as "example.com" (no wildcard)',
};

/** Patterns shared by several fields (namespace and port name) get the first help text. */
const PATTERN_HELP = new Map<string, string>();
for (const [name, help] of Object.entries(HELP_BY_NAME)) {
  const pattern = PATTERNS[name as keyof typeof PATTERNS];
  if (!PATTERN_HELP.has(pattern)) PATTERN_HELP.set(pattern, help);
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictRequired: false });
ajv.addKeyword('x-kubernetes-int-or-string');
ajv.addKeyword('x-kubernetes-preserve-unknown-fields');

const validators: Record<Kind, ValidateFunction> = {
  Frontend: ajv.compile(frontendSchema),
  Backend: ajv.compile(backendSchema),
};

/** The schema a resource is validated with. */
const schemaOf = (root: unknown): JsonSchema | undefined =>
  (root as { kind?: unknown }).kind === 'Frontend' ? frontendSchema : (root as { kind?: unknown }).kind === 'Backend' ? backendSchema : undefined;

/** `/spec/rules/0/host` → `spec.rules[0].host` */
export function fieldPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

function show(value: unknown): string {
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 80 ? s.slice(0, 77) + '...' : s;
}

function describeError(e: ErrorObject, root: unknown): { field: string; message: string } {
  let field = fieldPath(e.instancePath);
  const value = e.instancePath
    .split('/')
    .slice(1)
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), root);
  switch (e.keyword) {
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      field = field ? `${field}.${missing}` : missing;
      return { field, message: 'is required' };
    }
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      field = field ? `${field}.${extra}` : extra;
      return { field, message: 'is not a known field; remove it or check its spelling' };
    }
    case 'pattern': {
      const p = (e.params as { pattern: string }).pattern;
      return { field, message: `${show(value)} is not allowed: use ${PATTERN_HELP.get(p) ?? `a value matching ${p}`}` };
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map((v) => show(v)).join(', ');
      return { field, message: `${show(value)} is not one of ${allowed}` };
    }
    case 'type':
      return { field, message: `${show(value)} must be ${(e.params as { type: string }).type}` };
    case 'minimum':
    case 'maximum':
    case 'minLength':
    case 'maxLength':
      return { field, message: `${show(value)} ${e.message ?? 'is out of range'}` };
    case 'minItems':
    case 'maxItems': {
      // The count, not the list: a list of a thousand rules quoted back helps nobody.
      const limit = (e.params as { limit: number }).limit;
      const n = Array.isArray(value) ? value.length : 0;
      return {
        field,
        message:
          e.keyword === 'maxItems'
            ? `has ${n} items; at most ${limit} are allowed: split it (another resource) or remove some`
            : `has ${n} items; at least ${limit} ${limit === 1 ? 'is' : 'are'} needed`,
      };
    }
    case 'anyOf': {
      // One of several shapes (a number or a name): the schema's description says which.
      const at = e.schemaPath
        .split('/')
        .slice(1, -1)
        .reduce<unknown>(
          (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
          root === undefined ? undefined : schemaOf(root),
        );
      const description = (at as JsonSchema | undefined)?.description;
      return { field, message: description ? `${show(value)} is not allowed; expected: ${description}` : (e.message ?? 'is invalid') };
    }
    default:
      return { field, message: e.message ?? 'is invalid' };
  }
}

export interface ValidateOptions extends RawConfigPolicy {
  /**
   * Accept raw HAProxy lines (the raw-config annotation). Off unless the
   * operator enabled raw configuration; the lines are checked either way,
   * against the default allow-list or the narrower `rawConfigKeywords`.
   */
  allowRawConfig?: boolean;
}

/** The raw-config part of a source's options, as validateResource takes them. */
export const rawConfigOptions = (o: ValidateOptions): ValidateOptions => ({
  allowRawConfig: o.allowRawConfig ?? false,
  rawConfigKeywords: o.rawConfigKeywords,
});

export interface ValidationResult {
  resource?: Resource;
  issues: Issue[];
  /**
   * When the schema refuses the resource: its well-formed parts, for the
   * reference checks only (resolve reports what they name that does not
   * resolve alongside the schema problems). Each value the schema refuses is
   * removed; an array element that is incomplete becomes a hole, so every
   * other element keeps its index (and its field names stay right).
   */
  partial?: Resource;
}

/** A short label for messages: `Frontend default/web`. */
export function describeResource(raw: unknown): string | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const kind = typeof r.kind === 'string' ? r.kind : 'resource';
  const name = typeof r.metadata?.name === 'string' ? r.metadata.name : '(unnamed)';
  const ns = typeof r.metadata?.namespace === 'string' ? r.metadata.namespace : DEFAULT_NAMESPACE;
  return `${kind} ${ns}/${name}`;
}

/**
 * Validates one raw resource (already parsed from YAML/JSON) and returns it
 * with defaults filled in. The input is not modified.
 */
export function validateResource(raw: unknown, origin?: string, options: ValidateOptions = {}): ValidationResult {
  const resource = describeResource(raw);
  const issue = (field: string, message: string): Issue => ({ origin, resource, field, message, reason: 'InvalidSpec' });
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    return { issues: [issue('', 'is not an object; a resource needs apiVersion, kind, metadata and spec')] };
  }
  const obj = raw as Record<string, unknown>;
  if (obj.apiVersion !== API_VERSION) {
    return { issues: [issue('apiVersion', `${show(obj.apiVersion)} is not supported; use ${show(API_VERSION)}`)] };
  }
  if (obj.kind !== 'Frontend' && obj.kind !== 'Backend') {
    return { issues: [issue('kind', `${show(obj.kind)} is not supported; use "Frontend" or "Backend"`)] };
  }
  const copy = structuredClone(obj);
  const validate = validators[obj.kind];
  if (!validate(copy)) {
    const seen = new Set<string>();
    const issues: Issue[] = [];
    for (const e of validate.errors ?? []) {
      // anyOf branches report once through their parent.
      if (e.schemaPath.includes('/anyOf/')) continue;
      const d = describeError(e, copy);
      const k = `${d.field}\u0000${d.message}`;
      if (seen.has(k)) continue;
      seen.add(k);
      issues.push(issue(d.field, d.message));
    }
    const partial = wellFormedParts(copy, validate.errors ?? []);
    if (!partial) return { issues };
    // The checks the schema cannot express, on the well-formed parts: all but those about a field the schema already refused.
    const related = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`) || b.startsWith(`${a}.`) || b.startsWith(`${a}[`);
    const refused = issues.map((i) => i.field);
    try {
      for (const i of [...checkResource(partial, origin), ...checkRawConfig(partial, origin, options)])
        if (!refused.some((f) => related(i.field, f))) issues.push(i);
    } catch {
      // A shape the checks cannot read (an element left out) adds nothing: the schema problems say what to fix.
    }
    return { issues, partial };
  }
  const res = copy as unknown as Resource;
  res.metadata.namespace ??= DEFAULT_NAMESPACE;
  return { resource: res, issues: [...checkResource(res, origin), ...checkRawConfig(res, origin, options)] };
}

/**
 * `copy` (a resource the schema refused, defaults partly applied) without the
 * values the schema refused: see ValidationResult.partial. Undefined when its
 * identity (metadata.name, metadata.namespace) or its spec is what is wrong.
 * Modifies `copy`.
 */
export function wellFormedParts(copy: Record<string, unknown>, errors: readonly ErrorObject[]): Resource | undefined {
  const segments = (pointer: string) =>
    pointer
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const remove = (path: string[]): boolean => {
    if (path.length < 1 || path[0] === 'kind' || path[0] === 'apiVersion') return false;
    if (path[0] === 'metadata' && (path[1] === 'name' || path[1] === 'namespace')) return false;
    const parent = path.slice(0, -1).reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), copy);
    if (!parent || typeof parent !== 'object') return true;
    // `delete` leaves a hole in an array: the other elements keep their indexes.
    delete (parent as Record<string, unknown>)[path[path.length - 1]!];
    return true;
  };
  for (const e of errors) {
    const path = segments(e.instancePath);
    const ok =
      e.keyword === 'additionalProperties'
        ? remove([...path, (e.params as { additionalProperty: string }).additionalProperty])
        : // An object that lacks a required field is incomplete as a whole; the spec itself is checked for what it has.
          e.keyword === 'required' && path.length === 1 && path[0] === 'spec'
          ? true
          : remove(path);
    if (!ok) return undefined;
  }
  const spec = copy.spec as Record<string, unknown> | undefined;
  const metadata = copy.metadata as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object' || !metadata || typeof metadata.name !== 'string') return undefined;
  for (const list of ['binds', 'rules', 'members'] as const) if (!Array.isArray(spec[list])) spec[list] = [];
  metadata.namespace ??= DEFAULT_NAMESPACE;
  return copy as unknown as Resource;
}

/** The raw-config annotation: refused unless enabled, and every line checked. */
function checkRawConfig(r: Resource, origin: string | undefined, options: ValidateOptions): Issue[] {
  const value = r.metadata.annotations?.[RAW_CONFIG_ANNOTATION];
  if (value === undefined) return [];
  const resource = `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`;
  const issue = (field: string, message: string): Issue => ({ origin, resource, field, message, reason: 'InvalidSpec' });
  if (!options.allowRawConfig) {
    return [
      issue(
        RAW_CONFIG_FIELD,
        'raw configuration is disabled on this controller; remove the annotation, or ask the operator to enable raw configuration (--allow-raw-config)',
      ),
    ];
  }
  return parseRawConfig(value, sectionOfKind(r.kind), options).problems.map((p) =>
    issue(p.index === undefined ? RAW_CONFIG_FIELD : `${RAW_CONFIG_FIELD}[${p.index}]`, p.message),
  );
}

/** The shortest max-age the HSTS preload list accepts (hstspreload.org): one year. */
export const HSTS_PRELOAD_MIN_AGE = 31536000;

function checkAddress(addr: string): string | undefined {
  return ipLiteralProblem(addr);
}

/** Checks inside one resource that the schema cannot express. */
function checkResource(r: Resource, origin?: string): Issue[] {
  const issues: Issue[] = [];
  const resource = `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`;
  const add = (field: string, message: string) => issues.push({ origin, resource, field, message, reason: 'InvalidSpec' });
  if (r.kind === 'Frontend') {
    const s = r.spec;
    s.binds.forEach((b, i) => {
      if (b.address !== '*') {
        const bad = checkAddress(b.address);
        if (bad) add(`spec.binds[${i}].address`, bad);
      }
    });
    // Duplicates by value: `*` and `0.0.0.0`, `::1` and `0:0::1` are one socket each.
    const seen = new Map<string, number>();
    s.binds.forEach((b, i) => {
      const v = bindValue(b.address);
      if (!v) return;
      const k = `${v.kind === 'ip4' || v.kind === 'ip6' ? v.addr : v.kind} ${b.port}`;
      const first = seen.get(k);
      if (first === undefined) seen.set(k, i);
      else {
        const same = s.binds[first]!.address === b.address ? '' : ` (${show(b.address)} is ${show(s.binds[first]!.address)} written another way)`;
        add(`spec.binds[${i}]`, `${show(b.address)} port ${b.port} is listed twice: spec.binds[${first}] is the same socket${same}; remove one`);
      }
    });
    s.binds.forEach((b, i) => {
      const tls = b.tls;
      if (!tls) return;
      const seenRefs = new Map<string, number>();
      tls.certificateRefs.forEach((ref, j) => {
        const first = seenRefs.get(ref.name);
        if (first !== undefined)
          add(
            `spec.binds[${i}].tls.certificateRefs[${j}]`,
            `Secret ${show(ref.name)} is listed twice (also certificateRefs[${first}]); list each certificate once`,
          );
        else seenRefs.set(ref.name, j);
      });
      if (tls.alpn) {
        if (s.mode !== 'http') add(`spec.binds[${i}].tls.alpn`, `ALPN negotiates HTTP versions and needs mode "http" (mode is ${show(s.mode)}); remove alpn`);
        if (new Set(tls.alpn).size !== tls.alpn.length) add(`spec.binds[${i}].tls.alpn`, 'lists a protocol twice; list each once');
      }
    });
    if (s.mode === 'tcp' && s.rules.length > 0) {
      add('spec.rules', 'rules route HTTP requests and need mode "http"; in tcp mode use defaultBackend only');
    }
    s.rules.forEach((rule, i) => {
      checkRule(rule, i, add);
      if (s.mode === 'tcp' && rule.timeouts?.request !== undefined) {
        add(`spec.rules[${i}].timeouts.request`, `bounds an HTTP request's wait and needs mode "http"; in tcp mode set the Backend's timeouts.server`);
      }
    });
    if (s.mode === 'tcp' && s.httpsRedirect) add('spec.httpsRedirect', 'redirects HTTP requests and needs mode "http"; remove it in tcp mode');
    if (s.mode === 'http' && s.httpsRedirect) {
      // Redirecting to a plain bind of this frontend answers the redirected request with the same redirect: a loop.
      const port = s.httpsRedirect.port;
      const onPort = s.binds.map((b, i) => ({ b, i })).filter(({ b }) => b.port === port);
      if (onPort.length > 0 && onPort.every(({ b }) => !b.tls)) {
        add(
          'spec.httpsRedirect.port',
          `${port} is spec.binds[${onPort[0]!.i}], which has no tls: the redirected request would be redirected again, in a loop; ` +
            `point port at a TLS bind, or add tls to spec.binds[${onPort[0]!.i}]`,
        );
      }
    }
    if (s.mode === 'tcp' && s.hsts) add('spec.hsts', 'is an HTTP response header and needs mode "http"; remove it in tcp mode');
    if (s.hsts?.preload && (!s.hsts.includeSubDomains || s.hsts.maxAge < HSTS_PRELOAD_MIN_AGE)) {
      add(
        'spec.hsts.preload',
        `the preload list requires includeSubDomains: true and maxAge of at least ${HSTS_PRELOAD_MIN_AGE} (one year); set both, or remove preload`,
      );
    }
    if (s.mode === 'http' && (s.sniRoutes ?? []).length > 0) {
      add('spec.sniRoutes', 'routes TLS connections without terminating them and needs mode "tcp"; in http mode use rules with host');
    }
    if (s.timeouts.tlsInspect && (s.sniRoutes ?? []).length === 0) {
      add('spec.timeouts.tlsInspect', 'applies to sniRoutes only; remove it or add sniRoutes');
    }
    const hostSeen = new Map<string, string>();
    (s.sniRoutes ?? []).forEach((route, i) =>
      route.hosts.forEach((h, j) => {
        const field = `spec.sniRoutes[${i}].hosts[${j}]`;
        const first = hostSeen.get(h.toLowerCase());
        if (first) add(field, `${show(h)} is already routed by ${first} (names are compared ignoring case); remove one`);
        else hostSeen.set(h.toLowerCase(), field);
      }),
    );
    checkFrontendPolicy(r, add);
  } else {
    const s = r.spec;
    if (s.service && s.members.length > 0) {
      add('spec.service', 'use either static members or a service, not both');
    }
    const names = new Set<string>();
    s.members.forEach((m, i) => {
      if (names.has(m.name)) add(`spec.members[${i}].name`, `${show(m.name)} is used by another member; member names must be unique`);
      names.add(m.name);
      const bad = checkAddress(m.address);
      if (bad) add(`spec.members[${i}].address`, bad);
    });
    if (s.balance === 'url_param' && !s.balanceUrlParam)
      add('spec.balanceUrlParam', 'is required with balance url_param: name the query parameter to hash, like "userid"');
    if (s.balance !== 'url_param' && s.balanceUrlParam)
      add('spec.balanceUrlParam', `applies to balance url_param only (balance is ${show(s.balance)}); remove it or set balance: url_param`);
    if (s.balance === 'hdr' && !s.balanceHeader) add('spec.balanceHeader', 'is required with balance hdr: name the request header to hash, like "X-User"');
    if (s.balance !== 'hdr' && s.balanceHeader)
      add('spec.balanceHeader', `applies to balance hdr only (balance is ${show(s.balance)}); remove it or set balance: hdr`);
    if (s.mode === 'tcp' && HASH_BALANCE.includes(s.balance))
      add('spec.balance', `${show(s.balance)} hashes HTTP requests and needs mode "http"; in tcp mode use roundrobin, leastconn, source, first or random`);
    const hc = s.healthCheck;
    if (hc && hc.type === 'tcp' && (hc.method || hc.path || hc.host)) {
      add('spec.healthCheck', 'method, path and host apply to http checks; set type: http or remove them');
    }
    if (hc && hc.type === 'http' && s.mode === 'tcp') {
      add('spec.healthCheck.type', 'http checks need mode "http"; use type: tcp');
    }
    if (s.protocol === 'h2' && s.mode === 'tcp') {
      add('spec.protocol', 'h2 is HTTP/2 and needs mode "http"; in tcp mode the bytes pass as they are: remove protocol');
    }
    if (s.tls?.sni && isIP(s.tls.sni) !== 0) {
      add('spec.tls.sni', `${show(s.tls.sni)} is an IP address, and a server name (SNI) is a DNS name; use the name the member certificate carries`);
    }
    if (s.tls?.verify === 'None' && s.tls.caRef) {
      add('spec.tls.caRef', 'verifies the members, but verify is "None"; remove caRef or set verify: Required');
    }
    checkBackendPolicy(r, add);
  }
  return issues;
}
