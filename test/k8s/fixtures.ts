/** Object builders for tests of the Kubernetes source: CRs, Services, EndpointSlices, Endpoints. */
import type { KubeObject } from './objects.js';
import { HAPROXY_API_VERSION } from './resources.js';

export interface SliceEndpoint {
  address: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export function frontendObject(name: string, spec: Record<string, unknown>, namespace = 'default'): KubeObject {
  return { apiVersion: HAPROXY_API_VERSION, kind: 'Frontend', metadata: { name, namespace }, spec };
}

export function backendObject(name: string, spec: Record<string, unknown>, namespace = 'default'): KubeObject {
  return { apiVersion: HAPROXY_API_VERSION, kind: 'Backend', metadata: { name, namespace }, spec };
}

/** A ClusterIP Service with named TCP ports. */
export function serviceObject(name: string, ports: Array<{ name?: string; port: number; targetPort?: number | string }>, namespace = 'default'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { type: 'ClusterIP', selector: { app: name }, ports: ports.map((p) => ({ protocol: 'TCP', targetPort: p.port, ...p })) },
  };
}

/** An EndpointSlice of `service` with one port (named like the Service port) and the given endpoints. */
export function sliceObject(
  name: string,
  service: string,
  port: { name?: string; port: number },
  endpoints: SliceEndpoint[],
  namespace = 'default',
): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'test' } },
    addressType: 'IPv4',
    ports: [{ name: port.name ?? '', port: port.port, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.address],
      conditions: {
        ready: e.ready ?? true,
        serving: e.serving ?? e.ready ?? true,
        terminating: e.terminating ?? false,
      },
    })),
  };
}

/** A core/v1 Endpoints object with one subset per port. */
export function endpointsObject(
  service: string,
  subsets: Array<{ port: { name?: string; port: number }; ready: string[]; notReady?: string[] }>,
  namespace = 'default',
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: service, namespace },
    subsets: subsets.map((s) => ({
      addresses: s.ready.map((ip) => ({ ip })),
      ...(s.notReady?.length ? { notReadyAddresses: s.notReady.map((ip) => ({ ip })) } : {}),
      ports: [{ name: s.port.name ?? '', port: s.port.port, protocol: 'TCP' }],
    })),
  };
}

interface StatusLike {
  observedGeneration?: number;
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }>;
  members?: { total: number; ready: number };
}

/** The status of a stored object. */
export function statusOf(obj: KubeObject | undefined): StatusLike | undefined {
  return obj?.status as StatusLike | undefined;
}

/** `Accepted=True/Accepted` style summary of a condition, or undefined. */
export function condition(
  obj: KubeObject | undefined,
  type: string,
): { status: string; reason?: string; message?: string; lastTransitionTime?: string } | undefined {
  return statusOf(obj)?.conditions?.find((c) => c.type === type);
}

/**
 * Creates or updates `obj` the way `kubectl apply` does to a resource with a
 * status subresource: the stored status stays (KubeApiTestServer.apply alone
 * replaces spec and status alike).
 */
export function applySpec(
  server: { apply(o: KubeObject): KubeObject; getObject(kind: string, ns: string | undefined, name: string): KubeObject | undefined },
  obj: KubeObject,
): KubeObject {
  const current = server.getObject(obj.kind!, obj.metadata.namespace ?? 'default', obj.metadata.name!);
  return server.apply(current?.status === undefined ? obj : { ...obj, status: current.status });
}
