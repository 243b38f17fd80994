/**
 * The reconcile loop. Level-triggered: on any store change it recomputes the
 * desired state from the whole store, plans against what runs, and applies.
 *
 * Coalescing: the first change after a quiet period is applied at once; more
 * changes within `debounceMs` of a pass collapse into one pass; reloads are at
 * least `minReloadIntervalMs` apart. The loop always ends on the latest
 * desired state: a change that arrives during a pass schedules another.
 */
import { formatIssue } from '../model/types.js';
import { EventEmitter } from 'node:events';
import type { Resolution } from '../model/resolve.js';
import type { Issue, Resource, ResourceKey } from '../model/types.js';
import type { ConfigModel, GlobalSettings } from '../render/model.js';
import type { ConfigRenderer } from '../render/render.js';
import type { Logger } from '../log.js';
import { computeDesired, type Desired } from './desired.js';
import { plan, type Plan, type ServerOp } from './plan.js';
import { Refusals } from './refusals.js';
import type { Store, StoreSnapshot } from './store.js';

export interface ApplyResult {
  ok: boolean;
  /** Which step refused: `check` (haproxy -c) or `reload` (the master could not load it). */
  reason?: 'check' | 'reload';
  output?: string;
}

/** What the loop needs from the HAProxy supervisor. */
export interface HaproxyControl {
  start(configText: string): Promise<{ adopted: boolean; runningConfig?: string }>;
  apply(configText: string): Promise<ApplyResult>;
  writeRunningConfig(configText: string): Promise<void>;
}

/** Applies server operations through the runtime API; throws on the first failure. */
export interface RuntimeExecutor {
  execute(ops: readonly ServerOp[]): Promise<void>;
  /** Saves server states so the next worker starts from them (before a reload into `desired`). */
  saveServerState?(desired: ConfigModel): Promise<void>;
  /** Corrects live servers that differ from the model (after a reload); returns how many were fixed. */
  converge?(model: ConfigModel): Promise<number>;
}

/** What survives a controller restart, so an adopted HAProxy can still get runtime plans. */
export interface PersistedState {
  text: string;
  model: ConfigModel;
  accepted: Resource[];
}

export interface StatePersistence {
  load(): Promise<PersistedState | undefined>;
  save(state: PersistedState): Promise<void>;
}

export type PassKind = 'start' | 'noop' | 'runtime' | 'reload' | 'deferred' | 'failed' | 'waiting';

export interface PassResult {
  kind: PassKind;
  /** For reloads: what structural difference caused it. For failures: what failed. */
  reasons: string[];
  summary?: string;
  durationMs: number;
  renderMs: number;
  /** Store changes folded into this pass. */
  coalesced: number;
  resolution?: Resolution;
  /** The store version this pass computed from (absent when it computed nothing). */
  storeVersion?: number;
  error?: string;
  output?: string;
}

export interface ReconcilerOptions {
  store: Store;
  haproxy: HaproxyControl;
  runtime?: RuntimeExecutor;
  render: ConfigRenderer;
  global: GlobalSettings;
  logger: Logger;
  debounceMs?: number;
  /** First retry of a failed pass after this long; doubles up to retryMaxMs. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  minReloadIntervalMs?: number;
  runtimeUpdates?: boolean;
  /** Most server operations one runtime plan may hold; more reload instead (see plan.ts). */
  maxRuntimeOps?: number;
  /** `add server` takes `cookie` (HAProxy 3.0, not 2.6; see plan.ts). */
  dynamicServerCookies?: boolean;
  persistence?: StatePersistence;
  now?: () => number;
}

export interface ReconcilerEvents {
  pass: [PassResult];
  started: [{ adopted: boolean }];
}

interface Running {
  text: string;
  model?: ConfigModel;
}

/** How many times one pass leaves out resources HAProxy blamed and tries again. */
const MAX_ISOLATION_ROUNDS = 8;

/** HAProxy refused the configuration and blamed these resources: compute again without them. */
class ResourcesRefused extends Error {
  constructor(readonly keys: string[]) {
    super(`HAProxy refused ${keys.join(', ')}`);
  }
}

export class Reconciler extends EventEmitter<ReconcilerEvents> {
  private readonly o: Required<Omit<ReconcilerOptions, 'runtime' | 'persistence' | 'maxRuntimeOps'>> &
    Pick<ReconcilerOptions, 'runtime' | 'persistence' | 'maxRuntimeOps'>;
  private running: Running | undefined;
  private lastAccepted = new Map<ResourceKey, Resource>();
  private lastFailedText: string | undefined;
  private lastReloadAt = -Infinity;
  private lastPassEnd = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private dirty = false;
  private pendingChanges = 0;
  private stopped = true;
  private startedHaproxy = false;
  private unsubscribe: (() => void) | undefined;
  private lastResult: PassResult | undefined;
  private appliedVersion = -1;
  /** Consecutive failed passes; drives the retry backoff. */
  private failures = 0;
  /** The pending timer is a retry (a change may pre-empt it). */
  private timerIsRetry = false;
  /** The running pass is a retry: try a configuration again even if it failed before. */
  private passIsRetry = false;
  /** Resources HAProxy refused; applied without them until they change. */
  private readonly refusals = new Refusals();

  constructor(options: ReconcilerOptions) {
    super();
    this.o = {
      debounceMs: 100,
      minReloadIntervalMs: 1000,
      retryInitialMs: 2000,
      retryMaxMs: 60_000,
      runtimeUpdates: true,
      dynamicServerCookies: false,
      now: () => performance.now(),
      ...options,
    };
  }

  /** Starts watching the store. HAProxy starts (or is adopted) on the first pass once every source has synced. */
  async start(): Promise<void> {
    this.stopped = false;
    const saved = await this.o.persistence?.load().catch((err: unknown) => {
      this.o.logger.warn('ignoring unreadable saved controller state', { err });
      return undefined;
    });
    if (saved) this.lastAccepted = new Map(saved.accepted.map((r) => [`${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, r]));
    this.savedState = saved;
    this.unsubscribe = this.o.store.onChange(() => this.trigger());
    this.trigger();
  }

  private savedState: PersistedState | undefined;

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.busy;
    await this.persisting;
  }

  /** True once HAProxy runs the configuration for the store's current content. */
  isConverged(): boolean {
    // `appliedVersion` moves inside a pass (before the post-reload checks);
    // `lastResult` only when the pass ends. Both must be about the store's
    // current version, or a reader could see "converged" with the outcomes
    // of the pass before.
    const v = this.o.store.version;
    return this.startedHaproxy && this.appliedVersion === v && this.lastResult?.storeVersion === v && this.lastResult.kind !== 'failed';
  }

  get haproxyStarted(): boolean {
    return this.startedHaproxy;
  }

  get last(): PassResult | undefined {
    return this.lastResult;
  }

  /** The configuration text HAProxy runs now. */
  get runningText(): string | undefined {
    return this.running?.text;
  }

  /**
   * What runs, as `plan` compares with it: the text, its model (undefined
   * after adopting an HAProxy whose model was not saved) and the last accepted
   * version of each resource.
   */
  runningState(): PersistedState | undefined {
    if (!this.running?.model) return undefined;
    return { text: this.running.text, model: this.running.model, accepted: [...this.lastAccepted.values()] };
  }

  /**
   * Resolves when the loop is idle with no change pending (tests, CLI). A
   * scheduled retry (of a failed apply or a refused resource) is not waited for.
   */
  async settled(): Promise<void> {
    while (this.busy || (this.timer && !this.timerIsRetry)) {
      await (this.busy ?? new Promise((r) => setTimeout(r, 5)));
    }
  }

  /** Signals that the store changed. Cheap; safe to call in bursts. */
  trigger(): void {
    if (this.stopped) return;
    this.pendingChanges++;
    if (this.busy) {
      this.dirty = true;
      return;
    }
    if (this.timer && !this.timerIsRetry) return;
    const wait = Math.max(0, this.lastPassEnd + this.o.debounceMs - this.o.now());
    this.schedule(wait);
  }

  private schedule(ms: number, retry = false): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerIsRetry = retry;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerIsRetry = false;
      this.busy = this.runPass(retry).finally(() => {
        this.busy = undefined;
        this.lastPassEnd = this.o.now();
        if (this.dirty && !this.stopped) {
          this.dirty = false;
          this.schedule(this.o.debounceMs);
        }
      });
    }, ms);
  }

  private async runPass(retry: boolean): Promise<void> {
    const t0 = this.o.now();
    const coalesced = this.pendingChanges;
    this.pendingChanges = 0;
    this.passIsRetry = retry;
    let result: PassResult;
    try {
      result = await this.pass(coalesced);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      result = { kind: 'failed', reasons: ['internal error'], error, durationMs: 0, renderMs: 0, coalesced };
      this.o.logger.error('reconcile pass failed', { err });
    }
    result.durationMs = this.o.now() - t0;
    this.lastResult = result;
    this.scheduleRetry(result);
    this.emit('pass', result);
  }

  /**
   * A failed pass (HAProxy would not start, or refused a configuration) is
   * tried again by itself with exponential backoff, so a cause that goes away
   * (a port freed, a transient error) heals without waiting for a change.
   */
  private scheduleRetry(result: PassResult): void {
    // A resource refused for a cause outside the configuration (a port in use) is tried again too.
    const refusedForNow = result.kind !== 'failed' && result.kind !== 'waiting' && this.refusals.hasTransient();
    if (result.kind !== 'failed' && !refusedForNow) {
      if (result.kind !== 'waiting' && result.kind !== 'deferred') this.failures = 0;
      return;
    }
    this.failures++;
    const delay = Math.min(this.o.retryMaxMs, this.o.retryInitialMs * 2 ** (this.failures - 1));
    if (this.timer || this.dirty || this.stopped) return; // a pass is coming anyway
    this.o.logger.info(refusedForNow ? 'will try the refused resources again' : 'will retry the failed configuration', { inMs: delay, attempt: this.failures });
    this.schedule(delay, true);
  }

  /**
   * One pass. When HAProxy refuses the configuration and its output blames
   * resources, those are refused and the pass computes again without them (at
   * most MAX_ISOLATION_ROUNDS times): the rest goes ahead.
   */
  private async pass(coalesced: number): Promise<PassResult> {
    const store = this.o.store;
    if (!store.allSynced()) {
      this.o.logger.info('waiting for sources to finish their first load', { sources: store.unsyncedSources() });
      return { kind: 'waiting', reasons: store.unsyncedSources(), durationMs: 0, renderMs: 0, coalesced };
    }
    const version = store.version;
    const snapshot = store.snapshot();
    this.logSourceIssues(snapshot.sourceIssues);
    if (this.passIsRetry) this.refusals.clearTransient();
    for (let round = 1; ; round++) {
      try {
        const result = await this.passOnce(snapshot, version, coalesced, round < MAX_ISOLATION_ROUNDS);
        // Outcomes are logged once per pass (and only when they change), not per round.
        if (result.resolution) this.logOutcomes(result.resolution);
        return result;
      } catch (err) {
        if (!(err instanceof ResourcesRefused)) throw err;
        const log = this.passIsRetry ? this.o.logger.debug : this.o.logger.warn;
        log.call(this.o.logger, 'HAProxy refused the configuration; applying it without the resources it blames', { resources: err.keys, round });
      }
    }
  }

  private async passOnce(snapshot: StoreSnapshot, version: number, coalesced: number, isolate: boolean): Promise<PassResult> {
    const declared = this.refusals.apply(snapshot.declared);
    const desired = computeDesired({ declared, discovered: snapshot.discovered }, this.lastAccepted, this.o.global, this.o.render);
    const base = { renderMs: desired.renderMs, coalesced, resolution: desired.resolution, storeVersion: version, durationMs: 0 };
    /** Throws ResourcesRefused when `output` blames resources that can be left out. */
    const blame = (output: string | undefined): void => {
      const keys = isolate && output ? this.refusals.blame(output, desired, snapshot.declared) : [];
      if (keys.length > 0) throw new ResourcesRefused(keys);
    };

    if (!this.startedHaproxy) {
      let r;
      try {
        r = await this.startHaproxy(desired);
      } catch (err) {
        blame((err as { output?: unknown }).output as string | undefined);
        throw err;
      }
      if (r) return { ...base, ...r };
    }

    const effective = this.plan(desired);

    switch (effective.kind) {
      case 'noop':
        this.accept(desired, version);
        return { ...base, kind: 'noop', reasons: [] };
      case 'runtime': {
        try {
          await this.o.runtime!.execute(effective.ops);
        } catch (err) {
          const why = `runtime update failed (${err instanceof Error ? err.message : String(err)}); falling back to a reload`;
          this.o.logger.warn(why);
          return { ...base, ...(await this.reload(desired, version, [why], blame)) };
        }
        await this.o.haproxy.writeRunningConfig(desired.text);
        this.accept(desired, version);
        this.o.logger.info('applied through the runtime API, no reload', { changes: effective.summary });
        return { ...base, kind: 'runtime', reasons: [], summary: effective.summary };
      }
      case 'reload': {
        const wait = this.lastReloadAt + this.o.minReloadIntervalMs - this.o.now();
        if (wait > 0) {
          this.dirty = false;
          this.schedule(wait);
          return { ...base, kind: 'deferred', reasons: effective.reasons };
        }
        return { ...base, ...(await this.reload(desired, version, effective.reasons, blame)) };
      }
    }
  }

  private plan(desired: Desired): Plan {
    const running = this.running;
    if (running && !running.model) {
      // Adopted without a saved model: text equality is all we can know.
      return desired.text === running.text
        ? { kind: 'noop' }
        : { kind: 'reload', reasons: ['the adopted HAProxy runs a configuration this controller has no record of'] };
    }
    const r = running?.model ? { text: running.text, model: running.model } : undefined;
    return plan(desired, r, {
      runtimeUpdates: this.o.runtimeUpdates && !!this.o.runtime,
      maxRuntimeOps: this.o.maxRuntimeOps,
      dynamicServerCookies: this.o.dynamicServerCookies,
    });
  }

  private async startHaproxy(desired: Desired): Promise<{ kind: PassKind; reasons: string[] } | undefined> {
    const started = await this.o.haproxy.start(desired.text);
    this.startedHaproxy = true;
    this.lastReloadAt = this.o.now();
    if (started.adopted) {
      const text = started.runningConfig ?? '';
      const saved = this.savedState;
      this.running = { text, model: saved && saved.text === text ? saved.model : undefined };
      this.o.logger.info('adopted the running HAProxy', { runtimePlans: !!this.running.model });
      this.emit('started', { adopted: true });
      return undefined; // plan against what runs
    }
    this.running = { text: desired.text, model: desired.model };
    this.accept(desired, this.o.store.version);
    this.o.logger.info('started HAProxy', { frontends: desired.model.frontends.length, backends: desired.model.backends.length });
    this.emit('started', { adopted: false });
    return { kind: 'start', reasons: [] };
  }

  private async reload(
    desired: Desired,
    version: number,
    reasons: string[],
    blame: (output: string | undefined) => void,
  ): Promise<Omit<PassResult, 'renderMs' | 'coalesced' | 'durationMs'>> {
    if (desired.text === this.lastFailedText && !this.passIsRetry) {
      return { kind: 'failed', reasons, error: 'this configuration was already rejected; waiting for a change' };
    }
    this.o.logger.info('reloading HAProxy', { reasons });
    await this.o.runtime?.saveServerState?.(desired.model).catch((err: unknown) => this.o.logger.warn('could not save server state before reload', { err }));
    const r = await this.o.haproxy.apply(desired.text);
    // A configuration refused by the check never reached HAProxy: the next attempt need not wait.
    if (r.ok || r.reason !== 'check') this.lastReloadAt = this.o.now();
    if (!r.ok) {
      blame(r.output);
      this.lastFailedText = desired.text;
      const error = r.reason === 'check' ? 'HAProxy rejected the configuration (haproxy -c)' : 'HAProxy failed to load the configuration';
      this.o.logger.error(`${error}; the previous configuration keeps serving`, { output: r.output, reasons });
      // A runtime plan that failed half-way may have left live servers off the previous file: put them back.
      const previous = this.running?.model;
      if (previous)
        await this.o.runtime?.converge?.(previous).catch((err: unknown) => this.o.logger.warn('could not verify live servers after a failed reload', { err }));
      return { kind: 'failed', reasons, error, output: r.output };
    }
    this.lastFailedText = undefined;
    this.accept(desired, version);
    const fixed = await this.o.runtime?.converge?.(desired.model).catch((err: unknown) => {
      this.o.logger.warn('could not verify live servers after reload', { err });
      return 0;
    });
    if (fixed) this.o.logger.info('corrected live servers after reload', { servers: fixed });
    return { kind: 'reload', reasons };
  }

  private accept(desired: Desired, version: number): void {
    this.running = { text: desired.text, model: desired.model };
    this.lastAccepted = desired.resolution.accepted;
    this.appliedVersion = version;
    this.lastFailedText = undefined;
    this.persist({ text: desired.text, model: desired.model, accepted: [...desired.resolution.accepted.values()] });
  }

  private toPersist: PersistedState | undefined;
  private persisting: Promise<void> | undefined;

  /**
   * Saves the latest state, one save at a time: two saves in flight could
   * finish in either order and leave an older state on disk, and in a burst
   * only the last state matters (at 100,000 servers a save costs ~70 ms).
   */
  private persist(state: PersistedState): void {
    const persistence = this.o.persistence;
    if (!persistence) return;
    this.toPersist = state;
    if (this.persisting) return;
    this.persisting = (async () => {
      for (let next = this.toPersist; next; next = this.toPersist) {
        this.toPersist = undefined;
        await persistence.save(next).catch((err: unknown) => this.o.logger.warn('could not save controller state', { err }));
      }
    })().finally(() => (this.persisting = undefined));
  }

  private readonly reported = new Map<ResourceKey, string>();
  private readonly reportedInputs = new Set<string>();

  /** Logs each problem of an input (a broken file, a bad key) once, until it clears. */
  private logSourceIssues(issues: readonly Issue[]): void {
    const now = new Set<string>();
    for (const issue of issues) {
      const sig = `${issue.origin ?? ''}\u0000${issue.field}\u0000${issue.message}`;
      now.add(sig);
      if (!this.reportedInputs.has(sig)) this.o.logger.warn('input rejected', { ...issue });
    }
    this.reportedInputs.clear();
    for (const sig of now) this.reportedInputs.add(sig);
  }

  /** Logs each rejection once (until it changes or clears). */
  private logOutcomes(res: Resolution): void {
    for (const [key, o] of res.outcomes) {
      const sig = o.accepted ? '' : `${o.reason}:${o.message}`;
      if ((this.reported.get(key) ?? '') === sig) continue;
      this.reported.set(key, sig);
      if (o.accepted) this.o.logger.info('resource accepted', { resource: key });
      else
        this.o.logger.warn('resource rejected', {
          resource: key,
          reason: o.reason,
          problems: o.issues.map((i) => formatIssue({ ...i, resource: undefined })),
          serving: o.serving ? 'previous version' : 'nothing',
        });
    }
    for (const key of [...this.reported.keys()]) if (!res.outcomes.has(key)) this.reported.delete(key);
  }
}
