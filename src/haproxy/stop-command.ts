/**
 * `node-haproxy stop`: stops the HAProxy a controller left running in a state
 * directory (by default the controller leaves it running on exit, so that a
 * restarted controller adopts it without a blip).
 *
 * The master's pid comes from the state directory's pid file and must be the
 * HAProxy master of that directory (its command line names the directory's
 * haproxy.cfg and master socket), so a stale pid file never signals another
 * process. A soft stop (SIGUSR1) lets the workers finish their connections
 * (bounded by the configuration's hard-stop-after); --hard (SIGTERM) closes
 * them now. While a controller holds the directory's lock nothing is stopped:
 * the controller would start HAProxy again at its next check.
 */
import { MasterCli } from './master-cli.js';
import { readStateDirLock } from './state-lock.js';
import { findProcessesWithArg, isProcessAlive, processArgs, signalProcess, sleep } from './process.js';
import { readPid } from './state-files.js';
import { statePaths } from './supervisor.js';
import { rm } from 'node:fs/promises';

/** Exit codes of `node-haproxy stop` (2 is a usage error, as for every command). */
export const STOP_EXIT_CODES = {
  /** HAProxy stopped, or none ran from the state directory. */
  stopped: 0,
  /** Not stopped: the pid file names another process, HAProxy still runs after the bound, or a signal was refused. */
  failed: 1,
  /** A controller holds the state directory: stop it first. */
  locked: 3,
} as const;

export interface StopCommandOptions {
  stateDir: string;
  /** SIGTERM (connections closed now) instead of SIGUSR1 (connections finish). */
  hard?: boolean;
  /** How long to wait for every HAProxy process to exit (default 60000). */
  timeoutMs?: number;
  /** How often to report progress while waiting (default 5000). */
  progressIntervalMs?: number;
  /** Receives the messages for the user (one line each). */
  say: (line: string) => void;
}

export const DEFAULT_STOP_TIMEOUT_MS = 60_000;

/** Whether `args` is the command line of the HAProxy master of `paths`' state directory. */
function isMasterOf(args: string[], paths: ReturnType<typeof statePaths>): boolean {
  const f = args.indexOf('-f');
  return (
    args.some((a) => a.includes('haproxy')) &&
    f >= 0 &&
    args[f + 1] === paths.config &&
    args.some((a) => a === paths.masterSocket || a.startsWith(`${paths.masterSocket},`))
  );
}

async function removeRuntimeFiles(paths: ReturnType<typeof statePaths>): Promise<void> {
  for (const f of [paths.masterSocket, paths.adminSocket, paths.pidFile]) await rm(f, { force: true });
}

/** Stops the state directory's HAProxy; returns the exit code (STOP_EXIT_CODES). */
export async function stopStateDirHaproxy(o: StopCommandOptions): Promise<number> {
  const paths = statePaths(o.stateDir);
  const timeoutMs = o.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  const lock = await readStateDirLock(paths.dir);
  if (lock?.live) {
    const h = lock.holder;
    o.say(
      `a controller (pid ${h.pid} on ${h.host}, since ${h.since}) runs on ${paths.dir}; it would start HAProxy again. ` +
        `Stop the controller first (SIGTERM or Ctrl-C; "run --stop-haproxy-on-exit" stops HAProxy with it), then run node-haproxy stop again`,
    );
    return STOP_EXIT_CODES.locked;
  }
  const pid = await readPid(paths.pidFile);
  if (pid === undefined || !isProcessAlive(pid)) {
    const left = findProcessesWithArg(paths.masterSocket);
    if (left.length > 0) {
      o.say(
        `no HAProxy master runs from ${paths.dir} (${pid === undefined ? `no pid in ${paths.pidFile}` : `pid ${pid} has exited`}), but processes ${left.join(', ')} still use its master socket; stop them with kill ${left.join(' ')}`,
      );
      return STOP_EXIT_CODES.failed;
    }
    await removeRuntimeFiles(paths);
    o.say(`no HAProxy runs from ${paths.dir}${pid === undefined ? '' : ` (pid ${pid} from ${paths.pidFile} has exited)`}; nothing to stop`);
    return STOP_EXIT_CODES.stopped;
  }
  const args = processArgs(pid);
  if (args !== undefined) {
    if (!isMasterOf(args, paths)) {
      o.say(
        `pid ${pid} (from ${paths.pidFile}) is not the HAProxy master of ${paths.dir}: it runs "${args.join(' ').slice(0, 200)}". ` +
          `Nothing was signalled; the pid file is stale: remove ${paths.pidFile}`,
      );
      return STOP_EXIT_CODES.failed;
    }
  } else {
    // No /proc: the master CLI of the directory must name the same pid.
    const proc = await new MasterCli(paths.masterSocket, 3000).showProc().catch(() => undefined);
    if (proc?.master.pid !== pid) {
      o.say(
        `cannot confirm that pid ${pid} (from ${paths.pidFile}) is the HAProxy master of ${paths.dir} (its master socket does not name it); nothing was signalled`,
      );
      return STOP_EXIT_CODES.failed;
    }
  }
  const members = [...new Set([pid, ...findProcessesWithArg(paths.masterSocket)])];
  const signal = o.hard ? 'SIGTERM' : 'SIGUSR1';
  try {
    signalProcess(pid, signal);
  } catch (err) {
    o.say(`cannot signal HAProxy master ${pid}: ${(err as Error).message}; run node-haproxy stop as the user that runs HAProxy`);
    return STOP_EXIT_CODES.failed;
  }
  o.say(
    o.hard
      ? `stopping HAProxy (master ${pid}) now: SIGTERM closes its connections`
      : `stopping HAProxy (master ${pid}) softly: SIGUSR1; its workers finish their connections first (at most the configuration's hard-stop-after)`,
  );
  const started = Date.now();
  const every = o.progressIntervalMs ?? 5000;
  let nextReport = started + every;
  for (;;) {
    const alive = members.filter((p) => isProcessAlive(p));
    if (alive.length === 0) break;
    const now = Date.now();
    if (now - started >= timeoutMs) {
      if (!o.hard) {
        o.say(
          `HAProxy still runs after ${Math.round(timeoutMs / 1000)} s (processes ${alive.join(', ')}: connections still open); ` +
            `wait longer with --timeout-ms, or close them now with node-haproxy stop --hard`,
        );
        return STOP_EXIT_CODES.failed;
      }
      for (const p of alive) signalProcess(p, 'SIGKILL');
      o.say(`HAProxy did not exit ${Math.round(timeoutMs / 1000)} s after SIGTERM; killed processes ${alive.join(', ')} (SIGKILL)`);
      await sleep(200);
      break;
    }
    if (now >= nextReport) {
      nextReport += every;
      o.say(
        `waiting for HAProxy to exit: ${alive.length} process(es) left after ${Math.round((now - started) / 1000)} s (gives up after ${Math.round(timeoutMs / 1000)} s)`,
      );
    }
    await sleep(50);
  }
  await removeRuntimeFiles(paths);
  o.say(`HAProxy stopped (master ${pid}, ${Date.now() - started} ms); ${paths.config} is kept: "node-haproxy run" starts it again`);
  return STOP_EXIT_CODES.stopped;
}
