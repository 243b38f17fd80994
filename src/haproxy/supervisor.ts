/**
 * Runs one HAProxy master-worker process per state directory and keeps it in
 * line: start or adopt, validated reloads with rollback, restart on death, stop.
 *
 * State directory layout (see statePaths):
 *   haproxy.cfg   the configuration the running HAProxy last loaded successfully
 *   master.sock   master CLI (show proc, reload)
 *   admin.sock    stats socket; the configuration must declare it (level admin)
 *   haproxy.pid   master pid
 *   haproxy.log   the master's stdout and stderr
 *   certs/        auxiliary files (certificates, CA bundles, crt-lists; mode
 *                 0600), written before `haproxy -c` and removed once no
 *                 configuration references them (haproxy/aux-files.ts)
 *   controller.lock  the controller holding the directory (haproxy/state-lock.ts;
 *                 the supervisor itself does not take it)
 *   apply-pending.json  only while a reload is unconfirmed: the previous text,
 *                 so that a controller that crashed mid-apply can tell, on its
 *                 next start, whether haproxy.cfg is really what runs
 *
 * Relative paths inside the configuration resolve against the state directory.
 */
import { EventEmitter } from 'node:events';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { Backoff } from '../util/backoff.js';
import { readAuxFiles, removeUnreferenced, restoreAuxFiles, syncAuxFiles, writeAuxFiles, type AuxFiles } from './aux-files.js';
import { checkConfigFile, type CheckResult } from './check.js';
import { MasterCli } from './master-cli.js';
import { HaproxySocketError } from './socket.js';
import type { ShowProc } from './parse.js';
import { findTakenBinds } from './preflight.js';
import { fileSize, readPid, readTail, rotateLog } from './state-files.js';
import { findProcessesWithArg, isProcessAlive, processArgs, signalProcess, sleep, waitForExit } from './process.js';

export type SupervisorLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface StatePaths {
  dir: string;
  config: string;
  masterSocket: string;
  adminSocket: string;
  pidFile: string;
  log: string;
  pendingApply: string;
}

export function statePaths(stateDir: string): StatePaths {
  const dir = resolve(stateDir);
  return {
    dir,
    config: join(dir, 'haproxy.cfg'),
    masterSocket: join(dir, 'master.sock'),
    adminSocket: join(dir, 'admin.sock'),
    pidFile: join(dir, 'haproxy.pid'),
    log: join(dir, 'haproxy.log'),
    pendingApply: join(dir, 'apply-pending.json'),
  };
}

export interface HaproxySupervisorOptions {
  stateDir: string;
  /** Default "haproxy" (looked up in PATH). */
  haproxyBin?: string;
  logger?: SupervisorLogger;
  /** How often the master's liveness is checked. Default 1000 ms. */
  pollIntervalMs?: number;
  /** How long a reload may take before it counts as failed. Default 15000 ms (a bind conflict alone costs HAProxy ~2 s). */
  reloadTimeoutMs?: number;
  /** How long a fresh master may take to answer with a worker. Default 10000 ms. */
  startTimeoutMs?: number;
  /** After a soft stop (SIGUSR1), how long before SIGTERM. Default 5000 ms. */
  stopGraceMs?: number;
  /** After a reload is reported, how long the new worker must stay up. Default 250 ms. */
  settleMs?: number;
  /** Per master-CLI command. Default 3000 ms. */
  commandTimeoutMs?: number;
  /**
   * Before a start or a reload, try to bind (from Node, without SO_REUSEPORT)
   * each new TCP bind address and reject the configuration when another
   * process holds it. Default true: a reload that cannot bind pauses all
   * listeners for ~2 s on 2.6, and a start on a port another HAProxy holds
   * with SO_REUSEPORT would share it and split its traffic (see preflight.ts).
   */
  preflightBinds?: boolean;
  /**
   * Other processes may hold our ports (with SO_REUSEPORT, as another replica's
   * HAProxy does): the pre-flight then only reports addresses no interface has.
   */
  sharePorts?: boolean;
}

export type StartResult =
  { adopted: true; masterPid: number; runningConfig: string; runningFiles?: Map<string, string> } | { adopted: false; masterPid: number };

export type ApplyOutcome = { ok: true; reloads: number } | { ok: false; reason: 'check' | 'reload'; output: string };

export interface StopOptions {
  /** Stop HAProxy too (soft stop, then SIGTERM, then SIGKILL). Default false: it keeps serving and can be adopted. */
  stopHaproxy?: boolean;
  graceMs?: number;
}

/** The supervisor's events and their payloads. */
export interface SupervisorEvents {
  started: [{ masterPid: number }];
  adopted: [{ masterPid: number }];
  reloaded: [{ masterPid: number; reloads: number }];
  /** A rejected apply: by `haproxy -c` (reason "check") or at reload. */
  'reload-failed': [{ reason: 'check' | 'reload'; output: string }];
  died: [{ masterPid: number; exitCode: number | null; signal: string | null }];
  restarted: [{ reason: string; previousMasterPid: number; masterPid: number }];
  'restart-failed': [{ error: Error; attempt: number }];
}

/** `start()` was given a configuration `haproxy -c` rejects. */
export class HaproxyConfigError extends Error {
  override readonly name = 'HaproxyConfigError';
  constructor(readonly output: string) {
    super(`HAProxy rejected the configuration (haproxy -c); fix it and try again:\n${output}`);
  }
}

/** apply-pending.json */
interface PendingApply {
  previous: string;
  masterPid: number;
  reloadsBefore: number;
}

async function readPending(file: string): Promise<PendingApply | undefined> {
  try {
    const data = JSON.parse(await readFile(file, 'utf8')) as Partial<PendingApply>;
    if (typeof data.previous === 'string' && typeof data.masterPid === 'number' && typeof data.reloadsBefore === 'number') {
      return data as PendingApply;
    }
  } catch {
    // absent or torn: nothing to settle
  }
  return undefined;
}

type ReloadOutcome = { ok: true; reloads: number } | { ok: false; why: string; masterDied: boolean };

const PROBE_INTERVAL_MS = 50;

export class HaproxySupervisor extends EventEmitter<SupervisorEvents> {
  readonly paths: StatePaths;
  private readonly bin: string;
  private readonly log: SupervisorLogger;
  private readonly pollIntervalMs: number;
  private readonly reloadTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly stopGraceMs: number;
  private readonly settleMs: number;
  private readonly preflightBinds: boolean;
  private readonly sharePorts: boolean;
  private readonly cli: MasterCli;

  private currentMasterPid: number | undefined;
  private lastExit: { pid: number; code: number | null; signal: string | null } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** Started and not stopped: watching the master. */
  private active = false;
  /** Bumped per start(), so a poll loop of an earlier start() ends. */
  private generation = 0;
  /** Delays between failed restarts of a dead master: twice the poll interval, doubling up to 30 s. */
  private readonly restartBackoff: Backoff;
  private nextRestartAt = 0;
  private diedReported: number | undefined;
  private checkSeq = 0;
  /** The auxiliary files the running HAProxy loaded (undefined until known). */
  private files: AuxFiles | undefined;
  /** Files writeFiles put on disk ahead of what runs (a runtime certificate update in progress). */
  private writtenFiles: AuxFiles | undefined;

  constructor(options: HaproxySupervisorOptions) {
    super();
    this.paths = statePaths(options.stateDir);
    this.bin = options.haproxyBin ?? 'haproxy';
    this.log = options.logger ?? silentLogger();
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.restartBackoff = new Backoff({ initialMs: this.pollIntervalMs * 2, maxMs: 30_000, jitter: 0 });
    this.reloadTimeoutMs = options.reloadTimeoutMs ?? 15_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.stopGraceMs = options.stopGraceMs ?? 5000;
    this.settleMs = options.settleMs ?? 250;
    this.preflightBinds = options.preflightBinds ?? true;
    this.sharePorts = options.sharePorts ?? false;
    this.cli = new MasterCli(this.paths.masterSocket, options.commandTimeoutMs ?? 3000);
  }

  /** The master's pid once started or adopted. */
  get masterPid(): number | undefined {
    return this.currentMasterPid;
  }

  isRunning(): boolean {
    return this.currentMasterPid !== undefined && isProcessAlive(this.currentMasterPid);
  }

  /** `show proc` on the master CLI. */
  showProc(): Promise<ShowProc> {
    return this.cli.showProc();
  }

  /** Reloads the master has done (failed ones included), from `show proc`. */
  async reloadCount(): Promise<number> {
    return (await this.cli.showProc()).master.reloads;
  }

  /** The text of haproxy.cfg: what the running HAProxy last loaded. */
  runningConfig(): Promise<string> {
    return readFile(this.paths.config, 'utf8');
  }

  /** Candidate files a controller that died mid-check left behind (its pid is gone). */
  private async removeStaleCandidates(): Promise<void> {
    const names = await readdir(this.paths.dir).catch(() => [] as string[]);
    for (const name of names) {
      const m = /^candidate-(\d+)-\d+\.cfg$/.exec(name);
      if (m && Number(m[1]) !== process.pid && !isProcessAlive(Number(m[1]))) await unlink(join(this.paths.dir, name)).catch(() => undefined);
    }
  }

  /** Runs `haproxy -c` on the text (from a temporary file in the state dir). */
  async check(configText: string): Promise<CheckResult> {
    await mkdir(this.paths.dir, { recursive: true, mode: 0o700 });
    if (this.checkSeq === 0) await this.removeStaleCandidates();
    const file = join(this.paths.dir, `candidate-${process.pid}-${++this.checkSeq}.cfg`);
    try {
      // The file goes away whatever fails: the write (a full disk), the check, or the spawn.
      const handle = await open(file, 'w', 0o600);
      try {
        await handle.writeFile(configText, 'utf8');
      } finally {
        await handle.close();
      }
      return await checkConfigFile(file, { haproxyBin: this.bin, cwd: this.paths.dir });
    } finally {
      await unlink(file).catch(() => undefined);
    }
  }

  /**
   * Adopts the master already running from this state dir (no new process, no
   * interruption; `configText` is then ignored: compare it with runningConfig
   * and apply if it differs), or checks `configText` and starts a new master.
   * Throws HaproxyConfigError when the configuration is rejected.
   */
  start(configText: string, files?: AuxFiles): Promise<StartResult> {
    return this.exclusive(async () => {
      if (this.active) throw new Error('HaproxySupervisor.start() called twice: stop() it first');
      await mkdir(this.paths.dir, { recursive: true, mode: 0o700 });
      const live = await this.findLiveMaster();
      if (live !== undefined) {
        this.currentMasterPid = live;
        await this.settleInterruptedApply(live);
        const runningConfig = await this.runningConfig().catch(() => '');
        const runningFiles = await readAuxFiles(this.paths.dir);
        this.files = runningFiles;
        this.log.info('adopted running HAProxy', { masterPid: live, stateDir: this.paths.dir });
        this.activate();
        this.emit('adopted', { masterPid: live });
        return { adopted: true, masterPid: live, runningConfig, ...(runningFiles.size > 0 ? { runningFiles } : {}) };
      }
      if (files) await writeAuxFiles(this.paths.dir, files, await readAuxFiles(this.paths.dir));
      const verdict = await this.check(configText);
      if (!verdict.ok) throw new HaproxyConfigError(verdict.output);
      // HAProxy binds with SO_REUSEPORT: it would start on a port another HAProxy holds and split its traffic.
      const taken = await this.takenBinds(configText, '');
      if (taken !== undefined) throw new HaproxyConfigError(taken);
      await writeFileAtomic(this.paths.config, configText);
      await rm(this.paths.pendingApply, { force: true });
      const pid = await this.spawnMaster();
      if (files) {
        await removeUnreferenced(this.paths.dir, files);
        this.files = files;
      }
      this.log.info('started HAProxy', { masterPid: pid, stateDir: this.paths.dir });
      this.activate();
      this.emit('started', { masterPid: pid });
      return { adopted: false, masterPid: pid };
    });
  }

  /**
   * Checks, then reloads with `configText`. On any failure haproxy.cfg keeps
   * the previous text and the previous configuration keeps serving. One apply
   * runs at a time; later calls wait their turn.
   */
  apply(configText: string, files?: AuxFiles): Promise<ApplyOutcome> {
    return this.exclusive(async () => {
      this.assertStarted('apply');
      const previous = await this.runningConfig();
      // Files first: `haproxy -c` reads them. A refused candidate puts the previous ones back.
      this.writtenFiles = undefined;
      const previousFiles = files ? (this.files ?? (await readAuxFiles(this.paths.dir))) : undefined;
      if (files) {
        // Against the disk, not what runs: a file removed behind our back is written again, or `haproxy -c` would refuse every candidate.
        const written = await syncAuxFiles(this.paths.dir, files);
        const healed = written.filter((rel) => previousFiles?.get(rel) === files.get(rel));
        if (healed.length > 0) this.log.warn("wrote again files that were removed or changed behind the controller's back", { files: healed });
      }
      const restoreFiles = async () => {
        if (files && previousFiles) await restoreAuxFiles(this.paths.dir, files, previousFiles);
      };
      const rejection = await this.validate(configText, previous);
      if (rejection !== undefined) {
        await restoreFiles();
        this.log.warn('configuration rejected before reloading', { output: rejection });
        this.emit('reload-failed', { reason: 'check', output: rejection });
        return { ok: false, reason: 'check', output: rejection };
      }
      if (!this.isRunning()) await this.recoverDeadMaster('master found dead before a reload', true);

      const before = await this.waitForProc(this.reloadTimeoutMs);
      if (!before) {
        throw new Error(`HAProxy master ${this.currentMasterPid} does not answer on ${this.paths.masterSocket}; nothing was changed. Check ${this.paths.log}`);
      }
      const logOffset = await fileSize(this.paths.log);
      const pending: PendingApply = { previous, masterPid: before.master.pid, reloadsBefore: before.master.reloads };
      await writeFileAtomic(this.paths.pendingApply, JSON.stringify(pending));
      await writeFileAtomic(this.paths.config, configText);
      const outcome = await this.reload(before);
      if (outcome.ok) {
        await rm(this.paths.pendingApply, { force: true });
        if (files) {
          const removed = await removeUnreferenced(this.paths.dir, files);
          if (removed.length > 0) this.log.info('removed files no configuration references', { files: removed });
          this.files = files;
        }
        this.log.info('HAProxy reloaded', { masterPid: this.currentMasterPid, reloads: outcome.reloads });
        this.emit('reloaded', { masterPid: this.currentMasterPid!, reloads: outcome.reloads });
        return outcome;
      }

      await writeFileAtomic(this.paths.config, previous);
      await restoreFiles();
      await rm(this.paths.pendingApply, { force: true });
      const output = (await readTail(this.paths.log, logOffset)) || outcome.why;
      this.log.error('reload failed; restored the previous configuration', { why: outcome.why, output });
      await this.ensureServing(outcome);
      this.emit('reload-failed', { reason: 'reload', output });
      return { ok: false, reason: 'reload', output };
    });
  }

  /**
   * Writes the auxiliary files that differ from what runs (mode 0600), before
   * runtime certificate commands name them. What runs is unchanged: a later
   * refused apply still restores the running files, and writeRunningConfig
   * makes them the running ones.
   */
  writeFiles(files: AuxFiles): Promise<void> {
    return this.exclusive(async () => {
      await writeAuxFiles(this.paths.dir, files, this.writtenFiles ?? this.files);
      this.writtenFiles = files;
    });
  }

  /** Replaces haproxy.cfg without reloading (after runtime-API changes, so a later reload keeps them). */
  writeRunningConfig(text: string, files?: AuxFiles): Promise<void> {
    return this.exclusive(async () => {
      // Files writeFiles already wrote are not written (and synced) again.
      if (files) await writeAuxFiles(this.paths.dir, files, this.writtenFiles ?? this.files);
      this.writtenFiles = undefined;
      await writeFileAtomic(this.paths.config, text);
      if (files) {
        await removeUnreferenced(this.paths.dir, files);
        this.files = files;
      }
    });
  }

  /** Stops watching; with stopHaproxy also stops HAProxy and waits until every process is gone. */
  stop(options: StopOptions = {}): Promise<void> {
    this.active = false;
    clearTimeout(this.timer);
    return this.exclusive(async () => {
      const pid = this.currentMasterPid;
      if (!options.stopHaproxy || pid === undefined) {
        if (pid !== undefined) this.log.info('supervisor stopped; HAProxy keeps running', { masterPid: pid });
        return;
      }
      const members = [pid, ...findProcessesWithArg(this.paths.masterSocket)];
      signalProcess(pid, 'SIGUSR1');
      if (!(await waitForExit(members, options.graceMs ?? this.stopGraceMs))) {
        this.log.warn('HAProxy did not finish its soft stop in time; sending SIGTERM', { masterPid: pid });
        signalProcess(pid, 'SIGTERM');
        if (!(await waitForExit(members, 2000))) {
          for (const p of members) if (isProcessAlive(p)) signalProcess(p, 'SIGKILL');
          await waitForExit(members, 2000);
        }
      }
      const left = findProcessesWithArg(this.paths.masterSocket);
      for (const p of left) signalProcess(p, 'SIGKILL');
      await waitForExit(left, 2000);
      await this.removeRuntimeFiles();
      this.currentMasterPid = undefined;
      this.log.info('HAProxy stopped', { masterPid: pid });
    });
  }

  // ------------------------------------------------------------ internals

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** haproxy -c, then the bind pre-flight: the reason to refuse, or undefined. */
  private async validate(configText: string, previous: string): Promise<string | undefined> {
    const verdict = await this.check(configText);
    if (!verdict.ok) return verdict.output;
    return this.takenBinds(configText, previous);
  }

  /** The bind pre-flight's report on binds of `configText` that `running` lacks, or undefined. */
  private async takenBinds(configText: string, running: string): Promise<string | undefined> {
    if (!this.preflightBinds) return undefined;
    const ownPids = [...(this.currentMasterPid === undefined ? [] : [this.currentMasterPid]), ...findProcessesWithArg(this.paths.masterSocket)];
    const taken = await findTakenBinds(configText, running, { ownPids, sharePorts: this.sharePorts });
    return taken.length > 0 ? taken.join('\n') : undefined;
  }

  private assertStarted(what: string): void {
    if (!this.active || this.currentMasterPid === undefined) {
      throw new Error(`HaproxySupervisor.${what}() needs a started supervisor: call start(configText) first (again after stop())`);
    }
  }

  /** The pid of a live master of this state dir, or undefined (stale files removed). */
  private async findLiveMaster(): Promise<number | undefined> {
    const pid = await readPid(this.paths.pidFile);
    const ours = (p: number): boolean => {
      const args = processArgs(p);
      return args === undefined || args.some((a) => a.includes(this.paths.masterSocket));
    };
    if (pid === undefined || !isProcessAlive(pid) || !ours(pid)) {
      await this.removeRuntimeFiles();
      return undefined;
    }
    // A master in the middle of a reload does not answer for a moment.
    const proc = await this.waitForProc(this.startTimeoutMs, pid);
    if (proc?.master.pid === pid) return pid;
    if (!isProcessAlive(pid)) {
      await this.removeRuntimeFiles();
      return undefined;
    }
    throw new Error(
      proc
        ? `${this.paths.masterSocket} is served by master ${proc.master.pid} but ${this.paths.pidFile} says ${pid}: two HAProxy masters use ${this.paths.dir}; stop one`
        : `HAProxy master ${pid} (from ${this.paths.pidFile}) is alive but does not answer on ${this.paths.masterSocket}; stop it (kill ${pid}) and start again`,
    );
  }

  /**
   * A controller that died between writing haproxy.cfg and confirming the
   * reload left apply-pending.json. Decide from show proc what HAProxy runs and
   * make haproxy.cfg say so.
   */
  private async settleInterruptedApply(masterPid: number): Promise<void> {
    const pending = await readPending(this.paths.pendingApply);
    if (!pending) return;
    const proc = await this.waitForProc(this.startTimeoutMs, masterPid);
    const reloaded = proc !== undefined && proc.master.reloads > pending.reloadsBefore && proc.master.failedReloads === 0;
    // Another master pid: it was started from haproxy.cfg, so haproxy.cfg is what runs.
    if (pending.masterPid === masterPid && !reloaded) {
      await writeFileAtomic(this.paths.config, pending.previous);
      this.log.warn('an interrupted apply never took effect; restored haproxy.cfg to what HAProxy runs', { masterPid });
    }
    await rm(this.paths.pendingApply, { force: true });
  }

  /** Polls `show proc` until it answers (optionally only while `pid` lives). */
  private async waitForProc(timeoutMs: number, pid = this.currentMasterPid): Promise<ShowProc | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.cli.showProc();
      } catch {
        if (Date.now() >= deadline || (pid !== undefined && !isProcessAlive(pid))) return undefined;
        await sleep(PROBE_INTERVAL_MS);
      }
    }
  }

  private async removeRuntimeFiles(): Promise<void> {
    for (const f of [this.paths.masterSocket, this.paths.adminSocket, this.paths.pidFile]) {
      await rm(f, { force: true });
    }
  }

  /** Spawns a master on haproxy.cfg and waits until it lists a worker. */
  private async spawnMaster(): Promise<number> {
    await rotateLog(this.paths.log);
    const logOffset = await fileSize(this.paths.log);
    const orphans = findProcessesWithArg(this.paths.masterSocket);
    const fd = openSync(this.paths.log, 'a', 0o600);
    const exit: { done: boolean; code: number | null; signal: string | null; error?: Error } = {
      done: false,
      code: null,
      signal: null,
    };
    let child;
    try {
      child = spawn(this.bin, ['-W', '-S', `${this.paths.masterSocket},mode,600`, '-f', this.paths.config, '-p', this.paths.pidFile], {
        cwd: this.paths.dir,
        detached: true,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    child.on('error', (error) => Object.assign(exit, { done: true, error }));
    child.on('exit', (code, signal) => {
      Object.assign(exit, { done: true, code, signal });
      if (child.pid !== undefined) this.lastExit = { pid: child.pid, code, signal };
      if (this.active && child.pid === this.currentMasterPid) void this.tick();
    });
    child.unref();

    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      if (exit.error) {
        throw new Error(
          `Cannot run HAProxy binary "${this.bin}": ${exit.error.message}; install HAProxy (Debian: apt-get install haproxy) or pass its path with --haproxy-bin`,
          {
            cause: exit.error,
          },
        );
      }
      if (exit.done) {
        const tail = await readTail(this.paths.log, logOffset);
        throw new Error(`HAProxy exited while starting (code ${exit.code}, signal ${exit.signal}); ${this.paths.log} says:\n${tail}`);
      }
      let last: string;
      try {
        const proc = await this.cli.showProc();
        if (proc.master.pid === child.pid && proc.workers.length > 0) break;
        last = `show proc lists master ${proc.master.pid} with ${proc.workers.length} worker(s)`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() >= deadline) {
        if (child.pid !== undefined) signalProcess(-child.pid, 'SIGKILL');
        const tail = await readTail(this.paths.log, logOffset);
        throw new Error(
          `HAProxy (pid ${child.pid}) did not list a worker on ${this.paths.masterSocket} within ${this.startTimeoutMs} ms (last: ${last}); killed it. ${this.paths.log} says:\n${tail}`,
        );
      }
      await sleep(PROBE_INTERVAL_MS);
    }
    const pid = child.pid!;
    this.currentMasterPid = pid;
    if (orphans.length > 0) {
      // Leftovers of a dead master still hold the ports (SO_REUSEPORT let the new
      // master bind beside them): let them finish their connections and go.
      this.log.warn('soft-stopping processes left by a dead master', { pids: orphans });
      for (const p of orphans) signalProcess(p, 'SIGUSR1');
    }
    return pid;
  }

  /** Sends `reload` and waits for its outcome. */
  private async reload(before: ShowProc): Promise<ReloadOutcome> {
    try {
      await this.cli.reload();
    } catch (err) {
      // Not connected: the reload was never sent. Other errors (a reset while the
      // master re-executes) are normal: show proc tells what happened.
      const code = err instanceof HaproxySocketError ? err.code : undefined;
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') {
        return { ok: false, why: (err as Error).message, masterDied: !this.isRunning() };
      }
      this.log.debug('reload command ended with an error', { err });
    }
    return this.awaitReload(before);
  }

  /** Polls show proc until the reload count moves, then confirms the new worker stays up. */
  private async awaitReload(before: ShowProc): Promise<ReloadOutcome> {
    const pid = this.currentMasterPid!;
    const deadline = Date.now() + this.reloadTimeoutMs;
    for (;;) {
      if (!isProcessAlive(pid)) return { ok: false, why: 'the HAProxy master exited during the reload', masterDied: true };
      const proc = await this.cli.showProc().catch(() => undefined);
      if (proc && proc.master.reloads > before.master.reloads) {
        // 2.6 resets the failed count on success, so any failed count is this reload's.
        if (proc.master.failedReloads > 0) {
          return { ok: false, why: 'HAProxy reported the reload as failed (show proc)', masterDied: false };
        }
        const fresh = proc.workers.filter((w) => w.reloads === 0);
        if (fresh.length > 0)
          return this.settle(
            pid,
            fresh.map((w) => w.pid),
            proc.master.reloads,
          );
      }
      if (Date.now() >= deadline) {
        return { ok: false, why: `show proc did not confirm the reload within ${this.reloadTimeoutMs} ms`, masterDied: false };
      }
      await sleep(PROBE_INTERVAL_MS);
    }
  }

  /** A worker can die right after the fork (chroot, setuid...), taking the master with it in 2.6. */
  private async settle(pid: number, workers: number[], reloads: number): Promise<ReloadOutcome> {
    await sleep(this.settleMs);
    if (!isProcessAlive(pid)) return { ok: false, why: 'the HAProxy master exited right after the reload', masterDied: true };
    const proc = await this.waitForProc(this.reloadTimeoutMs);
    const current = new Set(proc?.workers.map((w) => w.pid));
    if (workers.some((w) => current.has(w))) return { ok: true, reloads };
    return { ok: false, why: 'the new HAProxy worker exited right after the reload', masterDied: !isProcessAlive(pid) };
  }

  /**
   * After a failed reload with haproxy.cfg restored: in 2.6 the old workers
   * keep serving and the master waits for the next reload, so nothing is
   * needed unless the master died (restart it) or no worker is left (reload
   * the restored file).
   */
  private async ensureServing(outcome: { masterDied: boolean }): Promise<void> {
    if (outcome.masterDied || !this.isRunning()) {
      await this.recoverDeadMaster('a reload failed and the master exited', false);
      return;
    }
    const proc = await this.waitForProc(this.reloadTimeoutMs);
    if (!proc) {
      this.log.error('HAProxy master does not answer after a failed reload', {
        masterPid: this.currentMasterPid,
        hint: `check ${this.paths.log}; stop the master to let the supervisor restart it`,
      });
      return;
    }
    if (proc.workers.length > 0) {
      this.log.info('previous configuration keeps serving', { workers: proc.workers.map((w) => w.pid) });
      return;
    }
    this.log.warn('no worker left after a failed reload; reloading the restored configuration');
    const recovery = await this.reload(proc);
    if (!recovery.ok) await this.recoverDeadMaster('recovery reload failed', false);
  }

  /** Restarts from haproxy.cfg after the master died; emits died/restarted. */
  private async recoverDeadMaster(reason: string, throwOnFailure: boolean): Promise<void> {
    const previous = this.currentMasterPid!;
    if (this.diedReported !== previous) {
      this.diedReported = previous;
      const exit = this.lastExit?.pid === previous ? this.lastExit : undefined;
      this.log.error('HAProxy master died', { masterPid: previous, exitCode: exit?.code, signal: exit?.signal });
      this.emit('died', { masterPid: previous, exitCode: exit?.code ?? null, signal: exit?.signal ?? null });
    }
    try {
      await this.removeRuntimeFiles();
      const pending = await readPending(this.paths.pendingApply);
      if (pending) {
        // haproxy.cfg holds a configuration no reload confirmed: start from the one before.
        await writeFileAtomic(this.paths.config, pending.previous);
        await rm(this.paths.pendingApply, { force: true });
      } else if (this.files) {
        // The files haproxy.cfg names, in case they were removed behind our back.
        await syncAuxFiles(this.paths.dir, this.files);
      }
      const pid = await this.spawnMaster();
      this.restartBackoff.reset();
      this.log.warn('restarted HAProxy from the last good configuration', { reason, previousMasterPid: previous, masterPid: pid });
      this.emit('restarted', { reason, previousMasterPid: previous, masterPid: pid });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.nextRestartAt = Date.now() + this.restartBackoff.next();
      this.log.error('could not restart HAProxy; will retry', { error, attempt: this.restartBackoff.attempts });
      this.emit('restart-failed', { error, attempt: this.restartBackoff.attempts });
      if (throwOnFailure) throw error;
    }
  }

  private activate(): void {
    if (this.active) return;
    this.active = true;
    const generation = ++this.generation;
    const loop = (): void => {
      this.timer = setTimeout(() => {
        void this.tick().finally(() => {
          if (this.active && generation === this.generation) loop();
        });
      }, this.pollIntervalMs);
      this.timer.unref();
    };
    loop();
  }

  /** One liveness check: restart a dead master (with backoff after failures). */
  private async tick(): Promise<void> {
    const pid = this.currentMasterPid;
    if (!this.active || pid === undefined || isProcessAlive(pid) || Date.now() < this.nextRestartAt) return;
    await this.exclusive(async () => {
      // Re-check under the lock: an apply may have restarted it meanwhile.
      if (!this.active || this.currentMasterPid === undefined || this.isRunning()) return;
      await this.recoverDeadMaster('master process exited', false);
    });
  }
}
