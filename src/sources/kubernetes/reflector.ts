/**
 * A reflector keeps a local cache of one kind in line with the API server:
 * list, then watch from the list's resourceVersion; on `410 Gone` list again;
 * restart dropped watches from the last resourceVersion seen (so nothing is
 * lost while reconnecting) after a backoff with jitter; relist periodically;
 * restart a watch that has gone silent for too long.
 *
 * Consumers are told which keys changed and read the cache; they never look
 * at event payloads (level-triggered).
 */
import { EventEmitter } from 'node:events';
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../log.js';
import { Backoff, jittered, sleep, type BackoffOptions } from '../../util/backoff.js';
import { errorStatus, objectKey, withDefaults, type KubeObject } from './objects.js';

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continueToken?: string;
}

/** Lists one page; `continueToken` is absent for the first page. */
export type ListFunction = (options: { limit: number; continueToken?: string }) => Promise<ListPage>;

/** Why a watch was (re)started: the metrics engineer counts these. */
export type WatchRestartReason = 'closed' | 'error' | 'expired' | 'stalled' | 'resync';

export interface WatchRestart {
  /** What is watched, e.g. 'frontends' or 'endpointslices'. */
  resource: string;
  reason: WatchRestartReason;
  /** The delay before the new watch (backoff), in ms. */
  delayMs: number;
  error?: string;
}

export interface ReflectorOptions {
  /** Plural name, for logs and metrics. */
  resource: string;
  kubeConfig: KubeConfig;
  /** Watch URL path, e.g. /apis/haproxy.node-haproxy.io/v1alpha1/frontends. */
  path: string;
  list: ListFunction;
  labelSelector?: string;
  /** Only objects matching this field selector (`type=kubernetes.io/tls`), on the list and the watch. */
  fieldSelector?: string;
  /**
   * What the cache keeps of each object (client-go's transform): drop what the
   * consumer never reads, so large objects cost little memory. Must keep
   * metadata.name, namespace and resourceVersion.
   */
  transform?: (obj: KubeObject) => KubeObject;
  logger: Logger;
  /** Full relist every this often (with ±10 % jitter); 0 disables. Default 10 min. */
  resyncPeriodMs?: number;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. Default 150 s. */
  stallTimeoutMs?: number;
  /** Ask the server to end each watch after about this long (randomised 1x to 2x, as client-go does). Default 300 s. */
  watchTimeoutSeconds?: number;
  /** List page size. Default 500. */
  pageSize?: number;
  backoff?: BackoffOptions;
}

export interface ReflectorEvents {
  /** Keys (`namespace/name`) whose cached object was added, changed or removed. */
  change: [string[]];
  /** The first complete list is in the cache. */
  synced: [];
  watchRestart: [WatchRestart];
}

type WatchEnd =
  | { reason: 'closed'; events: number; ms: number }
  | { reason: 'error'; error: unknown }
  | { reason: 'expired' }
  | { reason: 'stalled' }
  | { reason: 'resync' }
  | { reason: 'stopped' };

function describe(err: unknown): string {
  if (err instanceof Error) return err.message + (err.cause instanceof Error ? `: ${err.cause.message}` : '');
  return String(err);
}

export class Reflector extends EventEmitter<ReflectorEvents> {
  private readonly cache = new Map<string, KubeObject>();
  private resourceVersion = '';
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private endWatch: ((end: WatchEnd) => void) | undefined;
  private isSynced = false;
  private readonly backoff: Backoff;
  private readonly o: Required<Omit<ReflectorOptions, 'labelSelector' | 'fieldSelector' | 'transform' | 'backoff'>> &
    Pick<ReflectorOptions, 'labelSelector' | 'fieldSelector' | 'transform'>;
  private lastList = 0;
  /** When this reflector lost contact with the API server (a failed list or watch), undefined while in contact. */
  private lostContactAt: number | undefined;
  private readonly counters = { lists: 0, watches: 0, events: 0 };

  constructor(options: ReflectorOptions) {
    super();
    this.o = withDefaults({ resyncPeriodMs: 600_000, stallTimeoutMs: 150_000, watchTimeoutSeconds: 300, pageSize: 500 }, options);
    this.backoff = new Backoff(options.backoff);
  }

  get resource(): string {
    return this.o.resource;
  }

  get synced(): boolean {
    return this.isSynced;
  }

  /**
   * How long (ms) this reflector has been out of contact with the API server:
   * 0 while its watch runs, or since a failed list, a failed or stalled watch
   * (the cache may miss changes meanwhile). Reset by a list or a watch the
   * server accepts.
   */
  lostContactMs(now = Date.now()): number {
    return this.lostContactAt === undefined ? 0 : Math.max(0, now - this.lostContactAt);
  }

  private lostContact(): void {
    this.lostContactAt ??= Date.now();
  }

  get stats(): { lists: number; watches: number; events: number; objects: number } {
    return { ...this.counters, objects: this.cache.size };
  }

  /** The cached object at `namespace/name` (or `name` for cluster-scoped kinds). Do not modify it. */
  get(key: string): KubeObject | undefined {
    return this.cache.get(key);
  }

  /** Every cached object. Do not modify them. */
  list(): IterableIterator<KubeObject> {
    return this.cache.values();
  }

  keys(): IterableIterator<string> {
    return this.cache.keys();
  }

  start(): void {
    if (this.running) return;
    this.running = this.loop().catch((err: unknown) => this.o.logger.error('reflector stopped unexpectedly', { resource: this.o.resource, err }));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.endWatch?.({ reason: 'stopped' });
    await this.running;
  }

  /** Ends the current watch and lists again now (also what the periodic resync does). */
  relist(): void {
    this.endWatch?.({ reason: 'resync' });
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (!this.resourceVersion) {
        try {
          await this.listAll();
        } catch (err) {
          if (this.stopped) return;
          this.lostContact();
          const delayMs = this.backoff.next();
          this.o.logger.warn('list failed; retrying', { resource: this.o.resource, err: describe(err), retryInMs: delayMs });
          await sleep(delayMs, this.abort.signal);
          continue;
        }
      }
      const end = await this.watchOnce();
      if (end.reason === 'stopped' || this.stopped) return;
      let delayMs = 0;
      let error: string | undefined;
      switch (end.reason) {
        case 'expired':
          // The resourceVersion is too old: list again at once.
          this.resourceVersion = '';
          break;
        case 'resync':
          this.resourceVersion = '';
          break;
        case 'stalled':
          this.lostContact();
          break;
        case 'closed':
          // A clean end (the server's timeout) restarts at once; a watch that
          // ends at once with nothing in it is treated as a failure.
          if (end.events > 0 || end.ms >= 1000) this.backoff.reset();
          else delayMs = this.backoff.next();
          break;
        case 'error': {
          this.lostContact();
          error = describe(end.error);
          const status = errorStatus(end.error);
          if (status === 410) this.resourceVersion = '';
          else delayMs = this.backoff.next();
          break;
        }
      }
      const restart: WatchRestart = { resource: this.o.resource, reason: end.reason, delayMs, ...(error ? { error } : {}) };
      const log = end.reason === 'error' || end.reason === 'stalled' ? 'warn' : 'debug';
      this.o.logger[log]('watch ended; restarting', { ...restart, resourceVersion: this.resourceVersion || '(relist)' });
      this.emit('watchRestart', restart);
      if (delayMs > 0) await sleep(delayMs, this.abort.signal);
    }
  }

  /**
   * Lists every page and replaces the cache; emits the keys that differ. Each
   * page is transformed as it arrives, so the decoded pages are not all held
   * beside the cache (a relist at 100,000 endpoints would otherwise hold both).
   */
  private async listAll(): Promise<void> {
    const items: KubeObject[] = [];
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.o.list({ limit: this.o.pageSize, continueToken });
      for (const item of page.items) items.push(this.o.transform ? this.o.transform(item) : item);
      page.items.length = 0; // the decoded page is garbage now, not while the next one is fetched
      resourceVersion = page.resourceVersion;
      continueToken = page.continueToken || undefined;
    } while (continueToken && !this.stopped);
    if (this.stopped) return;
    this.counters.lists++;
    const changed: string[] = [];
    const seen = new Set<string>();
    for (const obj of items) {
      const key = objectKey(obj);
      seen.add(key);
      const before = this.cache.get(key);
      if (!before || before.metadata?.resourceVersion !== obj.metadata?.resourceVersion) changed.push(key);
      this.cache.set(key, obj);
    }
    for (const key of [...this.cache.keys()]) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        changed.push(key);
      }
    }
    this.resourceVersion = resourceVersion;
    this.lastList = Date.now();
    this.lostContactAt = undefined;
    this.backoff.reset();
    this.o.logger.debug('listed', { resource: this.o.resource, objects: items.length, resourceVersion });
    if (changed.length > 0) this.emit('change', changed);
    if (!this.isSynced) {
      this.isSynced = true;
      this.emit('synced');
    }
  }

  /** One watch from the current resourceVersion; resolves with how it ended. */
  private watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve) => {
      const started = Date.now();
      let events = 0;
      let ended = false;
      let request: AbortController | undefined;
      let stallTimer: NodeJS.Timeout | undefined;
      let resyncTimer: NodeJS.Timeout | undefined;
      const finish = (end: WatchEnd) => {
        if (ended) return;
        ended = true;
        this.endWatch = undefined;
        clearTimeout(stallTimer);
        clearTimeout(resyncTimer);
        request?.abort();
        resolve(end);
      };
      this.endWatch = finish;
      const armStall = () => {
        clearTimeout(stallTimer);
        stallTimer = setTimeout(() => finish({ reason: 'stalled' }), this.o.stallTimeoutMs);
      };
      armStall();
      if (this.o.resyncPeriodMs > 0) {
        const due = Math.max(0, this.lastList + jittered(this.o.resyncPeriodMs) - Date.now());
        resyncTimer = setTimeout(() => finish({ reason: 'resync' }), due);
      }
      const query: Record<string, string | number | boolean> = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: Math.round(this.o.watchTimeoutSeconds * (1 + Math.random())),
      };
      if (this.o.labelSelector) query.labelSelector = this.o.labelSelector;
      if (this.o.fieldSelector) query.fieldSelector = this.o.fieldSelector;
      this.counters.watches++;
      const onEvent = (type: string, obj: KubeObject & { code?: number }) => {
        if (ended) return;
        armStall();
        if (type === 'ERROR') {
          finish(obj.code === 410 ? { reason: 'expired' } : { reason: 'error', error: new Error(`watch error event: ${JSON.stringify(obj).slice(0, 300)}`) });
          return;
        }
        const rv = obj?.metadata?.resourceVersion;
        if (type === 'BOOKMARK') {
          if (rv) this.resourceVersion = rv;
          return;
        }
        if (!obj?.metadata?.name) return;
        const key = objectKey(obj);
        if (type === 'ADDED' || type === 'MODIFIED') this.cache.set(key, this.o.transform ? this.o.transform(obj) : obj);
        else if (type === 'DELETED') this.cache.delete(key);
        else return;
        if (rv) this.resourceVersion = rv;
        events++;
        this.counters.events++;
        this.emit('change', [key]);
      };
      const onDone = (err: unknown) => {
        if (err) finish({ reason: 'error', error: err });
        else finish({ reason: 'closed', events, ms: Date.now() - started });
      };
      new Watch(this.o.kubeConfig).watch(this.o.path, query, onEvent, onDone).then(
        (controller) => {
          request = controller;
          if (ended) controller.abort();
          else this.lostContactAt = undefined; // the server accepted the watch
        },
        (err: unknown) => finish({ reason: 'error', error: err }),
      );
    });
  }
}
