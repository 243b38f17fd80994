/**
 * What the API server is and serves, checked once at start: its version
 * (GET /version) and whether it serves discovery.k8s.io/v1 EndpointSlices
 * (GET /apis/discovery.k8s.io/v1, Kubernetes 1.21 and newer). From these,
 * `chooseMembersFrom` decides where Backend members come from.
 */
import { DiscoveryV1Api, VersionApi, type KubeConfig } from '@kubernetes/client-node';
import { errorStatus } from './objects.js';

/** The oldest Kubernetes this controller is tested against (a real 1.20.2 kube-apiserver in CI). */
export const OLDEST_SUPPORTED_MINOR = 20;
/** discovery.k8s.io/v1 EndpointSlices: Kubernetes 1.21. */
export const ENDPOINTSLICE_V1_MINOR = 21;

export interface ServerInfo {
  /** e.g. 'v1.20.2' ('' when /version did not answer). */
  gitVersion: string;
  /** Minor version as a number (1.20.2 → 20), undefined when unknown. */
  minor: number | undefined;
  /** discovery.k8s.io/v1 serves endpointslices. */
  endpointSlicesV1: boolean;
}

/** `--members-from`: `auto` takes EndpointSlices where served, else Endpoints. */
export type MembersFromSetting = 'auto' | 'endpointslices' | 'endpoints';

export type MembersChoice = { membersFrom: 'endpointslices' | 'endpoints'; note?: string } | { problem: string };

/** Parses a minor version such as "20", "21+" (some distributions add a '+'). */
export function parseMinor(minor: unknown): number | undefined {
  const m = /^(\d+)/.exec(String(minor ?? ''));
  return m ? Number(m[1]) : undefined;
}

/** Asks the API server; throws (to be retried) when it cannot be reached. */
export async function discoverServer(kc: KubeConfig): Promise<ServerInfo> {
  const version = await kc.makeApiClient(VersionApi).getCode();
  let endpointSlicesV1: boolean;
  try {
    const list = await kc.makeApiClient(DiscoveryV1Api).getAPIResources();
    endpointSlicesV1 = (list.resources ?? []).some((r) => r.name === 'endpointslices');
  } catch (err) {
    if (errorStatus(err) !== 404) throw err;
    endpointSlicesV1 = false;
  }
  return { gitVersion: version.gitVersion ?? '', minor: parseMinor(version.minor), endpointSlicesV1 };
}

/** Where members come from on this server, or the reason the setting cannot work there. Pure. */
export function chooseMembersFrom(setting: MembersFromSetting, server: ServerInfo): MembersChoice {
  const on = server.gitVersion ? `this API server is ${server.gitVersion}` : 'this API server';
  if (setting === 'endpoints') return { membersFrom: 'endpoints' };
  if (server.endpointSlicesV1) return { membersFrom: 'endpointslices' };
  if (setting === 'endpointslices') {
    return {
      problem: `--members-from endpointslices: EndpointSlice v1 (discovery.k8s.io/v1) needs Kubernetes 1.${ENDPOINTSLICE_V1_MINOR}, and ${on} and does not serve it; use --members-from endpoints (or leave --members-from unset to choose by itself)`,
    };
  }
  return {
    membersFrom: 'endpoints',
    note: `EndpointSlice v1 (discovery.k8s.io/v1) needs Kubernetes 1.${ENDPOINTSLICE_V1_MINOR} and ${on}: members come from core/v1 Endpoints (no terminating state: a terminating pod leaves at once instead of draining)`,
  };
}

/** A warning for a server older than the oldest tested one, or undefined. Pure. */
export function versionWarning(server: ServerInfo): string | undefined {
  if (server.minor === undefined || server.minor >= OLDEST_SUPPORTED_MINOR) return undefined;
  return `this API server is ${server.gitVersion}; node-haproxy supports Kubernetes 1.${OLDEST_SUPPORTED_MINOR} and newer (1.${ENDPOINTSLICE_V1_MINOR}+ for EndpointSlices)`;
}
