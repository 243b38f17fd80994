/**
 * The file source: every *.yaml / *.yml below a directory, watched. A change
 * re-reads the tree after a short debounce; files whose content did not change
 * are not parsed again, and nothing reaches the store when nothing changed.
 * A broken file keeps its last good resources in the store: one that does not
 * parse, is too large, holds plain text (or any document that is not an
 * object), cannot be read, or became empty (`: > app.yaml` is most likely a
 * write in progress). Only deleting the file removes them. Each problem is a
 * source issue naming the file, logged once by the reconcile loop.
 *
 * The walk follows each real directory once (symbolic link loops end), and
 * reports what it cannot read. When the directory itself disappears, what it
 * declared keeps serving; it is polled until it is back, then watched again.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Declared } from '../../model/resolve.js';
import type { Issue } from '../../model/types.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../reconcile/store.js';
import { dirname, relative } from 'node:path';
import { SECRETS, type SecretData } from '../../model/secrets.js';
import { listManifests, parseManifests, readManifest, type PathProblem } from './load.js';
import { readSecretFiles, type SecretDocument } from './secret-documents.js';
import { rawConfigOptions } from '../../model/validate.js';
import { signatureOf, signatureOfSet } from '../../model/signature.js';

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
  /** Secret and ConfigMap documents (kept, like `declared`, while the file is broken). */
  secrets: SecretDocument[];
}

/** How often a source directory that disappeared is looked for again. */
const MISSING_POLL_MS = 500;

export class FileSource {
  readonly name: string;
  private readonly files = new Map<string, FileState>();
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private rescan: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private signature = '';
  /** `dev:ino` of the directory the watcher watches. */
  private watchedId: string | undefined;
  private watchFailed: string | undefined;
  private missing: NodeJS.Timeout | undefined;
  private missingIssue: Issue | undefined;
  private stopped = false;

  constructor(private readonly o: FileSourceOptions) {
    this.name = o.name ?? 'files';
    o.store.register(this.name);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.scan();
    if (this.missingIssue) {
      const code = /\((\w+)\)/.exec(this.missingIssue.message)?.[1] ?? 'unreadable';
      await this.stop();
      throw new Error(`cannot read ${this.o.dir} (${code}); check that it exists and is a readable directory`);
    }
    this.o.store.markSynced(this.name);
    const every = this.o.rescanIntervalMs ?? 10_000;
    if (every > 0) this.rescan = setInterval(() => this.changed(), every).unref();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.debounce) clearTimeout(this.debounce);
    if (this.rescan) clearInterval(this.rescan);
    if (this.missing) clearTimeout(this.missing);
    for (const w of this.fileWatchers.values()) w.close();
    this.fileWatchers.clear();
    return this.scanning ?? Promise.resolve();
  }

  /** Watches the directory; again when it is a different directory now (deleted and created again). */
  private ensureWatcher(id: string): void {
    if (this.stopped || (this.watcher && this.watchedId === id)) return;
    if (this.watchFailed === id) return; // it failed on this directory: periodic rescans only, no retry loop
    this.watcher?.close();
    this.watchedId = id;
    let w: FSWatcher;
    try {
      w = watch(this.o.dir, { recursive: true }, () => this.changed());
    } catch (err) {
      this.o.logger.warn('cannot watch the source directory; relying on periodic rescans', { dir: this.o.dir, err });
      this.watchFailed = id;
      this.watcher = undefined;
      return;
    }
    this.watcher = w;
    w.on('error', (err) => {
      this.o.logger.warn('file watch failed; relying on periodic rescans until the directory is created again', { dir: this.o.dir, err });
      this.watchFailed = id;
      w.close();
      if (this.watcher === w) this.watcher = undefined;
      this.changed();
    });
  }

  private changed(): void {
    if (this.stopped) return;
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
    let listing;
    try {
      listing = await listManifests(this.o.dir);
    } catch (err) {
      // Gone or unreadable: nothing is removed (a directory replaced by a new one is not a deletion); look again soon.
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (!this.missingIssue) {
        this.missingIssue = {
          origin: this.o.dir,
          field: '',
          reason: 'ParseError',
          message: `the source directory cannot be read (${code}); what it declared keeps serving until it is back`,
        };
        this.publish();
      }
      this.watcher?.close();
      this.watcher = undefined;
      if (!this.stopped && !this.missing) {
        this.missing = setTimeout(() => {
          this.missing = undefined;
          this.changed();
        }, MISSING_POLL_MS).unref();
      }
      return;
    }
    if (this.missingIssue) {
      this.missingIssue = undefined;
      this.o.logger.info('the source directory is readable again', { dir: this.o.dir });
      this.signature = ''; // publish even when no file changed
    }
    this.ensureWatcher(listing.id);
    const problems = new Map<string, PathProblem>(listing.problems.map((p) => [p.path, p]));
    const problemDirs = listing.problems.filter((p) => p.dir).map((p) => `${p.path}/`);
    // A file is gone only when the walk saw where it was: below an unreadable directory it is kept.
    const unknown = (p: string) => problems.has(p) || problemDirs.some((d) => p.startsWith(d));
    const seen = new Set(listing.paths);
    for (const p of [...this.files.keys()]) if (!seen.has(p) && !unknown(p)) this.files.delete(p);
    const label = (p: string) => relative(this.o.dir, p) || p;
    for (const p of listing.paths) {
      const prev = this.files.get(p);
      let content: { text?: string; hash: string; problem?: string };
      try {
        content = await readManifest(p);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          this.files.delete(p); // removed while scanning
          continue;
        }
        content = { hash: `unreadable:${code}`, problem: `cannot be read (${code ?? (err as Error).message}); fix its permissions or remove it` };
      }
      if (prev?.hash === content.hash) continue; // unchanged: not parsed again
      const kept = prev?.declared ?? [];
      const keptSecrets = prev?.secrets ?? [];
      const keeps = kept.length + keptSecrets.length > 0 ? '; its last good resources keep serving until it is fixed or deleted' : '';
      if (content.text === undefined) {
        this.files.set(p, {
          hash: content.hash,
          declared: kept,
          secrets: keptSecrets,
          issues: [{ origin: label(p), field: '', reason: 'ParseError', message: `${content.problem}${keeps}` }],
        });
        continue;
      }
      const r = parseManifests(content.text, label(p), this.name, rawConfigOptions(this.o), {}, p);
      if (!r.declared) {
        // Broken: its last good resources keep serving.
        this.files.set(p, {
          hash: content.hash,
          declared: kept,
          secrets: keptSecrets,
          issues: r.issues.map((i) => ({ ...i, message: `${i.message}${keeps}` })),
        });
      } else if (r.empty && kept.length + keptSecrets.length > 0) {
        // Emptied (`: > app.yaml`, a truncation in progress, most likely): not a deletion.
        const message = 'the file is empty; its last good resources keep serving; delete the file to remove them';
        this.files.set(p, {
          hash: content.hash,
          declared: kept,
          secrets: keptSecrets,
          issues: [{ origin: label(p), field: '', reason: 'ParseError', message }],
        });
      } else {
        this.files.set(p, { hash: content.hash, declared: r.declared, secrets: r.secrets ?? [], issues: r.issues });
      }
    }
    const secretsChanged = await this.syncSecrets();
    const signature = signatureOfSet([...[...this.files].map(([p, f]) => `${p}:${f.hash}`), ...listing.problems.map((p) => `!${p.path}:${p.message}`)]);
    if (signature === this.signature) {
      if (secretsChanged) this.publish();
      return;
    }
    this.signature = signature;
    this.problems = listing.problems.map((p) => ({ origin: label(p.path), field: '', reason: 'ParseError', message: p.message }));
    this.publish();
    this.o.store.replaceAll(
      this.name,
      [...this.files.values()].flatMap((f) => f.declared),
    );
    this.o.logger.debug('manifests loaded', { dir: this.o.dir, files: this.files.size });
  }

  private problems: Issue[] = [];

  /** Problems that belong to a file or path, not to one resource: unreadable paths, broken files, a missing directory, bad Secret documents. */
  private publish(): void {
    const unparsed = [...this.files.values()].flatMap((f) => f.issues.filter((i) => i.reason === 'ParseError'));
    this.o.store.setSourceIssues(this.name, [...(this.missingIssue ? [this.missingIssue] : []), ...this.problems, ...unparsed, ...this.secretIssues]);
  }

  /** What this source published per Secret/ConfigMap key (model/secrets.ts). */
  private published = new Map<string, SecretData>();
  private secretIssues: Issue[] = [];
  private secretSignature = signatureOf([]);
  /** Watchers on the directories of files Secrets point at (`stringDataFiles`), by directory. */
  private readonly fileWatchers = new Map<string, FSWatcher>();

  /**
   * Publishes every Secret and ConfigMap document as discovered data, with
   * its `stringDataFiles` read again. An invalid document or an unreadable
   * file keeps the last good data. Returns true when the issues changed.
   */
  private async syncSecrets(): Promise<boolean> {
    const next = new Map<string, SecretData>();
    const issues: Issue[] = [];
    const first = new Map<string, string>();
    const dirs = new Set<string>();
    for (const d of [...this.files.values()].flatMap((f) => f.secrets)) {
      const earlier = first.get(d.key);
      if (earlier !== undefined) {
        const message = `${d.key.replace(/\//, ' ').replace(/\//, '/')} is declared more than once (${earlier}, ${d.origin}); keep one (the first one serves)`;
        issues.push({ origin: d.origin, field: 'metadata.name', reason: 'Duplicate', message });
        continue;
      }
      first.set(d.key, d.origin);
      issues.push(...d.issues.map((i) => (this.published.has(d.key) ? { ...i, message: `${i.message}; the last good data keeps serving` } : i)));
      for (const path of Object.values(d.files ?? {})) dirs.add(dirname(path));
      const previous = this.published.get(d.key);
      const r = await readSecretFiles(d, previous);
      if (r.issue) issues.push(r.issue);
      const value = r.value ?? previous;
      if (value) next.set(d.key, value);
    }
    for (const key of this.published.keys()) if (!next.has(key)) this.o.store.setDiscovered(this.name, SECRETS, key, undefined);
    for (const [key, value] of next) this.o.store.setDiscovered(this.name, SECRETS, key, value);
    this.published = next;
    this.watchFileDirs(dirs);
    const signature = signatureOf(issues.map((i) => [i.origin, i.field, i.message]));
    this.secretIssues = issues;
    if (signature === this.secretSignature) return false;
    this.secretSignature = signature;
    return true;
  }

  /** Watches the directories of files Secrets point at: a renewal (certbot swaps links in live/) rescans. */
  private watchFileDirs(dirs: ReadonlySet<string>): void {
    for (const [dir, w] of this.fileWatchers) {
      if (dirs.has(dir)) continue;
      w.close();
      this.fileWatchers.delete(dir);
    }
    if (this.stopped) return;
    for (const dir of dirs) {
      if (this.fileWatchers.has(dir)) continue;
      try {
        const w = watch(dir, () => this.changed());
        w.on('error', () => {
          w.close();
          this.fileWatchers.delete(dir);
        });
        this.fileWatchers.set(dir, w);
      } catch (err) {
        // A directory that does not exist yet: the periodic rescan finds the file when it appears.
        this.o.logger.debug('cannot watch a directory Secrets read files from', { dir, err });
      }
    }
  }
}
