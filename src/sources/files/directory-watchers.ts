/**
 * Non-recursive watchers on a set of directories, kept in line with that set.
 *
 * Why not `fs.watch(dir, {recursive: true})`: on Linux, Node (20 and 24)
 * implements it by watching each file, and a file replaced by rename (`sed
 * -i`, `mv`, most editors' atomic save) is no longer watched: the next edits
 * of it went unnoticed until the periodic rescan (measured: only the first of
 * four `sed -i` edits reported). A directory's own inotify watch reports every
 * create, rename and write of its entries, whatever happened to them before.
 *
 * Each directory is keyed by path and `dev:ino` (when known), so a directory
 * deleted and created again under the same path is watched again.
 */
import { watch, type FSWatcher } from 'node:fs';

/** A directory whose watch failed is watched again after this long at the earliest (the periodic rescan covers it meanwhile). */
const RETRY_AFTER_MS = 60_000;

export interface WatchedDir {
  path: string;
  /** `dev:ino`, when known. */
  id?: string;
}

export class DirectoryWatchers {
  private readonly watchers = new Map<string, FSWatcher>();
  /** Directories whose watch failed and was already reported: later failures are not logged again. */
  private readonly reported = new Set<string>();
  /** Directories whose watch failed, and when to try again (no tight retry loop on an inotify limit). */
  private readonly retryAt = new Map<string, number>();

  constructor(
    private readonly onChange: () => void,
    private readonly onError: (dir: string, err: unknown, firstTime: boolean) => void,
  ) {}

  /** Watches exactly `dirs`: closes the watchers of directories no longer listed and starts the missing ones. */
  sync(dirs: readonly WatchedDir[]): void {
    const wanted = new Map(dirs.map((d) => [`${d.id ?? ''}\0${d.path}`, d.path]));
    const hadAny = this.watchers.size > 0;
    let added = false;
    for (const [key, w] of this.watchers) {
      if (wanted.has(key)) continue;
      w.close();
      this.watchers.delete(key);
    }
    for (const [key, path] of wanted) {
      if (this.watchers.has(key) || (this.retryAt.get(path) ?? 0) > Date.now()) continue;
      try {
        const w = watch(path, () => this.onChange());
        w.on('error', (err) => {
          w.close();
          if (this.watchers.get(key) === w) this.watchers.delete(key);
          this.failed(path, err);
          this.onChange();
        });
        this.watchers.set(key, w);
        this.reported.delete(path);
        this.retryAt.delete(path);
        added = true;
      } catch (err) {
        this.failed(path, err);
      }
    }
    // A directory found by a walk and watched only now: what was written in it between the walk and the watch is looked at again.
    if (added && hadAny) this.onChange();
  }

  get size(): number {
    return this.watchers.size;
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.retryAt.clear();
  }

  private failed(path: string, err: unknown): void {
    this.retryAt.set(path, Date.now() + RETRY_AFTER_MS);
    const first = !this.reported.has(path);
    this.reported.add(path);
    this.onError(path, err, first);
  }
}
