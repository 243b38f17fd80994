/**
 * Resource bodies in our own shape: filled in from the URL, checked against
 * it, and stripped of what the controller owns (status, server-side metadata).
 */
import { API_VERSION, DEFAULT_NAMESPACE, resourceKey, type Kind, type ResourceKey } from '../../model/types.js';
import { ApiError, type ApiIssue } from './http-io.js';

/** The key a raw resource claims (kind, namespace, name), if it claims one. */
export function identityOf(raw: unknown): ResourceKey | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if ((r.kind !== 'Frontend' && r.kind !== 'Backend') || typeof r.metadata?.name !== 'string') return undefined;
  const ns = typeof r.metadata.namespace === 'string' ? r.metadata.namespace : DEFAULT_NAMESPACE;
  return resourceKey(r.kind, ns, r.metadata.name);
}

const KEPT_METADATA = ['name', 'namespace', 'labels', 'annotations'] as const;

/**
 * A PUT body for `kind` `namespace/name`: apiVersion, kind, metadata.name and
 * metadata.namespace may be left out (the URL gives them) but must agree with
 * the URL when given. `status` and server-side metadata (generation,
 * resourceVersion, uid, ...) are dropped, so a GET answer can be PUT back.
 */
export function resourceFromBody(body: Record<string, unknown>, kind: Kind, namespace: string, name: string): Record<string, unknown> {
  const issues: ApiIssue[] = [];
  const mismatch = (field: string, given: unknown, expected: string) =>
    issues.push({ field, message: `${JSON.stringify(given)} does not match the URL, which names ${JSON.stringify(expected)}` });
  if (body.kind !== undefined && body.kind !== kind) mismatch('kind', body.kind, kind);
  const meta = body.metadata;
  if (meta !== undefined && (meta === null || typeof meta !== 'object' || Array.isArray(meta))) {
    issues.push({ field: 'metadata', message: 'must be an object' });
  }
  const m = (meta && typeof meta === 'object' ? meta : {}) as Record<string, unknown>;
  if (m.name !== undefined && m.name !== name) mismatch('metadata.name', m.name, name);
  if (m.namespace !== undefined && m.namespace !== namespace) mismatch('metadata.namespace', m.namespace, namespace);
  if (issues.length > 0) throw ApiError.invalid(issues, `${kind} ${namespace}/${name}`);

  const metadata: Record<string, unknown> = {};
  for (const k of KEPT_METADATA) if (m[k] !== undefined) metadata[k] = m[k];
  metadata.name = name;
  metadata.namespace = namespace;
  const { status: _status, ...rest } = body;
  return { ...rest, apiVersion: body.apiVersion ?? API_VERSION, kind, metadata };
}

/** JSON with object keys sorted: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
