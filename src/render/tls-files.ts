/**
 * TLS on a bind in HAProxy terms: the bind options and the auxiliary files
 * (certificates, CA bundles, crt-lists) written beside haproxy.cfg. Pure.
 *
 * Layout under the state directory (the contract every TLS part keeps):
 * - `certs/<namespace>/secret-<name>.pem`: chain then key (mode 0600);
 * - `certs/<namespace>/secret-<name>.ca.pem`, `certs/<namespace>/configmap-<name>.ca.pem`: a CA bundle;
 * - `certs/<proxy>.<bindIndex>.crtlist`: one line per certificateRef in order,
 *   `<absolute .pem path> <SNI filters...>`; the first line is the default.
 *
 * Paths in haproxy.cfg and in crt-lists are absolute, so runtime commands
 * name exactly what HAProxy loaded. Every path part is an allow-listed name
 * (DNS-1123 namespace and name), and SNI filters are certificate DNS names
 * that passed the host pattern (model/certificate.ts).
 */
import { join } from 'node:path';
import type { CaRef, Frontend } from '../model/types.js';
import type { BindTlsMaterial } from '../model/tls.js';
import { proxyName } from '../model/naming.js';

/** The directory, under the state directory, that holds every TLS file. */
export const CERTS_DIR = 'certs';

export const certificateFile = (namespace: string, name: string): string => `${CERTS_DIR}/${namespace}/secret-${name}.pem`;
export const caBundleFile = (namespace: string, ref: Pick<CaRef, 'kind' | 'name'>): string =>
  `${CERTS_DIR}/${namespace}/${ref.kind === 'ConfigMap' ? 'configmap' : 'secret'}-${ref.name}.ca.pem`;
export const crtListFile = (proxy: string, bindIndex: number): string => `${CERTS_DIR}/${proxy}.${bindIndex}.crtlist`;

/** True for a path under the state directory that this module writes (and may remove). */
export const isTlsFile = (relativePath: string): boolean => relativePath.startsWith(`${CERTS_DIR}/`);

/** Absolute path of a state-directory file (relative when the state directory is not known, as in `validate`). */
export const statePath = (stateDir: string | undefined, relativePath: string): string => (stateDir ? join(stateDir, relativePath) : relativePath);

/** The bind options after the address: `ssl crt-list ... ssl-min-ver ... [alpn ...] [verify ... ca-file ...]`. */
export function tlsBindOptions(f: Frontend, m: BindTlsMaterial, stateDir: string | undefined): string {
  const tls = f.spec.binds[m.bindIndex]!.tls!;
  const ns = f.metadata.namespace;
  const parts = ['ssl', 'crt-list', statePath(stateDir, crtListFile(proxyName(ns, f.metadata.name), m.bindIndex)), 'ssl-min-ver', tls.minVersion];
  if (tls.alpn?.length) parts.push('alpn', tls.alpn.join(','));
  const cc = tls.clientCertificate;
  if (cc) parts.push('verify', cc.mode === 'Optional' ? 'optional' : 'required', 'ca-file', statePath(stateDir, caBundleFile(ns, cc.caRef)));
  return parts.join(' ');
}

/** Every TLS file the frontends need, by path relative to the state directory. */
export function tlsFiles(
  frontends: readonly Frontend[],
  tls: ReadonlyMap<string, readonly BindTlsMaterial[]>,
  stateDir: string | undefined,
): Map<string, string> {
  const files = new Map<string, string>();
  for (const f of frontends) {
    const ns = f.metadata.namespace;
    const materials = tls.get(`Frontend/${ns}/${f.metadata.name}`);
    if (!materials) continue;
    for (const m of materials) {
      const b = f.spec.binds[m.bindIndex]!.tls!;
      const lines: string[] = [];
      b.certificateRefs.forEach((ref, j) => {
        const c = m.certificates[j]!;
        const file = certificateFile(ns, ref.name);
        files.set(file, c.pem);
        lines.push([statePath(stateDir, file), ...c.dnsNames].join(' '));
      });
      files.set(crtListFile(proxyName(ns, f.metadata.name), m.bindIndex), lines.join('\n') + '\n');
      if (b.clientCertificate && m.ca) files.set(caBundleFile(ns, b.clientCertificate.caRef), m.ca.pem);
    }
  }
  return files;
}

/** The paths of `a` and `b` whose content differs (added, changed or removed), sorted. */
export function changedFiles(a: ReadonlyMap<string, string> | undefined, b: ReadonlyMap<string, string> | undefined): string[] {
  const out = new Set<string>();
  for (const [k, v] of a ?? []) if (b?.get(k) !== v) out.add(k);
  for (const k of b?.keys() ?? []) if (!a?.has(k)) out.add(k);
  return [...out].sort();
}
