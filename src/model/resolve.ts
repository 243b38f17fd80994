/**
 * Resolution: from everything the sources hold to the set of resources that
 * should serve. Pure.
 *
 * Rules:
 * - A resource whose current version is invalid (schema, semantic, dangling
 *   reference, conflict) keeps serving its last accepted version, if it has one.
 *   Bad input never takes down what already serves.
 * - The same kind/namespace/name from two origins is a conflict reported on
 *   both; neither new version is taken (never a silent override).
 * - Two frontends cannot listen on the same socket (compared by value: one
 *   address in two spellings, or a wildcard and an address it includes, on one
 *   port); the one that already served keeps the socket.
 * - A resource a source keeps from an input that broke (a file that no longer
 *   parses or was emptied: `Declared.stale`) serves, and its outcome says
 *   so: not accepted, serving that last good version, naming the input.
 * - A Secret or ConfigMap that goes bad after it served (certificates, CA
 *   bundles) resolves to its last good value (model/last-good.ts): the
 *   resource's last accepted version keeps serving with it, and its status
 *   says which reference is bad and why. Basic-auth users never do: the
 *   Secret is authoritative, and one that is gone fails closed (every request
 *   401; model/basic-auth.ts).
 */
import { MEMBERS, mergeDiscovered, type Discovered, type DiscoveredValues } from './discovered.js';
import { INVALID_SECRETS, invalidSecretMessage, SECRETS, secretKey, secretNote, type InvalidSecret, type SecretData } from './secrets.js';
import { parseCaBundle, type CaBundle } from './certificate.js';
import { emptySecretsInUse, orLastGood, type FromSecret, type SecretsInUse } from './last-good.js';
import { CERTIFICATES_IN_USE, collectTlsInUse, hasTls, resolveFrontendTls, withCaBundle, type BindTlsMaterial, type FrontendTls } from './tls.js';
import { basicAuthSecretKey, resolveBasicAuth, withBasicAuthUsers, type AuthUser, type BasicAuthResolution } from './basic-auth.js';
import { backendFields, routingNote } from './routing.js';
import { bindOverlap, bindValue, describeBind } from './ip-address.js';
import { formatIssue, formatProblem, keyOf, parseKey, type Backend, type Frontend, type Issue, type Member, type Resource, type ResourceKey } from './types.js';

/** What a source holds for one resource: the validated resource or why it is not valid. */
export interface Declared {
  key: ResourceKey;
  /** Where it came from (`files:/path/x.yaml#2`, `kubernetes`, `etcd:/prefix/...`). */
  origin: string;
  /** Which source holds it (`files`, `kubernetes`, `rest`, `etcd`). */
  source: string;
  resource?: Resource;
  issues: Issue[];
  /**
   * When the schema refuses the resource: its well-formed parts
   * (model/validate.ts), so that its references are still checked and
   * reported with its other problems. Never serves.
   */
  partial?: Resource;
  /**
   * The source holds this last good version because its input is broken now
   * (its file does not parse, was emptied, cannot be read): the problem, naming
   * the file. It serves, but its status says the input is not what serves.
   */
  stale?: Issue;
}

/**
 * `notes`: what status should say besides acceptance (the certificates in
 * use, a certificate that expires soon, a bad Secret or ConfigMap whose last
 * good certificate or CA bundle keeps serving, basic-auth lines skipped or no user left).
 */
export type Outcome =
  | { accepted: true; resource: Resource; notes?: string[] }
  | { accepted: false; reason: string; message: string; issues: Issue[]; serving?: Resource; notes?: string[] };

export interface Resolution {
  frontends: Frontend[];
  backends: Backend[];
  outcomes: Map<ResourceKey, Outcome>;
  /** The versions that serve now: pass back in as `lastAccepted` next time. */
  accepted: Map<ResourceKey, Resource>;
  /** What each serving Frontend's TLS binds serve, by Frontend key (absent: no TLS). */
  tls: Map<ResourceKey, BindTlsMaterial[]>;
  /** Certificates, CA bundles and basic-auth users that serve now: pass back in as `lastGood` next time (model/last-good.ts). */
  secretsInUse: SecretsInUse;
  /** What each source declared, by resource key (more than one: a conflict). The running state saves its sources and origins, for `plan`. */
  declaredBy: ReadonlyMap<ResourceKey, readonly Declared[]>;
  /**
   * Certificates that a current (declared) Frontend references and that
   * expire within EXPIRY_WARNING_DAYS, naming the Frontend and the reference:
   * valid, served with a warning (`validate` prints these).
   */
  warnings: Issue[];
}

export interface ResolveInput {
  declared: readonly Declared[];
  lastAccepted: ReadonlyMap<ResourceKey, Resource>;
  /**
   * Discovered data by kind, then by resource key (model/discovered.ts):
   * merged into each resource that serves, through its kind's `apply`.
   */
  discovered?: Discovered;
  /** Members discovered for backends with a `service` (Kubernetes), by backend key: the `members` kind of `discovered`. */
  discoveredMembers?: ReadonlyMap<ResourceKey, readonly Member[]>;
  /**
   * Certificates, CA bundles and basic-auth users that served last time: a bad
   * Secret or ConfigMap resolves to these (never replaces a good one).
   */
  lastGood?: SecretsInUse;
  /** The time certificates are checked against (default: now). */
  now?: Date;
}

/** `discovered` with `discoveredMembers` as its `members` kind (the older spelling of the same input). */
function discoveredOf(input: ResolveInput): Discovered | undefined {
  if (!input.discoveredMembers) return input.discovered;
  const all = new Map(input.discovered ?? []);
  all.set(MEMBERS.name, input.discoveredMembers);
  return all;
}

const endpointText = (address: string, port: number): string => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

/**
 * The first bind of `f` on a socket that a bind of `other` already listens on,
 * compared by value: one address in two spellings, a wildcard and an address it
 * includes (HAProxy binds with SO_REUSEPORT, so both would start and split the traffic).
 */
function bindsClash(other: Frontend, f: Frontend): { index: number; message: string } | undefined {
  for (const [index, y] of f.spec.binds.entries()) {
    if (typeof y?.address !== 'string' || typeof y.port !== 'number') continue;
    const vy = bindValue(y.address);
    if (!vy) continue;
    for (const [j, x] of other.spec.binds.entries()) {
      if (x.port !== y.port) continue;
      const vx = bindValue(x.address);
      const how = vx && bindOverlap(vx, vy);
      if (!vx || !how) continue;
      const theirs = `its spec.binds[${j}].address ${JSON.stringify(x.address)}`;
      const detail =
        how === 'same'
          ? x.address === y.address
            ? `${theirs} is the same address`
            : `${theirs} is the same address written another way (${describeBind(vx)})`
          : how === 'covers'
            ? `${theirs} listens on ${describeBind(vx)} on port ${y.port}, ${JSON.stringify(y.address)} included`
            : `${theirs} is one of the addresses ${JSON.stringify(y.address)} listens on (${describeBind(vy)})`;
      return {
        index,
        message:
          `${endpointText(y.address, y.port)} is already used by ${label(other)}: ${detail}. ` +
          'Two frontends on one socket would split its connections between them; choose another address or port',
      };
    }
  }
  return undefined;
}

/** Every Backend `f` names, in field order (holes of a partial Frontend, and names that are not strings, skipped). */
function backendRefs(f: Frontend): { field: string; name: string }[] {
  const refs = (f.spec.rules ?? []).flatMap((r, i) => (r ? backendFields(r, i) : []));
  (f.spec.sniRoutes ?? []).forEach((r, i) => refs.push({ field: `spec.sniRoutes[${i}].backend`, name: r.backend }));
  if (f.spec.defaultBackend) refs.unshift({ field: 'spec.defaultBackend', name: f.spec.defaultBackend });
  return refs.filter((r) => typeof r.name === 'string');
}

/** How a reference to a Backend that is declared but refused (and never served) starts: `Backend ns/name is declared but refused`. */
export const REFUSED_BACKEND = (nsName: string): string => `Backend ${nsName} is declared but refused`;

const label = (r: Resource): string => `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`;

/** Why a Backend's `spec.tls.caRef` does not resolve (a Secret or ConfigMap of its namespace with a CA bundle in `ca.crt`), or undefined. */
export function caRefProblem(
  b: Backend,
  secrets: DiscoveredValues<SecretData> | undefined,
  invalid?: DiscoveredValues<InvalidSecret>,
): Omit<Issue, 'origin' | 'resource'> | undefined {
  const ref = b.spec.tls?.caRef;
  if (!ref) return undefined;
  const what = `${ref.kind} ${b.metadata.namespace}/${ref.name}`;
  const key = secretKey(ref.kind, b.metadata.namespace, ref.name);
  const data = secrets?.get(key);
  const field = 'spec.tls.caRef';
  const bad = data ? undefined : invalid?.get(key);
  if (bad) return { field, reason: 'InvalidSpec', message: `${what} ${invalidSecretMessage(bad)}` };
  if (!data) return { field, reason: 'SecretNotFound', message: `${what} does not exist; create it with the CA bundle under ca.crt, or fix the name` };
  const ca = data.data['ca.crt'];
  if (ca === undefined) return { field, reason: 'SecretNotFound', message: `${what} has no ca.crt; put the CA bundle (PEM) under ca.crt` };
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(ca)) {
    return { field, reason: 'InvalidSpec', message: `${what}: ca.crt holds no PEM certificate; put the CA bundle (PEM) under ca.crt` };
  }
  // The same parsing as a frontend's client CA: every block a certificate that parses, nothing between them.
  const bundle = parseCaBundle(data);
  if (!bundle.ok) return { field, reason: 'InvalidCertificate', message: bundle.problem };
  return undefined;
}

/**
 * The CA bundle of a Backend's `spec.tls.caRef` (undefined without one), or
 * why it does not resolve; with `lastGood` (CA bundles that served, by
 * Secret/ConfigMap key), a bad one resolves to its last good bundle.
 */
export function resolveBackendCa(
  b: Backend,
  secrets: DiscoveredValues<SecretData> | undefined,
  lastGood?: ReadonlyMap<string, CaBundle>,
  invalid?: DiscoveredValues<InvalidSecret>,
): FromSecret<CaBundle> | undefined {
  const ref = b.spec.tls?.caRef;
  if (!ref) return undefined;
  const key = secretKey(ref.kind, b.metadata.namespace, ref.name);
  const problem = caRefProblem(b, secrets, invalid);
  const bundle = problem ? undefined : parseCaBundle(secrets!.get(key)!);
  const refused = bundle?.ok ? invalid?.get(key) : undefined;
  const fresh: FromSecret<CaBundle> = bundle?.ok
    ? { value: bundle.bundle, ...(refused ? { warning: secretNote('spec.tls.caRef', `${ref.kind} ${b.metadata.namespace}/${ref.name}`, refused) } : {}) }
    : { problem: problem! };
  return lastGood ? orLastGood(fresh, lastGood.get(key), 'CA bundle') : fresh;
}

export function resolve(input: ResolveInput): Resolution {
  const outcomes = new Map<ResourceKey, Outcome>();
  const byKey = new Map<ResourceKey, Declared[]>();
  for (const d of input.declared) {
    const list = byKey.get(d.key) ?? [];
    list.push(d);
    byKey.set(d.key, list);
  }

  // 1. One candidate per key: the current valid version, or the last accepted one.
  const candidates = new Map<ResourceKey, { resource: Resource; current: boolean }>();
  const reject = (key: ResourceKey, reason: string, message: string, issues: Issue[]) => {
    const serving = input.lastAccepted.get(key);
    outcomes.set(key, { accepted: false, reason, message, issues, serving });
    if (serving) candidates.set(key, { resource: serving, current: false });
    else candidates.delete(key);
  };

  /** Current versions refused in step 1 (invalid, or only their well-formed parts): their references are checked too, and reported with their other problems. */
  const refusedCurrent = new Map<ResourceKey, Resource>();
  for (const [key, list] of [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (list.length > 1) {
      const origins = list.map((d) => d.origin).sort();
      const reason = new Set(list.map((d) => d.source)).size > 1 ? 'Conflict' : 'Duplicate';
      const { kind, namespace, name } = parseKey(key);
      const message = `${kind} ${namespace}/${name} is declared more than once (${origins.join(', ')}); keep one`;
      reject(
        key,
        reason,
        message,
        list.map((d) => ({ origin: d.origin, resource: key, field: 'metadata.name', message, reason: reason as Issue['reason'] })),
      );
      continue;
    }
    const d = list[0]!;
    if (!d.resource || d.issues.length > 0) {
      const first = d.issues[0];
      const message = first ? formatProblem(first) : 'invalid';
      reject(key, first?.reason ?? 'InvalidSpec', message, d.issues);
      const checkable = d.resource ?? d.partial;
      if (checkable) refusedCurrent.set(key, checkable);
      continue;
    }
    candidates.set(key, { resource: d.resource, current: true });
    if (d.stale) {
      // Serves (it is the last good version), but what the input says now is not taken: say so.
      const issue: Issue = { ...d.stale, resource: label(d.resource) };
      const message = `serving the last good version: ${formatIssue({ ...d.stale, resource: undefined })}`;
      outcomes.set(key, { accepted: false, reason: d.stale.reason, message, issues: [issue], serving: d.resource });
    }
  }

  // Resources that disappeared from every source are gone: deletion is intent.
  // 2. Merge discovered data (members, ...) into what would serve. The same declared
  // resource and discovered values give the same object (cached), so the model
  // and render caches hit for unchanged resources on every path.
  const discovered = discoveredOf(input);
  const withDiscovered = <T extends Resource>(key: ResourceKey, r: T): T => mergeDiscovered(r, key, discovered) as T;
  const backends = new Map<ResourceKey, Backend>();
  const secrets = discovered?.get(SECRETS) as DiscoveredValues<SecretData> | undefined;
  const invalidSecrets = discovered?.get(INVALID_SECRETS) as DiscoveredValues<InvalidSecret> | undefined;
  const secretsInUse = emptySecretsInUse();
  const notes = new Map<ResourceKey, string[]>();
  /** `b` as it serves: discovered data merged, its CA bundle (current or last good) attached and recorded as in use. */
  const serveBackend = (key: ResourceKey, b: Backend, ca: FromSecret<CaBundle> | undefined): Backend => {
    const merged = withDiscovered(key, b);
    if (!ca || !('value' in ca)) return merged;
    const ref = b.spec.tls!.caRef!;
    secretsInUse.caBundles.set(secretKey(ref.kind, b.metadata.namespace, ref.name), ca.value);
    if (ca.warning) notes.set(key, [ca.warning]);
    return withCaBundle(merged, ca.value);
  };
  for (const [key, c] of candidates) {
    if (c.resource.kind !== 'Backend') continue;
    const ca = resolveBackendCa(c.resource, secrets, undefined, invalidSecrets);
    if (ca && 'problem' in ca) {
      const issue: Issue = { origin: input.declared.find((d) => d.key === key)?.origin, resource: label(c.resource), ...ca.problem };
      const previous = input.lastAccepted.get(key) as Backend | undefined;
      // The last accepted version serves on: with its own CA bundle, or the last good one of a Secret or ConfigMap that went bad.
      const previousCa = previous && resolveBackendCa(previous, secrets, input.lastGood?.caBundles, invalidSecrets);
      const fallback = previous && !(previousCa && 'problem' in previousCa) ? previous : undefined;
      const prior = outcomes.get(key);
      const issues = prior && !prior.accepted ? [...prior.issues, issue] : [issue];
      outcomes.set(key, { accepted: false, reason: issue.reason, message: formatProblem(issue), issues, serving: fallback });
      if (!fallback) {
        candidates.delete(key);
        continue;
      }
      candidates.set(key, { resource: fallback, current: false });
      backends.set(key, serveBackend(key, fallback, previousCa));
      continue;
    }
    backends.set(key, serveBackend(key, c.resource, ca));
  }

  // 3. Frontends: references and sockets. Frontends that served before claim first.
  const frontendKeys = [...candidates]
    .filter(([, c]) => c.resource.kind === 'Frontend')
    .map(([k]) => k)
    .sort((a, b) => {
      const pa = input.lastAccepted.has(a) ? 0 : 1;
      const pb = input.lastAccepted.has(b) ? 0 : 1;
      return pa - pb || (a < b ? -1 : a > b ? 1 : 0);
    });
  const frontends: Frontend[] = [];
  const originOf = new Map(input.declared.map((d) => [d.key, d.origin]));
  const now = input.now ?? new Date();
  const tls = new Map<ResourceKey, BindTlsMaterial[]>();
  interface Checked {
    /** The first of `issues`. */
    issue?: Issue;
    issues?: Issue[];
    tls?: FrontendTls;
    /** Basic-auth users from their Secret (none when it is gone: 401): they travel with the frontend to the render model. */
    users?: readonly AuthUser[];
    usersWarning?: string;
  }
  const warnings: Issue[] = [];
  /** Every problem of the frontend (references, sockets, TLS), or what it serves; `fallback` lets bad Secrets resolve to their last good values. */
  const checkFrontend = (f: Frontend, fallback = false): Checked => {
    const origin = originOf.get(keyOf(f));
    // A served Frontend whose users' Secret is gone fails closed (no users, 401), never its last good users.
    const auth = resolveBasicAuth(f, discovered, fallback);
    const issues = frontendProblems(f, auth).map((p) => ({ origin, ...p }));
    const t = hasTls(f) ? resolveFrontendTls(f, secrets, now, fallback ? input.lastGood : undefined, invalidSecrets) : undefined;
    if (t && !fallback) for (const w of t.expiring) warnings.push({ origin, resource: label(f), reason: 'InvalidCertificate', ...w });
    for (const p of t?.problems ?? []) issues.push({ origin, resource: label(f), ...p });
    if (issues.length > 0) return { issue: issues[0], issues };
    const users = auth && 'users' in auth ? { users: auth.users, usersWarning: auth.warning } : {};
    return t ? { ...users, tls: t } : users;
  };
  const serve = (key: ResourceKey, f: Frontend, checked: Checked) => {
    const t = checked.tls;
    const secretKeyOfUsers = basicAuthSecretKey(f);
    if (checked.users && secretKeyOfUsers) secretsInUse.users.set(secretKeyOfUsers, checked.users);
    frontends.push(checked.users ? withBasicAuthUsers(f, checked.users) : f);
    const n = t ? [...(t.inUse.length > 0 ? [`${CERTIFICATES_IN_USE}${t.inUse.join(', ')}`] : []), ...t.warnings] : [];
    if (checked.usersWarning) n.push(checked.usersWarning);
    if (n.length > 0) notes.set(key, n);
    if (!t) return;
    tls.set(key, t.binds);
    collectTlsInUse(f, t, secretsInUse);
  };
  /** Every problem of `f`'s Backend references, basic-auth Secret and sockets, in field order. */
  const frontendProblems = (f: Frontend, auth: BasicAuthResolution | undefined): Issue[] => {
    const out: Issue[] = [];
    for (const ref of backendRefs(f)) {
      const b = backends.get(`Backend/${f.metadata.namespace}/${ref.name}`);
      if (!b) {
        const key: ResourceKey = `Backend/${f.metadata.namespace}/${ref.name}`;
        out.push({
          resource: label(f),
          field: ref.field,
          reason: 'BackendNotFound',
          message: byKey.has(key)
            ? `${REFUSED_BACKEND(`${f.metadata.namespace}/${ref.name}`)}: nothing of it serves; fix the problems reported on it`
            : `Backend ${f.metadata.namespace}/${ref.name} does not exist; create it or fix the name`,
        });
      } else if (f.spec.mode !== undefined && b.spec.mode !== f.spec.mode) {
        out.push({
          resource: label(f),
          field: ref.field,
          reason: 'InvalidSpec',
          message: `Backend ${f.metadata.namespace}/${ref.name} has mode ${b.spec.mode} but this frontend has mode ${f.spec.mode}; make them match`,
        });
      }
    }
    if (auth && 'problem' in auth) out.push({ resource: label(f), ...auth.problem });
    for (const other of frontends) {
      if (keyOf(other) === keyOf(f)) continue;
      const clash = bindsClash(other, f);
      if (clash) out.push({ resource: label(f), field: `spec.binds[${clash.index}].address`, reason: 'Conflict', message: clash.message });
    }
    return out;
  };

  /** Each rule of `f` that cannot serve, with its index and why (`rule 3: backend "x" does not exist`). */
  const ruleNotes = (f: Frontend): string[] =>
    f.spec.rules.flatMap((r, i) =>
      backendFields(r, i).flatMap(({ name }) => {
        const b = backends.get(`Backend/${f.metadata.namespace}/${name}`);
        if (!b) return [`rule ${i}: backend ${JSON.stringify(name)} does not exist`];
        if (b.spec.mode !== f.spec.mode) return [`rule ${i}: backend ${JSON.stringify(name)} has mode ${b.spec.mode}, this frontend ${f.spec.mode}`];
        return [];
      }),
    );
  const routeNotes = new Map<ResourceKey, string[]>();
  for (const key of frontendKeys) {
    const c = candidates.get(key)!;
    const f = withDiscovered(key, c.resource as Frontend);
    const checked = checkFrontend(f);
    const problem = checked.issue;
    const problems = checked.issues ?? [];
    const routed = (served: Frontend): string[] => (served.spec.mode === 'http' ? [routingNote(served.spec.rules) ?? []].flat() : []);
    if (!problem) {
      serve(key, f, checked);
      routeNotes.set(key, routed(f));
      continue;
    }
    routeNotes.set(key, ruleNotes(f));
    const previous = input.lastAccepted.get(key) as Frontend | undefined;
    const previousServing = previous && withDiscovered(key, previous);
    const prior = outcomes.get(key);
    const issues = prior && !prior.accepted ? [...prior.issues, ...problems] : problems;
    // The previous version serves on, with the last good certificates and CA bundles of Secrets that went bad (and no users if theirs is gone).
    const usesSecrets = (x: Frontend) => hasTls(x) || x.spec.basicAuth !== undefined;
    const fallback =
      previous && previousServing && (previous !== c.resource || usesSecrets(previousServing)) ? checkFrontend(previousServing, true) : undefined;
    if (previous && previousServing && fallback && !fallback.issue) {
      serve(key, previousServing, fallback);
      outcomes.set(key, { accepted: false, reason: problem.reason, message: formatProblem(problem), issues, serving: previous });
      candidates.set(key, { resource: previous, current: false });
    } else {
      outcomes.set(key, { accepted: false, reason: problem.reason, message: formatProblem(problem), issues });
      candidates.delete(key);
    }
  }

  // 4. The references of current versions refused for other problems (or of their well-formed
  // parts): reported with those problems, so that one pass shows every problem.
  for (const [key, r] of refusedCurrent) {
    const o = outcomes.get(key);
    if (!o || o.accepted) continue;
    let more: Issue[] = [];
    try {
      if (r.kind === 'Backend') {
        const p = caRefProblem(r, secrets);
        if (p) more = [{ origin: originOf.get(key), resource: label(r), ...p }];
      } else more = checkFrontend(r).issues ?? [];
    } catch {
      // Only the parts that are well-formed are checked: a shape the checks cannot read adds nothing.
    }
    const seen = new Set(o.issues.map((i) => `${i.field}\u0000${i.message}`));
    for (const i of more) {
      const k = `${i.field}\u0000${i.message}`;
      if (!seen.has(k)) o.issues.push(i);
      seen.add(k);
    }
  }

  const accepted = new Map<ResourceKey, Resource>();
  for (const [key, c] of candidates) {
    // Accepted maps keep the declared resource (without discovered data).
    accepted.set(key, c.resource);
    if (c.current && !outcomes.has(key)) outcomes.set(key, { accepted: true, resource: c.resource });
  }
  for (const [key, n] of notes) {
    const o = outcomes.get(key);
    if (o) o.notes = n;
  }
  for (const [key, n] of routeNotes) {
    const o = outcomes.get(key);
    if (o && n.length > 0) o.notes = [...(o.notes ?? []), ...n];
  }

  const byName = <T extends Resource>(a: T, b: T) => {
    const ka = keyOf(a);
    const kb = keyOf(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
  return {
    frontends: frontends.sort(byName),
    backends: [...backends.values()].sort(byName),
    outcomes,
    accepted,
    tls,
    secretsInUse,
    declaredBy: byKey,
    warnings,
  };
}
