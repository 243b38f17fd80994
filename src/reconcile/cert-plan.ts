/**
 * The certificate planner: running auxiliary files + desired auxiliary files
 * → runtime certificate operations, or a reload with its reasons. Pure.
 *
 * Auxiliary files are the renderer's `Map<path relative to the state dir,
 * content>` (see the TLS contract in docs/decisions/0012-tls-rotation.md):
 * - `certs/<ns>/secret-<name>.pem`: a certificate chain and its key;
 * - `certs/<ns>/(secret|configmap)-<name>.ca.pem`: a CA bundle;
 * - `certs/<frontend>.<bind>.crtlist`: one line per certificate,
 *   `<absolute .pem path> <SNI filters...>`, the first line being the bind's
 *   default certificate.
 *
 * What runs without a reload:
 * - a .pem whose content changed (`set ssl cert` + `commit ssl cert`);
 * - a line added to a running crt-list for a new .pem (`new ssl cert`, set,
 *   commit, `add ssl crt-list`), or for a .pem already loaded;
 * - a line removed (`del ssl crt-list`), and `del ssl cert` once no running
 *   crt-list uses the .pem any more;
 * - a CA bundle whose content changed (`set ssl ca-file` + commit), when
 *   `caFileRuntime` allows it (2.6 and 3.0 both do).
 *
 * What reloads, with the reason: a new or removed crt-list (a bind changed,
 * and haproxy.cfg with it), a change to a crt-list's first line (HAProxy
 * cannot delete or replace the default certificate of a bind at run time), a
 * line whose SNI filters changed (a line cannot be edited; deleting and
 * re-adding it would serve the default certificate to its names meanwhile),
 * an SNI name that would be served by another certificate than after a reload
 * (runtime lines are appended, and the first line naming an SNI wins), a
 * certificate listed twice in one crt-list, a payload larger than HAProxy's
 * CLI buffer, and any other auxiliary file that changed.
 */
import { posix } from 'node:path';

export type CertOp =
  /** Replace the content of a loaded certificate. */
  | { op: 'update-cert'; path: string; pem: string }
  /** Load a certificate HAProxy does not know yet. */
  | { op: 'new-cert'; path: string; pem: string }
  /** Serve a loaded certificate for SNI names on a crt-list's binds. */
  | { op: 'add-crtlist-line'; crtList: string; path: string; filters: string[] }
  | { op: 'del-crtlist-line'; crtList: string; path: string }
  /** Unload a certificate no crt-list uses any more. */
  | { op: 'del-cert'; path: string }
  /** Replace the content of a loaded CA file. */
  | { op: 'update-ca-file'; path: string; pem: string };

export type CertPlan = { kind: 'noop' } | { kind: 'runtime'; ops: CertOp[]; summary: string } | { kind: 'reload'; reasons: string[] };

export interface CertPlanOptions {
  /** Absolute state directory: relative paths in the maps are under it, paths in crt-lists are absolute. */
  stateDir: string;
  /** Replace changed CA bundles at run time (2.6 and 3.0 can). Default true. */
  caFileRuntime?: boolean;
  /** HAProxy's tune.bufsize: a certificate larger than this cannot go through the CLI. Default 16384. */
  bufsizeBytes?: number;
  /** The running haproxy.cfg: a changed .pem in no crt-list is updated at run time when this text names it (a `crt` or `ca-file` elsewhere). */
  runningConfig?: string;
}

export interface CrtListLine {
  /** Absolute path of the .pem. */
  path: string;
  filters: string[];
}

/** The lines of a crt-list file (blank lines and `#` comments skipped; no `[options]` in ours). Pure. */
export function parseCrtList(text: string): CrtListLine[] {
  const out: CrtListLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [path, ...filters] = line.split(/\s+/);
    out.push({ path: path!, filters });
  }
  return out;
}

type FileKind = 'cert' | 'ca' | 'crtlist' | 'other';

/** What an auxiliary file is, from its relative path (the contract's layout). */
export function auxFileKind(relativePath: string): FileKind {
  if (relativePath.endsWith('.crtlist')) return 'crtlist';
  if (relativePath.endsWith('.ca.pem')) return 'ca';
  if (relativePath.endsWith('.pem')) return 'cert';
  return 'other';
}

const ORDER: Record<CertOp['op'], number> = {
  'update-cert': 0,
  'update-ca-file': 1,
  'new-cert': 2,
  'add-crtlist-line': 3,
  'del-crtlist-line': 4,
  'del-cert': 5,
};

/** Bytes `set ssl cert <path> <<` and its payload take in HAProxy's CLI buffer (as socket.ts sends them). */
function payloadBytes(path: string, pem: string): number {
  const body = pem.replace(/\r\n/g, '\n').replace(/\n+$/, '');
  return Buffer.byteLength(`set ssl cert ${path} <<\n${body}\n\n`);
}

/** For each SNI filter, the path of the first line naming it (HAProxy serves the first one loaded). */
function sniWinners(lines: readonly CrtListLine[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of lines) for (const f of l.filters) if (!out.has(f.toLowerCase())) out.set(f.toLowerCase(), l.path);
  return out;
}

/** `text` (haproxy.cfg) names `path` as a whole word. */
function namesPath(text: string, path: string): boolean {
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|\\s)${escaped}(\\s|$)`, 'm').test(text);
}

const sameFilters = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((f, i) => f === b[i]);

export function planCertificates(running: ReadonlyMap<string, string>, desired: ReadonlyMap<string, string>, options: CertPlanOptions): CertPlan {
  const reasons: string[] = [];
  const ops: CertOp[] = [];
  const abs = (rel: string): string => posix.join(options.stateDir, rel);
  const rel = (path: string): string => posix.relative(options.stateDir, path);
  const bufsize = options.bufsizeBytes ?? 16384;
  const fits = (path: string, pem: string, what: string): boolean => {
    const bytes = payloadBytes(path, pem);
    if (bytes <= bufsize - 16) return true;
    reasons.push(`${what} ${rel(path)} is ${bytes} bytes with its command, more than HAProxy's CLI buffer (tune.bufsize ${bufsize})`);
    return false;
  };

  // Certificates in use at run time: path → how many running crt-list lines name it (after the plan's own adds and deletes).
  const uses = new Map<string, number>();
  const runningLists = new Map<string, CrtListLine[]>();
  for (const [p, text] of running) {
    if (auxFileKind(p) !== 'crtlist') continue;
    const lines = parseCrtList(text);
    runningLists.set(p, lines);
    for (const l of lines) uses.set(l.path, (uses.get(l.path) ?? 0) + 1);
  }
  const inConfig = (path: string): boolean => options.runningConfig !== undefined && namesPath(options.runningConfig, path);
  const loaded = (path: string): boolean => (uses.get(path) ?? 0) > 0 || inConfig(path);

  // 1. Files that are not crt-lists.
  for (const p of new Set([...running.keys(), ...desired.keys()])) {
    const kind = auxFileKind(p);
    if (kind === 'crtlist') continue;
    const before = running.get(p);
    const after = desired.get(p);
    if (before === after) continue;
    const path = abs(p);
    if (kind === 'cert') {
      if (after === undefined) continue; // removed: unloaded below once no line uses it
      if (before === undefined || !loaded(path)) continue; // loaded below if a crt-list line comes to use it
      if (fits(path, after, 'certificate')) ops.push({ op: 'update-cert', path, pem: after });
    } else if (kind === 'ca') {
      // A CA bundle added or removed comes with a changed bind or server line in haproxy.cfg, which reloads.
      if (before === undefined || after === undefined) continue;
      if (options.caFileRuntime === false) reasons.push(`CA bundle ${p} changed, and this HAProxy cannot replace a CA file at run time`);
      else if (fits(path, after, 'CA bundle')) ops.push({ op: 'update-ca-file', path, pem: after });
    } else {
      reasons.push(
        `auxiliary file ${p} ${before === undefined ? 'added' : after === undefined ? 'removed' : 'changed'}, and only certificates, CA bundles and crt-lists change at run time`,
      );
    }
  }

  // 2. crt-lists.
  const added: { crtList: string; line: CrtListLine }[] = [];
  const removed: { crtList: string; path: string }[] = [];
  for (const p of new Set([...running.keys(), ...desired.keys()])) {
    if (auxFileKind(p) !== 'crtlist') continue;
    const before = runningLists.get(p);
    const afterText = desired.get(p);
    if (before !== undefined && afterText === running.get(p)) continue;
    if (before === undefined) {
      reasons.push(`crt-list ${p} added (a new TLS bind)`);
      continue;
    }
    if (afterText === undefined) {
      reasons.push(`crt-list ${p} removed (a TLS bind removed)`);
      continue;
    }
    const after = parseCrtList(afterText);
    const crtList = abs(p);
    if (after.length === 0) {
      reasons.push(`crt-list ${p} has no certificate left`);
      continue;
    }
    const [b0, a0] = [before[0], after[0]!];
    if (!b0 || b0.path !== a0.path || !sameFilters(b0.filters, a0.filters)) {
      reasons.push(
        b0 && b0.path === a0.path
          ? `the default certificate of crt-list ${p} (${rel(a0.path)}) changed its SNI names (${b0.filters.join(' ') || 'none'} → ${a0.filters.join(' ') || 'none'}), and HAProxy cannot change a bind's default certificate at run time`
          : `the default certificate of crt-list ${p} changed (${b0 ? rel(b0.path) : 'none'} → ${rel(a0.path)}), and HAProxy cannot change a bind's default certificate at run time`,
      );
      continue;
    }
    const twice = (ls: CrtListLine[]) => ls.find((l, i) => ls.findIndex((m) => m.path === l.path) !== i);
    const repeated = twice(before) ?? twice(after);
    if (repeated) {
      reasons.push(`crt-list ${p} lists ${rel(repeated.path)} more than once, and runtime commands name a certificate by its path`);
      continue;
    }
    const beforeBy = new Map(before.map((l) => [l.path, l]));
    const afterBy = new Map(after.map((l) => [l.path, l]));
    let changed = false;
    for (const l of after) {
      const b = beforeBy.get(l.path);
      if (b && !sameFilters(b.filters, l.filters)) {
        reasons.push(
          `certificate ${rel(l.path)} in crt-list ${p} changed its SNI names (${b.filters.join(' ') || 'none'} → ${l.filters.join(' ') || 'none'}): a crt-list line cannot be edited at run time, and deleting and re-adding it would serve the default certificate to those names meanwhile`,
        );
        changed = true;
      }
    }
    if (changed) continue;
    // At run time the kept lines stay in their running order and added lines go last: every SNI name must still find the certificate a reload would give it.
    const kept = before.filter((l) => afterBy.has(l.path));
    const adds = after.filter((l) => !beforeBy.has(l.path));
    const live = sniWinners([...kept, ...adds]);
    const reloaded = sniWinners(after);
    const moved = [...reloaded].find(([name, path]) => live.get(name) !== path);
    if (moved) {
      reasons.push(
        `SNI name ${moved[0]} in crt-list ${p} is served by ${rel(moved[1])} after a reload but would stay on ${rel(live.get(moved[0]) ?? '(none)')} at run time (lines added at run time come last)`,
      );
      continue;
    }
    for (const l of adds) added.push({ crtList, line: l });
    for (const l of before) if (!afterBy.has(l.path)) removed.push({ crtList, path: l.path });
  }

  for (const { crtList, line } of added) {
    const pem = desired.get(rel(line.path));
    if (!loaded(line.path)) {
      if (pem === undefined) {
        reasons.push(`crt-list ${rel(crtList)} names ${rel(line.path)}, which is not among the auxiliary files`);
        continue;
      }
      if (!fits(line.path, pem, 'certificate')) continue;
      ops.push({ op: 'new-cert', path: line.path, pem });
    }
    uses.set(line.path, (uses.get(line.path) ?? 0) + 1);
    ops.push({ op: 'add-crtlist-line', crtList, path: line.path, filters: line.filters });
  }
  for (const { crtList, path } of removed) {
    ops.push({ op: 'del-crtlist-line', crtList, path });
    const left = (uses.get(path) ?? 1) - 1;
    uses.set(path, left);
    // Still named by haproxy.cfg (a `crt` elsewhere) or by another crt-list: keep it loaded.
    if (left === 0 && !inConfig(path)) ops.push({ op: 'del-cert', path });
  }

  if (reasons.length > 0) return { kind: 'reload', reasons };
  if (ops.length === 0) return { kind: 'noop' };
  // Stable sort: updates, then loads and adds (so names are served before others go), then deletes.
  const sorted = ops.map((o, i) => [o, i] as const).sort(([a, i], [b, j]) => ORDER[a.op] - ORDER[b.op] || i - j);
  // new-cert must precede the add of its line: both keep their relative order within ORDER.
  return { kind: 'runtime', ops: sorted.map(([o]) => o), summary: summarizeCertOps(sorted.map(([o]) => o)) };
}

/** One operation in words, without any PEM content (it may hold a private key). */
export function describeCertOp(o: CertOp): string {
  switch (o.op) {
    case 'update-cert':
      return `update certificate ${o.path}`;
    case 'new-cert':
      return `load certificate ${o.path}`;
    case 'add-crtlist-line':
      return `serve ${o.path} in crt-list ${o.crtList}${o.filters.length ? ` for ${o.filters.join(' ')}` : ''}`;
    case 'del-crtlist-line':
      return `stop serving ${o.path} in crt-list ${o.crtList}`;
    case 'del-cert':
      return `unload certificate ${o.path}`;
    case 'update-ca-file':
      return `update CA file ${o.path}`;
  }
}

export function summarizeCertOps(ops: readonly CertOp[]): string {
  const counts = new Map<string, number>();
  for (const o of ops) counts.set(o.op, (counts.get(o.op) ?? 0) + 1);
  return [...counts].map(([op, n]) => `${n} ${op}`).join(', ');
}
