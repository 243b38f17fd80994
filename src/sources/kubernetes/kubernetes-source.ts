/**
 * The Kubernetes source: Frontend and Backend custom resources, the
 * members of Backends with `spec.service` from EndpointSlices (or core/v1
 * Endpoints), and Secrets of type `kubernetes.io/tls` (and
 * `node-haproxy.io/basic-auth`, for spec.basicAuth) and ConfigMaps' CA
 * bundles (`ca.crt`) as discovered data (model/secrets.ts), into the store.
 *
 * Level-triggered: a reflector only says which keys changed; the source then
 * rebuilds the affected store entries from the caches and writes only what
 * differs (a status write, a label or an annotation change never reaches the
 * store, so it costs no reconcile pass; the one exception is the raw-config
 * annotation, which shapes HAProxy).
 */
import { EventEmitter } from 'node:events';
import type { Declared } from '../../model/resolve.js';
import type { Kind, Member, ResourceKey, ServiceRef } from '../../model/types.js';
import { rawConfigOptions, type ValidateOptions } from '../../model/validate.js';
import { declare } from '../../model/declare.js';
import { signatureOf } from '../../model/signature.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../reconcile/store.js';
import type { BackoffOptions } from '../../util/backoff.js';
import { collectionPath, KubeClient, RESOURCES, type ApiResource } from './client.js';
import {
  membersFromEndpoints,
  membersFromSlices,
  SERVICE_NAME_LABEL,
  slimEndpoints,
  slimEndpointSlice,
  slimService,
  type MemberResolution,
} from './members.js';
import { describeApiError, type KubeMeta, type KubeObject } from './objects.js';
import { RAW_CONFIG_ANNOTATION } from '../../model/raw-config.js';
import { ManyToOne } from './many-to-one.js';
import { Reflector, type WatchRestart } from './reflector.js';
import { SECRETS, secretKey, type SecretData, type SecretObjectKind } from '../../model/secrets.js';
import { Backoff, sleep } from '../../util/backoff.js';
import { chooseMembersFrom, discoverServer, versionWarning, type MembersFromSetting, type ServerInfo } from './server-version.js';

export type MembersFrom = 'endpointslices' | 'endpoints';

/** Default for `staleAfterMs`. */
export const DEFAULT_STALE_AFTER_MS = 10_000;

export interface KubernetesSourceOptions {
  client: KubeClient;
  store: Store;
  logger: Logger;
  /** Watch only this namespace (default: all namespaces). */
  namespace?: string;
  /**
   * Where members come from. Default 'auto': EndpointSlices (discovery.k8s.io/v1)
   * where the API server serves them (Kubernetes 1.21+), else core/v1 Endpoints.
   * 'endpointslices' on a server without them leaves the source unsynced, with the reason.
   */
  membersFrom?: MembersFromSetting;
  /**
   * The caches count as no longer current (`inSync()` false: this replica
   * may not lead) once a list or watch has been failing for this long. Default 10 s.
   */
  staleAfterMs?: number;
  /** Name in the store. Default 'kubernetes'. */
  name?: string;
  resyncPeriodMs?: number;
  stallTimeoutMs?: number;
  watchTimeoutSeconds?: number;
  backoff?: BackoffOptions;
  /** Called for every watch restart (also emitted as 'watchRestart'). */
  onWatchRestart?: (restart: WatchRestart) => void;
  /** Accept the raw-config annotation (`--allow-raw-config`); refused with an InvalidSpec issue otherwise. */
  allowRawConfig?: boolean;
  /** Narrow the raw-config allow-list (`--raw-config-keywords`); undefined: the default list. */
  rawConfigKeywords?: readonly string[];
}

/** What the store holds for one custom resource, and when it got there. */
export interface DeclaredInfo {
  uid?: string;
  generation?: number;
  /** The store version right after this entry was written. */
  storeVersion: number;
}

export interface KubernetesSourceEvents {
  watchRestart: [WatchRestart];
  /** A Frontend or Backend changed in the cache (spec, status or anything else). */
  resourceChange: [ResourceKey];
  /** The Service reference of a Backend resolved differently (for its ResolvedRefs condition). */
  membersChange: [ResourceKey];
  synced: [];
  /** What the API server is, once checked at start. */
  server: [ServerInfo];
}

const CR_KINDS: ReadonlyArray<{ kind: Kind; resource: ApiResource }> = [
  { kind: 'Frontend', resource: RESOURCES.frontends },
  { kind: 'Backend', resource: RESOURCES.backends },
];

/** The TLS Secrets the controller lists and caches. */
export const SECRET_FIELD_SELECTOR = 'type=kubernetes.io/tls';
/**
 * The type of a Secret that holds basic-auth users (spec.basicAuth.secretRef):
 * listed by a second reflector with its own field selector, so the controller
 * still never sees an Opaque, service-account or Helm Secret.
 */
export const BASIC_AUTH_SECRET_TYPE = 'node-haproxy.io/basic-auth';
export const BASIC_AUTH_FIELD_SELECTOR = `type=${BASIC_AUTH_SECRET_TYPE}`;
/** The only ConfigMap keys the cache keeps (a CA bundle); a ConfigMap without one is not handed on. */
export const CONFIGMAP_KEYS: readonly string[] = ['ca.crt'];

/**
 * What the cache keeps of a Secret or ConfigMap: name, namespace,
 * resourceVersion, type and data (ConfigMaps: CONFIGMAP_KEYS only). Labels,
 * annotations (kubectl's last-applied annotation holds the whole Secret) and
 * managedFields are dropped.
 */
export function trimSecretObject(obj: KubeObject): KubeObject {
  const { name, namespace, resourceVersion, uid } = obj.metadata;
  const data = (obj.data ?? {}) as Record<string, unknown>;
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) if (obj.type !== undefined || CONFIGMAP_KEYS.includes(k)) kept[k] = v;
  return { metadata: { name, namespace, resourceVersion, uid }, ...(obj.type !== undefined ? { type: obj.type } : {}), data: kept };
}

/**
 * What the cache keeps of a Frontend or Backend: apiVersion, kind, spec,
 * status, and of its metadata what the declare step, the status writer and
 * Events read (name, namespace, uid, generation, resourceVersion, the
 * raw-config annotation). managedFields, labels and the other annotations
 * (kubectl's last-applied annotation holds the whole spec again) are dropped.
 */
export function trimCustomResource(obj: KubeObject): KubeObject {
  const { name, namespace, uid, generation, resourceVersion, annotations } = obj.metadata;
  const raw = annotations?.[RAW_CONFIG_ANNOTATION];
  const metadata: KubeMeta = { name, namespace, uid, generation, resourceVersion };
  if (raw !== undefined) metadata.annotations = { [RAW_CONFIG_ANNOTATION]: raw };
  const { apiVersion, kind, spec, status } = obj;
  return { apiVersion, kind, metadata, spec, ...(status !== undefined ? { status } : {}) };
}

/** A cached Secret (base64 data) or ConfigMap (text data) as the store takes it; undefined for a ConfigMap without a CA bundle. Pure. */
export function secretDataFromObject(kind: SecretObjectKind, obj: KubeObject, origin: string): SecretData | undefined {
  const raw = (obj.data ?? {}) as Record<string, unknown>;
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') continue;
    if (kind === 'Secret') data[k] = Buffer.from(v, 'base64').toString('utf8');
    else if (CONFIGMAP_KEYS.includes(k)) data[k] = v;
  }
  if (kind === 'ConfigMap' && Object.keys(data).length === 0) return undefined;
  const type = kind === 'Secret' ? String(obj.type ?? 'Opaque') : 'ConfigMap';
  return { kind, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name ?? '', type, data, origin };
}

function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/**
 * The store entry for one custom resource object: the declare step
 * (model/declare.ts) with the identity the watch gives and the API server's
 * metadata (uid and generation kept; status, labels, managedFields and every
 * annotation but raw-config stay out). Pure.
 */
export function declaredFromObject(kind: Kind, obj: KubeObject, source: string, options: ValidateOptions = {}): Declared {
  const expected = { kind, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name ?? '', by: 'the API server' };
  // The API server checked apiVersion and kind; its list items may leave them out.
  const raw = { metadata: obj.metadata, spec: obj.spec ?? {} };
  return declare(raw, { origin: source, source, expected, metadata: 'api-server' }, options).declared!;
}

export class KubernetesSource extends EventEmitter<KubernetesSourceEvents> {
  readonly name: string;
  /** `endpoints` (EndpointSlices or Endpoints) is made once the server's APIs are known. */
  private readonly reflectors: Record<'frontends' | 'backends' | 'services' | 'secrets' | 'basicAuthSecrets' | 'configmaps', Reflector> & {
    endpoints?: Reflector;
  };
  /** What this source last wrote for each Secret/ConfigMap key (its resourceVersion), so a resync writes nothing new. */
  private readonly secretVersions = new Map<string, string>();
  private readonly declared = new Map<ResourceKey, { signature: string; declared: Declared; info: DeclaredInfo }>();
  private readonly members = new Map<ResourceKey, { signature: string; resolution: MemberResolution }>();
  /** Backend key → its `namespace/service`. */
  private readonly backendService = new ManyToOne<ResourceKey, string>();
  /** The Service reference of each Backend's last valid version: an invalid update keeps its members flowing. */
  private readonly lastValidRef = new Map<ResourceKey, ServiceRef>();
  /** EndpointSlice key → its `namespace/service` (kept to find it again after a delete). */
  private readonly sliceService = new ManyToOne<string, string>();
  private readonly dirtyResources = new Set<ResourceKey>();
  private readonly dirtyMembers = new Set<ResourceKey>();
  private flushScheduled = false;
  private initialSyncDone = false;
  private readonly syncedWaiters: Array<() => void> = [];
  private membersFrom: MembersFrom | undefined;
  private serverInfo: ServerInfo | undefined;
  private startProblem: string | undefined;
  private discovering: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly o: KubernetesSourceOptions) {
    super();
    this.name = o.name ?? 'kubernetes';
    if (o.membersFrom === 'endpoints' || o.membersFrom === 'endpointslices') {
      // Known now for callers that ask before start; checked against the server at start.
      this.membersFrom = o.membersFrom;
    }
    o.store.register(this.name);
    this.reflectors = {
      // Every cache keeps only what the source reads (a transform, as client-go's): at 100,000
      // endpoints the decoded EndpointSlices alone held ~15 MiB of heap, slimmed ~3 MiB (bench/k8s-path).
      frontends: this.makeReflector(RESOURCES.frontends, undefined, undefined, trimCustomResource),
      backends: this.makeReflector(RESOURCES.backends, undefined, undefined, trimCustomResource),
      services: this.makeReflector(RESOURCES.services, undefined, undefined, slimService),
      secrets: this.makeReflector(RESOURCES.secrets, undefined, SECRET_FIELD_SELECTOR, trimSecretObject),
      // Named apart from `secrets` in stats and logs (the same API resource, another selector).
      basicAuthSecrets: this.makeReflector(RESOURCES.secrets, undefined, BASIC_AUTH_FIELD_SELECTOR, trimSecretObject, 'basic-auth-secrets'),
      configmaps: this.makeReflector(RESOURCES.configmaps, undefined, undefined, trimSecretObject),
    };
    this.reflectors.secrets.on('change', (keys) => this.secretsChanged('Secret', keys));
    this.reflectors.basicAuthSecrets.on('change', (keys) => this.secretsChanged('Secret', keys));
    this.reflectors.configmaps.on('change', (keys) => this.secretsChanged('ConfigMap', keys));
    this.reflectors.frontends.on('change', (keys) => this.resourcesChanged('Frontend', keys));
    this.reflectors.backends.on('change', (keys) => this.resourcesChanged('Backend', keys));
    this.reflectors.services.on('change', (keys) => this.servicesChanged(keys));
  }

  private makeReflector(
    resource: ApiResource,
    labelSelector?: string,
    fieldSelector?: string,
    transform?: (obj: KubeObject) => KubeObject,
    label = resource.plural,
  ): Reflector {
    const o = this.o;
    const r = new Reflector({
      resource: label,
      kubeConfig: o.client.kubeConfig,
      path: collectionPath(resource, o.namespace),
      list: o.client.listFunction(resource, o.namespace, labelSelector, fieldSelector),
      labelSelector,
      fieldSelector,
      transform,
      logger: o.logger,
      resyncPeriodMs: o.resyncPeriodMs,
      stallTimeoutMs: o.stallTimeoutMs,
      watchTimeoutSeconds: o.watchTimeoutSeconds,
      backoff: o.backoff,
    });
    r.on('watchRestart', (restart) => {
      o.onWatchRestart?.(restart);
      this.emit('watchRestart', restart);
    });
    r.on('synced', () => this.maybeInitialSync());
    return r;
  }

  async start(): Promise<void> {
    for (const r of Object.values(this.reflectors)) r.start();
    // The endpoints kind depends on what the server serves: checked without blocking the start.
    this.discovering = this.discoverAndWatchEndpoints();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.discovering;
    await Promise.all(Object.values(this.reflectors).map((r) => r.stop()));
    for (const w of this.syncedWaiters.splice(0)) w();
  }

  /** The API server's version and APIs, once checked. */
  get server(): ServerInfo | undefined {
    return this.serverInfo;
  }

  /** Where members come from (undefined until the server has been checked, with `auto`). */
  get membersSource(): MembersFrom | undefined {
    return this.membersFrom;
  }

  /** Why this source cannot sync (a setting the server cannot honour), if so. */
  get problem(): string | undefined {
    return this.startProblem;
  }

  /**
   * GET /version and /apis/discovery.k8s.io/v1 (retried with backoff until
   * they answer), then the members reflector of the kind chosen. A choice the
   * server cannot honour leaves the source unsynced, with its reason on the store.
   */
  private async discoverAndWatchEndpoints(): Promise<void> {
    const backoff = new Backoff(this.o.backoff);
    let server: ServerInfo | undefined;
    while (!server && !this.abort.signal.aborted) {
      try {
        server = await discoverServer(this.o.client.kubeConfig);
      } catch (err) {
        const delayMs = backoff.next();
        this.o.logger.warn('cannot read the API server version and APIs; retrying', { err: describeApiError(err), retryInMs: delayMs });
        await sleep(delayMs, this.abort.signal);
      }
    }
    if (!server) return;
    this.serverInfo = server;
    this.emit('server', server);
    const warning = versionWarning(server);
    if (warning) this.o.logger.warn(warning);
    const choice = chooseMembersFrom(this.o.membersFrom ?? 'auto', server);
    if ('problem' in choice) {
      this.startProblem = choice.problem;
      this.o.store.setSyncProblem(this.name, choice.problem);
      this.o.logger.error(choice.problem, { server: server.gitVersion });
      return;
    }
    this.membersFrom = choice.membersFrom;
    if (choice.note) this.o.logger.warn(choice.note, { server: server.gitVersion, membersFrom: choice.membersFrom });
    else this.o.logger.info('Kubernetes API server checked', { server: server.gitVersion, membersFrom: choice.membersFrom });
    if (this.abort.signal.aborted) return;
    const endpoints =
      choice.membersFrom === 'endpoints'
        ? this.makeReflector(RESOURCES.endpoints, undefined, undefined, slimEndpoints)
        : this.makeReflector(RESOURCES.endpointslices, SERVICE_NAME_LABEL, undefined, slimEndpointSlice);
    endpoints.on('change', (keys) => this.endpointsChanged(keys));
    this.reflectors.endpoints = endpoints;
    endpoints.start();
  }

  get synced(): boolean {
    return this.initialSyncDone;
  }

  /**
   * True while the caches are synced and current: every kind listed, and no
   * list or watch failing for longer than `staleAfterMs`. Only then may this
   * replica lead (write status and Events).
   */
  inSync(now = Date.now()): boolean {
    if (!this.initialSyncDone) return false;
    const staleAfterMs = this.o.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    return Object.values(this.reflectors).every((r) => r.lostContactMs(now) < staleAfterMs);
  }

  /** Why `inSync()` is false, for logs. */
  notInSyncReason(now = Date.now()): string {
    if (this.startProblem) return this.startProblem;
    const staleAfterMs = this.o.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    if (!this.initialSyncDone) return 'the Kubernetes caches have not synced yet';
    const stale = Object.values(this.reflectors)
      .filter((r) => r.lostContactMs(now) >= staleAfterMs)
      .map((r) => r.resource);
    return stale.length > 0
      ? `the Kubernetes caches of ${stale.join(', ')} are not current (lists or watches failing for ${staleAfterMs} ms or more)`
      : 'the Kubernetes caches are in sync';
  }

  /** Resolves once every cache has listed and the store holds their content (or the source stopped). */
  whenSynced(): Promise<void> {
    if (this.initialSyncDone) return Promise.resolve();
    return new Promise((resolve) => this.syncedWaiters.push(resolve));
  }

  /** The cached custom resource object for a store key (do not modify it). */
  object(key: ResourceKey): KubeObject | undefined {
    const [kind, namespace, name] = key.split('/');
    const r = kind === 'Frontend' ? this.reflectors.frontends : kind === 'Backend' ? this.reflectors.backends : undefined;
    return r?.get(`${namespace}/${name}`);
  }

  /** What this source last wrote to the store for `key`, if anything. */
  declaredInfo(key: ResourceKey): DeclaredInfo | undefined {
    return this.declared.get(key)?.info;
  }

  /** The Service resolution of a Backend with `spec.service` (undefined for other backends). */
  memberResolution(key: ResourceKey): MemberResolution | undefined {
    return this.members.get(key)?.resolution;
  }

  /** Keys of every Frontend and Backend in the caches. */
  resourceKeys(): ResourceKey[] {
    const out: ResourceKey[] = [];
    for (const { kind } of CR_KINDS) for (const k of this.reflectorFor(kind).keys()) out.push(`${kind}/${k}`);
    return out;
  }

  /** Lists every watched kind again now (a manual resync). */
  relist(): void {
    for (const r of Object.values(this.reflectors)) r.relist();
  }

  reflectorStats(): Record<string, Reflector['stats']> {
    return Object.fromEntries(Object.values(this.reflectors).map((r) => [r.resource, r.stats]));
  }

  private reflectorFor(kind: Kind): Reflector {
    return kind === 'Frontend' ? this.reflectors.frontends : this.reflectors.backends;
  }

  // --- change tracking ---

  private resourcesChanged(kind: Kind, keys: string[]): void {
    for (const k of keys) {
      const key = `${kind}/${k}`;
      this.dirtyResources.add(key);
      if (kind === 'Backend') this.dirtyMembers.add(key);
    }
    this.scheduleFlush();
  }

  private servicesChanged(keys: string[]): void {
    for (const k of keys) for (const b of this.backendService.keysOf(k)) this.dirtyMembers.add(b);
    this.scheduleFlush();
  }

  private secretsChanged(kind: SecretObjectKind, keys: string[]): void {
    if (!this.initialSyncDone) return; // the first sync writes them all
    for (const k of keys) this.updateSecret(kind, k);
  }

  /** Writes one Secret/ConfigMap from the cache to the store (undefined when gone); only when its resourceVersion moved. */
  private updateSecret(kind: SecretObjectKind, k: string): void {
    const { namespace, name } = splitKey(k);
    const key = secretKey(kind, namespace, name);
    // A Secret's type is immutable: it is in one of the two Secret caches at most.
    const obj = kind === 'Secret' ? (this.reflectors.secrets.get(k) ?? this.reflectors.basicAuthSecrets.get(k)) : this.reflectors.configmaps.get(k);
    const value = obj ? secretDataFromObject(kind, obj, this.name) : undefined;
    if (!value) {
      if (this.secretVersions.delete(key)) this.o.store.setDiscovered(this.name, SECRETS, key, undefined);
      return;
    }
    const version = obj?.metadata.resourceVersion ?? '';
    if (this.secretVersions.get(key) === version) return;
    this.secretVersions.set(key, version);
    this.o.store.setDiscovered(this.name, SECRETS, key, value);
  }

  private endpointsChanged(keys: string[]): void {
    if (!this.initialSyncDone) return; // the first sync indexes everything
    for (const k of keys) {
      if (this.membersFrom === 'endpoints') {
        // Endpoints share their Service's name.
        for (const b of this.backendService.keysOf(k)) this.dirtyMembers.add(b);
        continue;
      }
      const before = this.sliceService.get(k);
      const after = this.indexSlice(k);
      for (const service of new Set([before, after])) {
        if (service) for (const b of this.backendService.keysOf(service)) this.dirtyMembers.add(b);
      }
    }
    this.scheduleFlush();
  }

  /** Updates the slice → Service index for one slice key from the cache; returns its Service. */
  private indexSlice(key: string): string | undefined {
    const slice = this.reflectors.endpoints?.get(key);
    const label = slice?.metadata.labels?.[SERVICE_NAME_LABEL];
    const service = slice && label ? `${slice.metadata.namespace}/${label}` : undefined;
    this.sliceService.set(key, service);
    return service;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.initialSyncDone) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private maybeInitialSync(): void {
    if (this.initialSyncDone || !this.reflectors.endpoints || !Object.values(this.reflectors).every((r) => r.synced)) return;
    // First complete picture: one replaceAll, then every member list.
    const all: Declared[] = [];
    for (const { kind } of CR_KINDS) {
      for (const obj of this.reflectorFor(kind).list()) all.push(this.remember(this.declaredFrom(kind, obj), obj));
    }
    if (this.membersFrom === 'endpointslices') for (const key of this.reflectors.endpoints.keys()) this.indexSlice(key);
    this.dirtyResources.clear();
    for (const k of this.reflectors.secrets.keys()) this.updateSecret('Secret', k);
    for (const k of this.reflectors.basicAuthSecrets.keys()) this.updateSecret('Secret', k);
    for (const k of this.reflectors.configmaps.keys()) this.updateSecret('ConfigMap', k);
    this.o.store.replaceAll(this.name, all);
    for (const d of all) this.record(d.key);
    for (const d of all) if (d.key.startsWith('Backend/')) this.updateMembers(d.key);
    this.dirtyMembers.clear();
    this.initialSyncDone = true;
    this.o.store.markSynced(this.name);
    this.o.logger.info('Kubernetes caches synced', {
      frontends: this.reflectors.frontends.stats.objects,
      backends: this.reflectors.backends.stats.objects,
      services: this.reflectors.services.stats.objects,
      secrets: this.reflectors.secrets.stats.objects,
      basicAuthSecrets: this.reflectors.basicAuthSecrets.stats.objects,
      configmaps: this.reflectors.configmaps.stats.objects,
      [this.membersFrom ?? 'endpoints']: this.reflectors.endpoints.stats.objects,
    });
    this.emit('synced');
    for (const w of this.syncedWaiters.splice(0)) w();
  }

  /** Rebuilds the dirty store entries from the caches; writes only what differs. */
  private flush(): void {
    for (const key of [...this.dirtyResources]) {
      this.dirtyResources.delete(key);
      const [kind, namespace, name] = key.split('/') as [Kind, string, string];
      const obj = this.reflectorFor(kind).get(`${namespace}/${name}`);
      this.emit('resourceChange', key);
      if (!obj) {
        if (this.declared.delete(key)) this.o.store.remove(this.name, key);
        continue;
      }
      const d = this.declaredFrom(kind, obj);
      if (this.declared.get(key)?.signature === signatureOf(d)) continue;
      this.remember(d, obj);
      this.o.store.upsert(d);
      this.record(key);
    }
    for (const key of [...this.dirtyMembers]) {
      this.dirtyMembers.delete(key);
      this.updateMembers(key);
    }
  }

  private declaredFrom(kind: Kind, obj: KubeObject): Declared {
    return declaredFromObject(kind, obj, this.name, rawConfigOptions(this.o));
  }

  private remember(d: Declared, obj: KubeObject): Declared {
    this.declared.set(d.key, {
      signature: signatureOf(d),
      declared: d,
      info: { uid: obj.metadata.uid, generation: obj.metadata.generation, storeVersion: -1 },
    });
    return d;
  }

  private record(key: ResourceKey): void {
    const entry = this.declared.get(key);
    if (entry) entry.info.storeVersion = this.o.store.version;
  }

  /** Recomputes the discovered members of one Backend from the caches. */
  private updateMembers(key: ResourceKey): void {
    const { namespace, name } = splitKey(key.slice('Backend/'.length));
    const obj = this.reflectors.backends.get(`${namespace}/${name}`);
    const d = this.declared.get(key)?.declared;
    let ref: ServiceRef | undefined;
    if (!obj || !d) this.lastValidRef.delete(key);
    else if (d.resource?.kind === 'Backend' && d.issues.length === 0) {
      // A valid version: its reference (or none) is the one to follow.
      ref = d.resource.spec.service;
      if (ref) this.lastValidRef.set(key, ref);
      else this.lastValidRef.delete(key);
    } else {
      // Invalid: the last accepted version keeps serving, with live members.
      ref = this.lastValidRef.get(key);
    }
    const service = ref ? `${namespace}/${ref.name}` : undefined;
    this.backendService.set(key, service);
    if (!obj || !ref || !service) {
      if (this.members.delete(key)) {
        this.o.store.setDiscoveredMembers(this.name, key, undefined);
        this.emit('membersChange', key);
      }
      return;
    }
    const svc = this.reflectors.services.get(service);
    const resolution =
      this.membersFrom === 'endpoints'
        ? membersFromEndpoints(ref, svc, this.reflectors.endpoints?.get(service), namespace)
        : membersFromSlices(ref, svc, this.slicesOf(service), namespace);
    const signature = signatureOf(resolution);
    if (this.members.get(key)?.signature === signature) return;
    const before = this.members.get(key)?.resolution;
    this.members.set(key, { signature, resolution });
    if (JSON.stringify(before?.members) !== JSON.stringify(resolution.members)) {
      this.o.store.setDiscoveredMembers(this.name, key, resolution.members as Member[]);
    }
    this.emit('membersChange', key);
  }

  private slicesOf(service: string): KubeObject[] {
    const out: KubeObject[] = [];
    for (const k of this.sliceService.keysOf(service)) {
      const slice = this.reflectors.endpoints?.get(k);
      if (slice) out.push(slice);
    }
    return out;
  }
}
