/**
 * The etcd source: resources under a key prefix in etcd v3.
 *
 * List, then watch from the list's revision. When the connection breaks (etcd
 * restarted, the network cut) the source watches again from the last revision
 * it applied, so every change made meanwhile arrives as an event. When etcd
 * cancels the watch (most often because that revision was compacted away) the
 * source lists again and watches from the new list's revision; the list
 * replaces what the source holds, so nothing changed or deleted meanwhile is
 * missed. Retries back off exponentially with jitter. A periodic relist (with
 * jitter) guards against a watch that stalls silently.
 *
 * The etcd3 client's own watch resumption is not relied on: it moves its
 * start revision forward on (re)connection, which can skip events that were
 * not yet delivered. Each watcher here is dropped at its first disconnection.
 *
 * A bad value is reported against its key (the key names the resource) and
 * the resource's last accepted version keeps serving. Secrets and ConfigMaps
 * (`PREFIX/secrets/NS/NAME`, `PREFIX/configmaps/NS/NAME`) go to the store as
 * discovered data (model/secrets.ts); a bad value keeps the last good data,
 * with a warning naming the key (never the value). The source is also a
 * ResourceWriter, so the REST API can keep what it is told in etcd.
 */
import { Backoff, jittered, sleep } from '../../util/backoff.js';
import { Etcd3, type IOptions, type IKeyValue, type IWatchResponse, type Watcher } from 'etcd3';
import type { Logger } from '../../log.js';
import type { Declared } from '../../model/resolve.js';
import type { Issue, Resource, ResourceKey } from '../../model/types.js';
import { parseKey, formatProblem } from '../../model/types.js';
import { rawConfigOptions } from '../../model/validate.js';
import { declare } from '../../model/declare.js';
import { signatureOf, signatureOfSet } from '../../model/signature.js';
import type { Store } from '../../reconcile/store.js';
import { StorageUnavailableError, type ResourceWriter } from '../../reconcile/resource-writer.js';
import { INVALID_SECRETS, SECRETS, type InvalidSecret, type SecretData, type SecretIdentity } from '../../model/secrets.js';
import {
  declareKv,
  etcdKeyOf,
  etcdKeyOfResource,
  etcdKeyOfSecret,
  parseEtcdSecretKey,
  parseEtcdSpec,
  secretKv,
  secretValueOf,
  valueOf,
  type EtcdSpec,
  type SecretKvResult,
} from './keys.js';

export interface EtcdSourceOptions {
  /** `etcd://HOST:PORT[,HOST:PORT...]/PREFIX` */
  spec: string;
  store: Store;
  logger: Logger;
  allowRawConfig?: boolean;
  /** Narrow the raw-config allow-list (`--raw-config-keywords`); undefined: the default list. */
  rawConfigKeywords?: readonly string[];
  /** Full relist every this often (with ±20% jitter); 0 disables. Default 5 minutes. */
  resyncIntervalMs?: number;
  /** Retry backoff after a failure: starts here, doubles, capped. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Deadline of each unary call (list, put, delete). */
  callTimeoutMs?: number;
  /** How long a write waits for its own change to come back through the watch. */
  writeSettleMs?: number;
  /**
   * Called once for each recovery of the watch: `closed` (the connection
   * broke), `expired` (etcd cancelled the watch, its revision compacted most
   * often; a relist follows), `resync` (the periodic relist).
   */
  onWatchRestart?: (reason: EtcdWatchRestartReason) => void;
}

export type EtcdWatchRestartReason = 'closed' | 'expired' | 'resync';

export interface EtcdSourceStats {
  /** Successful lists (the first load included). */
  lists: number;
  /** Watches resumed from the last applied revision after a disconnection. */
  resumes: number;
  /** Recoveries started (disconnections, cancelled watches, periodic relists). */
  recoveries: number;
  /** Watch events applied. */
  events: number;
  /** The last revision seen. */
  revision: number;
  watching: boolean;
  lastError?: string;
}

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
/** No retries or circuit breaking inside the client: this source does its own backoff. */
const passThrough = {
  execute: (fn: (ctx: { signal: AbortSignal }) => unknown) => Promise.resolve().then(() => fn({ signal: new AbortController().signal })),
} as unknown as Policy;

interface Entry {
  declared?: Declared;
  /** A Secret or ConfigMap key: its data, or why it was refused. */
  secret?: SecretKvResult;
  keyIssue?: Issue;
  modRevision: string;
}

/** The client drops etcd's compact_revision and often gets an empty cancel reason: say what it most likely was. */
function cancelReason(err: Error): string {
  const reason = err.message.replace(/^Watcher canceled:\s*/, '');
  return reason || 'no reason given: most likely the revision to watch from was compacted';
}

/** etcd cancelled a watch (its start revision was compacted, most often). */
class WatchCancelledError extends Error {
  override readonly name = 'WatchCancelledError';
}

export class EtcdSource implements ResourceWriter {
  readonly name: string;
  readonly source: string;
  readonly where: string;
  readonly spec: EtcdSpec;
  readonly stats: EtcdSourceStats = { lists: 0, resumes: 0, recoveries: 0, events: 0, revision: 0, watching: false };
  private client: Etcd3 | undefined;
  private readonly entries = new Map<string, Entry>();
  /** The Secret/ConfigMap data this source has in the store, by store key (the last good value of each). */
  private readonly published = new Map<string, SecretData>();
  private signature = '';
  private watcher: Watcher | undefined;
  /** Bumped whenever a watcher is dropped, so its late events are ignored. */
  private generation = 0;
  private recovering: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private synced = false;
  private readonly waiters = new Set<{ revision: number; resolve: () => void }>();

  constructor(private readonly o: EtcdSourceOptions) {
    this.spec = parseEtcdSpec(o.spec);
    this.name = `etcd://${this.spec.endpoints.join(',')}${this.spec.prefix}`;
    this.source = this.name;
    this.where = `etcd at ${this.spec.endpoints.join(',')} under ${this.spec.prefix || '/'}`;
    o.store.register(this.name);
  }

  private get watchPrefix(): string {
    return `${this.spec.prefix}/`;
  }

  private get timeoutMs(): number {
    return this.o.callTimeoutMs ?? 5000;
  }

  /**
   * Connects and loads. When etcd cannot be reached the source keeps trying in
   * the background; until its first load the controller does not start (or
   * change) HAProxy, and an adopted HAProxy keeps serving what it has.
   */
  async start(): Promise<void> {
    this.stopped = false;
    this.client = new Etcd3({
      hosts: this.spec.endpoints.map((e) => `http://${e}`),
      dialTimeout: this.timeoutMs,
      faultHandling: { global: passThrough, host: () => passThrough },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.timeoutMs }),
      grpcOptions: {
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': this.o.retryMaxMs ?? 5000,
      },
    });
    try {
      await this.listAndWatch();
      this.o.logger.info('etcd source loaded', { source: this.name, resources: this.entries.size, revision: this.stats.revision });
    } catch (err) {
      this.stats.lastError = (err as Error).message;
      this.o.logger.warn('etcd is not reachable; retrying in the background. HAProxy is not started or changed until the first load', {
        source: this.name,
        err,
      });
      this.recover('first load failed', 'relist');
    }
    this.scheduleResync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.dropWatcher();
    await this.recovering?.catch(() => undefined);
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
    this.client?.close();
    this.client = undefined;
  }

  private etcd(): Etcd3 {
    if (!this.client) throw new StorageUnavailableError(`the etcd source ${this.name} is stopped`);
    return this.client;
  }

  private scheduleResync(): void {
    const every = this.o.resyncIntervalMs ?? 300_000;
    if (every <= 0 || this.stopped) return;
    const jittered = every * (0.8 + Math.random() * 0.4);
    this.resyncTimer = setTimeout(() => {
      this.recover('periodic relist', 'relist', 'resync');
      this.scheduleResync();
    }, jittered).unref();
  }

  private dropWatcher(): void {
    this.generation++;
    const w = this.watcher;
    this.watcher = undefined;
    this.stats.watching = false;
    if (w) void w.cancel().catch(() => undefined);
  }

  /** Lists everything under the prefix, replaces what the source holds, and watches from there. */
  private async listAndWatch(): Promise<void> {
    this.dropWatcher();
    const generation = this.generation;
    const res = await this.etcd().getAll().prefix(this.watchPrefix).exec();
    if (this.stopped || generation !== this.generation) return;
    const revision = Number(res.header.revision);
    this.applyList(res.kvs, revision);
    await this.watchFrom(revision + 1, generation);
  }

  /**
   * Watches from `revision`. A disconnection later resumes from the last
   * applied revision; a cancelled watch (a compacted revision, most often)
   * relists. Rejects when the watch cannot be created; a watch refused because
   * its revision was compacted rejects with WatchCancelledError.
   */
  private async watchFrom(revision: number, generation = this.generation): Promise<void> {
    const watcher = this.etcd().watch().prefix(this.watchPrefix).startRevision(String(revision)).watcher();
    // Listeners go on before the watch connects: the first events can arrive in the same tick as the
    // confirmation. Until it is confirmed, breaks reject the promise below instead of recovering.
    let live = false;
    const current = () => generation === this.generation && !this.stopped;
    watcher.on('data', (r: IWatchResponse) => {
      if (current()) this.applyWatch(r);
    });
    watcher.on('disconnected', (err: Error) => {
      if (live && current()) this.recover(`connection to etcd lost (${err.message})`, 'resume', 'closed');
    });
    // (An 'error' without a listener would throw: this one stays for the watcher's whole life.)
    watcher.on('error', (err: Error) => {
      if (live && current()) this.recover(`etcd cancelled the watch (${cancelReason(err)})`, 'relist', 'expired');
    });
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        watcher.off('connected', onConnected);
        watcher.off('error', onCancelled);
        watcher.off('disconnected', onDisconnected);
        if (!err) return resolve();
        void watcher.cancel().catch(() => undefined);
        reject(err);
      };
      const onConnected = () => {
        live = true;
        done();
      };
      // etcd answers a watch from a compacted revision with a cancellation.
      const onCancelled = (err: Error) => done(new WatchCancelledError(err.message, { cause: err }));
      const onDisconnected = (err: Error) => done(new Error(`etcd dropped the watch stream: ${err.message}`, { cause: err }));
      // The client retries a watch stream forever; bound the wait.
      const timer = setTimeout(() => done(new Error(`etcd did not accept the watch within ${this.timeoutMs} ms`)), this.timeoutMs);
      watcher.on('connected', onConnected);
      watcher.on('error', onCancelled);
      watcher.on('disconnected', onDisconnected);
    });
    if (!current()) {
      void watcher.cancel().catch(() => undefined);
      return;
    }
    this.watcher = watcher;
    this.stats.watching = true;
  }

  /**
   * Brings the source back in sync, retrying with backoff until it works or
   * the source stops: `resume` watches again from the last applied revision
   * (falling back to a relist when etcd refuses that revision), `relist` lists
   * again. A call while a recovery runs joins it.
   */
  private recover(reason: string, mode: 'resume' | 'relist', restart?: EtcdWatchRestartReason): void {
    if (this.stopped || this.recovering) return;
    this.stats.recoveries++;
    if (restart) this.o.onWatchRestart?.(restart);
    this.dropWatcher();
    if (reason !== 'periodic relist') this.o.logger.warn('etcd watch interrupted; recovering', { source: this.name, reason, mode });
    // 200 ms, 400 ms, ... up to retryMaxMs, each ±20 %.
    const backoff = new Backoff({ initialMs: this.o.retryInitialMs ?? 200, maxMs: this.o.retryMaxMs ?? 5000, jitter: 0 });
    this.recovering = (async () => {
      let relist = mode === 'relist' || !this.synced;
      for (let attempt = 1; !this.stopped; attempt++) {
        try {
          if (relist) {
            await this.listAndWatch();
          } else {
            this.dropWatcher();
            await this.watchFrom(this.stats.revision + 1);
            this.stats.resumes++;
          }
          if (!this.stopped)
            this.o.logger.info('etcd source in sync again', { source: this.name, revision: this.stats.revision, attempts: attempt, relisted: relist });
          return;
        } catch (err) {
          this.stats.lastError = (err as Error).message;
          this.dropWatcher();
          if (err instanceof WatchCancelledError) {
            // The revision to resume from is gone (compacted): list again, at once.
            this.o.logger.info('etcd refused to resume the watch; listing again', { source: this.name, revision: this.stats.revision, err });
            relist = true;
            continue;
          }
          const delay = backoff.next();
          if (attempt === 1 || attempt % 10 === 0) this.o.logger.warn('etcd not reachable; retrying', { source: this.name, attempt, retryInMs: delay, err });
          await sleep(jittered(delay, 0.2), undefined, { unref: true });
        }
      }
    })().finally(() => {
      this.recovering = undefined;
    });
  }

  private declare(key: string, value: Buffer, modRevision: string): Entry {
    const sid = parseEtcdSecretKey(this.spec.prefix, key);
    if (sid) {
      const secret = secretKv(sid, key, value.toString('utf8'));
      if (secret.issue) {
        this.o.logger.warn('etcd Secret value refused; the last good data (if any) stays in use', {
          source: this.name,
          key,
          field: secret.issue.field,
          problem: secret.issue.message,
        });
      }
      return { secret, ...(secret.issue ? { keyIssue: secret.issue } : {}), modRevision };
    }
    try {
      const r = declareKv(this.spec.prefix, key, value.toString('utf8'), this.source, rawConfigOptions(this.o));
      return { declared: r.declared, keyIssue: r.keyIssue, modRevision };
    } catch (err) {
      // One bad value never stops the others: report it against its key.
      this.o.logger.warn('etcd value could not be read', { source: this.name, key, err });
      return {
        keyIssue: { origin: `etcd:${key}`, field: '', reason: 'ParseError', message: `the value could not be read: ${(err as Error).message}` },
        modRevision,
      };
    }
  }

  private publishIssues(): void {
    this.o.store.setSourceIssues(
      this.name,
      [...this.entries.values()].flatMap((e) => (e.keyIssue ? [e.keyIssue] : [])),
    );
  }

  /** Writes one Secret's data to the store unless it holds the same already. */
  private publishSecret(key: string, value: SecretData | undefined): void {
    const before = this.published.get(key);
    if (value === undefined) {
      if (!before) return;
      this.published.delete(key);
      this.o.store.setDiscovered(this.name, SECRETS, key, undefined);
      return;
    }
    if (before && before.type === value.type && before.origin === value.origin && signatureOf(before.data) === signatureOf(value.data)) return;
    this.published.set(key, value);
    this.o.store.setDiscovered(this.name, SECRETS, key, value);
  }

  /** Refused Secrets and ConfigMaps published (INVALID_SECRETS), by key, with a signature of each. */
  private readonly publishedInvalid = new Map<string, string>();

  /** Secrets and ConfigMaps whose value is refused: a reference says "is invalid" (no last good data) or notes it (the last good data serves). */
  private publishInvalidSecrets(): void {
    const invalid = new Map<string, InvalidSecret>();
    for (const e of this.entries.values()) {
      const s = e.secret;
      if (!s?.issue || s.value) continue;
      invalid.set(s.key, { origin: s.issue.origin ?? '', field: s.issue.field, message: s.issue.message });
    }
    for (const key of [...this.publishedInvalid.keys()]) {
      if (invalid.has(key)) continue;
      this.publishedInvalid.delete(key);
      this.o.store.setDiscovered(this.name, INVALID_SECRETS, key, undefined);
    }
    for (const [key, value] of invalid) {
      const sig = `${value.origin}\u0000${value.field}\u0000${value.message}`;
      if (this.publishedInvalid.get(key) === sig) continue;
      this.publishedInvalid.set(key, sig);
      this.o.store.setDiscovered(this.name, INVALID_SECRETS, key, value);
    }
  }

  /** After a list: every good Secret published, a bad one keeps its last good data, one gone is removed. */
  private publishSecrets(): void {
    const present = new Set<string>();
    for (const e of this.entries.values()) {
      if (!e.secret) continue;
      present.add(e.secret.key);
      if (e.secret.value) this.publishSecret(e.secret.key, e.secret.value);
    }
    for (const key of [...this.published.keys()]) if (!present.has(key)) this.publishSecret(key, undefined);
    this.publishInvalidSecrets();
  }

  private applyList(kvs: IKeyValue[], revision: number): void {
    this.stats.lists++;
    this.entries.clear();
    for (const kv of kvs) this.entries.set(kv.key.toString('utf8'), this.declare(kv.key.toString('utf8'), kv.value, kv.mod_revision));
    this.publishSecrets();
    const signature = this.listingSignature();
    if (signature !== this.signature || !this.synced) {
      this.signature = signature;
      this.publishIssues();
      this.o.store.replaceAll(
        this.name,
        [...this.entries.values()].flatMap((e) => (e.declared ? [e.declared] : [])),
      );
    }
    if (!this.synced) {
      this.synced = true;
      this.o.store.markSynced(this.name);
    }
    // A list is authoritative, even if etcd's revision went back (a cluster restored from a snapshot).
    this.stats.revision = Math.min(this.stats.revision, revision);
    this.setRevision(revision);
  }

  private applyWatch(res: IWatchResponse): void {
    let issuesChanged = false;
    for (const ev of res.events) {
      const key = ev.kv.key.toString('utf8');
      const before = this.entries.get(key);
      if (ev.type === 'Put') {
        const entry = this.declare(key, ev.kv.value, ev.kv.mod_revision);
        this.entries.set(key, entry);
        if (entry.declared) this.o.store.upsert(entry.declared);
        if (entry.secret?.value) this.publishSecret(entry.secret.key, entry.secret.value);
        if (before?.keyIssue || entry.keyIssue) issuesChanged = true;
      } else {
        this.entries.delete(key);
        if (before?.declared) this.o.store.remove(this.name, before.declared.key, before.declared.origin);
        if (before?.secret) this.publishSecret(before.secret.key, undefined);
        if (before?.keyIssue) issuesChanged = true;
      }
      this.stats.events++;
    }
    if (issuesChanged) this.publishIssues();
    if (res.events.some((ev) => parseEtcdSecretKey(this.spec.prefix, ev.kv.key.toString('utf8')))) this.publishInvalidSecrets();
    this.signature = this.listingSignature();
    this.setRevision(Number(res.header.revision));
  }

  /** Which keys the source holds, at which revisions. */
  private listingSignature(): string {
    return signatureOfSet([...this.entries].map(([k, e]) => `${k}@${e.modRevision}`));
  }

  private setRevision(revision: number): void {
    if (revision <= this.stats.revision) return;
    this.stats.revision = revision;
    for (const w of this.waiters) {
      if (w.revision <= revision) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  /** Resolves once the source has seen `revision` (or after `writeSettleMs`). */
  private waitForRevision(revision: number): Promise<void> {
    if (this.stats.revision >= revision) return Promise.resolve();
    return new Promise((resolve) => {
      const w = { revision, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        resolve();
      }, this.o.writeSettleMs ?? 5000);
      this.waiters.add(w);
    });
  }

  private async call<T>(what: string, fn: (c: Etcd3) => Promise<T>): Promise<T> {
    try {
      return await fn(this.etcd());
    } catch (err) {
      if (err instanceof StorageUnavailableError) throw err;
      throw new StorageUnavailableError(`could not ${what} in ${this.where}: ${(err as Error).message}`, { cause: err });
    }
  }

  // ---- ResourceWriter ---------------------------------------------------------

  async put(resource: Resource): Promise<{ created: boolean }> {
    const key = etcdKeyOfResource(this.spec.prefix, resource);
    const tx = await this.call('save', (c) =>
      c
        .if(key, 'Create', '==', 0)
        .then(c.put(key).value(valueOf(resource)))
        .else(c.put(key).value(valueOf(resource)))
        .commit(),
    );
    await this.waitForRevision(Number(tx.header.revision));
    return { created: tx.succeeded };
  }

  async putSecret(secret: SecretData): Promise<{ created: boolean }> {
    const key = etcdKeyOfSecret(this.spec.prefix, secret);
    const value = secretValueOf(secret);
    const tx = await this.call('save', (c) => c.if(key, 'Create', '==', 0).then(c.put(key).value(value)).else(c.put(key).value(value)).commit());
    await this.waitForRevision(Number(tx.header.revision));
    return { created: tx.succeeded };
  }

  async deleteSecret(id: SecretIdentity): Promise<boolean> {
    const key = etcdKeyOfSecret(this.spec.prefix, id);
    const res = await this.call('delete', (c) => c.delete().key(key).exec());
    await this.waitForRevision(Number(res.header.revision));
    return Number(res.deleted) > 0;
  }

  async delete(rkey: ResourceKey): Promise<boolean> {
    const { kind, namespace, name } = parseKey(rkey);
    const key = etcdKeyOf(this.spec.prefix, kind, namespace, name);
    const res = await this.call('delete', (c) => c.delete().key(key).exec());
    await this.waitForRevision(Number(res.header.revision));
    return Number(res.deleted) > 0;
  }

  async update(rkey: ResourceKey, mutate: (current: Resource) => Resource): Promise<Resource | undefined> {
    const { kind, namespace, name } = parseKey(rkey);
    const key = etcdKeyOf(this.spec.prefix, kind, namespace, name);
    for (let attempt = 0; attempt < 5; attempt++) {
      const res = await this.call('read', (c) => c.get(key).exec());
      const kv = res.kvs[0];
      if (!kv) return undefined;
      const current = declareKv(this.spec.prefix, key, kv.value.toString('utf8'), this.source, rawConfigOptions(this.o)).declared?.resource;
      if (!current) return undefined;
      const next = mutate(structuredClone(current));
      const checked = declare(
        next,
        { origin: `etcd:${key}`, source: this.source, expected: { kind, namespace, name, by: 'its key' } },
        rawConfigOptions(this.o),
      );
      if (!checked.declared?.resource || checked.issues.length > 0)
        throw new Error(`the change would make ${rkey} invalid: ${checked.issues[0] ? formatProblem(checked.issues[0]) : 'unknown'}`);
      // Only if nobody changed the key since we read it.
      const tx = await this.call('save', (c) =>
        c
          .if(key, 'Mod', '==', kv.mod_revision)
          .then(c.put(key).value(valueOf(next)))
          .commit(),
      );
      if (tx.succeeded) {
        await this.waitForRevision(Number(tx.header.revision));
        return next;
      }
    }
    throw new StorageUnavailableError(`${rkey} kept changing in ${this.where} while it was being updated; try again`);
  }
}
