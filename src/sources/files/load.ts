/**
 * Reads YAML manifests (multi-document) from a directory tree. Pure apart
 * from reading files; used by the file source and by `render`/`validate`.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import yaml from 'js-yaml';
import type { Declared } from '../../model/resolve.js';
import { API_GROUP, DEFAULT_NAMESPACE, resourceKey, type Issue } from '../../model/types.js';
import { describeResource, validateResource, type ValidateOptions } from '../../model/validate.js';

export interface FileResult {
  path: string;
  hash: string;
  /** Undefined when the file does not parse: the caller keeps the last good version. */
  declared?: Declared[];
  issues: Issue[];
  /** Documents of other APIs (a Service, a Deployment) found and skipped. */
  skipped: number;
}

const isManifest = (name: string) => name.endsWith('.yaml') || name.endsWith('.yml');

/** Lists manifest files below `dir`, sorted; hidden entries (`.git`, `..data`) are skipped. */
export async function listManifests(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const names = (await readdir(d)).sort();
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      const st = await stat(p).catch(() => undefined); // follows symlinks (ConfigMap mounts)
      if (!st) continue;
      if (st.isDirectory()) await walk(p);
      else if (st.isFile() && isManifest(name)) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

/** The identity a raw document claims, even when it is invalid, so its last good version can keep serving. */
function identity(raw: unknown): string | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if ((r.kind !== 'Frontend' && r.kind !== 'Backend') || typeof r.metadata?.name !== 'string') return undefined;
  const ns = typeof r.metadata.namespace === 'string' ? r.metadata.namespace : DEFAULT_NAMESPACE;
  return resourceKey(r.kind, ns, r.metadata.name);
}

function isOurs(raw: unknown): boolean {
  const v = (raw as { apiVersion?: unknown } | null)?.apiVersion;
  // Documents without an apiVersion are ours to report; other APIs' documents are skipped.
  return typeof v !== 'string' || v.split('/')[0] === API_GROUP;
}

/**
 * Parses and validates one file's text. `label` names the file in messages;
 * `options` are the controller's (raw configuration is refused unless enabled).
 */
export function parseManifests(text: string, label: string, source = 'files', options: ValidateOptions = {}): Omit<FileResult, 'path' | 'hash'> {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text);
  } catch (err) {
    const e = err as { reason?: string; mark?: { line: number; column: number }; message?: string };
    const where = e.mark ? ` at line ${e.mark.line + 1}, column ${e.mark.column + 1}` : '';
    return {
      issues: [{ origin: label, field: '', reason: 'ParseError', message: `YAML does not parse${where}: ${e.reason ?? e.message}` }],
      skipped: 0,
    };
  }
  const declared: Declared[] = [];
  const issues: Issue[] = [];
  let skipped = 0;
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return; // empty document (`---` at the end)
    const origin = `${label}#${i + 1}`;
    if (!isOurs(doc)) {
      skipped++;
      return;
    }
    const v = validateResource(doc, origin, options);
    issues.push(...v.issues);
    const key = v.resource ? `${v.resource.kind}/${v.resource.metadata.namespace}/${v.resource.metadata.name}` : identity(doc);
    if (key) declared.push({ key, origin, source, resource: v.resource, issues: v.issues });
    else if (v.issues.length === 0) {
      issues.push({ origin, resource: describeResource(doc), field: 'metadata.name', reason: 'InvalidSpec', message: 'is required' });
    }
  });
  return { declared, issues, skipped };
}

/** Reads a manifest file and hashes its content (cheap: no parsing). */
export async function readManifest(path: string): Promise<{ text: string; hash: string }> {
  const text = await readFile(path, 'utf8');
  return { text, hash: createHash('sha256').update(text).digest('hex') };
}

export async function loadFile(path: string, root: string, source = 'files', options: ValidateOptions = {}): Promise<FileResult> {
  const { text, hash } = await readManifest(path);
  return { path, hash, ...parseManifests(text, relative(root, path) || path, source, options) };
}

/** Loads every manifest below `dir` (for `render` and `validate`, with the options `run` would use). */
export async function loadDirectory(dir: string, options: ValidateOptions = {}): Promise<{ files: FileResult[]; declared: Declared[]; issues: Issue[] }> {
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw new Error(`${dir} does not exist; pass a directory of YAML manifests`);
  }
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory; pass a directory of YAML manifests`);
  const files = await Promise.all((await listManifests(dir)).map((p) => loadFile(p, dir, 'files', options)));
  return {
    files,
    declared: files.flatMap((f) => f.declared ?? []),
    issues: files.flatMap((f) => f.issues),
  };
}
