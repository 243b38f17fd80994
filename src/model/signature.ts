/**
 * Change signatures: the one way every source tells a changed value from an
 * unchanged one (a Kubernetes object, a member list, a manifest file, an etcd
 * listing, a REST write). A sha256 digest (base64, 44 characters) is kept
 * instead of the value's text: the JSON itself, kept per resource, was
 * ~26 MiB at 1,000 Services × 100 endpoints (bench/results/k8s-path.md).
 * Pure.
 */
import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted: equal values give equal text. Written out
 * rather than through JSON.stringify's replacer, which copies every object
 * (4× slower on a member list). Follows JSON.stringify otherwise: `toJSON`,
 * undefined and functions left out of objects and null in arrays.
 */
export function canonicalJson(value: unknown): string {
  return write(value, false) ?? 'undefined';
}

function write(v: unknown, inArray: boolean): string | undefined {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      break;
    default:
      return inArray ? 'null' : undefined;
  }
  if (v === null) return 'null';
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return write((toJSON as () => unknown).call(v), inArray);
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i > 0 ? ',' : '') + write(v[i], true);
    return out + ']';
  }
  const o = v as Record<string, unknown>;
  let out = '{';
  for (const k of Object.keys(o).sort()) {
    const s = write(o[k], false);
    if (s === undefined) continue;
    out += (out.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + s;
  }
  return out + '}';
}

/** The sha256 digest of a text (a file's bytes as read), base64. */
export function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}

/** The signature of a value: equal values (whatever their key order) give equal signatures. */
export function signatureOf(value: unknown): string {
  return digestOf(canonicalJson(value));
}

/** The signature of a set of entries (`path:digest`, `key@revision`): their order does not count. */
export function signatureOfSet(entries: Iterable<string>): string {
  return digestOf([...entries].sort().join('\n'));
}
