/**
 * A Frontend's TLS references resolved to validated certificates and CA
 * bundles (model/certificate.ts), from the Secrets and ConfigMaps the sources
 * discovered (model/secrets.ts) in the Frontend's own namespace. Pure.
 *
 * A reference that is missing or invalid is a problem naming the field
 * (`spec.binds[0].tls.certificateRefs[1]`), the Secret and what is wrong. With
 * `fallback` (what served before, by Secret key), a bad Secret resolves to its
 * last good certificate instead: a bad Secret never replaces a good one.
 */
import { describeCertificate, parseCaBundle, parseTlsSecret, type CaBundle, type Certificate } from './certificate.js';
import type { DiscoveredValues } from './discovered.js';
import { orLastGood, type FromSecret, type ReferenceProblem, type SecretsInUse } from './last-good.js';
import { invalidSecretMessage, secretKey, secretNote, type InvalidSecret, type SecretData } from './secrets.js';
import type { Backend, Frontend, IssueReason } from './types.js';

/** What one TLS bind serves: its certificates in order (the first is the default) and its client CA. */
export interface BindTlsMaterial {
  bindIndex: number;
  certificates: Certificate[];
  ca?: CaBundle;
}

/** How an outcome's note naming the certificates in use starts (the other notes are warnings). */
export const CERTIFICATES_IN_USE = 'certificates in use: ';

export interface FrontendTls {
  /** The first of `problems`. */
  problem?: { field: string; reason: IssueReason; message: string };
  /** Every reference that does not resolve, in field order. */
  problems: { field: string; reason: IssueReason; message: string }[];
  /** The expiry warnings of `warnings`, with the field of the reference that names the Secret. */
  expiring: { field: string; message: string }[];
  binds: BindTlsMaterial[];
  /** Certificates expiring soon, and last good certificates serving in place of bad Secrets. */
  warnings: string[];
  /** How status names what serves: `Secret ns/a (serial ..., notAfter ...)`. */
  inUse: string[];
}

export function hasTls(f: Frontend): boolean {
  return f.spec.binds.some((b) => b.tls);
}

/**
 * Resolves every TLS reference of `f` at time `now`: every reference that does
 * not resolve (and has no last good value in `fallback`) is a problem; `binds`
 * is complete only when there is none. Binds missing from a sparse `binds`
 * (the well-formed parts of an invalid Frontend, model/validate.ts) are skipped.
 */
export function resolveFrontendTls(
  f: Frontend,
  secrets: DiscoveredValues<SecretData> | undefined,
  now: Date,
  fallback?: SecretsInUse,
  /** Secrets and ConfigMaps a source declares but refuses (model/secrets.ts INVALID_SECRETS): "is invalid", not "does not exist". */
  invalid?: DiscoveredValues<InvalidSecret>,
): FrontendTls {
  const ns = f.metadata.namespace;
  const out: FrontendTls = { binds: [], problems: [], expiring: [], warnings: [], inUse: [] };
  const fail = (problem: FrontendTls['problems'][number]) => {
    out.problems.push(problem);
    out.problem ??= problem;
  };
  for (const [i, b] of f.spec.binds.entries()) {
    if (!b?.tls) continue;
    const material: BindTlsMaterial = { bindIndex: i, certificates: [] };
    for (const [j, ref] of (b.tls.certificateRefs ?? []).entries()) {
      if (typeof ref?.name !== 'string') continue;
      const key = secretKey('Secret', ns, ref.name);
      const field = `spec.binds[${i}].tls.certificateRefs[${j}]`;
      const data = secrets?.get(key);
      const r = data ? parseTlsSecret(data, now) : undefined;
      if (r?.ok && r.warning) {
        out.warnings.push(r.warning);
        out.expiring.push({ field, message: r.warning });
      }
      const fresh: FromSecret<Certificate> = r?.ok
        ? { value: r.certificate }
        : {
            problem: referenceProblem(
              field,
              r?.problem,
              `Secret ${ns}/${ref.name}`,
              invalid?.get(key),
              'create it (type kubernetes.io/tls, with tls.crt and tls.key)',
            ),
          };
      const refused = r?.ok ? invalid?.get(key) : undefined;
      if (refused) out.warnings.push(secretNote(field, `Secret ${ns}/${ref.name}`, refused));
      const got = orLastGood(fresh, fallback?.certificates.get(key), 'certificate');
      if ('problem' in got) {
        fail(got.problem);
        continue;
      }
      material.certificates.push(got.value);
      out.inUse.push(describeCertificate(got.value));
      if (got.warning) out.warnings.push(got.warning);
    }
    const cc = b.tls.clientCertificate;
    if (typeof cc?.caRef?.name === 'string') {
      const key = secretKey(cc.caRef.kind, ns, cc.caRef.name);
      const field = `spec.binds[${i}].tls.clientCertificate.caRef`;
      const data = secrets?.get(key);
      const r = data ? parseCaBundle(data) : undefined;
      const fresh: FromSecret<CaBundle> = r?.ok
        ? { value: r.bundle }
        : {
            problem: referenceProblem(
              field,
              r?.problem,
              `${cc.caRef.kind} ${ns}/${cc.caRef.name}`,
              invalid?.get(key),
              'create it with the CA certificates under ca.crt',
            ),
          };
      const refusedCa = r?.ok ? invalid?.get(key) : undefined;
      if (refusedCa) out.warnings.push(secretNote(field, `${cc.caRef.kind} ${ns}/${cc.caRef.name}`, refusedCa));
      const got = orLastGood(fresh, fallback?.caBundles.get(key), 'CA bundle');
      if ('problem' in got) fail(got.problem);
      else material.ca = got.value;
      if ('value' in got && got.warning) out.warnings.push(got.warning);
    }
    out.binds.push(material);
  }
  return out.problem ? { ...out, binds: [] } : out;
}

/** Adds what `tls` serves to `into`, by Secret/ConfigMap key. */
export function collectTlsInUse(f: Frontend, tls: FrontendTls, into: SecretsInUse): void {
  const ns = f.metadata.namespace;
  for (const m of tls.binds) {
    const b = f.spec.binds[m.bindIndex]!.tls!;
    b.certificateRefs.forEach((ref, j) => {
      const c = m.certificates[j];
      if (c) into.certificates.set(secretKey('Secret', ns, ref.name), c);
    });
    if (b.clientCertificate && m.ca) into.caBundles.set(secretKey(b.clientCertificate.caRef.kind, ns, b.clientCertificate.caRef.name), m.ca);
  }
}

/** A Backend with the CA bundle that verifies its members (`spec.tls.caRef`), as resolve found it: current or last good. */
export type BackendWithCaBundle = Backend & { readonly caBundle?: CaBundle };

const withCaCache = new WeakMap<Backend, { ca: CaBundle; out: BackendWithCaBundle }>();

/** `b` with its CA bundle attached (the same object for the same inputs, so caches keyed by resource hit). */
export function withCaBundle(b: Backend, ca: CaBundle): BackendWithCaBundle {
  const hit = withCaCache.get(b);
  if (hit && hit.ca === ca) return hit.out;
  const out: BackendWithCaBundle = { ...b, caBundle: ca };
  withCaCache.set(b, { ca, out });
  return out;
}

/**
 * Why a referenced Secret or ConfigMap gives nothing to serve: its content is
 * refused (`parseProblem`), its source declares it but refuses it (`invalid`),
 * or it does not exist (`createFix` says what to create).
 */
function referenceProblem(
  field: string,
  parseProblem: string | undefined,
  what: string,
  invalid: InvalidSecret | undefined,
  createFix: string,
): ReferenceProblem {
  if (parseProblem !== undefined) return { field, reason: 'InvalidCertificate', message: parseProblem };
  if (invalid) return { field, reason: 'InvalidSpec', message: `${what} ${invalidSecretMessage(invalid)}` };
  return { field, reason: 'SecretNotFound', message: `${what} does not exist; ${createFix} or fix the name` };
}
