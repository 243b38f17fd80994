/**
 * Reads YAML manifests (multi-document) from a directory tree. Pure apart
 * from reading files; used by the file source and by `render`/`validate`.
 */
import { constants } from 'node:fs';
import { open, readdir, readlink, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { declare, describeValue } from '../../model/declare.js';
import { limitsOf, parseFor, type DocumentLimits } from '../../model/document.js';
import type { Declared } from '../../model/resolve.js';
import { digestOf } from '../../model/signature.js';
import { API_GROUP, type Issue } from '../../model/types.js';
import type { ValidateOptions } from '../../model/validate.js';
import { isSecretDocument, parseSecretDocument, readSecretFiles, type SecretDocument } from './secret-documents.js';
import { INVALID_SECRETS, SECRETS, type InvalidSecret, type SecretData } from '../../model/secrets.js';

export interface FileResult {
  path: string;
  hash: string;
  /** Undefined when the file is broken (does not parse, cannot be read): the caller keeps the last good version. */
  declared?: Declared[];
  issues: Issue[];
  /** Documents of other APIs (a Service, a Deployment) found and skipped. */
  skipped: number;
  /** The file holds no document at all (zero bytes, only comments or `---`). */
  empty?: boolean;
  /** `kind: Secret` / `kind: ConfigMap` documents (apiVersion v1): TLS material (secret-documents.ts). */
  secrets?: SecretDocument[];
}

const isManifest = (name: string) => name.endsWith('.yaml') || name.endsWith('.yml');

/** A path below the source directory that could not be taken in: reported, never skipped in silence. */
export interface PathProblem {
  path: string;
  message: string;
  /** A directory: the manifests below it are unknown, not gone. */
  dir: boolean;
}

export interface Listing {
  paths: string[];
  problems: PathProblem[];
  /** `dev:ino` of the directory itself (to notice it was deleted and created again). */
  id: string;
  /** Every directory walked (the root first), with its `dev:ino`: what the source watches. */
  dirs: WalkedDir[];
}

export interface WalkedDir {
  path: string;
  id: string;
}

const errCode = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

function kindOf(st: { isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Lists manifest files below `dir`; hidden entries (`.git`, `..data`) are
 * skipped. Symbolic links are followed (ConfigMap mounts), but each real
 * directory and file is taken once, by device and inode: a link to `.` or to
 * a parent ends there, and a link to a directory that is also walked directly
 * adds nothing. Real entries come first; what is reached only through links
 * comes after them. What cannot be read is returned in `problems`. Throws only
 * when `dir` itself cannot be read.
 */
export async function listManifests(dir: string): Promise<Listing> {
  const paths: string[] = [];
  const problems: PathProblem[] = [];
  const seen = new Set<string>();
  const root = await stat(dir);
  if (!root.isDirectory()) throw new Error(`${dir} is not a directory`);
  const id = `${root.dev}:${root.ino}`;
  seen.add(id);
  const linkedDirs: string[] = [];
  const linkedFiles: string[] = [];
  const dirs: WalkedDir[] = [{ path: dir, id }];

  const addFile = async (p: string) => {
    const st = await stat(p).catch((err: unknown) => err as Error);
    if (st instanceof Error) {
      if (errCode(st) !== 'ENOENT') problems.push({ path: p, message: `cannot be read (${errCode(st)}); fix its permissions or remove it`, dir: false });
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (st.isFile()) paths.push(p);
    else problems.push({ path: p, message: `is ${kindOf(st)}, not a file; it is skipped: remove it or give it another name`, dir: false });
  };

  const walk = async (d: string, root = false): Promise<void> => {
    let entries;
    try {
      entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (err) {
      if (root) throw err;
      if (errCode(err) === 'ENOENT') return; // removed while walking
      problems.push({ path: d, message: `directory cannot be read (${errCode(err)}); the manifests below it are not loaded: fix its permissions`, dir: true });
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isSymbolicLink()) {
        const st = await stat(p).catch((err: unknown) => err as Error);
        if (st instanceof Error) {
          const target = await readlink(p).catch(() => '?');
          const code = errCode(st);
          const why = code === 'ENOENT' ? 'which does not exist' : code === 'ELOOP' ? 'which loops back on itself' : `which cannot be read (${code})`;
          // A dangling link that is not a manifest's name could have been a directory: report it too.
          problems.push({ path: p, message: `is a symbolic link to ${target}, ${why}; fix or remove the link`, dir: !isManifest(e.name) });
        } else if (st.isDirectory()) linkedDirs.push(p);
        else if (isManifest(e.name)) linkedFiles.push(p);
      } else if (e.isDirectory()) {
        const st = await stat(p).catch(() => undefined);
        if (!st) continue; // removed while walking
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
        dirs.push({ path: p, id: key });
        await walk(p);
      } else if (isManifest(e.name)) {
        await addFile(p);
      }
    }
  };

  await walk(dir, true);
  // Then what only links reach: each real directory and file once.
  while (linkedDirs.length > 0 || linkedFiles.length > 0) {
    const files = linkedFiles.splice(0);
    for (const f of files) await addFile(f);
    const d = linkedDirs.shift();
    if (!d) continue;
    const st = await stat(d).catch(() => undefined);
    if (!st) continue;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) continue;
    seen.add(key);
    dirs.push({ path: d, id: key });
    await walk(d);
  }
  return { paths, problems, id, dirs };
}

function isOurs(raw: unknown): boolean {
  const v = (raw as { apiVersion?: unknown } | null)?.apiVersion;
  // Documents without an apiVersion are ours to report; other APIs' documents are skipped.
  return typeof v !== 'string' || v.split('/')[0] === API_GROUP;
}

/**
 * Parses and validates one file's text. `label` names the file in messages;
 * `options` are the controller's (raw configuration is refused unless enabled).
 * A file that does not parse, is too large, or holds a document that is not an
 * object (plain text, a scalar, a list) is broken: `declared` is undefined and
 * the issue says why. A file with no document at all is `empty`.
 */
export function parseManifests(
  text: string,
  label: string,
  source = 'files',
  options: ValidateOptions = {},
  limits: Partial<DocumentLimits> = {},
  /** The manifest's path: relative `stringDataFiles` resolve from its directory. */
  path: string = label,
): Omit<FileResult, 'path' | 'hash'> {
  const parsed = parseFor(text, 'file', { format: 'yaml', limits });
  if (parsed.problem !== undefined) return { issues: [{ origin: label, field: '', reason: 'ParseError', message: parsed.problem }], skipped: 0 };
  const docs = parsed.documents;
  const declared: Declared[] = [];
  const issues: Issue[] = [];
  const secrets: SecretDocument[] = [];
  let skipped = 0;
  let broken = false;
  let present = 0;
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return; // empty document (`---` at the end)
    present++;
    const origin = `${label}#${i + 1}`;
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      // Plain text, a truncated line, a list: not a manifest. The whole file counts as broken.
      broken = true;
      issues.push({
        origin,
        field: '',
        reason: 'ParseError',
        message: `is ${describeValue(doc)}, not a Frontend or Backend object; is this file a manifest, or was it cut short?`,
      });
      return;
    }
    if (isSecretDocument(doc)) {
      const sd = parseSecretDocument(doc as Record<string, unknown>, origin, path);
      issues.push(...sd.issues);
      if (sd.key !== undefined) secrets.push(sd);
      return;
    }
    if (!isOurs(doc)) {
      skipped++;
      return;
    }
    const d = declare(doc, { origin, source }, options);
    issues.push(...d.issues);
    if (d.declared) declared.push(d.declared);
  });
  if (broken) return { issues: issues.filter((i) => i.reason === 'ParseError'), skipped };
  return { declared, issues, skipped, empty: present === 0, ...(secrets.length > 0 ? { secrets } : {}) };
}

/**
 * Reads a manifest file and hashes its content (cheap: no parsing). A file
 * larger than the limit is not read: `problem` says so. Opened without
 * blocking, so a FIFO put in a file's place cannot hang the reader.
 */
export async function readManifest(path: string, limits: Partial<DocumentLimits> = {}): Promise<{ text?: string; hash: string; problem?: string }> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { hash: `not-a-file:${st.mode}`, problem: `is ${kindOf(st)}, not a file; remove it or give it another name` };
    const max = limitsOf(limits).maxBytes;
    if (st.size > max) {
      return {
        hash: `too-large:${st.size}:${st.mtimeMs}`,
        problem: `the file is ${st.size} bytes, more than the limit of ${max}; split it into smaller files`,
      };
    }
    const text = await fh.readFile('utf8');
    return { text, hash: digestOf(text) };
  } finally {
    await fh.close();
  }
}

const brokenFile = (path: string, label: string, message: string): FileResult => ({
  path,
  hash: '',
  issues: [{ origin: label, field: '', reason: 'ParseError', message }],
  skipped: 0,
});

export async function loadFile(path: string, root: string, source = 'files', options: ValidateOptions = {}): Promise<FileResult> {
  const label = relative(root, path) || path;
  let content;
  try {
    content = await readManifest(path);
  } catch (err) {
    return brokenFile(path, label, `cannot be read (${errCode(err)}); fix its permissions or remove it`);
  }
  if (content.text === undefined) return brokenFile(path, label, content.problem ?? 'cannot be read');
  return { path, hash: content.hash, ...parseManifests(content.text, label, source, options, {}, path) };
}

/**
 * Loads every manifest below `dir` (for `render` and `validate`, with the
 * options `run` would use). What cannot be read is reported as an issue.
 */
export async function loadDirectory(
  dir: string,
  options: ValidateOptions = {},
): Promise<{ files: FileResult[]; declared: Declared[]; issues: Issue[]; discovered: Map<string, Map<string, unknown>> }> {
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw new Error(`${dir} does not exist; pass a directory of YAML manifests`);
  }
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory; pass a directory of YAML manifests`);
  const listing = await listManifests(dir);
  const files = await Promise.all(listing.paths.map((p) => loadFile(p, dir, 'files', options)));
  const unreadable: Issue[] = listing.problems.map((p) => ({ origin: relative(dir, p.path) || p.path, field: '', reason: 'ParseError', message: p.message }));
  // Secrets and ConfigMaps (the first of a name serves), with the files they point at read.
  const secrets = new Map<string, SecretData>();
  // Refused ones: a reference to one says "is invalid (where: why)", as `run` does.
  const invalid = new Map<string, InvalidSecret>();
  const secretIssues: Issue[] = [];
  for (const d of files.flatMap((f) => f.secrets ?? [])) {
    if (secrets.has(d.key) || invalid.has(d.key)) continue;
    const r = await readSecretFiles(d, undefined);
    if (r.issue) secretIssues.push(r.issue);
    if (r.value) secrets.set(d.key, r.value);
    const why = r.value ? undefined : (d.issues[0] ?? r.issue);
    if (why) invalid.set(d.key, { origin: why.origin ?? d.origin, field: why.field, message: why.message });
  }
  return {
    files,
    declared: files.flatMap((f) => f.declared ?? []),
    issues: [...unreadable, ...files.flatMap((f) => f.issues), ...secretIssues],
    discovered: new Map<string, Map<string, unknown>>([
      [SECRETS, secrets],
      [INVALID_SECRETS, invalid],
    ]),
  };
}
