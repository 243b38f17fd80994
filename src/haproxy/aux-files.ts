/**
 * The auxiliary files beside haproxy.cfg (certificates, CA bundles,
 * crt-lists: render/tls-files.ts), by path relative to the state directory.
 * Every one holds or points at key material: files are mode 0600 and their
 * directories 0700. Only paths under `certs/` are managed (written, read back
 * on adoption, removed when no longer referenced), and routing maps under
 * `maps/` (render/routing-maps.ts).
 */
import { mkdir, readdir, readFile, rmdir, unlink } from 'node:fs/promises';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import { CERTS_DIR, isTlsFile } from '../render/tls-files.js';
import { MAPS_DIR, isMapFile } from '../render/routing-maps.js';

/** The directories of managed files: certificates and routing maps. */
const MANAGED_DIRS = [CERTS_DIR, MAPS_DIR];

export type AuxFiles = ReadonlyMap<string, string>;

function safePath(dir: string, rel: string): string {
  const n = normalize(rel);
  const posixPath = n.split(sep).join('/');
  if (!(isTlsFile(posixPath) || isMapFile(posixPath)) || n.startsWith('..') || n.includes(`${sep}..${sep}`)) {
    throw new Error(`refusing to write ${JSON.stringify(rel)}: auxiliary files live under ${CERTS_DIR}/ or ${MAPS_DIR}/ in the state directory`);
  }
  return join(dir, n);
}

/** Writes each file of `files` whose content differs from `previous` (all of them without `previous`). */
export async function writeAuxFiles(dir: string, files: AuxFiles, previous?: AuxFiles): Promise<string[]> {
  const written: string[] = [];
  for (const [rel, content] of files) {
    if (previous?.get(rel) === content) continue;
    const path = safePath(dir, rel);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, content, 0o600);
    written.push(rel);
  }
  return written;
}

/**
 * Writes each file of `files` whose content on disk differs from it: new or
 * changed files, and also files removed or edited behind the controller's
 * back (another process on the state directory, a clean-up script), which a
 * comparison with what runs would miss. Returns the written paths.
 */
export async function syncAuxFiles(dir: string, files: AuxFiles): Promise<string[]> {
  const written: string[] = [];
  for (const [rel, content] of files) {
    const path = safePath(dir, rel);
    if ((await readFile(path, 'utf8').catch(() => undefined)) === content) continue;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, content, 0o600);
    written.push(rel);
  }
  return written;
}

/** Every managed file on disk, by relative path (what an adopted HAProxy loaded). */
export async function readAuxFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && !e.name.startsWith('.')) out.set(relative(dir, p).split(sep).join('/'), await readFile(p, 'utf8'));
    }
  };
  for (const d of MANAGED_DIRS) await walk(join(dir, d));
  return out;
}

/** Removes managed files not in `keep`, then directories left empty. Returns the removed paths. */
export async function removeUnreferenced(dir: string, keep: AuxFiles): Promise<string[]> {
  const removed: string[] = [];
  const walk = async (d: string): Promise<boolean> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    let empty = true;
    for (const e of entries) {
      const p = join(d, e.name);
      const rel = relative(dir, p).split(sep).join('/');
      if (e.isDirectory()) {
        if (await walk(p)) await rmdir(p).catch(() => undefined);
        else empty = false;
      } else if (!keep.has(rel)) {
        await unlink(p).catch(() => undefined);
        removed.push(rel);
      } else empty = false;
    }
    return empty;
  };
  for (const d of MANAGED_DIRS) await walk(join(dir, d));
  return removed;
}

/** Puts the files back as `previous` had them (after a refused candidate wrote `files`). */
export async function restoreAuxFiles(dir: string, files: AuxFiles, previous: AuxFiles): Promise<void> {
  for (const rel of files.keys()) if (!previous.has(rel)) await unlink(safePath(dir, rel)).catch(() => undefined);
  await writeAuxFiles(dir, previous, files);
}
