/**
 * The resource table of the test API server. Each entry describes one kind the
 * server serves and the storage-strategy facts of the real apiserver that a
 * controller can observe (see k8s.io/kubernetes pkg/registry/<group>/<kind>/strategy.go
 * and apiextensions-apiserver's customresource strategy).
 *
 * Adding a kind is one line in DEFAULT_RESOURCES, or pass extra entries to
 * the KubeApiTestServer constructor.
 */

export interface ResourceType {
  /** API group; '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** Lower-case plural used in URLs, e.g. 'services'. */
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  /** Has a /status subresource: main writes keep the stored status, /status writes change only status. */
  readonly statusSubresource: boolean;
  /** metadata.generation starts at 1 and is bumped when anything but metadata and status changes. */
  readonly tracksGeneration: boolean;
  /** A custom resource: list items carry kind/apiVersion and strategic merge patch is refused (415). */
  readonly custom: boolean;
  /** PUT on a missing object creates it (AllowCreateOnUpdate). */
  readonly createOnUpdate: boolean;
  /** PUT without metadata.resourceVersion is accepted (AllowUnconditionalUpdate). */
  readonly unconditionalUpdate: boolean;
  /** DELETE answers with the deleted object rather than a Success Status. */
  readonly deleteReturnsObject: boolean;
  /** Field selector labels beyond metadata.name and metadata.namespace: label -> dotted path into the object. */
  readonly fieldLabels: Readonly<Record<string, string>>;
  readonly shortNames: readonly string[];
  /** Names must be RFC 1035 labels (Services) instead of RFC 1123 subdomains. */
  readonly dns1035Name: boolean;
}

type ResourceTraits = Partial<Omit<ResourceType, 'group' | 'version' | 'kind'>>;

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** A built-in kind, with the generic registry's defaults. */
export function builtinResource(apiVersion: string, kind: string, traits: ResourceTraits = {}): ResourceType {
  return {
    ...splitApiVersion(apiVersion),
    kind,
    plural: `${kind.toLowerCase()}s`,
    singular: kind.toLowerCase(),
    namespaced: true,
    statusSubresource: false,
    tracksGeneration: false,
    custom: false,
    createOnUpdate: false,
    unconditionalUpdate: true,
    deleteReturnsObject: false,
    fieldLabels: {},
    shortNames: [],
    dns1035Name: false,
    ...traits,
  };
}

/** A custom resource as served for a CRD with `subresources.status` (the common case). */
export function customResource(apiVersion: string, kind: string, traits: ResourceTraits = {}): ResourceType {
  return builtinResource(apiVersion, kind, {
    statusSubresource: true,
    tracksGeneration: true,
    custom: true,
    unconditionalUpdate: false,
    deleteReturnsObject: true,
    ...traits,
  });
}

export const HAPROXY_API_VERSION = 'haproxy.node-haproxy.io/v1alpha1';

const CORE_EVENT_FIELDS: Record<string, string> = {
  ...Object.fromEntries(
    ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath'].map((f) => [`involvedObject.${f}`, `involvedObject.${f}`]),
  ),
  reason: 'reason',
  reportingComponent: 'reportingComponent',
  source: 'source.component',
  type: 'type',
};

export const DEFAULT_RESOURCES: readonly ResourceType[] = [
  builtinResource('v1', 'Service', { statusSubresource: true, deleteReturnsObject: true, dns1035Name: true, shortNames: ['svc'] }),
  builtinResource('v1', 'Endpoints', { plural: 'endpoints', singular: 'endpoints', createOnUpdate: true, shortNames: ['ep'] }),
  builtinResource('v1', 'Event', { createOnUpdate: true, fieldLabels: CORE_EVENT_FIELDS, shortNames: ['ev'] }),
  // Secrets select on `type` (pkg/registry/core/secret/strategy.go SelectableFields); ConfigMaps on name and namespace only.
  builtinResource('v1', 'Secret', { fieldLabels: { type: 'type' } }),
  builtinResource('v1', 'ConfigMap', { shortNames: ['cm'] }),
  builtinResource('events.k8s.io/v1', 'Event', { createOnUpdate: true, shortNames: ['ev'] }),
  builtinResource('discovery.k8s.io/v1', 'EndpointSlice', { tracksGeneration: true }),
  builtinResource('coordination.k8s.io/v1', 'Lease', { createOnUpdate: true, unconditionalUpdate: false }),
  customResource(HAPROXY_API_VERSION, 'Frontend'),
  customResource(HAPROXY_API_VERSION, 'Backend'),
];

export function apiVersionOf(rt: ResourceType): string {
  return rt.group === '' ? rt.version : `${rt.group}/${rt.version}`;
}

/** 'services' or 'leases.coordination.k8s.io', as the apiserver names a resource in messages. */
export function qualifiedResource(rt: ResourceType): string {
  return rt.group === '' ? rt.plural : `${rt.plural}.${rt.group}`;
}

/** 'Service' or 'Frontend.haproxy.node-haproxy.io', as the apiserver names a kind in Invalid errors. */
export function qualifiedKind(rt: ResourceType): string {
  return rt.group === '' ? rt.kind : `${rt.kind}.${rt.group}`;
}

/** Lookups over a set of resource types. */
export class ResourceRegistry {
  readonly all: readonly ResourceType[];

  constructor(types: readonly ResourceType[]) {
    this.all = types;
  }

  byPath(group: string, version: string, plural: string): ResourceType | undefined {
    return this.all.find((rt) => rt.group === group && rt.version === version && rt.plural === plural);
  }

  byApiVersionKind(apiVersion: string, kind: string): ResourceType | undefined {
    const { group, version } = splitApiVersion(apiVersion);
    return this.all.find((rt) => rt.group === group && rt.version === version && rt.kind === kind);
  }

  /**
   * Resolves 'Frontend', 'Event.events.k8s.io' (Kind.group) or a plural such as 'leases'.
   * A bare kind served by several groups resolves to the core group first, like kubectl.
   */
  byKindName(name: string): ResourceType | undefined {
    const dot = name.indexOf('.');
    if (dot > 0) {
      const kind = name.slice(0, dot);
      const group = name.slice(dot + 1);
      return this.all.find((rt) => rt.group === group && (rt.kind === kind || rt.plural === kind));
    }
    const matches = this.all.filter((rt) => rt.kind === name || rt.plural === name);
    return matches.find((rt) => rt.group === '') ?? matches[0];
  }

  groupVersions(): Array<{ group: string; version: string }> {
    const seen = new Map<string, { group: string; version: string }>();
    for (const rt of this.all) seen.set(`${rt.group}/${rt.version}`, { group: rt.group, version: rt.version });
    return [...seen.values()];
  }

  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.all.filter((rt) => rt.group === group && rt.version === version);
  }
}
