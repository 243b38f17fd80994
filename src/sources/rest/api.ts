/**
 * The REST API, mounted on the controller's HTTP server as one handler.
 *
 * Our own shape under /api/v1 (resources as in manifests, with status), and
 * thalassa-aqueduct's routes and payloads at the root (/frontends, /backends,
 * /haproxy/config). Every route that changes something needs the bearer
 * token; reads are open unless `authReads` (--api-auth-reads) is set, and then
 * every route of this handler needs it too. Writes go through a
 * ResourceWriter (the state directory or etcd) and reach the store before the
 * answer; the reconcile loop does the rest, member state and weight changes
 * included (the planner applies those through the runtime API): this API
 * never talks to HAProxy itself. Every write takes `?dryRun=true`: it is
 * validated and planned against what runs, and nothing changes. The
 * OpenAPI document of these routes (openapi.ts) is served at
 * /api/v1/openapi.json; a route added here must be described there
 * (test/integration/rest-openapi.test.ts compares the two).
 *
 * Secrets and ConfigMaps (`/api/v1/namespaces/NS/secrets/NAME`,
 * `.../configmaps/NAME`) take the v1 manifest (src/sources/secret-manifest.ts)
 * and reach the store as discovered data; a read shows their keys, never a
 * value, and no log line holds one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Handler } from '../../http/server.js';
import { sendJson } from '../../http/server.js';
import type { Logger } from '../../log.js';
import { RAW_CONFIG_ANNOTATION, RAW_CONFIG_FIELD } from '../../model/raw-config.js';
import type { Declared } from '../../model/resolve.js';
import {
  DEFAULT_NAMESPACE,
  resourceKey,
  type Backend,
  type Frontend,
  type Kind,
  type Member,
  type Resource,
  type ResourceKey,
  formatProblem,
} from '../../model/types.js';
import { rawConfigOptions } from '../../model/validate.js';
import { declare, type Identity } from '../../model/declare.js';
import type { Reconciler } from '../../reconcile/reconciler.js';
import type { Store } from '../../reconcile/store.js';
import { proxyName } from '../../model/naming.js';
import type { PlanReport } from '../../plan/explain.js';
import {
  aqueductKeyOf,
  backendFromAqueduct,
  backendToAqueduct,
  frontendFromAqueduct,
  frontendToAqueduct,
  membersToAqueduct,
  resourceNameOfKey,
  type Translation,
} from './aqueduct.js';
import type { Authenticator } from './auth.js';
import { ApiError, bodyFormat, issuesOf, parseBody, readBody, sendError, sendText } from './http-io.js';
import { openApiDocument, OPENAPI_PATH } from './openapi.js';
import { resourceView, type ResourceView } from './views.js';
import { StorageFullError, StorageUnavailableError, type ResourceWriter } from '../../reconcile/resource-writer.js';
import { INVALID_SECRETS, invalidSecretMessage, SECRETS, type InvalidSecret, type SecretData, type SecretObjectKind } from '../../model/secrets.js';
import { keyOfSecret, redactedView, SECRET_PLURALS, secretFromManifest } from '../secret-manifest.js';
import { sleep } from '../../util/backoff.js';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const API_PREFIX = '/api/v1';

export type ReconcilerView = Pick<Reconciler, 'last' | 'runningText' | 'isConverged' | 'haproxyStarted' | 'on' | 'off'>;
/** A member as HAProxy runs it now (the member views' `live`). */
export interface LiveMember {
  admin: string;
  operational: number | string;
  weight: number;
  address: string;
  port: number;
}
/** Reads the live members of a backend's proxy (by server name); the controller passes it in, so this API never talks to HAProxy. */
export type LiveMembers = (proxy: string) => Promise<Map<string, LiveMember>>;

export interface RestApiOptions {
  store: Store;
  writer: ResourceWriter;
  reconciler: ReconcilerView;
  liveMembers: LiveMembers;
  auth: Authenticator;
  /** Every route needs the token, reads (GET, HEAD) too (`--api-auth-reads`); default: only changes. */
  authReads?: boolean;
  logger: Logger;
  /** Accept raw HAProxy lines (`natives`, the raw-config annotation). */
  allowRawConfig?: boolean;
  /** Narrow the raw-config allow-list (`--raw-config-keywords`); undefined: the default list. */
  rawConfigKeywords?: readonly string[];
  maxBodyBytes?: number;
  /** The namespace aqueduct keys live in. */
  aqueductNamespace?: string;
  /** `haproxy -c` of the whole configuration with `declared` in it; used before accepting raw lines. */
  checkCandidate?: (declared: Declared) => Promise<{ ok: boolean; output: string }>;
  reloadCount?: () => Promise<number>;
  /** What the controller would do if `key` became `resource` (or went away, without one): the dry-run answer. */
  planCandidate?: (change: { key: ResourceKey; resource?: Resource }) => PlanReport;
  /** Longest a `?wait=true` request waits for HAProxy to run the change. */
  waitTimeoutMs?: number;
}

type Params = Record<string, string>;
interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  p: Params;
}
interface Route {
  method: 'GET' | 'PUT' | 'DELETE' | 'PATCH';
  path: string[];
  run(ctx: Ctx): Promise<void>;
}

const PLURAL: Record<string, Kind> = { frontends: 'Frontend', backends: 'Backend' };
const MUTATING = new Set(['PUT', 'DELETE', 'PATCH', 'POST']);
const label = (key: ResourceKey) => key.replace('/', ' ');

function match(pattern: string[], segments: string[]): Params | undefined {
  if (pattern.length !== segments.length) return undefined;
  const p: Params = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!;
    if (want.startsWith(':')) p[want.slice(1)] = segments[i]!;
    else if (want !== segments[i]) return undefined;
  }
  if (p.plural !== undefined && !(p.plural in PLURAL)) return undefined;
  if (p.splural !== undefined && !(p.splural in SECRET_PLURALS)) return undefined;
  return p;
}

function splitPath(pathname: string): string[] {
  try {
    return pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch {
    throw new ApiError(400, 'BadRequest', `the path ${JSON.stringify(pathname)} is not validly percent-encoded`, 'path');
  }
}

export class RestApi {
  private readonly routes: Route[];
  private readonly maxBodyBytes: number;
  private readonly namespace: string;
  private openApiText: string | undefined;

  constructor(private readonly o: RestApiOptions) {
    this.maxBodyBytes = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.namespace = o.aqueductNamespace ?? DEFAULT_NAMESPACE;
    const r = (method: Route['method'], path: string, run: (ctx: Ctx) => Promise<void>): Route => ({ method, path: path.split('/').filter(Boolean), run });
    this.routes = [
      r('GET', OPENAPI_PATH, (c) => this.getOpenApi(c)),
      r('GET', `${API_PREFIX}/status`, (c) => this.getStatus(c)),
      r('GET', `${API_PREFIX}/config`, (c) => this.getConfig(c)),
      r('GET', `${API_PREFIX}/:plural`, (c) => this.list(c, PLURAL[c.p.plural!]!, undefined)),
      r('GET', `${API_PREFIX}/namespaces/:ns/:plural`, (c) => this.list(c, PLURAL[c.p.plural!]!, c.p.ns)),
      r('GET', `${API_PREFIX}/namespaces/:ns/:plural/:name`, (c) => this.get(c, PLURAL[c.p.plural!]!)),
      r('PUT', `${API_PREFIX}/namespaces/:ns/:plural/:name`, (c) => this.put(c, PLURAL[c.p.plural!]!)),
      r('DELETE', `${API_PREFIX}/namespaces/:ns/:plural/:name`, (c) => this.remove(c, PLURAL[c.p.plural!]!, c.p.ns!, c.p.name!, false)),
      r('GET', `${API_PREFIX}/namespaces/:ns/:splural`, (c) => this.listSecrets(c, SECRET_PLURALS[c.p.splural!]!)),
      r('GET', `${API_PREFIX}/namespaces/:ns/:splural/:name`, (c) => this.getSecret(c, SECRET_PLURALS[c.p.splural!]!)),
      r('PUT', `${API_PREFIX}/namespaces/:ns/:splural/:name`, (c) => this.putSecret(c, SECRET_PLURALS[c.p.splural!]!)),
      r('DELETE', `${API_PREFIX}/namespaces/:ns/:splural/:name`, (c) => this.deleteSecret(c, SECRET_PLURALS[c.p.splural!]!)),
      r('GET', `${API_PREFIX}/namespaces/:ns/backends/:name/members`, (c) => this.getMembers(c)),
      r('GET', `${API_PREFIX}/namespaces/:ns/backends/:name/members/:member`, (c) => this.getMembers(c, c.p.member)),
      r('PATCH', `${API_PREFIX}/namespaces/:ns/backends/:name/members/:member`, (c) => this.patchMember(c)),
      // thalassa-aqueduct
      r('GET', '/frontends', (c) => this.aqList(c, 'Frontend')),
      r('GET', '/frontends/:key', (c) => this.aqGet(c, 'Frontend')),
      r('PUT', '/frontends/:key', (c) => this.aqPut(c, 'Frontend')),
      r('DELETE', '/frontends/:key', (c) => this.aqRemove(c, 'Frontend')),
      r('GET', '/backends', (c) => this.aqList(c, 'Backend')),
      r('GET', '/backends/:key', (c) => this.aqGet(c, 'Backend')),
      r('PUT', '/backends/:key', (c) => this.aqPut(c, 'Backend')),
      r('DELETE', '/backends/:key', (c) => this.aqRemove(c, 'Backend')),
      r('GET', '/backends/:key/members', (c) => this.aqMembers(c)),
      r('GET', '/haproxy/config', (c) => this.getConfig(c)),
    ];
  }

  /** Every route, as `METHOD /path/:param` (what the OpenAPI document must describe). */
  routeTable(): { method: string; path: string }[] {
    return this.routes.map((r) => ({ method: r.method, path: `/${r.path.join('/')}` }));
  }

  /** The handler to mount on the HTTP server. */
  handler(): Handler {
    return (req, res, url) => this.handle(req, res, url);
  }

  private async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const ours = url.pathname === API_PREFIX || url.pathname.startsWith(`${API_PREFIX}/`);
    try {
      const segments = splitPath(url.pathname);
      const candidates = this.routes.map((route) => ({ route, p: match(route.path, segments) })).filter((c) => c.p !== undefined);
      if (candidates.length === 0) {
        if (!ours) return false;
        throw new ApiError(404, 'NotFound', `no route for ${req.method} ${url.pathname}; see docs/rest-api.md`, 'path');
      }
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const found = candidates.find((c) => c.route.method === method);
      if (!found) {
        const allow = [...new Set(candidates.map((c) => c.route.method))].join(', ');
        throw new ApiError(405, 'MethodNotAllowed', `${req.method} is not allowed on ${url.pathname}; use ${allow}`, 'method', undefined, { allow });
      }
      if (this.o.authReads || MUTATING.has(found.route.method)) await this.o.auth.check(req);
      await found.route.run({ req, res, url, p: found.p! });
    } catch (err) {
      if (res.headersSent) throw err;
      if (err instanceof ApiError) {
        if (err.status >= 500) this.o.logger.warn('REST API request failed', { method: req.method, path: url.pathname, message: err.message });
        sendError(res, err);
      } else if (err instanceof StorageFullError) {
        this.o.logger.warn('REST API storage is full', { method: req.method, path: url.pathname, message: err.message });
        sendError(res, new ApiError(507, 'InsufficientStorage', `${err.message}; nothing was changed`, undefined));
      } else if (err instanceof StorageUnavailableError) {
        this.o.logger.warn('REST API could not save', { method: req.method, path: url.pathname, err });
        sendError(res, new ApiError(503, 'StorageUnavailable', `${err.message}; nothing was changed, try again`, undefined, undefined, { 'retry-after': '1' }));
      } else {
        throw err;
      }
    }
    return true;
  }

  // ---- reading ----------------------------------------------------------------

  private pending(): boolean {
    return !this.o.reconciler.isConverged();
  }

  private view(d: Declared): ResourceView {
    return resourceView(d, this.o.reconciler.last?.resolution?.outcomes.get(d.key), this.pending());
  }

  /** Declared entries of one kind, sorted by key, then source. */
  private declaredOf(kind: Kind, namespace?: string): Declared[] {
    return this.o.store
      .snapshot()
      .declared.filter((d) => d.key.startsWith(`${kind}/${namespace === undefined ? '' : namespace + '/'}`))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  }

  /** The entry to show for a key: the API's own when there are several (a conflict). */
  private pick(key: ResourceKey): Declared | undefined {
    const all = this.o.store.get(key);
    return all.find((d) => d.source === this.o.writer.source) ?? all[0];
  }

  private async list(c: Ctx, kind: Kind, namespace: string | undefined): Promise<void> {
    const ns = namespace ?? c.url.searchParams.get('namespace') ?? undefined;
    sendJson(c.res, 200, { kind: `${kind}List`, items: this.declaredOf(kind, ns).map((d) => this.view(d)) });
  }

  private async get(c: Ctx, kind: Kind): Promise<void> {
    const key = resourceKey(kind, c.p.ns!, c.p.name!);
    const d = this.pick(key);
    if (!d) throw notFound(key);
    sendJson(c.res, 200, this.view(d));
  }

  private async getConfig(c: Ctx): Promise<void> {
    const text = this.o.reconciler.runningText;
    if (text === undefined) {
      const last = this.o.reconciler.last;
      const why = last?.kind === 'waiting' ? `waiting for sources to load: ${last.reasons.join(', ')}` : 'HAProxy has not started yet';
      throw new ApiError(503, 'NotReady', `no configuration is running: ${why}`, undefined, undefined, { 'retry-after': '1' });
    }
    sendText(c.res, 200, text);
  }

  private async getOpenApi(c: Ctx): Promise<void> {
    this.openApiText ??= JSON.stringify(openApiDocument({ authReads: this.o.authReads ?? false, aqueductNamespace: this.namespace }));
    c.res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(this.openApiText) });
    c.res.end(this.openApiText);
  }

  private async getStatus(c: Ctx): Promise<void> {
    const rec = this.o.reconciler;
    const last = rec.last;
    const rejected = [...(last?.resolution?.outcomes ?? [])]
      .filter(([, o]) => !o.accepted)
      .map(([key, o]) => {
        const r = o as Extract<typeof o, { accepted: false }>;
        return { resource: key, reason: r.reason, message: r.message, serving: r.serving ? 'previous version' : 'nothing', issues: r.issues };
      });
    const reloads = this.o.reloadCount ? await this.o.reloadCount().catch(() => null) : null;
    sendJson(c.res, 200, {
      haproxyStarted: rec.haproxyStarted,
      converged: rec.isConverged(),
      storeVersion: this.o.store.version,
      unsyncedSources: this.o.store.unsyncedSources(),
      reloads,
      lastPass: last
        ? {
            kind: last.kind,
            reasons: last.reasons,
            summary: last.summary,
            error: last.error,
            output: last.output,
            durationMs: Math.round(last.durationMs * 10) / 10,
            coalesced: last.coalesced,
          }
        : null,
      rejected,
      // Problems of inputs that belong to no single resource: a file that does not parse or was emptied, a bad Secret document, an etcd key.
      sourceIssues: [...this.o.store.sourceIssuesBySource()].flatMap(([source, issues]) => issues.map((i) => ({ source, ...i }))),
    });
  }

  private servedBackend(ns: string, name: string): Backend | undefined {
    const key = resourceKey('Backend', ns, name);
    const d = this.pick(key);
    return d?.resource?.kind === 'Backend' ? d.resource : undefined;
  }

  private async getMembers(c: Ctx, only?: string): Promise<void> {
    const key = resourceKey('Backend', c.p.ns!, c.p.name!);
    const b = this.servedBackend(c.p.ns!, c.p.name!);
    if (!b) throw notFound(key);
    const live = this.o.reconciler.haproxyStarted
      ? await this.o.liveMembers(proxyName(c.p.ns!, c.p.name!)).catch(() => new Map<string, LiveMember>())
      : new Map<string, LiveMember>();
    const view = (m: Member) => ({ ...m, live: live.get(m.name) ?? null });
    if (only === undefined) {
      sendJson(c.res, 200, { backend: key, items: b.spec.members.map(view) });
      return;
    }
    const m = b.spec.members.find((x) => x.name === only);
    if (!m) throw memberNotFound(key, only, b);
    sendJson(c.res, 200, view(m));
  }

  // ---- Secrets and ConfigMaps ---------------------------------------------------

  /** This API's own Secrets and ConfigMaps (what its writer put in the store). */
  private ownSecrets(): ReadonlyMap<string, SecretData> {
    return this.o.store.discoveredOf(this.o.writer.source, SECRETS) as ReadonlyMap<string, SecretData>;
  }

  /**
   * Every source's Secrets and ConfigMaps (files, etcd, Kubernetes, this API),
   * this API's own first where two sources hold one key: reads show them all,
   * redacted, with their origin; only this API's own can be changed here.
   */
  private allSecrets(): Map<string, SecretData> {
    const out = new Map<string, SecretData>(this.ownSecrets());
    for (const [source, m] of this.o.store.discoveredBySource(SECRETS)) {
      if (source === this.o.writer.source) continue;
      for (const [k, v] of m) if (!out.has(k)) out.set(k, v as SecretData);
    }
    return out;
  }

  private async listSecrets(c: Ctx, kind: SecretObjectKind): Promise<void> {
    const prefix = `${kind}/${c.p.ns!}/`;
    const items = [...this.allSecrets()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => redactedView(v));
    sendJson(c.res, 200, { apiVersion: 'v1', kind: `${kind}List`, items });
  }

  private async getSecret(c: Ctx, kind: SecretObjectKind): Promise<void> {
    const key = keyOfSecret({ kind, namespace: c.p.ns!, name: c.p.name! });
    const s = this.ownSecrets().get(key) ?? this.allSecrets().get(key);
    if (!s) throw this.secretNotFound(key);
    sendJson(c.res, 200, redactedView(s));
  }

  /** 404 for a Secret or ConfigMap no source holds; one a source declares but refuses says where, and why. */
  private secretNotFound(key: string): ApiError {
    const invalid = invalidSecretOf(this.o.store, key);
    if (!invalid) return notFound(key);
    return new ApiError(404, 'NotFound', `${label(key)} ${invalidSecretMessage(invalid)}`, 'metadata.name');
  }

  /** A Secret another source (files, etcd, Kubernetes) gives is changed there, not here. */
  private checkSecretOwnership(key: string): void {
    const other = [...this.o.store.discoveredSources(SECRETS, key), ...this.o.store.discoveredSources(INVALID_SECRETS, key)].find(
      (s) => s !== this.o.writer.source,
    );
    if (other) {
      throw new ApiError(
        409,
        'Conflict',
        `${label(key)} comes from the source ${other}; change it there, or remove it there before managing it through this API`,
        'metadata.name',
      );
    }
  }

  private async putSecret(c: Ctx, kind: SecretObjectKind): Promise<void> {
    const id = { kind, namespace: c.p.ns!, name: c.p.name! };
    const key = keyOfSecret(id);
    const body = await this.readObject(c, true);
    const r = secretFromManifest(body, id, 'rest');
    if (!r.value) throw ApiError.invalid(r.problems, `${kind} ${id.namespace}/${id.name}`);
    this.checkSecretOwnership(key);
    if (this.isDryRun(c.url)) {
      sendJson(c.res, 200, { dryRun: true, valid: true, resource: label(key), action: 'apply', object: redactedView(r.value) });
      return;
    }
    const { created } = await this.o.writer.putSecret(r.value);
    // Names and keys only: a value is never logged.
    this.o.logger.info(`${kind} saved through the REST API`, { resource: key, keys: Object.keys(r.value.data), created });
    if (this.wantsWait(c.url)) await this.settle();
    sendJson(c.res, created ? 201 : 200, redactedView(this.ownSecrets().get(key) ?? r.value));
  }

  private async deleteSecret(c: Ctx, kind: SecretObjectKind): Promise<void> {
    const id = { kind, namespace: c.p.ns!, name: c.p.name! };
    const key = keyOfSecret(id);
    if (!this.ownSecrets().has(key)) {
      this.checkSecretOwnership(key);
      throw notFound(key);
    }
    if (this.isDryRun(c.url)) {
      sendJson(c.res, 200, { dryRun: true, valid: true, resource: label(key), action: 'delete' });
      return;
    }
    if (!(await this.o.writer.deleteSecret(id))) throw notFound(key);
    this.o.logger.info(`${kind} deleted through the REST API`, { resource: key });
    if (this.wantsWait(c.url)) await this.settle();
    sendJson(c.res, 200, { deleted: id });
  }

  // ---- writing ----------------------------------------------------------------

  private async readObject(c: Ctx, allowYaml: boolean): Promise<Record<string, unknown>> {
    const format = bodyFormat(c.req, allowYaml);
    return parseBody(await readBody(c.req, this.maxBodyBytes), format);
  }

  /**
   * The declare step (model/declare.ts) for a body; `expected`: the resource
   * the URL names (the body may leave its identity out, and must agree).
   */
  private validate(raw: unknown, what: string, mapField?: (f: string) => string, expected?: Identity): Resource {
    const d = declare(
      raw,
      { origin: 'rest', source: this.o.writer.source, ...(expected ? { expected: { ...expected, by: 'the URL' } } : {}) },
      rawConfigOptions(this.o),
    );
    const resource = d.declared?.resource;
    if (!resource || d.issues.length > 0) throw ApiError.invalid(issuesOf(d.issues, mapField), what);
    return resource;
  }

  /** Refuses to touch a key another source declares: that would be a conflict, or a silent override. */
  private checkOwnership(key: ResourceKey): void {
    const other = this.o.store.get(key).find((d) => d.source !== this.o.writer.source);
    if (other) {
      throw new ApiError(
        409,
        'Conflict',
        `${label(key)} is declared by ${other.origin} (source ${other.source}); change it there, or remove it there before managing it through this API`,
        'metadata.name',
      );
    }
  }

  private async checkRaw(resource: Resource, mapField: (f: string) => string): Promise<void> {
    if (!resource.metadata.annotations?.[RAW_CONFIG_ANNOTATION] || !this.o.checkCandidate) return;
    const key = resourceKey(resource.kind, resource.metadata.namespace, resource.metadata.name);
    const r = await this.o.checkCandidate({ key, origin: 'rest', source: this.o.writer.source, resource, issues: [] });
    if (r.ok) return;
    const alerts =
      r.output
        .split('\n')
        .filter((l) => /ALERT|error/i.test(l))
        .slice(0, 5)
        .join(' | ') || r.output.slice(0, 500);
    throw new ApiError(422, 'InvalidSpec', `HAProxy rejects the raw configuration lines: ${alerts}`, mapField(RAW_CONFIG_FIELD));
  }

  private async save(resource: Resource, mapField: (f: string) => string): Promise<{ created: boolean; key: ResourceKey }> {
    const key = resourceKey(resource.kind, resource.metadata.namespace, resource.metadata.name);
    this.checkOwnership(key);
    await this.checkRaw(resource, mapField);
    const { created } = await this.o.writer.put(resource);
    this.o.logger.info('resource saved through the REST API', { resource: key, created });
    return { created, key };
  }

  private wantsWait(url: URL): boolean {
    const w = url.searchParams.get('wait');
    return w !== null && w !== 'false' && w !== '0';
  }

  /** `?dryRun=true` (or Kubernetes' `dryRun=All`): validate and plan, change nothing. */
  private isDryRun(url: URL): boolean {
    const d = url.searchParams.get('dryRun');
    return d !== null && d !== 'false' && d !== '0';
  }

  /** Answers a dry run: what the change would do, and that nothing was changed. */
  private sendDryRun(c: Ctx, key: ResourceKey, resource: Resource | undefined, extra: Record<string, unknown> = {}): void {
    if (!this.o.planCandidate) throw new ApiError(501, 'NotImplemented', 'dry runs are not available on this controller', 'dryRun');
    const plan = this.o.planCandidate({ key, resource });
    sendJson(c.res, 200, { dryRun: true, valid: plan.problems.length === 0, resource: label(key), action: resource ? 'apply' : 'delete', ...extra, plan });
  }

  /** Waits until HAProxy runs the store's content (or a pass fails, or the time is up). */
  private async settle(): Promise<void> {
    const rec = this.o.reconciler;
    const deadline = Date.now() + (this.o.waitTimeoutMs ?? 15_000);
    // Only a pass that saw this change can fail it: one that began before the write says nothing about it.
    const version = this.o.store.version;
    let failed = false;
    const onPass = (p: { kind: string; storeVersion?: number }) => {
      if (p.kind === 'failed' && (p.storeVersion ?? version) >= version) failed = true;
    };
    rec.on('pass', onPass);
    try {
      for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
        if (rec.isConverged() || failed) return;
        await sleep(25);
      }
    } finally {
      rec.off('pass', onPass);
    }
  }

  private async put(c: Ctx, kind: Kind): Promise<void> {
    const ns = c.p.ns!;
    const name = c.p.name!;
    const body = await this.readObject(c, true);
    const resource = this.validate(body, `${kind} ${ns}/${name}`, undefined, { kind, namespace: ns, name });
    if (this.isDryRun(c.url)) {
      const key = resourceKey(kind, ns, name);
      this.checkOwnership(key);
      await this.checkRaw(resource, (f) => f);
      return this.sendDryRun(c, key, resource);
    }
    const { created, key } = await this.save(resource, (f) => f);
    if (this.wantsWait(c.url)) await this.settle();
    const d = this.o.store.get(key).find((x) => x.source === this.o.writer.source) ?? {
      key,
      origin: 'rest',
      source: this.o.writer.source,
      resource,
      issues: [],
    };
    sendJson(c.res, created ? 201 : 200, this.view(d));
  }

  private async remove(c: Ctx, kind: Kind, ns: string, name: string, aqueduct: boolean, aqueductKey = name): Promise<void> {
    const key = resourceKey(kind, ns, name);
    const mine = this.o.store.get(key).some((d) => d.source === this.o.writer.source);
    if (!mine) {
      this.checkOwnership(key);
      throw notFound(key, aqueduct);
    }
    if (kind === 'Backend' && c.url.searchParams.get('force') !== 'true') this.checkUnreferenced(ns, name, aqueduct, aqueductKey);
    if (this.isDryRun(c.url)) return this.sendDryRun(c, key, undefined);
    if (!(await this.o.writer.delete(key))) throw notFound(key, aqueduct);
    this.o.logger.info('resource deleted through the REST API', { resource: key });
    if (this.wantsWait(c.url)) await this.settle();
    sendJson(c.res, 200, { deleted: { kind, namespace: ns, name } });
  }

  /**
   * Deleting a backend a frontend still routes to would take that frontend
   * down (it is rejected, and its last version needs the backend too).
   */
  private checkUnreferenced(ns: string, name: string, aqueduct: boolean, aqueductKey = name): void {
    for (const d of this.declaredOf('Frontend', ns)) {
      const f = d.resource as Frontend | undefined;
      if (!f) continue;
      const rule = f.spec.rules.findIndex((r) => r.backend === name);
      const field = f.spec.defaultBackend === name ? 'spec.defaultBackend' : rule >= 0 ? `spec.rules[${rule}].backend` : undefined;
      if (!field) continue;
      const who = aqueduct ? `frontend ${aqueductKeyOf(f)}` : `Frontend ${ns}/${f.metadata.name} (${field}, declared by ${d.origin})`;
      throw new ApiError(
        409,
        'Conflict',
        `backend ${aqueduct ? aqueductKey : name} is still used by ${who}; change or delete that frontend first, or add ?force=true`,
        aqueduct ? 'key' : 'metadata.name',
      );
    }
  }

  private async patchMember(c: Ctx): Promise<void> {
    const { ns, name, member } = c.p as Required<Params>;
    const body = await this.readObject(c, false);
    const issues: { field: string; message: string }[] = [];
    for (const k of Object.keys(body))
      if (k !== 'state' && k !== 'weight') issues.push({ field: k, message: 'is not a known field; send "state" and/or "weight"' });
    if (body.state === undefined && body.weight === undefined)
      issues.push({ field: 'state', message: 'give "state" (ready, drain or maint) and/or "weight" (0 to 256)' });
    if (body.state !== undefined && body.state !== 'ready' && body.state !== 'drain' && body.state !== 'maint') {
      issues.push({ field: 'state', message: `${JSON.stringify(body.state)} is not one of "ready", "drain", "maint"` });
    }
    if (body.weight !== undefined && (typeof body.weight !== 'number' || !Number.isInteger(body.weight) || body.weight < 0 || body.weight > 256)) {
      issues.push({ field: 'weight', message: `${JSON.stringify(body.weight)} must be a whole number from 0 to 256` });
    }
    if (issues.length > 0) throw ApiError.invalid(issues, `member ${member}`);

    const key = resourceKey('Backend', ns, name);
    const mine = this.o.store.get(key).find((d) => d.source === this.o.writer.source);
    if (!mine) {
      this.checkOwnership(key);
      throw notFound(key);
    }
    const apply = (b: Backend): Member => {
      const m = b.spec.members.find((x) => x.name === member);
      if (!m) throw memberNotFound(key, member, b);
      if (body.state !== undefined) m.state = body.state as Member['state'];
      if (body.weight !== undefined) m.weight = body.weight as number;
      return { ...m };
    };
    if (this.isDryRun(c.url)) {
      if (!mine.resource) throw notFound(key);
      const candidate = structuredClone(mine.resource) as Backend;
      const m = apply(candidate);
      return this.sendDryRun(c, key, candidate, { member: m });
    }
    let changed: Member | undefined;
    const updated = await this.o.writer.update(key, (current) => {
      changed = apply(current as Backend);
      return current;
    });
    if (!updated || !changed) throw notFound(key);
    // The change reaches HAProxy as every other does: through the store and the planner (a runtime update, no reload).
    await this.settle();
    const live = this.liveOutcome(key, ns, name, changed);
    this.o.logger.info('member changed through the REST API', { resource: key, member, state: changed.state, weight: changed.weight, live: live.applied });
    sendJson(c.res, live.applied ? 200 : 202, { backend: key, member: changed, live });
  }

  /** Whether HAProxy runs the member as the store now says, once the reconciler has had its pass. */
  private liveOutcome(key: ResourceKey, ns: string, name: string, m: Member): { applied: boolean; message: string } {
    const rec = this.o.reconciler;
    const outcome = rec.last?.resolution?.outcomes.get(key);
    if (!rec.haproxyStarted || !outcome?.accepted) {
      return { applied: false, message: 'HAProxy does not serve this backend yet; the controller applies the change when it does' };
    }
    if (!rec.isConverged()) return { applied: false, message: 'saved; the controller has not applied it yet (see /api/v1/status)' };
    return { applied: true, message: `HAProxy runs ${proxyName(ns, name)}/${m.name} with state ${m.state}, weight ${m.weight}` };
  }

  // ---- thalassa-aqueduct ------------------------------------------------------

  private aqueductView(r: Resource): unknown {
    return r.kind === 'Frontend' ? frontendToAqueduct(r as Frontend) : backendToAqueduct(r as Backend);
  }

  private async aqList(c: Ctx, kind: Kind): Promise<void> {
    const seen = new Set<string>();
    const out: unknown[] = [];
    for (const d of this.declaredOf(kind, this.namespace)) {
      if (seen.has(d.key)) continue;
      const chosen = this.pick(d.key);
      if (!chosen?.resource) continue;
      seen.add(d.key);
      out.push(this.aqueductView(chosen.resource));
    }
    sendJson(c.res, 200, out);
  }

  private aqResource(kind: Kind, keyName: string): Resource {
    const key = resourceKey(kind, this.namespace, resourceNameOfKey(keyName));
    const d = this.pick(key);
    // Another key mapping to the same name (`MY_APP` for `My_App`) is not this one.
    if (!d || (d.resource && aqueductKeyOf(d.resource) !== keyName)) throw aqNotFound(kind, keyName);
    if (!d.resource)
      throw new ApiError(
        404,
        'NotFound',
        `${kind.toLowerCase()} ${keyName} is declared by ${d.origin} but is invalid: ${d.issues[0] ? formatProblem(d.issues[0]) : 'unknown'}`,
        'key',
      );
    return d.resource;
  }

  private async aqGet(c: Ctx, kind: Kind): Promise<void> {
    sendJson(c.res, 200, this.aqueductView(this.aqResource(kind, c.p.key!)));
  }

  private async aqMembers(c: Ctx): Promise<void> {
    sendJson(c.res, 200, membersToAqueduct(this.aqResource('Backend', c.p.key!) as Backend));
  }

  /**
   * Two keys mapping to one resource name (`My_App` and `my-app`): the second
   * is refused, so neither client overwrites the other's resource.
   */
  private aqCheckCollision(kind: Kind, keyName: string): void {
    const name = resourceNameOfKey(keyName);
    const existing = this.pick(resourceKey(kind, this.namespace, name))?.resource;
    if (!existing) return;
    const held = aqueductKeyOf(existing);
    if (held === keyName) return;
    throw new ApiError(
      409,
      'Conflict',
      `${kind.toLowerCase()} key ${JSON.stringify(keyName)} maps to the resource name ${JSON.stringify(name)}, which the key ${JSON.stringify(held)} already holds` +
        ` (keys are lowercased and "_" becomes "-"); use the key ${JSON.stringify(held)}, or another key`,
      'key',
    );
  }

  private async aqRemove(c: Ctx, kind: Kind): Promise<void> {
    const keyName = c.p.key!;
    const name = resourceNameOfKey(keyName);
    const d = this.pick(resourceKey(kind, this.namespace, name));
    if (!d || (d.resource && aqueductKeyOf(d.resource) !== keyName)) throw aqNotFound(kind, keyName);
    await this.remove(c, kind, this.namespace, name, true, keyName);
  }

  private async aqPut(c: Ctx, kind: Kind): Promise<void> {
    const key = c.p.key!;
    const body = await this.readObject(c, false);
    this.aqCheckCollision(kind, key);
    const options = { namespace: this.namespace, allowRawConfig: this.o.allowRawConfig ?? false };
    const t: Translation = kind === 'Frontend' ? frontendFromAqueduct(key, body, options) : backendFromAqueduct(key, body, options);
    const what = `${kind.toLowerCase()} ${key}`;
    if (!t.resource || t.issues.length > 0) throw ApiError.invalid(t.issues, what);
    const resource = this.validate(t.resource, what, t.mapField);
    if (this.isDryRun(c.url)) {
      const rk = resourceKey(kind, this.namespace, resource.metadata.name);
      this.checkOwnership(rk);
      await this.checkRaw(resource, t.mapField);
      return this.sendDryRun(c, rk, resource);
    }
    const { key: rk } = await this.save(resource, t.mapField);
    if (!this.wantsWait(c.url)) return sendJson(c.res, 200, this.aqueductView(resource));
    // ?wait=true reports the outcome on aqueduct's routes too: its payload, plus our status (Accepted, Programmed, reasons).
    await this.settle();
    const d = this.o.store.get(rk).find((x) => x.source === this.o.writer.source);
    sendJson(c.res, 200, { ...(this.aqueductView(resource) as Record<string, unknown>), ...(d ? { status: this.view(d).status } : {}) });
  }
}

/** The problem of a Secret or ConfigMap a source declares but refuses (model/secrets.ts INVALID_SECRETS), if any does. */
function invalidSecretOf(store: Store, key: string): InvalidSecret | undefined {
  for (const m of store.discoveredBySource(INVALID_SECRETS).values()) {
    const v = m.get(key) as InvalidSecret | undefined;
    if (v) return v;
  }
  return undefined;
}

function aqNotFound(kind: Kind, keyName: string): ApiError {
  return new ApiError(404, 'NotFound', `${kind.toLowerCase()} ${keyName} not found`, 'key');
}

function notFound(key: ResourceKey, aqueduct = false): ApiError {
  if (aqueduct) {
    const { kind, name } = { kind: key.split('/')[0]!, name: key.split('/')[2]! };
    return new ApiError(404, 'NotFound', `${kind.toLowerCase()} ${name} not found`, 'key');
  }
  return new ApiError(404, 'NotFound', `${label(key)} not found`, 'metadata.name');
}

function memberNotFound(key: ResourceKey, member: string, b: Backend): ApiError {
  const names = b.spec.members.map((m) => m.name);
  return new ApiError(
    404,
    'NotFound',
    `${label(key)} has no member ${JSON.stringify(member)}${names.length ? `; its members are ${names.map((n) => JSON.stringify(n)).join(', ')}` : b.spec.service ? '; its members come from a Kubernetes Service and are managed there' : ''}`,
    'member',
  );
}
