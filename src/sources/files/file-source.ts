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
import type { Declared } from '../../model/resolve.js';
import type { Issue } from '../../model/types.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../reconcile/store.js';
import { dirname, relative } from 'node:path';
import { INVALID_SECRETS, SECRETS, secretKey, type InvalidSecret, type SecretData } from '../../model/secrets.js';
import { listManifests, parseManifests, readManifest, type PathProblem } from './load.js';
import { readSecretFiles, type SecretDocument } from './secret-documents.js';
import { DirectoryWatchers } from './directory-watchers.js';
import { rawConfigOptions } from '../../model/validate.js';
import { signatureOf, signatureOfSet } from '../../model/signature.js';
import { DEFAULT_NAMESPACE } from '../../model/types.js';

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
  /** A broken file: the Secrets and ConfigMaps it keeps (or, with none kept, seems to declare), refused with its problem. */
  brokenSecrets?: { key: string; issue: Issue }[];
}

/** The resources a broken file keeps, marked with why (resolve reports them as serving their last good version). */
function staleOf(kept: readonly Declared[], issue: Issue | undefined): Declared[] {
  return issue ? kept.map((d) => ({ ...d, stale: issue })) : [...kept];
}

/**
 * The Secrets and ConfigMaps a file that does not parse seems to declare
 * (`kind: Secret` and a `name:` in one `---` section), read line by line: a
 * reference to one of them then says the file is broken, not that it does not exist.
 */
export function secretsNamedIn(text: string): string[] {
  const out: string[] = [];
  for (const section of text.split(/^---.*$/m)) {
    const kind = /^kind:\s*["']?(Secret|ConfigMap)["']?\s*$/m.exec(section)?.[1] as 'Secret' | 'ConfigMap' | undefined;
    const name = /^(?:metadata:\s*\{.*\bname:|\s+name:)\s*["']?([a-z0-9][-a-z0-9.]*)["']?/m.exec(section)?.[1];
    if (!kind || !name) continue;
    const namespace = /^(?:metadata:\s*\{.*\bnamespace:|\s+namespace:)\s*["']?([a-z0-9][-a-z0-9]*)["']?/m.exec(section)?.[1] ?? DEFAULT_NAMESPACE;
    out.push(secretKey(kind, namespace, name));
  }
  return out;
}

/** The Secrets and ConfigMaps a broken file keeps (their last good data serves), or, with none kept, seems to declare: each with the file's problem. */
function brokenSecrets(kept: readonly SecretDocument[], text: string, issue: Issue): Pick<FileState, 'brokenSecrets'> {
  const keys = kept.length > 0 ? kept.map((d) => d.key) : secretsNamedIn(text);
  return keys.length > 0 ? { brokenSecrets: keys.map((key) => ({ key, issue })) } : {};
}

/** How often a source directory that disappeared is looked for again. */
const MISSING_POLL_MS = 500;

export class FileSource {
  readonly name: string;
  private readonly files = new Map<string, FileState>();
  /** The source tree's directories, each watched on its own (directory-watchers.ts says why not recursively). */
  private readonly treeWatchers = new DirectoryWatchers(
    () => this.changed(),
    (dir, err, first) =>
      first
        ? this.o.logger.warn('cannot watch a source directory; relying on periodic rescans for it', { dir, err })
        : this.o.logger.debug('cannot watch a source directory', { dir, err }),
  );
  /** The directories of files Secrets point at (`stringDataFiles`): a renewal (certbot swaps links in live/) rescans. */
  private readonly fileWatchers = new DirectoryWatchers(
    () => this.changed(),
    // A directory that does not exist yet: the periodic rescan finds the file when it appears.
    (dir, err) => this.o.logger.debug('cannot watch a directory Secrets read files from', { dir, err }),
  );
  private debounce: NodeJS.Timeout | undefined;
  private rescan: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private signature = '';
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
    this.treeWatchers.close();
    if (this.debounce) clearTimeout(this.debounce);
    if (this.rescan) clearInterval(this.rescan);
    if (this.missing) clearTimeout(this.missing);
    this.fileWatchers.close();
    return this.scanning ?? Promise.resolve();
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
        const missing = this.missingIssue;
        this.o.store.replaceAll(
          this.name,
          [...this.files.values()].flatMap((f) => staleOf(f.declared, missing)),
        );
      }
      this.treeWatchers.close();
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
    if (!this.stopped) this.treeWatchers.sync(listing.dirs);
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
        const issue: Issue = { origin: label(p), field: '', reason: 'ParseError', message: `${content.problem}${keeps}` };
        this.files.set(p, {
          hash: content.hash,
          declared: staleOf(kept, issue),
          secrets: keptSecrets,
          issues: [issue],
          ...brokenSecrets(keptSecrets, '', issue),
        });
        continue;
      }
      const r = parseManifests(content.text, label(p), this.name, rawConfigOptions(this.o), {}, p);
      if (!r.declared) {
        // Broken: its last good resources keep serving, and say why.
        const issues = r.issues.map((i) => ({ ...i, message: `${i.message}${keeps}` }));
        const refusedSecrets = issues[0] ? brokenSecrets(keptSecrets, content.text, issues[0]) : {};
        this.files.set(p, {
          hash: content.hash,
          declared: staleOf(kept, issues[0]),
          secrets: keptSecrets,
          issues,
          ...refusedSecrets,
        });
      } else if (r.empty && kept.length + keptSecrets.length > 0) {
        // Emptied (`: > app.yaml`, a truncation in progress, most likely): not a deletion.
        const message = 'the file is empty; its last good resources keep serving; delete the file to remove them';
        const issue: Issue = { origin: label(p), field: '', reason: 'ParseError', message };
        this.files.set(p, {
          hash: content.hash,
          declared: staleOf(kept, issue),
          secrets: keptSecrets,
          issues: [issue],
          ...brokenSecrets(keptSecrets, '', issue),
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
    // What is kept from a path the walk could not read serves on, and says why.
    const whyKept = (p: string): Issue | undefined => {
      const pr = problems.get(p) ?? listing.problems.find((x) => x.dir && p.startsWith(`${x.path}/`));
      return pr && { origin: label(pr.path), field: '', reason: 'ParseError', message: pr.message };
    };
    this.o.store.replaceAll(
      this.name,
      [...this.files].flatMap(([p, f]) => (unknown(p) ? staleOf(f.declared, whyKept(p)) : f.declared)),
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
  /** What this source published as refused Secrets/ConfigMaps (INVALID_SECRETS), by key, with a signature of each. */
  private readonly publishedInvalid = new Map<string, { sig: string; value: InvalidSecret }>();
  private secretIssues: Issue[] = [];
  private secretSignature = signatureOf([]);

  /** Publishes the refused Secrets and ConfigMaps (INVALID_SECRETS); an unchanged one keeps its object (no store change). */
  private publishInvalid(invalid: ReadonlyMap<string, InvalidSecret>): void {
    for (const key of [...this.publishedInvalid.keys()]) {
      if (invalid.has(key)) continue;
      this.publishedInvalid.delete(key);
      this.o.store.setDiscovered(this.name, INVALID_SECRETS, key, undefined);
    }
    for (const [key, value] of invalid) {
      const sig = `${value.origin}\u0000${value.field}\u0000${value.message}`;
      if (this.publishedInvalid.get(key)?.sig === sig) continue;
      this.publishedInvalid.set(key, { sig, value });
      this.o.store.setDiscovered(this.name, INVALID_SECRETS, key, value);
    }
  }

  /**
   * Publishes every Secret and ConfigMap document as discovered data, with
   * its `stringDataFiles` read again. An invalid document or an unreadable
   * file keeps the last good data. Returns true when the issues changed.
   */
  private async syncSecrets(): Promise<boolean> {
    const next = new Map<string, SecretData>();
    const invalid = new Map<string, InvalidSecret>();
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
      // Refused: with last good data, what uses it says so in a note; without, it is invalid, not missing.
      const why = d.issues[0] ?? r.issue;
      if (why) invalid.set(d.key, { origin: why.origin ?? d.origin, field: why.field, message: why.message });
    }
    // Broken files: the Secrets they keep, or (never parsed) seem to declare, are refused with the file's problem.
    for (const f of this.files.values()) {
      for (const u of f.brokenSecrets ?? []) {
        if (invalid.has(u.key)) continue;
        invalid.set(u.key, { origin: u.issue.origin ?? '', field: u.issue.field, message: u.issue.message });
      }
    }
    this.publishInvalid(invalid);
    for (const key of this.published.keys()) if (!next.has(key)) this.o.store.setDiscovered(this.name, SECRETS, key, undefined);
    for (const [key, value] of next) this.o.store.setDiscovered(this.name, SECRETS, key, value);
    this.published = next;
    if (!this.stopped) this.fileWatchers.sync([...dirs].map((path) => ({ path })));
    const signature = signatureOf(issues.map((i) => [i.origin, i.field, i.message]));
    this.secretIssues = issues;
    if (signature === this.secretSignature) return false;
    this.secretSignature = signature;
    return true;
  }
}
