/**
 * The running certificate files as `GET /api/v1/running-state` serves them,
 * and back into what the planner compares. Pure.
 *
 * A `.pem` under `certs/` holds a certificate and its private key, so it is
 * served as its sha256 only, never its content. crt-lists hold only absolute
 * paths and SNI names (the names the certificates announce to any client) and
 * are served in full besides their digest: the certificate planner reads
 * their lines (reconcile/cert-plan.ts). `plan --from` then gives the planner
 * the desired file for each digest that matches (unchanged), the served text
 * for a crt-list, and a stand-in that equals no real content for a `.pem`
 * whose digest differs (changed: a runtime `set ssl cert` as the controller
 * would do, or a reload where the controller would reload).
 */
import { createHash } from 'node:crypto';
import { isTlsFile } from '../render/tls-files.js';

export interface RunningFileDigest {
  /** sha256 of the file's UTF-8 content, lower-case hex. */
  sha256: string;
  /** The content, for crt-lists only (paths and SNI names, no key material). */
  content?: string;
}

export const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

const isCrtList = (path: string): boolean => path.endsWith('.crtlist');

/** Each running file under certs/ by path relative to the state directory: its digest, and a crt-list's text. Never a .pem's content. */
export function certFileDigests(files: ReadonlyMap<string, string> | undefined): Record<string, RunningFileDigest> {
  const out: Record<string, RunningFileDigest> = {};
  for (const [path, content] of [...(files ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!isTlsFile(path)) continue;
    out[path] = isCrtList(path) ? { sha256: sha256Hex(content), content } : { sha256: sha256Hex(content) };
  }
  return out;
}

/** What stands in for a running file known only by a digest that no desired file matches: equal to no real file. */
export const unknownContent = (digest: string): string => `# running content not served, sha256 ${digest}\n`;

/**
 * The running certificate files for the planner, from their digests: the
 * desired file's content where the digests are equal, a crt-list's served
 * text, else `unknownContent` (the planner then sees the file changed).
 */
export function runningFilesFromDigests(
  digests: Readonly<Record<string, RunningFileDigest>>,
  desired: ReadonlyMap<string, string> | undefined,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, d] of Object.entries(digests)) {
    const want = desired?.get(path);
    if (want !== undefined && sha256Hex(want) === d.sha256) out.set(path, want);
    else if (d.content !== undefined && isCrtList(path)) out.set(path, d.content);
    else out.set(path, unknownContent(d.sha256));
  }
  return out;
}

/** The shape check of a served `auxFiles` field: undefined when it is well formed, else what is wrong. */
export function digestsProblem(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'auxFiles is not an object';
  for (const [path, d] of Object.entries(v as Record<string, unknown>)) {
    const e = d as Partial<RunningFileDigest> | null;
    if (!isTlsFile(path)) return `auxFiles names ${JSON.stringify(path)}, which is not under certs/`;
    if (!e || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) return `auxFiles[${JSON.stringify(path)}].sha256 is not a sha256 in hex`;
    if (e.content !== undefined && typeof e.content !== 'string') return `auxFiles[${JSON.stringify(path)}].content is not text`;
  }
  return undefined;
}
