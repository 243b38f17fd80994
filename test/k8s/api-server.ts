/**
 * A Kubernetes API test server: the real @kubernetes/client-node talks to it
 * over HTTP on 127.0.0.1 through the kubeconfig from kubeConfig(). It keeps
 * objects in memory with the apiserver's semantics (resourceVersion, watch
 * history, status subresource, Status errors) and lets tests inject faults.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { FaultInjector, type FailureRule } from './faults.js';
import { mediaType, parseJson, readBody, sendJson, sendStatus, sendText } from './http-io.js';
import type { KubeObject } from './objects.js';
import { RequestLog, type RequestFilter, type RequestRecord } from './request-log.js';
import { ResourceApi } from './resource-api.js';
import { DEFAULT_RESOURCES, ResourceRegistry, type ResourceType } from './resources.js';
import { describeRoute, route, type ResourceVerb } from './routes.js';
import { SERVER_VERSION } from './discovery.js';
import { matchEverything } from './selectors.js';
import { ApiError, internalError, unauthorized } from './status.js';
import { ObjectStore } from './store.js';
import { WatchHub, type ExpiredWatchResponse, type WatchHubStats } from './watch.js';

export interface KubeApiTestServerOptions {
  /** Bearer token the server requires (random by default); kubeConfig() carries it. */
  token?: string;
  /** Namespace of the kubeconfig context. Default 'default'. */
  namespace?: string;
  /** Kinds served in addition to DEFAULT_RESOURCES. */
  resources?: readonly ResourceType[];
  /** Change events kept for watch replay; a watch from an older resourceVersion gets 410. Default 10,000. */
  historyLimit?: number;
  /** Periodic BOOKMARK interval for watches with allowWatchBookmarks=true; 0 disables. Default 60,000 (the apiserver's ~1 min). */
  bookmarkIntervalMs?: number;
  /** How a watch from a compacted resourceVersion is refused. Default 'event' (what the apiserver does). */
  expiredWatchResponse?: ExpiredWatchResponse;
  /** Clock for creationTimestamp and deletionTimestamp. */
  now?: () => Date;
  /** Delay before answering each request except watches and health checks, as a round trip to a real apiserver. Default 0. */
  latencyMs?: number;
  /**
   * Serve as an older apiserver: `'1.20'` answers /version with v1.20.2 and
   * does not serve discovery.k8s.io/v1 (EndpointSlices), as Kubernetes 1.20.
   */
  emulateVersion?: '1.20';
}

export interface KubeApiTestServerStats extends WatchHubStats {
  resourceVersion: number;
  compactedResourceVersion: number;
  historySize: number;
  objects: number;
  requests: number;
  requestsByVerb: Record<string, number>;
  requestsByPath: Record<string, number>;
  injectedFailures: number;
}

export interface WatchFilter {
  /** Plural, e.g. 'frontends'. */
  resource?: string;
  namespace?: string;
}

/** A KubeConfig for a KubeApiTestServer at `url` (e.g. one in another process): its token, context namespace `namespace`. */
export function testKubeConfig(url: string, token: string, namespace = 'default'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'kube-api-test', server: url, skipTLSVerify: true }],
    users: [{ name: 'kube-api-test-user', token }],
    contexts: [{ name: 'kube-api-test', cluster: 'kube-api-test', user: 'kube-api-test-user', namespace }],
    currentContext: 'kube-api-test',
  });
  return kc;
}

const HEALTH_PATHS = new Set(['/healthz', '/livez', '/readyz']);
const BODY_VERBS = new Set<ResourceVerb>(['create', 'update', 'patch', 'delete', 'deletecollection']);

export class KubeApiTestServer {
  readonly token: string;
  readonly namespace: string;
  private readonly registry: ResourceRegistry;
  private readonly store: ObjectStore;
  private readonly hub: WatchHub;
  private readonly api: ResourceApi;
  private readonly faults = new FaultInjector();
  private readonly log = new RequestLog();
  private expiredWatchResponse: ExpiredWatchResponse;
  private latencyMs: number;
  private server: Server | undefined;
  private readonly versionDocument: object;
  private baseUrl: string | undefined;

  constructor(options: KubeApiTestServerOptions = {}) {
    this.token = options.token ?? randomBytes(16).toString('hex');
    this.namespace = options.namespace ?? 'default';
    const old = options.emulateVersion === '1.20';
    this.versionDocument = old ? { ...SERVER_VERSION, minor: '20', gitVersion: 'v1.20.2' } : SERVER_VERSION;
    const kinds = old ? DEFAULT_RESOURCES.filter((rt) => rt.group !== 'discovery.k8s.io') : DEFAULT_RESOURCES;
    this.registry = new ResourceRegistry([...kinds, ...(options.resources ?? [])]);
    this.store = new ObjectStore({ historyLimit: options.historyLimit ?? 10_000, now: options.now ?? (() => new Date()) });
    this.hub = new WatchHub(this.store, options.bookmarkIntervalMs ?? 60_000);
    this.expiredWatchResponse = options.expiredWatchResponse ?? 'event';
    this.latencyMs = options.latencyMs ?? 0;
    this.api = new ResourceApi(this.store, this.hub, () => this.expiredWatchResponse);
  }

  /** Listens on 127.0.0.1 on a free port. */
  async start(): Promise<{ url: string }> {
    if (this.server) throw new Error('KubeApiTestServer already started: call stop() first');
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${port}`;
    return { url: this.baseUrl };
  }

  /** Ends every watch, closes every connection and stops listening. */
  async stop(): Promise<void> {
    this.hub.close();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('KubeApiTestServer is not started: await start() first');
    return this.baseUrl;
  }

  /** A KubeConfig whose current context points at this server with its token. */
  kubeConfig(): KubeConfig {
    return testKubeConfig(this.url, this.token, this.namespace);
  }

  // --- Seeding and inspection (same code path as the API: events and resourceVersions) ---

  /**
   * Creates or replaces `obj` (found by its apiVersion and kind), spec and
   * status alike, with no resourceVersion check. Returns the stored object.
   */
  apply(obj: KubeObject): KubeObject {
    const rt = this.resourceOf(obj);
    const namespace = rt.namespaced ? (obj.metadata.namespace ?? this.namespace) : undefined;
    const name = obj.metadata.name;
    if (!name) throw new Error('apply() needs metadata.name');
    const body: KubeObject = { ...obj, metadata: { ...obj.metadata, namespace } };
    return this.store.update(rt, namespace, name, body, 'all').object;
  }

  /**
   * Deletes an object at once, finalizers or not. `kind` is a Kind ('Frontend'),
   * a Kind.group ('Event.events.k8s.io') or a plural. Returns the final object,
   * or undefined if there was none.
   */
  remove(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const rt = this.resourceByName(kind);
    if (!this.store.get(rt, namespace, name)) return undefined;
    return this.store.delete(rt, namespace, name, {}, true).object;
  }

  getObject(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(this.resourceByName(kind), namespace, name);
  }

  listObjects(kind: string, namespace?: string): KubeObject[] {
    return this.store.list(this.resourceByName(kind), namespace, matchEverything);
  }

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.store.currentRevision);
  }

  // --- Fault injection ---

  /**
   * Drops every open watch: by default the socket is destroyed mid-stream
   * (the client sees a premature close); `graceful` ends the chunked
   * response cleanly instead, as the apiserver does at a watch timeout.
   * Returns how many watches were dropped.
   */
  dropAllWatches(options: { graceful?: boolean } = {}): number {
    return this.hub.dropAll(options.graceful ?? false);
  }

  /**
   * Stalls every open watch: the connection stays open but no event or
   * bookmark reaches it any more, as with a hung stream. For testing
   * stalled-watch detection; watches opened later work normally.
   */
  stallWatches(): number {
    return this.hub.stallAll();
  }

  /** Forgets all watch history: a watch from any resourceVersion before now gets 410. */
  compactHistory(): void {
    this.store.compact();
  }

  /** Fails matching requests with a Status of the given code; returns a function that cancels the rule. */
  failRequests(rule: FailureRule): () => void {
    return this.faults.add(rule);
  }

  clearFailures(): void {
    this.faults.clear();
  }

  setBookmarkInterval(ms: number): void {
    this.hub.setBookmarkInterval(ms);
  }

  /** Sends a BOOKMARK now on every watch that allows them; returns how many were sent. */
  sendBookmarks(): number {
    return this.hub.sendBookmarks();
  }

  /** 'event': HTTP 200 then an in-stream ERROR event with a 410 Status; 'http': an HTTP 410 Status response. */
  setExpiredWatchResponse(mode: ExpiredWatchResponse): void {
    this.expiredWatchResponse = mode;
  }

  /** Delay before answering each later request except watches and health checks; 0 answers at once. */
  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  // --- Observation ---

  /** How many requests matched, e.g. requestCount({ verb: 'list', resource: 'frontends' }). */
  requestCount(filter: RequestFilter = {}): number {
    return this.log.count(filter);
  }

  requests(): readonly RequestRecord[] {
    return this.log.all();
  }

  resetRequestCounts(): void {
    this.log.reset();
  }

  /** Open watch streams, optionally only those on a resource (plural) or namespace. */
  watchCount(filter: WatchFilter = {}): number {
    return this.hub.count(
      (spec) =>
        (filter.resource === undefined || spec.resource.plural === filter.resource) && (filter.namespace === undefined || spec.namespace === filter.namespace),
    );
  }

  stats(): KubeApiTestServerStats {
    return {
      ...this.hub.stats(),
      resourceVersion: this.store.currentRevision,
      compactedResourceVersion: this.store.compactedRevision,
      historySize: this.store.historySize,
      objects: this.store.objectCount(),
      requests: this.log.count(),
      requestsByVerb: this.log.countBy('verb'),
      requestsByPath: this.log.countBy('path'),
      injectedFailures: this.faults.injectedCount,
    };
  }

  // --- Request handling ---

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.dispatch(req, res);
    } catch (err) {
      this.answerError(res, err);
    }
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    if (HEALTH_PATHS.has(url.pathname)) return sendText(res, 200, 'ok');
    if (req.headers.authorization !== `Bearer ${this.token}`) return sendStatus(res, unauthorized());
    const r = route(method, url, this.registry, new URL(this.url).host);
    this.log.add(describeRoute(method, url.pathname, r));
    if (this.latencyMs > 0 && r.verb !== 'watch') await sleep(this.latencyMs);
    const injected = this.faults.take(method, url.pathname, r.verb);
    if (injected) return sendStatus(res, injected);
    if ('error' in r) throw r.error;
    if ('document' in r) return sendJson(res, 200, url.pathname === '/version' ? this.versionDocument : r.document);
    if (r.verb === 'watch') return this.api.watch(res, r.target, url.searchParams);
    const body = BODY_VERBS.has(r.verb) ? await this.readJson(req) : undefined;
    const answer = this.api.handle({ verb: r.verb, target: r.target, query: url.searchParams, body, contentType: mediaType(req) });
    sendJson(res, answer.code, answer.body);
  }

  private async readJson(req: IncomingMessage): Promise<unknown> {
    const text = await readBody(req);
    return text.trim() === '' ? undefined : parseJson(text);
  }

  private answerError(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const apiError = err instanceof ApiError ? err : internalError(err instanceof Error ? err.message : String(err));
    sendStatus(res, apiError.status);
  }

  private resourceOf(obj: KubeObject): ResourceType {
    const rt = obj.apiVersion && obj.kind ? this.registry.byApiVersionKind(obj.apiVersion, obj.kind) : undefined;
    if (!rt) {
      throw new Error(
        `KubeApiTestServer does not serve ${obj.apiVersion ?? '?'} ${obj.kind ?? '?'}: set apiVersion and kind, or add the kind with the 'resources' option`,
      );
    }
    return rt;
  }

  private resourceByName(kind: string): ResourceType {
    const rt = this.registry.byKindName(kind);
    if (!rt) throw new Error(`KubeApiTestServer does not serve a kind named '${kind}': add it with the 'resources' option`);
    return rt;
  }
}
