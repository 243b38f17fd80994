/** Discovery documents (/api, /apis, /apis/<group>[/<version>], /version) built from the resource table. */
import { apiVersionOf, type ResourceRegistry, type ResourceType } from './resources.js';

const RESOURCE_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];

export const SERVER_VERSION = {
  major: '1',
  minor: '31',
  gitVersion: 'v1.31.0',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2024-08-13T00:00:00Z',
  goVersion: 'go1.22.5',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function resourceEntries(rt: ResourceType): object[] {
  const main = {
    name: rt.plural,
    singularName: rt.singular,
    namespaced: rt.namespaced,
    kind: rt.kind,
    verbs: RESOURCE_VERBS,
    ...(rt.shortNames.length > 0 ? { shortNames: rt.shortNames } : {}),
  };
  if (!rt.statusSubresource) return [main];
  return [main, { name: `${rt.plural}/status`, singularName: '', namespaced: rt.namespaced, kind: rt.kind, verbs: STATUS_VERBS }];
}

function groupVersionRef(group: string, version: string): { groupVersion: string; version: string } {
  return { groupVersion: `${group}/${version}`, version };
}

function apiGroup(registry: ResourceRegistry, group: string): object | undefined {
  const versions = registry
    .groupVersions()
    .filter((gv) => gv.group === group)
    .map((gv) => groupVersionRef(gv.group, gv.version));
  if (versions.length === 0) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions, preferredVersion: versions[0] };
}

function resourceList(registry: ResourceRegistry, group: string, version: string): object | undefined {
  const types = registry.inGroupVersion(group, version);
  if (types.length === 0) return undefined;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(types[0]), resources: types.flatMap(resourceEntries) };
}

function apiGroupList(registry: ResourceRegistry): object {
  const groups = [...new Set(registry.all.map((rt) => rt.group).filter((g) => g !== ''))];
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => apiGroup(registry, g)) };
}

/**
 * The discovery document for a path split into segments, or undefined when
 * the path is not a discovery path (or names an unknown group/version).
 */
export function discoveryDocument(segments: readonly string[], registry: ResourceRegistry, serverAddress: string): object | undefined {
  const [root, first, second] = segments;
  if (root === 'version' && segments.length === 1) return SERVER_VERSION;
  if (root === 'api') {
    if (segments.length === 1) {
      return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
    }
    if (segments.length === 2) return resourceList(registry, '', first);
  }
  if (root === 'apis') {
    if (segments.length === 1) return apiGroupList(registry);
    if (segments.length === 2) return apiGroup(registry, first);
    if (segments.length === 3) return resourceList(registry, first, second);
  }
  return undefined;
}
