/**
 * The state directory's lock: one controller per state directory.
 *
 * Two controllers on one directory would adopt the same HAProxy, reload it
 * with each other's resources missing and remove each other's map and
 * certificate files (docs/decisions/0013-state-dir-lock.md). `run` takes the
 * lock at start and gives it back when it stops; commands that only read the
 * directory (plan, render) do not take it.
 *
 * The lock is `controller.lock` in the state directory, created atomically
 * with its content (written to a sibling, then hard-linked: the link fails
 * when the lock exists, and nobody ever sees a half-written lock). It holds
 * the holder's pid, host, start time, and the process start time the kernel
 * reports (/proc/PID/stat), so a pid reused by another process is not taken
 * for the holder. A lock whose holder is gone (dead pid, or a pid now running
 * another process) is stale: the next controller takes it over and logs it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive } from './process.js';

export const LOCK_FILE = 'controller.lock';

export interface LockHolder {
  pid: number;
  host: string;
  /** When the holder took the lock (ISO 8601). */
  since: string;
  /** The holder's start time in clock ticks since boot (/proc/PID/stat field 22), when readable. */
  processStart?: string;
  /** Tells this lock from another taken by the same pid. */
  token: string;
}

/** Another live controller holds the state directory. */
export class StateDirLockedError extends Error {
  override readonly name = 'StateDirLockedError';
  constructor(
    readonly dir: string,
    readonly holder: LockHolder,
  ) {
    const elsewhere = holder.host !== hostname();
    super(
      `state directory ${dir} is in use by another node-haproxy controller: pid ${holder.pid} on ${holder.host}, since ${holder.since} ` +
        `(${join(dir, LOCK_FILE)}). Two controllers on one state directory take over each other's HAProxy and remove each other's files. ` +
        `Stop that controller first, or give this one its own --state-dir DIR` +
        (elsewhere ? `; if ${holder.host} no longer runs it, remove ${join(dir, LOCK_FILE)}` : ''),
    );
  }
}

/** The start time of `pid` in clock ticks since boot, or undefined without /proc. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces; starttime is field 22, the 20th after ")".
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.since === 'string' && typeof h.token === 'string') return h as LockHolder;
  } catch {
    // torn or foreign content: treated as stale
  }
  return undefined;
}

/** Whether the holder still runs: on another host we cannot tell, so yes. */
export function holderIsLive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true;
  if (!isProcessAlive(holder.pid)) return false;
  const start = processStartTime(holder.pid);
  // The pid runs another process than the one that took the lock.
  return holder.processStart === undefined || start === undefined || start === holder.processStart;
}

/** Who holds the state directory's lock, and whether it is live; undefined when nobody does. */
export async function readStateDirLock(dir: string): Promise<{ holder: LockHolder; live: boolean } | undefined> {
  const text = await readFile(join(dir, LOCK_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const holder = parseHolder(text);
  return holder ? { holder, live: holderIsLive(holder) } : undefined;
}

/** Creates `path` holding `content`, atomically; false when it exists. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    // A file system without hard links: O_EXCL (a crash mid-write leaves a lock that reads as stale).
    try {
      await writeFile(path, content, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

export interface StateDirLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Gives the lock back (only if it is still ours). Safe to call twice. */
  release(): Promise<void>;
}

export interface LockOptions {
  /** Told when a stale lock is taken over. */
  onStaleTakeover?: (stale: LockHolder | undefined, text: string) => void;
}

/** Held by this process, released on exit if `release` was never called. */
const heldPaths = new Map<string, string>();
let exitHookInstalled = false;

function ownsLock(path: string, token: string): boolean {
  try {
    return parseHolder(readFileSync(path, 'utf8'))?.token === token;
  } catch {
    return false;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [path, token] of heldPaths) {
      if (!ownsLock(path, token)) continue;
      try {
        unlinkSync(path);
      } catch {
        // nothing more can be done while exiting
      }
    }
  });
}

/**
 * Takes the state directory's lock, taking over a stale one. Throws
 * StateDirLockedError when a live controller holds it.
 */
export async function lockStateDir(dir: string, options: LockOptions = {}): Promise<StateDirLock> {
  const path = join(dir, LOCK_FILE);
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    ...(processStartTime(process.pid) !== undefined ? { processStart: processStartTime(process.pid) } : {}),
    token: randomBytes(8).toString('hex'),
  };
  const content = `${JSON.stringify(holder)}\n`;
  for (let attempt = 0; ; attempt++) {
    if (await createExclusive(path, content)) break;
    if (attempt >= 5) throw new Error(`cannot take the lock ${path}: other processes keep replacing it; is more than one controller starting on ${dir}?`);
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) continue; // released meanwhile
    const other = parseHolder(text);
    if (other && holderIsLive(other)) throw new StateDirLockedError(dir, other);
    // Stale: move it aside, and remove it only if it is still the one judged stale
    // (another controller may have taken it over in between).
    const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      await rename(path, aside);
    } catch {
      continue;
    }
    const moved = await readFile(aside, 'utf8').catch(() => undefined);
    if (moved === text) {
      options.onStaleTakeover?.(other, text);
    } else {
      await link(aside, path).catch(() => undefined); // not the stale one: put it back
    }
    await unlink(aside).catch(() => undefined);
  }
  heldPaths.set(path, holder.token);
  installExitHook();
  let released = false;
  return {
    path,
    holder,
    async release() {
      if (released) return;
      released = true;
      heldPaths.delete(path);
      const text = await readFile(path, 'utf8').catch(() => undefined);
      if (text !== undefined && parseHolder(text)?.token === holder.token) await unlink(path).catch(() => undefined);
    },
  };
}
