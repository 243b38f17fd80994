/**
 * The `run` flags of the Kubernetes source: their parseArgs specs, help text
 * and translation into KubernetesOptions. The CLI passes in the environment
 * (POD_NAME, POD_NAMESPACE from the downward API) and the host name.
 */
import type { KubernetesOptions } from './integration.js';

export const KUBERNETES_FLAGS = {
  kubeconfig: { type: 'string' },
  namespace: { type: 'string' },
  'members-from': { type: 'string' },
  'no-leader-election': { type: 'boolean' },
  'leader-election-namespace': { type: 'string' },
  'leader-election-name': { type: 'string' },
  'lease-duration-ms': { type: 'string' },
  'renew-deadline-ms': { type: 'string' },
  'retry-period-ms': { type: 'string' },
  'resync-period-ms': { type: 'string' },
  identity: { type: 'string' },
} as const;

export const KUBERNETES_HELP = `Kubernetes (--source kubernetes):
  --kubeconfig FILE            Cluster access (default: $KUBECONFIG, ~/.kube/config, then the
                               pod's service account)
  --namespace NS               Watch Frontends, Backends, Services and endpoints in NS only
                               (default: all namespaces)
  --members-from KIND          auto (default: EndpointSlices where the API server serves
                               discovery.k8s.io/v1, Kubernetes 1.21+, else Endpoints),
                               endpointslices, or endpoints (core/v1)
  --identity NAME              This replica's name in the Lease and in Events
                               (default: $POD_NAME, else the host name)
  --no-leader-election         Always write status and events (a single replica)
  --leader-election-namespace NS  Namespace of the Lease (default: $POD_NAMESPACE, else the
                               kubeconfig context's namespace, else default)
  --leader-election-name NAME  Lease name (default: node-haproxy)
  --lease-duration-ms N        Lease validity after the last renewal (default: 15000)
  --renew-deadline-ms N        The leader steps down when it cannot renew for N ms (default: 10000)
  --retry-period-ms N          Time between lease attempts (default: 2000)
  --resync-period-ms N         Full relist of every watched kind (default: 600000; 0 disables)`;

export type KubernetesFlagValues = { [K in keyof typeof KUBERNETES_FLAGS]?: (typeof KUBERNETES_FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

function whole(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number of milliseconds, not ${v}`);
  return n;
}

/** KubernetesOptions from the flags; throws an Error whose message names the bad flag. */
export function kubernetesOptions(
  values: KubernetesFlagValues,
  env: { POD_NAME?: string; POD_NAMESPACE?: string },
  hostname: string,
): Partial<KubernetesOptions> {
  const membersFrom = values['members-from'];
  if (membersFrom !== undefined && membersFrom !== 'auto' && membersFrom !== 'endpointslices' && membersFrom !== 'endpoints') {
    throw new Error(`--members-from must be auto, endpointslices or endpoints, not ${membersFrom}`);
  }
  const out: Partial<KubernetesOptions> = {
    identity: values.identity ?? env.POD_NAME ?? hostname,
  };
  if (values.kubeconfig) out.kubeconfigPath = values.kubeconfig;
  if (values.namespace) out.namespace = values.namespace;
  if (membersFrom) out.membersFrom = membersFrom;
  const resync = whole('resync-period-ms', values['resync-period-ms']);
  if (resync !== undefined) out.resyncPeriodMs = resync;
  if (values['no-leader-election']) out.leaderElection = false;
  else {
    out.leaderElection = {
      namespace: values['leader-election-namespace'] ?? env.POD_NAMESPACE,
      name: values['leader-election-name'],
      leaseDurationMs: whole('lease-duration-ms', values['lease-duration-ms']),
      renewDeadlineMs: whole('renew-deadline-ms', values['renew-deadline-ms']),
      retryPeriodMs: whole('retry-period-ms', values['retry-period-ms']),
    };
  }
  return out;
}
