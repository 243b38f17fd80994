/** Process probes for a detached HAProxy (Linux: reads /proc where it helps). */
import { sleep } from '../util/backoff.js';
import { readFileSync, readdirSync } from 'node:fs';

/** True while `pid` exists and is not a zombie (an exited, unreaped process). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may hold spaces, so read after ")".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** The command line of `pid` as its arguments, or undefined when unreadable. */
export function processArgs(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((a) => a !== '');
  } catch {
    return undefined;
  }
}

/**
 * Live processes whose command line has an argument containing `marker`
 * (HAProxy workers repeat the master's `-S <stateDir>/master.sock` argument,
 * so this finds every process of one state dir, orphans included).
 */
export function findProcessesWithArg(marker: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const args = processArgs(pid);
    if (args?.some((a) => a.includes(marker)) && isProcessAlive(pid)) out.push(pid);
  }
  return out;
}

/** Sends a signal; false when the process is already gone. */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** The one sleep (src/util/backoff.ts), re-exported for the supervisor's callers. */
export { sleep };

/** Waits until every pid is gone; resolves false on timeout. */
export async function waitForExit(pids: number[], timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (pids.every((pid) => !isProcessAlive(pid))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}
