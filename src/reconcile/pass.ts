/**
 * One reconcile pass: from a snapshot of the store to what HAProxy runs.
 *
 * Level-triggered: it computes the desired state from the whole snapshot,
 * plans against what runs, and applies (runtime operations, else a reload).
 * It never throws and never schedules: it returns its result, with an error as
 * a value, and `requeueAfter` / `backoff` to tell the loop (reconciler.ts)
 * when to run again. It keeps what a pass must remember: what runs, the last
 * accepted version of each resource, the refused resources, and which
 * problems were logged already.
 */
import { isRoutingNote } from '../model/routing.js';
import { formatIssue } from '../model/types.js';
import type { Resolution } from '../model/resolve.js';
import type { Issue, Resource, ResourceKey } from '../model/types.js';
import { stateDirOf, type ConfigModel, type GlobalSettings } from '../render/model.js';
import type { ConfigRenderer } from '../render/render.js';
import type { Logger } from '../log.js';
import { computeDesired, type Desired } from './desired.js';
import { plan, type Plan, type ServerOp } from './plan.js';
import { describeCertOp, type CertOp } from './cert-plan.js';
import { CertUpdateError } from './cert-updater.js';
import { changedFiles } from '../render/tls-files.js';
import type { MapExecutor } from './map-updater.js';
import { Refusals } from './refusals.js';
import { CERTIFICATES_IN_USE } from '../model/tls.js';
import { emptySecretsInUse, type SecretsInUse } from '../model/last-good.js';
import type { StoreSnapshot } from './store.js';

export interface ApplyResult {
  ok: boolean;
  /** Which step refused: `check` (haproxy -c) or `reload` (the master could not load it). */
  reason?: 'check' | 'reload';
  output?: string;
}

/** What the pass needs from the HAProxy supervisor. */
export interface HaproxyControl {
  /** `files`: the auxiliary files (render/tls-files.ts) by path relative to the state directory, written before `haproxy -c`. */
  start(
    configText: string,
    files?: ReadonlyMap<string, string>,
  ): Promise<{ adopted: boolean; runningConfig?: string; runningFiles?: ReadonlyMap<string, string> }>;
  apply(configText: string, files?: ReadonlyMap<string, string>): Promise<ApplyResult>;
  writeRunningConfig(configText: string, files?: ReadonlyMap<string, string>): Promise<void>;
  /**
   * Writes the auxiliary files that differ from what runs (0600), before
   * runtime certificate operations, so that a reload after a refusal serves
   * the same certificates. What runs is not changed: a refused reload still
   * puts the previous files back.
   */
  writeFiles?(files: ReadonlyMap<string, string>): Promise<void>;
}

/** Applies certificate operations through the runtime API (reconcile/cert-updater.ts); throws CertUpdateError on the first refusal. */
export interface CertificateExecutor {
  execute(ops: readonly CertOp[]): Promise<void>;
}

/** Applies server operations through the runtime API; throws on the first failure. */
export interface RuntimeExecutor {
  execute(ops: readonly ServerOp[]): Promise<void>;
  /** Saves server states so the next worker starts from them (before a reload into `desired`). */
  saveServerState?(desired: ConfigModel): Promise<void>;
  /** Corrects live servers that differ from the model (after a reload); returns how many were fixed. */
  converge?(model: ConfigModel): Promise<number>;
  /**
   * Deletes removed servers that were left in maint because their connections
   * had not ended (`tryNow: false`: only reports them). Returns how many
   * remain and when to try again, or undefined when none does.
   */
  finishDeletes?(options?: { tryNow?: boolean }): Promise<{ remaining: number; recheckAfterMs: number } | undefined>;
}

/** What survives a controller restart, so an adopted HAProxy can still get runtime plans. */
export interface PersistedState {
  text: string;
  model: ConfigModel;
  accepted: Resource[];
  /**
   * Which source declared each resource, and where (`files:/etc/x`,
   * `x.yaml#1`; `rest`; `kubernetes`; `etcd:...`), by resource key: `plan`
   * replaces only what its directory's source declared. Absent in states
   * saved before node-haproxy recorded it.
   */
  declaredBy?: Record<ResourceKey, DeclaredBy[]>;
}

export interface DeclaredBy {
  source: string;
  origin: string;
}

export interface SaveOptions {
  /**
   * Called between pieces of a long save; the save waits for the promise it
   * returns (the loop returns the running pass, so a save never delays one).
   */
  yieldTo?: () => Promise<unknown> | undefined;
}

export interface StatePersistence {
  load(): Promise<PersistedState | undefined>;
  save(state: PersistedState, options?: SaveOptions): Promise<void>;
}

export type PassKind = 'start' | 'noop' | 'runtime' | 'reload' | 'deferred' | 'failed' | 'waiting';

/**
 * How a pass that changed certificate files (certificates, CA bundles,
 * crt-lists) applied them: `runtime` without a reload, `reload` by a planned
 * reload, `failed` when HAProxy refused the runtime update (the pass then
 * reloaded once) or the reload that carried them failed.
 */
export type CertificateResult = 'runtime' | 'reload' | 'failed';

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
  /** Set when the pass changed certificate files (see CertificateResult). */
  certificates?: CertificateResult;
}

/** A pass's answer to the loop. */
export interface PassOutcome {
  result: PassResult;
  /** Run again after this long whatever else happens (a reload deferred by minReloadIntervalMs). */
  requeueAfter?: number;
  /**
   * Run again after this long unless a change runs a pass sooner: removed
   * servers wait in maint for their connections to end (finishDeletes).
   */
  recheckAfter?: number;
  /**
   * Run again with backoff: `failed` (the pass failed) or `refused` (it left
   * out resources for a cause outside the configuration, like a port in use).
   */
  backoff?: 'failed' | 'refused';
  /** The running state changed: the loop saves it (persistence is the loop's, off the pass). */
  changed: boolean;
}

export interface PassInput {
  snapshot: StoreSnapshot;
  version: number;
  coalesced: number;
  /** A retry: try a configuration again even if it failed before, and resources refused for now. */
  retry: boolean;
}

export interface PassOptions {
  haproxy: HaproxyControl;
  runtime?: RuntimeExecutor;
  /** Certificates through the runtime API; without it a changed certificate reloads. */
  certificates?: CertificateExecutor;
  /** HAProxy replaces CA files at run time (`set ssl ca-file`; 2.6 and 3.0 do). Default true. */
  caFileRuntime?: boolean;
  /** HAProxy's tune.bufsize: a certificate whose command is larger reloads instead. Default 16384. */
  cliBufsizeBytes?: number;
  /** Replaces routing maps at run time (reconcile/map-updater.ts); without it, a map change reloads. */
  maps?: MapExecutor;
  render: ConfigRenderer;
  global: GlobalSettings;
  logger: Logger;
  minReloadIntervalMs: number;
  runtimeUpdates: boolean;
  /** Most server operations one runtime plan may hold; more reload instead (see plan.ts). */
  maxRuntimeOps?: number;
  /** `add server` takes `cookie` (HAProxy 3.0, not 2.6; see plan.ts). */
  dynamicServerCookies?: boolean;
  now: () => number;
  /** HAProxy was started (or adopted) by this pass. */
  onStarted?: (e: { adopted: boolean }) => void;
}

interface Running {
  text: string;
  model?: ConfigModel;
  /** Auxiliary files HAProxy loaded, by path relative to the state directory. */
  files?: ReadonlyMap<string, string>;
}

/** How many times one pass leaves out resources HAProxy blamed and tries again. */
const MAX_ISOLATION_ROUNDS = 8;

/** HAProxy refused the configuration and blamed these resources: compute again without them. */
class ResourcesRefused extends Error {
  constructor(readonly keys: string[]) {
    super(`HAProxy refused ${keys.join(', ')}`);
  }
}

type Applied = Omit<PassResult, 'renderMs' | 'coalesced' | 'durationMs'>;

export class ReconcilePass {
  private running: Running | undefined;
  private lastAccepted = new Map<ResourceKey, Resource>();
  /** Certificates and CA bundles that serve: a bad Secret resolves to these (model/last-good.ts; basic-auth users never do). */
  private lastGood: SecretsInUse = emptySecretsInUse();
  private reportedWarnings = new Set<string>();
  private lastFailedText: string | undefined;
  private lastReloadAt = -Infinity;
  private started = false;
  private applied = -1;
  private changed = false;
  private retry = false;
  private savedState: PersistedState | undefined;
  /** What each source declared when the running configuration was accepted (PersistedState.declaredBy). */
  private lastDeclaredBy: ReadonlyMap<ResourceKey, readonly DeclaredBy[]> = new Map();
  /** Resources HAProxy refused; applied without them until they change. */
  private readonly refusals = new Refusals();
  private readonly reported = new Map<ResourceKey, string>();
  private readonly reportedInputs = new Set<string>();

  constructor(private readonly o: PassOptions) {}

  /** What a previous controller saved: the last accepted resources, and the model to plan against if HAProxy is adopted. */
  restore(saved: PersistedState | undefined): void {
    this.savedState = saved;
    if (saved) this.lastAccepted = new Map(saved.accepted.map((r) => [`${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, r]));
    if (saved?.declaredBy) this.lastDeclaredBy = new Map(Object.entries(saved.declaredBy));
  }

  get haproxyStarted(): boolean {
    return this.started;
  }

  /** The store version HAProxy runs (moves inside a pass, before the post-reload checks). */
  get appliedVersion(): number {
    return this.applied;
  }

  /** What runs as `plan` compares with it, auxiliary files included (a dry run plans against this). */
  runningRendered(): { text: string; model: ConfigModel; files?: ReadonlyMap<string, string> } | undefined {
    return this.running?.model ? { text: this.running.text, model: this.running.model, files: this.running.files } : undefined;
  }

  /** Certificates and CA bundles that serve now (status, metrics, dry runs). */
  get secretsInUse(): SecretsInUse {
    return this.lastGood;
  }

  get runningText(): string | undefined {
    return this.running?.text;
  }

  /** What runs, as `plan` compares with it (see Reconciler.runningState). */
  runningState(): PersistedState | undefined {
    if (!this.running?.model) return undefined;
    const declaredBy: Record<ResourceKey, DeclaredBy[]> = {};
    for (const [key, list] of this.lastDeclaredBy) declaredBy[key] = list.map((d) => ({ source: d.source, origin: d.origin }));
    return { text: this.running.text, model: this.running.model, accepted: [...this.lastAccepted.values()], declaredBy };
  }

  /** Runs one pass over `input.snapshot`. Never throws: a failure is a `failed` result. */
  async run(input: PassInput): Promise<PassOutcome> {
    this.changed = false;
    this.retry = input.retry;
    let result: PassResult;
    try {
      result = await this.isolate(input);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      result = { kind: 'failed', reasons: ['internal error'], error, durationMs: 0, renderMs: 0, coalesced: input.coalesced };
      this.o.logger.error('reconcile pass failed', { err });
    }
    const outcome: PassOutcome = { result, changed: this.changed };
    if (result.kind === 'failed') outcome.backoff = 'failed';
    else if (result.kind !== 'waiting' && this.refusals.hasTransient()) outcome.backoff = 'refused';
    if (this.deferFor !== undefined) outcome.requeueAfter = this.deferFor;
    this.deferFor = undefined;
    const recheck = await this.finishDeletes(result);
    if (recheck !== undefined) outcome.recheckAfter = recheck;
    return outcome;
  }

  private waitingDeletes = 0;

  /**
   * Removed servers whose connections had not ended stay in maint (they take
   * no new request) and are deleted later (recheckDeletes): no reload, no cut
   * connection. Returns when to look again, if any remain.
   */
  private async finishDeletes(result: PassResult): Promise<number | undefined> {
    if (result.kind === 'waiting') return undefined;
    // A runtime pass has just tried them (with a short wait); a reload has converged the live servers.
    return this.tryDeletes(result.kind !== 'runtime' && result.kind !== 'reload');
  }

  /**
   * The loop's recheck (reconciler.ts): tries the pending deletions alone, a
   * few runtime commands, not a pass (no computeDesired, no plan, no `pass`
   * event). Never throws. Returns when to look again, if any remain.
   */
  async recheckDeletes(): Promise<number | undefined> {
    try {
      return await this.tryDeletes(true);
    } catch (err) {
      this.o.logger.warn('could not look at removed servers waiting for their connections to end', { err });
      return undefined;
    }
  }

  private async tryDeletes(tryNow: boolean): Promise<number | undefined> {
    const rt = this.o.runtime;
    if (!rt?.finishDeletes || !this.started) return undefined;
    let r;
    try {
      r = await rt.finishDeletes({ tryNow });
    } catch (err) {
      this.o.logger.warn('could not delete a removed server; correcting the live servers', { err });
      const model = this.running?.model;
      if (model) await rt.converge?.(model).catch((e: unknown) => this.o.logger.warn('could not verify live servers', { err: e }));
      r = await rt.finishDeletes({ tryNow: false }).catch(() => undefined);
    }
    const remaining = r?.remaining ?? 0;
    if (remaining !== this.waitingDeletes) {
      if (remaining > 0) this.o.logger.info('removed servers still have connections: kept in maint, deleted once those end', { servers: remaining });
      else this.o.logger.info('removed servers deleted after their connections ended', { servers: this.waitingDeletes });
      this.waitingDeletes = remaining;
    }
    return r?.recheckAfterMs;
  }

  private deferFor: number | undefined;

  /**
   * When HAProxy refuses the configuration and its output blames resources,
   * those are refused and the pass computes again without them (at most
   * MAX_ISOLATION_ROUNDS times): the rest goes ahead.
   */
  private async isolate(input: PassInput): Promise<PassResult> {
    this.logSourceIssues(input.snapshot.sourceIssues);
    if (this.retry) this.refusals.clearTransient();
    for (let round = 1; ; round++) {
      try {
        const result = await this.once(input, round < MAX_ISOLATION_ROUNDS);
        // Outcomes are logged once per pass (and only when they change), not per round.
        if (result.resolution) this.logOutcomes(result.resolution);
        return result;
      } catch (err) {
        if (!(err instanceof ResourcesRefused)) throw err;
        const log = this.retry ? this.o.logger.debug : this.o.logger.warn;
        log.call(this.o.logger, 'HAProxy refused the configuration; applying it without the resources it blames', { resources: err.keys, round });
      }
    }
  }

  private async once({ snapshot, version, coalesced }: PassInput, isolate: boolean): Promise<PassResult> {
    const declared = this.refusals.apply(snapshot.declared);
    const desired = computeDesired({ declared, discovered: snapshot.discovered }, this.lastAccepted, this.o.global, this.o.render, undefined, {
      lastGood: this.lastGood,
    });
    const base = { renderMs: desired.renderMs, coalesced, resolution: desired.resolution, storeVersion: version, durationMs: 0 };
    /** Throws ResourcesRefused when `output` blames resources that can be left out. */
    const blame = (output: string | undefined): void => {
      const keys = isolate && output ? this.refusals.blame(output, desired, snapshot.declared) : [];
      if (keys.length > 0) throw new ResourcesRefused(keys);
    };

    if (!this.started) {
      let r;
      try {
        r = await this.startHaproxy(desired, version);
      } catch (err) {
        blame((err as { output?: unknown }).output as string | undefined);
        throw err;
      }
      if (r) return { ...base, ...r };
    }

    const effective = this.plan(desired);
    const certFilesChanged = effective.kind !== 'noop' && changedFiles(desired.files, this.running?.files).length > 0;
    const certificates = (kind: PassKind, fellBack: boolean): CertificateResult | undefined =>
      !certFilesChanged ? undefined : fellBack || kind === 'failed' ? 'failed' : kind === 'runtime' ? 'runtime' : kind === 'reload' ? 'reload' : undefined;
    switch (effective.kind) {
      case 'noop':
        this.accept(desired, version);
        return { ...base, kind: 'noop', reasons: [] };
      case 'runtime': {
        const r = await this.applyRuntimeOrReload(desired, version, effective, blame);
        const { fellBack, ...applied } = r;
        const c = certificates(applied.kind, fellBack);
        return { ...base, ...applied, ...(c ? { certificates: c } : {}) };
      }
      case 'reload': {
        const wait = this.lastReloadAt + this.o.minReloadIntervalMs - this.o.now();
        if (wait > 0) {
          this.deferFor = wait;
          return { ...base, kind: 'deferred', reasons: effective.reasons };
        }
        const applied = await this.reload(desired, version, effective.reasons, blame);
        const c = certificates(applied.kind, false);
        return { ...base, ...applied, ...(c ? { certificates: c } : {}) };
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
    const r = running?.model ? { text: running.text, model: running.model, files: running.files } : undefined;
    const p = plan(desired, r, {
      runtimeUpdates: this.o.runtimeUpdates && !!this.o.runtime,
      maxRuntimeOps: this.o.maxRuntimeOps,
      dynamicServerCookies: this.o.dynamicServerCookies,
      certificates:
        this.o.certificates && this.o.runtimeUpdates
          ? { stateDir: this.o.global.stateDir ?? stateDirOf(this.o.global), caFileRuntime: this.o.caFileRuntime, bufsizeBytes: this.o.cliBufsizeBytes }
          : undefined,
    });
    // Without a map executor, routing map changes reload.
    if (p.kind === 'runtime' && p.maps?.length && !this.o.maps) return { kind: 'reload', reasons: [`${p.summary}, and no map updater is configured`] };
    return p;
  }

  private async startHaproxy(desired: Desired, version: number): Promise<{ kind: PassKind; reasons: string[] } | undefined> {
    const started = await this.o.haproxy.start(desired.text, desired.files);
    this.started = true;
    this.lastReloadAt = this.o.now();
    if (started.adopted) {
      const text = started.runningConfig ?? '';
      const saved = this.savedState;
      this.running = { text, model: saved && saved.text === text ? saved.model : undefined, files: started.runningFiles };
      this.o.logger.info('adopted the running HAProxy', { runtimePlans: !!this.running.model });
      // Live servers off the saved model (a removal the previous controller left waiting in maint) become
      // pending deletions of this one: deleted once their connections end, and a name added again is reused.
      if (this.running.model) {
        const fixed = await this.o.runtime?.converge?.(this.running.model).catch((err: unknown) => {
          this.o.logger.warn('could not verify the live servers of the adopted HAProxy', { err });
          return 0;
        });
        if (fixed) this.o.logger.info('corrected live servers of the adopted HAProxy', { servers: fixed });
      }
      this.o.onStarted?.({ adopted: true });
      return undefined; // plan against what runs
    }
    this.running = { text: desired.text, model: desired.model, files: desired.files };
    this.accept(desired, version);
    this.o.logger.info('started HAProxy', { frontends: desired.model.frontends.length, backends: desired.model.backends.length });
    this.o.onStarted?.({ adopted: false });
    return { kind: 'start', reasons: [] };
  }

  /**
   * The apply step of a runtime plan: the auxiliary files written first
   * (0600), then the certificate operations, then the server operations, all
   * through the runtime API; when HAProxy refuses one, one validated reload
   * (with the reason logged) puts everything in line.
   */
  private async applyRuntimeOrReload(
    desired: Desired,
    version: number,
    p: Extract<Plan, { kind: 'runtime' }>,
    blame: (output: string | undefined) => void,
  ): Promise<Applied & { fellBack: boolean }> {
    const certOps = p.certOps ?? [];
    /** `fellBack`: the certificate operations were refused (a refused server operation leaves them applied). */
    const fallBack = async (what: string, err: unknown, certificatesRefused: boolean): Promise<Applied & { fellBack: boolean }> => {
      const why = `${what} failed (${err instanceof Error ? err.message : String(err)}); falling back to a reload`;
      this.o.logger.warn(why);
      return { ...(await this.reload(desired, version, [why], blame)), fellBack: certificatesRefused };
    };
    // Files first: a reload after a refusal (or later) must serve what the runtime API was told.
    if (desired.files && changedFiles(desired.files, this.running?.files).length > 0) await this.o.haproxy.writeFiles?.(desired.files);
    if (certOps.length > 0) {
      try {
        await this.o.certificates!.execute(certOps);
      } catch (err) {
        return fallBack(err instanceof CertUpdateError ? 'certificate update' : 'certificate update (unexpected error)', err, true);
      }
    }
    if (p.ops.length > 0) {
      try {
        await this.o.runtime!.execute(p.ops);
      } catch (err) {
        return fallBack('runtime update', err, false);
      }
    }
    // Routing maps (reconcile/map-plan.ts), after the servers they may route to.
    if ((p.maps ?? []).length > 0) {
      try {
        await this.o.maps!.execute(p.maps!);
      } catch (err) {
        return fallBack('routing map update', err, false);
      }
    }
    await this.o.haproxy.writeRunningConfig(desired.text, desired.files);
    this.accept(desired, version);
    this.o.logger.info('applied through the runtime API, no reload', {
      changes: p.summary,
      ...(certOps.length > 0 ? { certificates: certOps.map(describeCertOp) } : {}),
    });
    return { kind: 'runtime', reasons: [], summary: p.summary, fellBack: false };
  }

  private async reload(desired: Desired, version: number, reasons: string[], blame: (output: string | undefined) => void): Promise<Applied> {
    if (desired.text === this.lastFailedText && !this.retry) {
      return { kind: 'failed', reasons, error: 'this configuration was already rejected; waiting for a change' };
    }
    this.o.logger.info('reloading HAProxy', { reasons });
    await this.o.runtime?.saveServerState?.(desired.model).catch((err: unknown) => this.o.logger.warn('could not save server state before reload', { err }));
    const r = await this.o.haproxy.apply(desired.text, desired.files);
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
    this.running = { text: desired.text, model: desired.model, files: desired.files };
    this.lastAccepted = desired.resolution.accepted;
    this.lastDeclaredBy = desired.resolution.declaredBy;
    this.lastGood = desired.resolution.secretsInUse;
    this.applied = version;
    this.lastFailedText = undefined;
    this.changed = true;
  }

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
    // Secret warnings (a certificate expiring soon, a bad Secret or ConfigMap whose last good certificate,
    // CA bundle serves, basic-auth lines skipped or no user left): once each, until they clear.
    const warnings = new Set<string>();
    for (const [key, o] of res.outcomes) {
      for (const note of o.notes ?? []) {
        if (note.startsWith(CERTIFICATES_IN_USE) || isRoutingNote(note)) continue;
        const sig = `${key}\u0000${note}`;
        warnings.add(sig);
        if (!this.reportedWarnings.has(sig)) this.o.logger.warn('Secret warning', { resource: key, warning: note });
      }
    }
    this.reportedWarnings = warnings;
  }
}
