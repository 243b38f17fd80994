/**
 * Resource types: what people declare. One shape for every source
 * (YAML files, Kubernetes custom resources, the REST API, etcd).
 *
 * The spec types (FrontendSpec, BackendSpec and every type in them) are
 * generated from the schema into types.generated.ts (`npm run gen`, see
 * gen-types.ts) and re-exported here; what is not the declared spec stays
 * here: the resource envelope, keys, issues and constants.
 */
import type { Balance, BackendSpec, FrontendSpec } from './types.generated.js';

export type * from './types.generated.js';
import type { HeaderValueMatch } from './types.generated.js';
/** A header or query-parameter match (the two have the same shape). */
export type ValueMatch = HeaderValueMatch;

export const API_GROUP = 'haproxy.node-haproxy.io';
export const API_VERSION_NAME = 'v1alpha1';
export const API_VERSION = `${API_GROUP}/${API_VERSION_NAME}`;
export const DEFAULT_NAMESPACE = 'default';

export const KINDS = ['Frontend', 'Backend'] as const;
export type Kind = (typeof KINDS)[number];

/** The algorithms that hash the request (http mode); rendered with `hash-type consistent`. */
export const HASH_BALANCE: readonly Balance[] = ['uri', 'url_param', 'hdr'];

export interface ObjectMeta {
  name: string;
  namespace: string;
  generation?: number;
  resourceVersion?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface ResourceStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  members?: { total: number; ready: number };
}

export interface Frontend {
  apiVersion: typeof API_VERSION;
  kind: 'Frontend';
  metadata: ObjectMeta;
  spec: FrontendSpec;
  status?: ResourceStatus;
}

export interface Backend {
  apiVersion: typeof API_VERSION;
  kind: 'Backend';
  metadata: ObjectMeta;
  spec: BackendSpec;
  status?: ResourceStatus;
}

export type Resource = Frontend | Backend;

/** `Kind/namespace/name`: the identity of a resource across sources. */
export type ResourceKey = string;

export function resourceKey(kind: Kind, namespace: string, name: string): ResourceKey {
  return `${kind}/${namespace}/${name}`;
}

export function keyOf(r: { kind: Kind; metadata: { namespace: string; name: string } }): ResourceKey {
  return resourceKey(r.kind, r.metadata.namespace, r.metadata.name);
}

export function parseKey(key: ResourceKey): { kind: Kind; namespace: string; name: string } {
  const [kind, namespace, name] = key.split('/');
  return { kind: kind as Kind, namespace: namespace ?? '', name: name ?? '' };
}

/**
 * One problem with an input. `field` is a dotted path into the resource
 * (`spec.rules[1].host`); `origin` says where the resource came from
 * (a file and document index, a Kubernetes object, an etcd key).
 */
export interface Issue {
  origin?: string;
  resource?: string;
  field: string;
  message: string;
  reason: IssueReason;
}

export type IssueReason =
  | 'ParseError'
  | 'InvalidSpec'
  | 'BackendNotFound'
  /** A TLS reference names a Secret or ConfigMap no source holds. */
  | 'SecretNotFound'
  /** A Secret's certificate, key or CA bundle does not validate (model/certificate.ts). */
  | 'InvalidCertificate'
  /** Valid, but HAProxy refuses the configuration it renders to (src/reconcile/refusals.ts). */
  | 'RejectedByHAProxy'
  | 'Conflict'
  | 'Duplicate'
  /** A referenced Secret or ConfigMap does not exist or lacks the key used. */
  | 'SecretNotFound';

export function formatIssue(i: Pick<Issue, 'field' | 'message'> & Partial<Pick<Issue, 'origin' | 'resource'>>, o: { where?: boolean } = {}): string {
  const where = o.where === false ? '' : [i.origin, i.resource].filter(Boolean).join(': ');
  return `${where ? where + ': ' : ''}${i.field ? i.field + ': ' : ''}${i.message}`;
}

/** `field: message`, without where it was found (a status message, an API error). */
export const formatProblem = (i: Pick<Issue, 'field' | 'message'>): string => formatIssue(i, { where: false });
