/**
 * Writes each Frontend's and Backend's status from the reconcile passes, and
 * records Events for reloads and rejections. Only the leader writes; every
 * replica follows the passes so a new leader can write at once.
 *
 * - Status is patched only when it differs from what the object shows (or
 *   what this replica last wrote, while the cache catches up).
 * - A resource changed after the pass began is left for the next pass, so
 *   observedGeneration never claims a generation the pass did not see.
 * - A failed write is retried with backoff; a vanished object is skipped.
 * - Each resource's Programmed message and Events tell how its last change
 *   reached HAProxy: AppliedAtRuntime (a new generation through the runtime
 *   API), MembersUpdated (members, at run time), Reloaded (by a reload).
 * - Writes run `concurrency` at a time (default 8), one per resource per
 *   sync. Leadership and stop are checked before each write starts, so a lost
 *   leadership leaves at most `concurrency` writes in flight and starts none.
 */
import type { Outcome, Resolution } from '../../model/resolve.js';
import { API_VERSION, keyOf, parseKey, type Backend, type ResourceKey, type ResourceStatus } from '../../model/types.js';
import type { Logger } from '../../log.js';
import type { PassResult } from '../../reconcile/reconciler.js';
import type { Store } from '../../reconcile/store.js';
import { Backoff, type BackoffOptions } from '../../util/backoff.js';
import { RESOURCES, type KubeClient } from './client.js';
import type { EventRecorder, RecordedEvent } from './events.js';
import type { KubernetesSource } from './kubernetes-source.js';
import { describeApiError, errorStatus, time, withDefaults } from './objects.js';
import { conditionChanges, desiredStatus, mergeStatus, statusMatches, type AppliedHow, type PassVerdict } from './status.js';

export interface PassSource {
  on(event: 'pass', listener: (p: PassResult) => void): unknown;
  off(event: 'pass', listener: (p: PassResult) => void): unknown;
}

export interface StatusWriterOptions {
  source: KubernetesSource;
  client: KubeClient;
  reconciler: PassSource;
  store: Store;
  events: EventRecorder;
  isLeader: () => boolean;
  logger: Logger;
  backoff?: BackoffOptions;
  /** Status writes in flight at once during a sync. Default DEFAULT_STATUS_CONCURRENCY; 1 writes one at a time. */
  concurrency?: number;
  now?: () => Date;
}

export const DEFAULT_STATUS_CONCURRENCY = 8;

interface Serving {
  uid?: string;
  generation?: number;
  /** Backends: the members HAProxy runs, as a comparable string. */
  members?: string;
}

interface LastPass {
  resolution: Resolution;
  verdict: PassVerdict;
  /** Resources written to the store at or before this store version were in the pass. */
  certainVersion: number;
  /** The pass's backends by key, built on first use (one lookup per status, not a scan). */
  backends?: Map<ResourceKey, Backend>;
}

const OK_KINDS = new Set(['start', 'noop', 'runtime', 'reload']);
const MEMBERS_EVENT_INTERVAL_MS = 10_000;

function memberCounts(b: Backend | undefined): { total: number; ready: number } {
  const members = b?.spec.members ?? [];
  return { total: members.length, ready: members.filter((m) => m.state === 'ready').length };
}

/**
 * The members of a resolved Backend as text, by Backend object. An unchanged
 * Backend resolves to the same object from pass to pass (model/discovered.ts),
 * so a pass stringifies only the backends whose members changed, not all of
 * them (100,000 members at scale). Weak: no leak.
 */
const membersSignatures = new WeakMap<Backend, string>();
function membersSignature(b: Backend): string {
  let s = membersSignatures.get(b);
  if (s === undefined) membersSignatures.set(b, (s = JSON.stringify(b.spec.members)));
  return s;
}

export class StatusWriter {
  private last: LastPass | undefined;
  private serving = new Map<ResourceKey, Serving>();
  private previousPassEnd = -1;
  private readonly membersEventAt = new Map<ResourceKey, number>();
  /** How each resource's last change reached HAProxy (kept by every replica, so a new leader can tell). */
  private readonly applied = new Map<ResourceKey, AppliedHow & { uid?: string }>();
  /** What this replica last wrote, by key (the cache may not show it yet). */
  private readonly written = new Map<ResourceKey, { uid?: string; status: ResourceStatus }>();
  /** By key: the inputs of the last status found already shown (see syncOne). */
  private readonly matched = new Map<ResourceKey, unknown[]>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  /** Set by a sync in which a write failed: retry after this long (unless a change asks for a sync sooner). */
  private retryInMs: number | undefined;
  private stopped = false;
  private readonly backoff: Backoff;
  private readonly concurrency: number;
  private readonly now: () => Date;
  private readonly onPass = (p: PassResult) => this.pass(p);
  private readonly counters = { patches: 0, failures: 0 };

  constructor(private readonly o: StatusWriterOptions) {
    this.backoff = new Backoff(withDefaults({ initialMs: 200, maxMs: 10_000 }, o.backoff ?? {}));
    this.concurrency = Math.max(1, Math.floor(o.concurrency ?? DEFAULT_STATUS_CONCURRENCY));
    this.now = o.now ?? (() => new Date());
    o.reconciler.on('pass', this.onPass);
    o.source.on('resourceChange', (key) => this.cacheChanged(key));
    o.source.on('membersChange', () => this.schedule(0));
  }

  get stats(): { patches: number; failures: number } {
    return { ...this.counters };
  }

  /** Leadership gained: forget what was written (the old leader may have written since) and write everything. */
  resync(): void {
    this.written.clear();
    this.matched.clear();
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.o.reconciler.off('pass', this.onPass);
    clearTimeout(this.timer);
    await this.running;
  }

  private cacheChanged(key: ResourceKey): void {
    // Someone (a user, another replica, or this one a moment ago) changed the
    // object: compare against the cache again.
    const w = this.written.get(key);
    const obj = this.o.source.object(key);
    if (w && (!obj || JSON.stringify(obj.status ?? null) !== JSON.stringify(w.status) || obj.metadata.uid !== w.uid)) this.written.delete(key);
    this.schedule(0);
  }

  private pass(p: PassResult): void {
    const passEnd = this.o.store.version;
    const certainVersion = p.storeVersion ?? (p.kind === 'failed' ? passEnd : this.previousPassEnd);
    this.previousPassEnd = passEnd;
    if (!p.resolution || p.kind === 'waiting' || p.kind === 'deferred') return;
    const ok = OK_KINDS.has(p.kind);
    const verdict: PassVerdict = ok ? { ok: true } : { ok: false, error: p.error ?? 'HAProxy did not apply the configuration', output: p.output };
    if (ok) {
      const before = this.serving;
      this.serving = this.servingOf(p.resolution);
      this.recordApplied(p, before);
      if (this.o.isLeader()) this.recordProgramming(p, before);
    }
    this.last = { resolution: p.resolution, verdict, certainVersion };
    this.schedule(0);
  }

  private servingOf(r: Resolution): Map<ResourceKey, Serving> {
    const out = new Map<ResourceKey, Serving>();
    for (const [key, res] of r.accepted) out.set(key, { uid: res.metadata.uid, generation: res.metadata.generation });
    for (const b of r.backends) {
      const key = `Backend/${b.metadata.namespace}/${b.metadata.name}`;
      const s = out.get(key);
      if (s) s.members = membersSignature(b);
    }
    return out;
  }

  /** Remembers, for each resource this pass changed, whether a reload or the runtime API applied it. */
  private recordApplied(p: PassResult, before: Map<ResourceKey, Serving>): void {
    for (const key of this.applied.keys()) if (!this.serving.has(key)) this.applied.delete(key);
    if ((p.kind !== 'reload' && p.kind !== 'runtime') || before.size === 0) return;
    const how = p.kind;
    for (const [key, now] of this.serving) {
      const prev = before.get(key);
      if (!prev || prev.uid !== now.uid) {
        this.applied.set(key, { how, generation: now.generation, uid: now.uid });
      } else if (prev.generation !== now.generation) {
        this.applied.set(key, { how, generation: now.generation, uid: now.uid });
      } else if (prev.members !== now.members) {
        this.applied.set(key, { how, uid: now.uid });
      }
    }
  }

  /**
   * Events for a pass that changed what HAProxy runs: Reloaded, AppliedAtRuntime, or
   * MembersUpdated for runtime changes (at most one per Backend per
   * MEMBERS_EVENT_INTERVAL_MS, so a rollout does not flood). The first
   * programming this replica sees (its start) records nothing.
   */
  private recordProgramming(p: PassResult, before: Map<ResourceKey, Serving>): void {
    if ((p.kind !== 'reload' && p.kind !== 'runtime') || before.size === 0) return;
    const nowMs = Date.now();
    for (const [key, now] of this.serving) {
      if (!this.o.source.declaredInfo(key)) continue; // not one of ours
      const prev = before.get(key);
      const specChanged = !prev || prev.uid !== now.uid || prev.generation !== now.generation;
      const membersChanged = prev?.members !== now.members;
      if (p.kind === 'runtime' && specChanged) {
        this.event(key, {
          type: 'Normal',
          reason: 'AppliedAtRuntime',
          action: 'Update',
          note: `Generation ${now.generation ?? '?'} applied through the runtime API, without a reload (${p.summary ?? 'servers changed'}).`,
        });
      } else if (p.kind === 'runtime') {
        if (!membersChanged || nowMs - (this.membersEventAt.get(key) ?? -Infinity) < MEMBERS_EVENT_INTERVAL_MS) continue;
        this.membersEventAt.set(key, nowMs);
        const b = p.resolution?.backends.find((x) => `Backend/${x.metadata.namespace}/${x.metadata.name}` === key);
        const c = memberCounts(b);
        this.event(key, {
          type: 'Normal',
          reason: 'MembersUpdated',
          action: 'Update',
          note: `${c.ready} of ${c.total} member(s) in rotation; applied through the runtime API without a reload (${p.summary ?? 'servers changed'}).`,
        });
      } else if (specChanged) {
        const reasons = p.reasons.length > 0 ? ` (${p.reasons.slice(0, 5).join('; ')})` : '';
        this.event(key, {
          type: 'Normal',
          reason: 'Reloaded',
          action: 'Reload',
          note: `HAProxy reloaded to apply generation ${now.generation ?? '?'}${reasons}.`,
        });
      } else if (membersChanged && nowMs - (this.membersEventAt.get(key) ?? -Infinity) >= MEMBERS_EVENT_INTERVAL_MS) {
        // Members (a Service's endpoints) the runtime API could not apply.
        this.membersEventAt.set(key, nowMs);
        const reasons = p.reasons.length > 0 ? ` (${p.reasons.slice(0, 5).join('; ')})` : '';
        this.event(key, { type: 'Normal', reason: 'Reloaded', action: 'Reload', note: `HAProxy reloaded to apply a member change${reasons}.` });
      }
    }
  }

  private event(key: ResourceKey, e: RecordedEvent): void {
    const { kind, namespace, name } = parseKey(key);
    const obj = this.o.source.object(key);
    void this.o.events.record({ apiVersion: API_VERSION, kind, namespace, name, uid: obj?.metadata.uid }, e);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.sync().finally(() => {
        this.running = undefined;
        const retry = this.retryInMs;
        this.retryInMs = undefined;
        if (this.again) {
          this.again = false;
          this.schedule(0);
        } else if (retry !== undefined) {
          this.schedule(retry);
        }
      });
    }, ms);
  }

  /**
   * Brings every status in line with the last pass; retries failures with
   * backoff (one backoff per sync, however many writes failed). A pool of
   * `concurrency` workers takes the keys in turn, each key once.
   */
  private async sync(): Promise<void> {
    const last = this.last;
    if (!last || !this.o.isLeader()) return;
    const keys = this.o.source.resourceKeys();
    if (this.matched.size > keys.length) {
      const present = new Set(keys);
      for (const k of this.matched.keys()) if (!present.has(k)) this.matched.delete(k);
    }
    let next = 0;
    let failed = false;
    let abandoned = false;
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        if (this.stopped || !this.o.isLeader()) {
          abandoned = true;
          return;
        }
        const key = keys[next++]!;
        try {
          await this.syncOne(key, last);
        } catch (err) {
          failed = true;
          this.counters.failures++;
          this.o.logger.warn('could not write status; will retry', { resource: key, err: describeApiError(err) });
        }
      }
    };
    // allSettled: sync() ends only once no write of it is in flight (one sync at a time).
    const settled = await Promise.allSettled(Array.from({ length: Math.min(this.concurrency, keys.length) }, worker));
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    if (abandoned) return;
    // Not schedule(): while this sync runs that would only mark it to run again at once.
    if (failed) this.retryInMs = this.backoff.next();
    else this.backoff.reset();
  }

  /** How the last change of what serves (this object, this generation) reached HAProxy. */
  private appliedFor(key: ResourceKey, uid: string | undefined, serving: Serving | undefined): AppliedHow | undefined {
    const a = this.applied.get(key);
    if (!a || a.uid !== uid || !serving || serving.uid !== uid) return undefined;
    if (a.generation !== undefined && a.generation !== serving.generation) return undefined;
    return a.generation !== undefined ? { how: a.how, generation: a.generation } : { how: a.how };
  }

  private async syncOne(key: ResourceKey, last: LastPass): Promise<void> {
    const obj = this.o.source.object(key);
    const info = this.o.source.declaredInfo(key);
    const outcome: Outcome | undefined = last.resolution.outcomes.get(key);
    if (!obj || !info || !outcome) return;
    if (info.storeVersion > last.certainVersion || info.uid !== obj.metadata.uid) return; // the next pass covers it
    const { kind, namespace, name } = parseKey(key);
    const serving = this.serving.get(key);
    last.backends ??= new Map(last.resolution.backends.map((b) => [keyOf(b), b]));
    const backend = kind === 'Backend' ? last.backends.get(key) : undefined;
    const w = this.written.get(key);
    // Everything the status depends on, by identity (objects are replaced, not mutated, when they
    // change): when it is what already matched, the status still matches. A pass then checks only
    // the resources that changed, not all of them (an endpoint change at 1,000 Backends).
    const resolutionOfMembers = kind === 'Backend' ? this.o.source.memberResolution(key) : undefined;
    const inputs = [
      obj,
      info.uid,
      info.generation,
      outcome.accepted ? outcome.resource : outcome,
      // The certificate notes change with a Secret, not with the resource: compared by value.
      outcome.notes?.join('\n'),
      last.verdict.ok ? true : last.verdict,
      serving?.uid,
      serving?.generation,
      backend,
      resolutionOfMembers,
      w?.uid,
      w?.status,
    ];
    const matched = this.matched.get(key);
    if (matched && matched.every((v, i) => v === inputs[i])) return;
    const declaredSpec = outcome.accepted ? outcome.resource.spec : outcome.serving?.spec;
    const serviceRef = kind === 'Backend' ? (declaredSpec as Backend['spec'] | undefined)?.service : undefined;
    const desired = desiredStatus({
      generation: info.generation,
      outcome,
      pass: last.verdict,
      servingGeneration: serving && serving.uid === info.uid ? serving.generation : undefined,
      members: kind === 'Backend' ? memberCounts(backend) : undefined,
      service: resolutionOfMembers,
      serviceName: serviceRef ? `${namespace}/${serviceRef.name}` : undefined,
      applied: this.appliedFor(key, info.uid, serving),
    });
    const current = w && w.uid === obj.metadata.uid ? w.status : (obj.status as ResourceStatus | undefined);
    if (statusMatches(current, desired)) {
      this.matched.set(key, inputs);
      return;
    }
    this.matched.delete(key);
    const next = mergeStatus(current, desired, time(this.now()));
    try {
      await this.o.client.patchStatus(kind === 'Frontend' ? RESOURCES.frontends : RESOURCES.backends, namespace, name, next);
    } catch (err) {
      if (errorStatus(err) === 404) return; // deleted meanwhile
      throw err;
    }
    this.counters.patches++;
    this.written.set(key, { uid: obj.metadata.uid, status: next });
    this.o.logger.debug('status written', { resource: key, conditions: next.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`) });
    for (const change of conditionChanges(current, next)) {
      this.event(key, {
        ...change,
        action:
          change.reason === 'ConfigRejected'
            ? 'Reload'
            : change.reason.startsWith('Resolved') || change.reason.endsWith('NotFound')
              ? 'ResolveRefs'
              : 'Validate',
      });
    }
  }
}
