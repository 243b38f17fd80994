/**
 * Secrets and ConfigMaps as discovered data (model/discovered.ts): the
 * contract between the sources that find them and the model that uses them
 * (certificates and CA bundles for TLS, later user lists for basic auth).
 *
 * Every source writes the same value, whatever it read:
 * - Kubernetes: Secrets (`kubernetes.io/tls`, `Opaque`) and ConfigMaps in the watched namespaces;
 * - files: a `kind: Secret` or `kind: ConfigMap` document in the directory;
 * - REST: `PUT /api/v1/namespaces/NS/secrets/NAME` (and `.../configmaps/NAME`);
 * - etcd: `PREFIX/secrets/NS/NAME` (and `PREFIX/configmaps/NS/NAME`).
 *
 * with `store.setDiscovered(source, SECRETS, secretKey(kind, ns, name), value)`,
 * and `store.setDiscovered(source, SECRETS, key, undefined)` when it is gone.
 * A reference never crosses a namespace: a Frontend in `a` sees only `Secret/a/...`.
 *
 * Values are decoded text (PEM is ASCII); `data` from a manifest is base64
 * and is decoded by the source, `stringData` is taken as is and wins on a
 * key present in both (as Kubernetes does).
 */

/** The discovered-data kind name for Secrets and ConfigMaps. */
export const SECRETS = 'secrets';

export type SecretObjectKind = 'Secret' | 'ConfigMap';

/** Which Secret or ConfigMap. */
export interface SecretIdentity {
  kind: SecretObjectKind;
  namespace: string;
  name: string;
}

/** One Secret or ConfigMap, as every source hands it to the store. */
export interface SecretData {
  kind: SecretObjectKind;
  namespace: string;
  name: string;
  /** The Secret's `type` (`kubernetes.io/tls`, `Opaque`...); `ConfigMap` for a ConfigMap. */
  type: string;
  /** Keys (`tls.crt`, `tls.key`, `ca.crt`, `users`...) to decoded values. */
  data: Readonly<Record<string, string>>;
  /** Where it came from (`files:/dir/x.yaml#1`, `kubernetes`, `etcd:/prefix/secrets/ns/name`, `rest`). */
  origin: string;
}

/** The discovered-data key of a Secret or ConfigMap: `Secret/ns/name`. */
export function secretKey(kind: SecretObjectKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/**
 * The discovered-data kind of Secrets and ConfigMaps a source holds but
 * refuses (bad base64, a missing key, a file that does not parse or was
 * emptied): by the same key, the first problem. With no data for the key,
 * resolve tells a reference "is invalid (where: why)" instead of "does not
 * exist"; when the source still hands its last good data, what uses it serves
 * with a note saying so (secretNote).
 */
export const INVALID_SECRETS = 'invalid-secrets';

/** Why a declared Secret or ConfigMap is refused: where it is declared, and the first problem. */
export interface InvalidSecret {
  origin: string;
  field: string;
  message: string;
}

/** `is invalid (secrets.yaml#1: data.tls.key: is not valid base64 ...); fix it`: what follows `Secret ns/name`. */
export function invalidSecretMessage(i: InvalidSecret): string {
  // A message may name its fields itself (etcd lists every problem as `field: message`).
  const field = i.field && !i.message.startsWith(`${i.field}: `) ? `${i.field}: ` : '';
  return `is invalid (${i.origin}: ${field}${i.message}); fix it there`;
}

/** The note of a reference whose Secret or ConfigMap serves its last good data while its source refuses the current one. */
export function secretNote(field: string, what: string, i: InvalidSecret): string {
  const where = `${i.origin}: ${i.field && !i.message.startsWith(`${i.field}: `) ? `${i.field}: ` : ''}${i.message}`;
  return `${field}: ${what} serves its last good data; its source refuses the current one (${where}); fix it there`;
}
