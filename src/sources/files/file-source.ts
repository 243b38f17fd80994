/**
 * The file source: every *.yaml / *.yml below a directory, watched. A change
 * re-reads the tree after a short debounce; files whose content did not change
 * are not parsed again, and nothing reaches the store when nothing changed.
 * A file that does not parse keeps its last good resources in the store.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Declared } from '../../model/resolve.js';
import type { Issue } from '../../model/types.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../reconcile/store.js';
import { relative } from 'node:path';
import { listManifests, parseManifests, readManifest } from './load.js';
import { rawConfigOptions } from '../../model/validate.js';

export interface FileSourceOptions {
  dir: string;
  store: Store;
  logger: Logger;
  /** Name in the store and in messages. */
  name?: string;
  debounceMs?: number;
  /** Full rescan as a safety net for missed watch events (0 disables). */
  rescanIntervalMs?: number;
  /** Accept the raw-config annotation (`--allow-raw-config`); refused with an issue otherwise. */
  allowRawConfig?: boolean;
  /** Narrow the raw-config allow-list (`--raw-config-keywords`); undefined: the default list. */
  rawConfigKeywords?: readonly string[];
}

interface FileState {
  hash: string;
  declared: Declared[];
  issues: Issue[];
}

export class FileSource {
  readonly name: string;
  private readonly files = new Map<string, FileState>();
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private rescan: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private signature = '';

  constructor(private readonly o: FileSourceOptions) {
    this.name = o.name ?? 'files';
    o.store.register(this.name);
  }

  async start(): Promise<void> {
    await this.scan();
    this.o.store.markSynced(this.name);
    this.watcher = watch(this.o.dir, { recursive: true }, () => this.changed());
    this.watcher.on('error', (err) => this.o.logger.warn('file watch failed; relying on periodic rescans', { dir: this.o.dir, err }));
    const every = this.o.rescanIntervalMs ?? 10_000;
    if (every > 0) this.rescan = setInterval(() => this.changed(), every).unref();
  }

  stop(): Promise<void> {
    this.watcher?.close();
    if (this.debounce) clearTimeout(this.debounce);
    if (this.rescan) clearInterval(this.rescan);
    return this.scanning ?? Promise.resolve();
  }

  private changed(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.scan().catch((err: unknown) => this.o.logger.error('reading manifests failed', { dir: this.o.dir, err }));
    }, this.o.debounceMs ?? 100);
  }

  /** Re-reads the tree; serialized, and repeated once if changes arrived meanwhile. */
  private scan(): Promise<void> {
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = this.scanOnce().finally(() => {
      this.scanning = undefined;
      if (this.again) {
        this.again = false;
        this.changed();
      }
    });
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const paths = await listManifests(this.o.dir).catch((err: unknown) => {
      throw new Error(`cannot read ${this.o.dir}; check that it exists and is readable`, { cause: err });
    });
    const seen = new Set(paths);
    for (const p of [...this.files.keys()]) if (!seen.has(p)) this.files.delete(p);
    for (const p of paths) {
      let content: { text: string; hash: string };
      try {
        content = await readManifest(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.files.delete(p); // removed while scanning
        continue;
      }
      const prev = this.files.get(p);
      if (prev?.hash === content.hash) continue; // unchanged: not parsed again
      const r = parseManifests(content.text, relative(this.o.dir, p) || p, this.name, rawConfigOptions(this.o));
      // A file that does not parse keeps its last good resources.
      this.files.set(p, { hash: content.hash, declared: r.declared ?? prev?.declared ?? [], issues: r.issues });
    }
    const signature = [...this.files].map(([p, f]) => `${p}:${f.hash}`).sort().join('\n');
    if (signature === this.signature) return;
    this.signature = signature;
    const all = [...this.files.values()];
    const unparsed = all.flatMap((f) => f.issues.filter((i) => i.reason === 'ParseError'));
    this.o.store.setSourceIssues(this.name, unparsed);
    this.o.store.replaceAll(this.name, all.flatMap((f) => f.declared));
    this.o.logger.debug('manifests loaded', { dir: this.o.dir, files: all.length });
  }
}
