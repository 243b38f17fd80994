/**
 * The reconcile loop: it schedules, the pass (pass.ts) computes.
 * Level-triggered: on any store change a pass recomputes the desired state
 * from the whole store, plans against what runs, and applies.
 *
 * Coalescing: the first change after a quiet period is applied at once; more
 * changes within `debounceMs` of a pass collapse into one pass; reloads are at
 * least `minReloadIntervalMs` apart (the pass asks to be requeued). A failed
 * pass is retried with backoff. The loop always ends on the latest desired
 * state: a change that arrives during a pass schedules another. After a pass
 * that changed what runs, the loop saves the running state, one save at a
 * time and only the latest, pausing while a pass runs: the save is never on
 * the path of a change. Removed servers waiting in maint for their
 * connections to end are looked at by a timer of their own (recheckDeletes):
 * a few runtime commands, not a pass, serialized with passes.
 */
import type { MapExecutor } from './map-updater.js';
import { EventEmitter } from 'node:events';
import type { GlobalSettings } from '../render/model.js';
import type { ConfigRenderer } from '../render/render.js';
import type { Logger } from '../log.js';
import { Backoff, sleep } from '../util/backoff.js';
import {
  ReconcilePass,
  type CertificateExecutor,
  type HaproxyControl,
  type PassOutcome,
  type PassResult,
  type PersistedState,
  type RuntimeExecutor,
  type StatePersistence,
} from './pass.js';
import type { Store } from './store.js';
import type { SecretsInUse } from '../model/last-good.js';

export type {
  ApplyResult,
  CertificateExecutor,
  CertificateResult,
  HaproxyControl,
  PassKind,
  PassResult,
  PersistedState,
  RuntimeExecutor,
  SaveOptions,
  StatePersistence,
} from './pass.js';

export interface ReconcilerOptions {
  store: Store;
  haproxy: HaproxyControl;
  runtime?: RuntimeExecutor;
  /** Certificates through the runtime API (cert-updater.ts); without it a changed certificate reloads. */
  certificates?: CertificateExecutor;
  /** Replaces routing maps at run time (reconcile/map-updater.ts); without it, a map change reloads. */
  maps?: MapExecutor;
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

export class Reconciler extends EventEmitter<ReconcilerEvents> {
  private readonly o: Required<Omit<ReconcilerOptions, 'runtime' | 'certificates' | 'maps' | 'persistence' | 'maxRuntimeOps'>> &
    Pick<ReconcilerOptions, 'runtime' | 'certificates' | 'maps' | 'persistence' | 'maxRuntimeOps'>;
  private readonly pass: ReconcilePass;
  private lastPassEnd = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private dirty = false;
  private pendingChanges = 0;
  private stopped = true;
  private unsubscribe: (() => void) | undefined;
  private lastResult: PassResult | undefined;
  /** Consecutive failed passes; drives the retry delay. */
  private readonly retries: Backoff;
  /** The pending timer is a retry (a change may pre-empt it). */
  private timerIsRetry = false;
  private toPersist: PersistedState | undefined;
  /** A pass has applied the store in full (nothing refused for a passing cause, nothing failed). */
  private appliedInFullOnce = false;
  private persisting: Promise<void> | undefined;
  /** Looks at removed servers waiting for their connections to end (not a pass; a pass pre-empts it). */
  private deleteTimer: NodeJS.Timeout | undefined;

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
    this.retries = new Backoff({ initialMs: this.o.retryInitialMs, maxMs: this.o.retryMaxMs, jitter: 0 });
    this.pass = new ReconcilePass({
      haproxy: this.o.haproxy,
      runtime: this.o.runtime,
      certificates: this.o.certificates,
      maps: this.o.maps,
      render: this.o.render,
      global: this.o.global,
      logger: this.o.logger,
      minReloadIntervalMs: this.o.minReloadIntervalMs,
      runtimeUpdates: this.o.runtimeUpdates,
      maxRuntimeOps: this.o.maxRuntimeOps,
      dynamicServerCookies: this.o.dynamicServerCookies,
      now: this.o.now,
      onStarted: (e) => this.emit('started', e),
    });
  }

  /** Starts watching the store. HAProxy starts (or is adopted) on the first pass once every source has synced. */
  async start(): Promise<void> {
    this.stopped = false;
    const saved = await this.o.persistence?.load().catch((err: unknown) => {
      this.o.logger.warn('ignoring unreadable saved controller state', { err });
      return undefined;
    });
    this.pass.restore(saved);
    this.unsubscribe = this.o.store.onChange(() => this.trigger());
    this.trigger();
  }

  /** Stops the loop once the running pass ends; the latest running state is saved before it resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.deleteTimer) clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
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
    return this.pass.haproxyStarted && this.pass.appliedVersion === v && this.lastResult?.storeVersion === v && this.lastResult.kind !== 'failed';
  }

  get haproxyStarted(): boolean {
    return this.pass.haproxyStarted;
  }

  /**
   * True once a pass applied what the sources declare in full: HAProxy
   * started or changed, no resource left out for a passing cause (a port in
   * use), nothing failed. A controller that stops before this is true stops
   * the HAProxy it started itself (controller.ts).
   */
  get appliedInFull(): boolean {
    return this.appliedInFullOnce;
  }

  get last(): PassResult | undefined {
    return this.lastResult;
  }

  /** The configuration text HAProxy runs now. */
  /** What runs as `plan` compares with it, auxiliary files included (a dry run plans against this). */
  runningRendered(): ReturnType<ReconcilePass['runningRendered']> {
    return this.pass.runningRendered();
  }

  /** Certificates and CA bundles that serve now (status, metrics, dry runs). */
  get secretsInUse(): SecretsInUse {
    return this.pass.secretsInUse;
  }

  get runningText(): string | undefined {
    return this.pass.runningText;
  }

  /**
   * What runs, as `plan` compares with it: the text, its model (undefined
   * after adopting an HAProxy whose model was not saved) and the last accepted
   * version of each resource.
   */
  runningState(): PersistedState | undefined {
    return this.pass.runningState();
  }

  /**
   * Resolves when the loop is idle with no change pending (tests, CLI). A
   * scheduled retry (of a failed apply or a refused resource) is not waited for.
   */
  async settled(): Promise<void> {
    while (this.busy || (this.timer && !this.timerIsRetry)) {
      await (this.busy ?? sleep(5));
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

  /** `preemptible`: a change runs its pass sooner (retries and rechecks). */
  private schedule(ms: number, retry = false, preemptible = retry): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerIsRetry = preemptible;
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
    const store = this.o.store;
    let outcome: PassOutcome;
    if (!store.allSynced()) {
      this.o.logger.info('waiting for sources to finish their first load', { sources: store.unsyncedSources() });
      outcome = { result: { kind: 'waiting', reasons: store.unsyncedSources(), durationMs: 0, renderMs: 0, coalesced }, changed: false };
    } else {
      outcome = await this.pass.run({ snapshot: store.snapshot(), version: store.version, coalesced, retry });
    }
    const result = outcome.result;
    result.durationMs = this.o.now() - t0;
    this.lastResult = result;
    if (['start', 'noop', 'runtime', 'reload'].includes(result.kind) && outcome.backoff === undefined) this.appliedInFullOnce = true;
    if (outcome.requeueAfter !== undefined) {
      // A deferred reload: the timer runs the pass for every change since.
      this.dirty = false;
      this.schedule(outcome.requeueAfter);
    }
    this.scheduleRetry(outcome);
    // Removed servers waiting for their connections to end: look again (a pass looks at them too).
    if (result.kind !== 'waiting') this.scheduleDeleteRecheck(outcome.recheckAfter);
    if (outcome.changed) this.persist();
    this.emit('pass', result);
  }

  /**
   * Removed servers wait in maint until their connections end (a WebSocket
   * may take hours): the recheck tries only their deletion (`del server`,
   * `show servers conn`), never a pass, so it costs no computeDesired or plan
   * and emits no `pass` event. It runs when no pass does (serialized through
   * `busy`); a change arriving meanwhile runs its pass right after.
   */
  private scheduleDeleteRecheck(ms: number | undefined): void {
    if (this.deleteTimer) clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    if (ms === undefined || this.stopped) return;
    this.deleteTimer = setTimeout(() => {
      this.deleteTimer = undefined;
      // A pass running now looks at them itself and schedules the next recheck.
      if (this.busy || this.stopped) return;
      this.busy = this.pass
        .recheckDeletes()
        .then((next) => this.scheduleDeleteRecheck(next))
        .finally(() => {
          this.busy = undefined;
          // A change that arrived meanwhile runs its pass now (as trigger() would have).
          if (this.dirty && !this.stopped) {
            this.dirty = false;
            if (!this.timer || this.timerIsRetry) this.schedule(Math.max(0, this.lastPassEnd + this.o.debounceMs - this.o.now()));
          }
        });
    }, ms);
  }

  /**
   * A failed pass (HAProxy would not start, or refused a configuration) is
   * tried again by itself with exponential backoff, so a cause that goes away
   * (a port freed, a transient error) heals without waiting for a change. A
   * resource refused for a cause outside the configuration (a port in use)
   * is tried again too.
   */
  private scheduleRetry({ result, backoff }: PassOutcome): void {
    if (!backoff) {
      if (result.kind !== 'waiting' && result.kind !== 'deferred') this.retries.reset();
      return;
    }
    const delay = this.retries.next();
    if (this.timer || this.dirty || this.stopped) return; // a pass is coming anyway
    this.o.logger.info(backoff === 'refused' ? 'will try the refused resources again' : 'will retry the failed configuration', {
      inMs: delay,
      attempt: this.retries.attempts,
    });
    this.schedule(delay, true);
  }

  /**
   * Saves the running state after a pass, one save at a time (two in flight
   * could finish in either order and leave an older state on disk) and only
   * the latest (in a burst only the last state matters). The save yields to a
   * running pass between its pieces: at 100,000 servers it is ~70 ms of work,
   * which must not delay the next change. A crash before it lands leaves the
   * state of an earlier pass: on restart its text differs from what runs, and
   * the first pass reloads instead of planning at runtime, as without a state.
   */
  private persist(): void {
    const persistence = this.o.persistence;
    if (!persistence) return;
    this.toPersist = this.pass.runningState();
    if (this.persisting || !this.toPersist) return;
    this.persisting = (async () => {
      await sleep(0); // after the pass's event and its listeners
      for (let next = this.toPersist; next; next = this.toPersist) {
        this.toPersist = undefined;
        await persistence.save(next, { yieldTo: () => this.busy }).catch((err: unknown) => this.o.logger.warn('could not save controller state', { err }));
      }
    })().finally(() => (this.persisting = undefined));
  }
}
