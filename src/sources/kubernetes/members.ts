/**
 * Members of a Backend with `spec.service`, from the Service and its
 * EndpointSlices (or core/v1 Endpoints). Pure.
 *
 * Port: `service.port` is matched against the Service's ports, by number
 * (`port`) or by name; the endpoints carry the resolved target port under
 * the Service port's name.
 *
 * States:
 * - ready (`conditions.ready` true or unset): `ready`, in rotation;
 * - terminating but still serving: `drain` (finishes its sessions, takes no new ones);
 * - anything else (not ready, or terminating and not serving): `maint`,
 *   out of rotation but kept, so a pod that becomes ready again is one
 *   runtime state change, and `status.members.total` counts it.
 *
 * Member names are derived from the address and port
 * (`10.1.2.3_8080`, `fd00-1--5_8080`): stable per endpoint, so scaling adds
 * and removes servers through the runtime API without a reload.
 */
import type { Member, MemberState, ServiceRef } from '../../model/types.js';
import type { KubeObject } from './objects.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export type ServiceProblemReason = 'ServiceNotFound' | 'PortNotFound' | 'UnsupportedService';

export interface MemberResolution {
  members: Member[];
  /** Set when the Service reference cannot be resolved; members are then empty. */
  problem?: { reason: ServiceProblemReason; message: string };
  /** For messages: `port http (80) → target port 8080`. */
  port?: string;
}

interface ServicePort {
  name?: string;
  port?: number;
  protocol?: string;
}

interface EndpointPort {
  name?: string;
  port?: number;
  protocol?: string;
}

const STATE_RANK: Record<MemberState, number> = { ready: 3, drain: 2, maint: 1 };

/** HAProxy server name for an endpoint: letters, digits, `_`, `.`, `-` (IPv6 `:` becomes `-`). */
export function memberName(address: string, port: number): string {
  const a = address.replace(/:/g, '-');
  return `${a.startsWith('-') ? '0' : ''}${a}_${port}`;
}

function asArray<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

function servicePorts(service: KubeObject): ServicePort[] {
  return asArray<ServicePort>((service.spec as { ports?: unknown } | undefined)?.ports);
}

const isTcp = (p: { protocol?: string }) => (p.protocol ?? 'TCP') === 'TCP';

function describePorts(ports: ServicePort[]): string {
  if (ports.length === 0) return 'it has no ports';
  return `it has ${ports.map((p) => (p.name ? `${p.name} (${p.port})` : String(p.port))).join(', ')}`;
}

/** Finds the Service port a Backend names, or says why there is none. */
export function resolveServicePort(ref: ServiceRef, service: KubeObject): { port: ServicePort } | { problem: MemberResolution['problem'] } {
  const spec = (service.spec ?? {}) as { type?: string };
  const ns = service.metadata.namespace ?? '';
  if (spec.type === 'ExternalName') {
    return {
      problem: {
        reason: 'UnsupportedService',
        message: `Service ${ns}/${ref.name} is of type ExternalName and has no endpoints; list its address under spec.members instead`,
      },
    };
  }
  const ports = servicePorts(service).filter(isTcp);
  const port = typeof ref.port === 'number' ? ports.find((p) => p.port === ref.port) : ports.find((p) => p.name === ref.port);
  if (!port) {
    return {
      problem: {
        reason: 'PortNotFound',
        message: `Service ${ns}/${ref.name} has no TCP port ${typeof ref.port === 'number' ? ref.port : `named "${ref.port}"`}; ${describePorts(ports)}`,
      },
    };
  }
  return { port };
}

function sameName(endpointPort: EndpointPort, servicePort: ServicePort): boolean {
  return (endpointPort.name ?? '') === (servicePort.name ?? '') && isTcp(endpointPort);
}

function add(out: Map<string, Member>, address: string | undefined, port: number | undefined, state: MemberState): void {
  if (!address || !port) return;
  const name = memberName(address, port);
  const before = out.get(name);
  if (before && STATE_RANK[before.state] >= STATE_RANK[state]) return;
  out.set(name, { name, address, port, weight: 100, state });
}

function finish(out: Map<string, Member>, servicePort: ServicePort): MemberResolution {
  const members = [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const targets = [...new Set(members.map((m) => m.port))].join(', ');
  const label = servicePort.name ? `${servicePort.name} (${servicePort.port})` : String(servicePort.port);
  return { members, port: `port ${label}${targets ? ` → target port ${targets}` : ''}` };
}

interface SliceEndpoint {
  addresses?: string[];
  conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
}

/** The state an EndpointSlice endpoint maps to (unset conditions read as the API documents). */
export function sliceEndpointState(e: SliceEndpoint): MemberState {
  const c = e.conditions ?? {};
  const ready = c.ready ?? true;
  const terminating = c.terminating ?? false;
  const serving = c.serving ?? ready;
  if (terminating) return serving ? 'drain' : 'maint';
  return ready ? 'ready' : 'maint';
}

/**
 * What the cache keeps of an EndpointSlice's endpoints (slimEndpointSlice):
 * each endpoint as its first address and its state, in two parallel arrays.
 * At 100,000 endpoints the decoded slices (an object, an addresses array and
 * a conditions object per endpoint; on a real cluster also targetRef,
 * nodeName, zone, hints, managedFields) held ~15 MiB of heap; slimmed, ~3 MiB
 * (bench/k8s-path).
 */
export interface SlimSliceEndpoints {
  addresses: string[];
  states: MemberState[];
}

/** The field of a slimmed EndpointSlice that replaces `endpoints`. */
export const SLIM_ENDPOINTS = 'slimEndpoints';

/**
 * What the cache keeps of an EndpointSlice, all that membersFromSlices and the
 * slice → Service index read: name, namespace, uid, resourceVersion, the
 * Service-name label, addressType, ports, and per endpoint its first address and
 * its state (managedFields, other labels, annotations and every other endpoint
 * field are dropped). Pure.
 */
export function slimEndpointSlice(slice: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion, labels } = slice.metadata;
  const service = labels?.[SERVICE_NAME_LABEL];
  const addresses: string[] = [];
  const states: MemberState[] = [];
  for (const e of asArray<SliceEndpoint>(slice.endpoints)) {
    const address = e.addresses?.[0];
    if (!address) continue;
    addresses.push(address);
    states.push(sliceEndpointState(e));
  }
  const endpoints: SlimSliceEndpoints = { addresses, states };
  return {
    metadata: { name, namespace, uid, resourceVersion, ...(service !== undefined ? { labels: { [SERVICE_NAME_LABEL]: service } } : {}) },
    addressType: slice.addressType,
    ports: asArray<EndpointPort>(slice.ports).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
    [SLIM_ENDPOINTS]: endpoints,
  };
}

/** What the cache keeps of a Service: name, namespace, uid, resourceVersion, spec.type and spec.ports. Pure. */
export function slimService(service: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion } = service.metadata;
  const spec = (service.spec ?? {}) as { type?: string; ports?: unknown };
  const ports = asArray<ServicePort & { targetPort?: unknown }>(spec.ports).map((p) => ({
    name: p.name,
    port: p.port,
    protocol: p.protocol,
    targetPort: p.targetPort,
  }));
  return { metadata: { name, namespace, uid, resourceVersion }, spec: { ...(spec.type !== undefined ? { type: spec.type } : {}), ports } };
}

/** What the cache keeps of a core/v1 Endpoints object: per subset the addresses' and not-ready addresses' IPs, and its ports. Pure. */
export function slimEndpoints(endpoints: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion } = endpoints.metadata;
  const ips = (list: unknown) => asArray<{ ip?: string }>(list).map((a) => ({ ip: a.ip }));
  const subsets = asArray<EndpointSubset>(endpoints.subsets).map((s) => ({
    addresses: ips(s.addresses),
    notReadyAddresses: ips(s.notReadyAddresses),
    ports: asArray<EndpointPort>(s.ports).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
  }));
  return { metadata: { name, namespace, uid, resourceVersion }, subsets };
}

/** Members from the EndpointSlices labelled with the Service's name (as the API server sends them, or slimmed by slimEndpointSlice). */
export function membersFromSlices(ref: ServiceRef, service: KubeObject | undefined, slices: readonly KubeObject[], namespace: string): MemberResolution {
  if (!service) return { members: [], problem: serviceNotFound(namespace, ref.name) };
  const resolved = resolveServicePort(ref, service);
  if ('problem' in resolved) return { members: [], problem: resolved.problem };
  const out = new Map<string, Member>();
  for (const slice of slices) {
    const addressType = slice.addressType as string | undefined;
    if (addressType !== 'IPv4' && addressType !== 'IPv6') continue; // FQDN slices are not supported
    const port = asArray<EndpointPort>(slice.ports).find((p) => sameName(p, resolved.port));
    if (!port?.port) continue;
    const slim = slice[SLIM_ENDPOINTS] as SlimSliceEndpoints | undefined;
    if (slim) {
      for (let i = 0; i < slim.addresses.length; i++) add(out, slim.addresses[i], port.port, slim.states[i]!);
      continue;
    }
    for (const e of asArray<SliceEndpoint>(slice.endpoints)) {
      // "Consumers may choose to only use the first element": the addresses are fungible.
      add(out, e.addresses?.[0], port.port, sliceEndpointState(e));
    }
  }
  return finish(out, resolved.port);
}

interface EndpointSubset {
  addresses?: Array<{ ip?: string }>;
  notReadyAddresses?: Array<{ ip?: string }>;
  ports?: EndpointPort[];
}

/** Members from the core/v1 Endpoints object of the Service (no terminating state there). */
export function membersFromEndpoints(ref: ServiceRef, service: KubeObject | undefined, endpoints: KubeObject | undefined, namespace: string): MemberResolution {
  if (!service) return { members: [], problem: serviceNotFound(namespace, ref.name) };
  const resolved = resolveServicePort(ref, service);
  if ('problem' in resolved) return { members: [], problem: resolved.problem };
  const out = new Map<string, Member>();
  for (const subset of asArray<EndpointSubset>(endpoints?.subsets)) {
    const port = asArray<EndpointPort>(subset.ports).find((p) => sameName(p, resolved.port));
    if (!port?.port) continue;
    for (const a of asArray<{ ip?: string }>(subset.addresses)) add(out, a.ip, port.port, 'ready');
    for (const a of asArray<{ ip?: string }>(subset.notReadyAddresses)) add(out, a.ip, port.port, 'maint');
  }
  return finish(out, resolved.port);
}

function serviceNotFound(namespace: string, name: string): MemberResolution['problem'] {
  return { reason: 'ServiceNotFound', message: `Service ${namespace}/${name} does not exist; create it or fix spec.service.name` };
}
