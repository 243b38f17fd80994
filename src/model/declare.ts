/**
 * The declare step: one way from a raw object (a document in a manifest file,
 * an etcd value, a REST request body, a Kubernetes object) to what the store
 * holds for it, a `Declared`: the validated resource, or the issues that say
 * why not. Every source calls it, so a source only moves bytes: it reads and
 * parses them, says where they came from and, when the place fixes it (an
 * etcd key, a REST URL, the Kubernetes watch), which resource they must be.
 * Pure.
 *
 * The rules, the same for every source:
 * - Identity. With `expected`, apiVersion, kind, metadata.name and
 *   metadata.namespace may be left out (the place gives them) and must agree
 *   with it when given; every disagreement is reported, each naming its
 *   field and the fix, and the object is not validated further. Without it
 *   the object states its own apiVersion, kind and name; the namespace
 *   defaults to `default`.
 * - Metadata. name, namespace and the raw-config annotation (it shapes
 *   HAProxy) always. An object read as a document (files, etcd, REST) keeps
 *   its labels and annotations as written, so a read shows them back; the
 *   server-side fields (uid, generation, resourceVersion, managedFields...)
 *   are dropped, since no client sets them and a copied `kubectl get -o yaml`
 *   carries stale ones. An object from an API server (`metadata: 'api-server'`)
 *   keeps uid and generation (status writes need them), and its labels and
 *   other annotations stay with the server: they do not shape HAProxy, and a
 *   change of them alone must not cost a reconcile pass.
 * - `status` belongs to the controller: always dropped.
 * - An object that names no resource (no kind, or no name, and no
 *   `expected`) gives issues and no `Declared`: there is no key to hold it.
 */
import type { Declared } from './resolve.js';
import { RAW_CONFIG_ANNOTATION } from './raw-config.js';
import { API_VERSION, DEFAULT_NAMESPACE, resourceKey, type Issue, type Kind, type ResourceKey } from './types.js';
import { describeResource, validateResource, type ValidateOptions } from './validate.js';

/** Which resource an object is. */
export interface Identity {
  kind: Kind;
  namespace: string;
  name: string;
}

/** Where an object comes from. */
export interface DeclareAt {
  /** For issues and status: `app.yaml#2`, `etcd:/prefix/backends/ns/app`, `rest`, `kubernetes`. */
  origin: string;
  /** The store source that holds it (`files`, `kubernetes`, `rest`, an etcd source's name). */
  source: string;
  /**
   * The identity the place fixes, and how to call the place in a mismatch
   * ("its key", "the URL"): `"other" does not match the URL, which names "app"`.
   */
  expected?: Identity & { by: string };
  /** `document` (default): files, etcd, REST. `api-server`: Kubernetes (see the module comment). */
  metadata?: 'document' | 'api-server';
}

/** What `declare` found: `declared` unless the object names no resource; `issues` are its issues either way. */
export interface Declaration {
  declared?: Declared;
  issues: Issue[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

/** A short description of a value that is not an object: `a list`, `the text "abc"`, `the number 5`. */
export function describeValue(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the text ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `the ${v === null ? 'value' : typeof v} ${JSON.stringify(v) ?? String(v)}`;
}

/** The identity an object claims, even when it is invalid, so its last good version can keep serving. */
export function claimedIdentity(raw: unknown): ResourceKey | undefined {
  if (!isObj(raw)) return undefined;
  const meta = isObj(raw.metadata) ? raw.metadata : {};
  if ((raw.kind !== 'Frontend' && raw.kind !== 'Backend') || typeof meta.name !== 'string') return undefined;
  return resourceKey(raw.kind, typeof meta.namespace === 'string' ? meta.namespace : DEFAULT_NAMESPACE, meta.name);
}

/**
 * The object as it is validated: identity filled in from `expected`, the
 * metadata kept by the rules above, `status` dropped. `issues` holds every
 * disagreement with `expected` (then there is no `object`).
 */
export function identifiedObject(raw: Obj, at: Pick<DeclareAt, 'expected' | 'metadata'>): { object?: Obj; issues: Issue[] } {
  const exp = at.expected;
  const issues: Issue[] = [];
  const resource = exp ? `${exp.kind} ${exp.namespace}/${exp.name}` : describeResource(raw);
  const problem = (field: string, message: string) => issues.push({ resource, field, message, reason: 'InvalidSpec' });
  const meta = raw.metadata;
  if (exp) {
    const mismatch = (field: string, given: unknown, want: string) => {
      if (given !== undefined && given !== want) {
        problem(
          field,
          `${JSON.stringify(given)} does not match ${exp.by}, which names ${JSON.stringify(want)}; leave ${field} out or set it to ${JSON.stringify(want)}`,
        );
      }
    };
    mismatch('kind', raw.kind, exp.kind);
    if (meta !== undefined && !isObj(meta)) problem('metadata', `must be an object (name, namespace, labels, annotations), not ${describeValue(meta)}`);
    else if (isObj(meta)) {
      mismatch('metadata.name', meta.name, exp.name);
      mismatch('metadata.namespace', meta.namespace, exp.namespace);
    }
    if (issues.length > 0) return { issues };
  }
  const { status: _status, metadata: _metadata, ...rest } = raw;
  const object: Obj = exp ? { ...rest, apiVersion: raw.apiVersion ?? API_VERSION, kind: exp.kind } : { ...rest };
  // Metadata that is missing or not an object goes to validation as it is: it says what is wrong.
  if (isObj(meta) || exp) object.metadata = keptMetadata(isObj(meta) ? meta : {}, exp, at.metadata ?? 'document');
  else if (meta !== undefined) object.metadata = meta;
  return { object, issues };
}

function keptMetadata(meta: Obj, exp: Identity | undefined, from: 'document' | 'api-server'): Obj {
  const kept: Obj = {};
  const name = exp ? exp.name : meta.name;
  const namespace = exp ? exp.namespace : meta.namespace;
  if (name !== undefined) kept.name = name;
  if (namespace !== undefined) kept.namespace = namespace;
  if (from === 'document') {
    if (meta.labels !== undefined) kept.labels = meta.labels;
    if (meta.annotations !== undefined) kept.annotations = meta.annotations;
    return kept;
  }
  if (meta.uid) kept.uid = meta.uid;
  if (typeof meta.generation === 'number') kept.generation = meta.generation;
  const raw = isObj(meta.annotations) ? meta.annotations[RAW_CONFIG_ANNOTATION] : undefined;
  if (raw !== undefined) kept.annotations = { [RAW_CONFIG_ANNOTATION]: raw };
  return kept;
}

/**
 * One raw object → what the store holds for it. `options` are the
 * controller's (raw configuration is refused unless enabled). Never throws.
 */
export function declare(raw: unknown, at: DeclareAt, options: ValidateOptions = {}): Declaration {
  const { origin, source, expected } = at;
  const expectedKey = expected ? resourceKey(expected.kind, expected.namespace, expected.name) : undefined;
  const withOrigin = (issues: Issue[]) => issues.map((i) => ({ origin, ...i }));
  if (!isObj(raw)) {
    const what = expected?.kind ?? 'Frontend or Backend';
    const issues = withOrigin([
      {
        ...(expected ? { resource: `${expected.kind} ${expected.namespace}/${expected.name}` } : {}),
        field: '',
        reason: 'ParseError',
        message: `is ${describeValue(raw)}, not a ${what} object; store one ${what} as a JSON or YAML object`,
      },
    ]);
    return { ...(expectedKey ? { declared: { key: expectedKey, origin, source, issues } } : {}), issues };
  }
  const id = identifiedObject(raw, at);
  if (!id.object) {
    const issues = withOrigin(id.issues);
    return { declared: { key: expectedKey!, origin, source, issues }, issues };
  }
  const v = validateResource(id.object, origin, options);
  const key = v.resource ? resourceKey(v.resource.kind, v.resource.metadata.namespace, v.resource.metadata.name) : (expectedKey ?? claimedIdentity(raw));
  if (!key) {
    const issues: Issue[] =
      v.issues.length > 0 ? v.issues : [{ origin, resource: describeResource(raw), field: 'metadata.name', reason: 'InvalidSpec', message: 'is required' }];
    return { issues };
  }
  return {
    declared: { key, origin, source, ...(v.resource ? { resource: v.resource } : {}), ...(v.partial ? { partial: v.partial } : {}), issues: v.issues },
    issues: v.issues,
  };
}
