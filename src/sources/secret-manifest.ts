/**
 * The Secret and ConfigMap manifest (apiVersion v1) as the REST API, the
 * etcd source and the files source take it, read into the SecretData every source hands the store
 * (model/secrets.ts), and the redacted view that is all a read ever shows.
 * Pure.
 *
 * - `kind: Secret`: `type` (default `Opaque`), `data` (base64, checked
 *   strictly) and/or `stringData` (text; wins on a key present in both, as
 *   in Kubernetes).
 * - `kind: ConfigMap`: `data` (text) and `binaryData` (base64).
 * - Keys as Kubernetes allows them (`[-._a-zA-Z0-9]+`), values together at
 *   most MAX_SECRET_BYTES (Kubernetes' own limit, 1 MiB).
 *
 * Problems name the field and never quote a value (a value may be a key).
 */
import { secretKey, type SecretData, type SecretIdentity, type SecretObjectKind } from '../model/secrets.js';

/** The most decoded bytes one Secret or ConfigMap may hold (Kubernetes' limit). */
export const MAX_SECRET_BYTES = 1024 * 1024;
/** What a read shows instead of a value. */
export const REDACTED = '<redacted>';

export const SECRET_PLURALS: Readonly<Record<string, SecretObjectKind>> = { secrets: 'Secret', configmaps: 'ConfigMap' };

export function secretPlural(kind: SecretObjectKind): string {
  return kind === 'Secret' ? 'secrets' : 'configmaps';
}

export interface SecretProblem {
  field: string;
  message: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export type { SecretIdentity };

/**
 * A manifest whose identity is known (from a URL, an etcd key or the
 * document's own metadata) → its SecretData, or every problem found.
 * apiVersion, kind, metadata.name and metadata.namespace may be left out but
 * must agree with `id` when given. `extraFields` are top-level fields a source
 * reads itself (the files source's `stringDataFiles`); `externalKeys` are data
 * keys that source will fill in (so a kubernetes.io/tls Secret may take
 * tls.crt from a file).
 */
export function secretFromManifest(
  raw: unknown,
  id: SecretIdentity,
  origin: string,
  options: { extraFields?: readonly string[]; externalKeys?: readonly string[] } = {},
): { value?: SecretData; problems: SecretProblem[] } {
  const problems: SecretProblem[] = [];
  const p = (field: string, message: string) => problems.push({ field, message });
  if (!isObj(raw)) return { problems: [{ field: '', message: `must be one ${id.kind} object (apiVersion: v1, kind: ${id.kind})` }] };
  if (raw.apiVersion !== undefined && raw.apiVersion !== 'v1') p('apiVersion', `${JSON.stringify(raw.apiVersion)} is not "v1"; a ${id.kind} is apiVersion v1`);
  if (raw.kind !== undefined && raw.kind !== id.kind) p('kind', `${JSON.stringify(raw.kind)} does not match where it is stored, which holds a ${id.kind}`);
  if (raw.metadata !== undefined && !isObj(raw.metadata)) p('metadata', 'must be an object');
  const meta = isObj(raw.metadata) ? raw.metadata : {};
  if (meta.name !== undefined && meta.name !== id.name)
    p('metadata.name', `${JSON.stringify(meta.name)} does not match the name in the path, ${JSON.stringify(id.name)}`);
  if (meta.namespace !== undefined && meta.namespace !== id.namespace)
    p('metadata.namespace', `${JSON.stringify(meta.namespace)} does not match the namespace in the path, ${JSON.stringify(id.namespace)}`);
  if (!NAME.test(id.name)) p('metadata.name', 'must be a DNS subdomain name: lower-case letters, digits, "-" and ".", at most 253 characters');
  if (!NAME.test(id.namespace) || id.namespace.length > 63)
    p('metadata.namespace', 'must be a DNS label: lower-case letters, digits and "-", at most 63 characters');
  const allowed =
    id.kind === 'Secret'
      ? ['apiVersion', 'kind', 'metadata', 'type', 'data', 'stringData', 'immutable', ...(options.extraFields ?? [])]
      : ['apiVersion', 'kind', 'metadata', 'data', 'binaryData', 'immutable', ...(options.extraFields ?? [])];
  for (const k of Object.keys(raw)) if (!allowed.includes(k) && k !== 'status') p(k, `is not a field of a ${id.kind}; use ${allowed.join(', ')}`);

  let type = 'ConfigMap';
  if (id.kind === 'Secret') {
    if (raw.type === undefined) type = 'Opaque';
    else if (typeof raw.type === 'string' && raw.type !== '' && raw.type.length <= 253) type = raw.type;
    else p('type', 'must be a non-empty string, like "kubernetes.io/tls" or "Opaque"');
  }
  const data: Record<string, string> = {};
  /** Keys given with a bad value: already reported, so not also "missing". */
  const refused = new Set<string>();
  let bytes = 0;
  const readMap = (field: 'data' | 'stringData' | 'binaryData', base64: boolean) => {
    const m = raw[field];
    if (m === undefined || m === null) return;
    if (!isObj(m)) return p(field, 'must be an object of key: value');
    for (const [k, v] of Object.entries(m)) {
      const f = `${field}.${k}`;
      if (!DATA_KEY.test(k) || k.length > 253) {
        p(f, 'the key may use only letters, digits, "-", "_" and "."');
        continue;
      }
      if (typeof v !== 'string') {
        p(f, `must be a string${base64 ? ' (base64)' : ''}`);
        refused.add(k);
        continue;
      }
      let text = v;
      if (base64) {
        const compact = v.replace(/\s/g, '');
        if (!BASE64.test(compact)) {
          p(f, 'is not valid base64; encode the value (base64 -w0 FILE), or put the text under stringData');
          refused.add(k);
          continue;
        }
        text = Buffer.from(compact, 'base64').toString('utf8');
      }
      bytes += Buffer.byteLength(text);
      data[k] = text;
    }
  };
  if (id.kind === 'Secret') {
    readMap('data', true);
    readMap('stringData', false);
  } else {
    readMap('binaryData', true);
    readMap('data', false);
  }
  if (bytes > MAX_SECRET_BYTES) p('data', `holds ${bytes} bytes; a ${id.kind} may hold at most ${MAX_SECRET_BYTES} bytes (1 MiB)`);
  if (id.kind === 'Secret' && type === 'kubernetes.io/tls') {
    for (const k of ['tls.crt', 'tls.key'])
      if (data[k] === undefined && !refused.has(k) && !options.externalKeys?.includes(k))
        p(`data.${k}`, `is missing; a kubernetes.io/tls Secret holds tls.crt and tls.key`);
  }
  if (problems.length > 0) return { problems };
  return { value: { kind: id.kind, namespace: id.namespace, name: id.name, type, data, origin }, problems };
}

/** The manifest a read shows: every key, no value. */
export function redactedView(s: SecretData): Record<string, unknown> {
  const data = Object.fromEntries(
    Object.keys(s.data)
      .sort()
      .map((k) => [k, REDACTED]),
  );
  return {
    apiVersion: 'v1',
    kind: s.kind,
    metadata: { name: s.name, namespace: s.namespace },
    ...(s.kind === 'Secret' ? { type: s.type } : {}),
    data,
    origin: s.origin,
  };
}

/** The manifest to store (REST into its file or etcd): Secret values base64 under `data`, as Kubernetes keeps them. */
export function storedManifest(s: SecretData): Record<string, unknown> {
  const data = Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, s.kind === 'Secret' ? Buffer.from(v, 'utf8').toString('base64') : v]));
  return {
    apiVersion: 'v1',
    kind: s.kind,
    metadata: { name: s.name, namespace: s.namespace },
    ...(s.kind === 'Secret' ? { type: s.type } : {}),
    data,
  };
}

/** The store key of an identity. */
export function keyOfSecret(id: SecretIdentity): string {
  return secretKey(id.kind, id.namespace, id.name);
}

/** `Secret/ns/name` → its identity. */
export function parseSecretKey(key: string): SecretIdentity {
  const [kind, namespace, name] = key.split('/') as [SecretObjectKind, string, string];
  return { kind, namespace, name };
}
