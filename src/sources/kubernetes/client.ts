/**
 * The API calls the Kubernetes source makes, on @kubernetes/client-node.
 * Objects of API groups are read and written as plain JSON (through the
 * custom-objects client, which does not convert them); core/v1 lists go
 * through the typed client.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { ListFunction, ListPage } from './reflector.js';
import type { KubeObject } from './objects.js';

export interface ApiResource {
  /** '' for core/v1. */
  group: string;
  version: string;
  plural: string;
}

export const RESOURCES = {
  frontends: { group: 'haproxy.node-haproxy.io', version: 'v1alpha1', plural: 'frontends' },
  backends: { group: 'haproxy.node-haproxy.io', version: 'v1alpha1', plural: 'backends' },
  services: { group: '', version: 'v1', plural: 'services' },
  endpoints: { group: '', version: 'v1', plural: 'endpoints' },
  secrets: { group: '', version: 'v1', plural: 'secrets' },
  configmaps: { group: '', version: 'v1', plural: 'configmaps' },
  endpointslices: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices' },
  leases: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases' },
  events: { group: 'events.k8s.io', version: 'v1', plural: 'events' },
} as const satisfies Record<string, ApiResource>;

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** How to reach the API server: an explicit KubeConfig (tests), a kubeconfig file, or the default chain. */
export interface ClusterAccess {
  kubeConfig?: KubeConfig;
  /** A kubeconfig file; without it: $KUBECONFIG, ~/.kube/config, then the in-cluster service account. */
  kubeconfigPath?: string;
  /** Use the in-cluster service account only. */
  inCluster?: boolean;
}

export function loadKubeConfig(access: ClusterAccess): KubeConfig {
  if (access.kubeConfig) return access.kubeConfig;
  const kc = new KubeConfig();
  try {
    if (access.inCluster) kc.loadFromCluster();
    else if (access.kubeconfigPath) kc.loadFromFile(access.kubeconfigPath);
    else kc.loadFromDefault();
  } catch (err) {
    throw new Error(
      `cannot load a Kubernetes configuration${access.kubeconfigPath ? ` from ${access.kubeconfigPath}` : ''}: pass --kubeconfig FILE, or run in a pod with a service account`,
      { cause: err },
    );
  }
  if (!kc.getCurrentCluster()) {
    throw new Error('the Kubernetes configuration names no current cluster: pass --kubeconfig FILE or set its current-context');
  }
  return kc;
}

/** The namespace of the current context (in a pod: the pod's namespace), if any. */
export function contextNamespace(kc: KubeConfig): string | undefined {
  return kc.getContextObject(kc.getCurrentContext())?.namespace || undefined;
}

export function collectionPath(r: ApiResource, namespace?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return namespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

function page(list: KubernetesListObject<KubernetesObject> | Record<string, unknown>): ListPage {
  const l = list as { items?: KubeObject[]; metadata?: { resourceVersion?: string; _continue?: string; continue?: string } };
  return {
    items: (l.items ?? []) as KubeObject[],
    resourceVersion: l.metadata?.resourceVersion ?? '',
    continueToken: l.metadata?._continue ?? l.metadata?.continue,
  };
}

export class KubeClient {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;

  constructor(readonly kubeConfig: KubeConfig) {
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  /** A paged list of `r` in `namespace` (all namespaces when undefined). */
  listFunction(r: ApiResource, namespace: string | undefined, labelSelector?: string, fieldSelector?: string): ListFunction {
    if (r.group === '') {
      const core = this.core;
      if (r.plural === 'secrets') {
        return async ({ limit, continueToken }) =>
          page(
            namespace
              ? await core.listNamespacedSecret({ namespace, limit, _continue: continueToken, labelSelector, fieldSelector })
              : await core.listSecretForAllNamespaces({ limit, _continue: continueToken, labelSelector, fieldSelector }),
          );
      }
      if (r.plural === 'configmaps') {
        return async ({ limit, continueToken }) =>
          page(
            namespace
              ? await core.listNamespacedConfigMap({ namespace, limit, _continue: continueToken, labelSelector, fieldSelector })
              : await core.listConfigMapForAllNamespaces({ limit, _continue: continueToken, labelSelector, fieldSelector }),
          );
      }
      if (r.plural === 'services') {
        return async ({ limit, continueToken }) =>
          page(
            namespace
              ? await core.listNamespacedService({ namespace, limit, _continue: continueToken, labelSelector })
              : await core.listServiceForAllNamespaces({ limit, _continue: continueToken, labelSelector }),
          );
      }
      if (r.plural === 'endpoints') {
        return async ({ limit, continueToken }) =>
          page(
            namespace
              ? await core.listNamespacedEndpoints({ namespace, limit, _continue: continueToken, labelSelector })
              : await core.listEndpointsForAllNamespaces({ limit, _continue: continueToken, labelSelector }),
          );
      }
      throw new Error(`no list function for core/v1 ${r.plural}`);
    }
    const at = { group: r.group, version: r.version, plural: r.plural };
    return async ({ limit, continueToken }) =>
      page(
        (namespace
          ? await this.custom.listNamespacedCustomObject({ ...at, namespace, limit, _continue: continueToken, labelSelector })
          : await this.custom.listClusterCustomObject({ ...at, limit, _continue: continueToken, labelSelector })) as Record<string, unknown>,
      );
  }

  get(r: ApiResource, namespace: string, name: string): Promise<KubeObject> {
    return this.custom.getNamespacedCustomObject({ ...r, namespace, name }) as Promise<KubeObject>;
  }

  create(r: ApiResource, namespace: string, body: KubeObject): Promise<KubeObject> {
    return this.custom.createNamespacedCustomObject({ ...r, namespace, body }) as Promise<KubeObject>;
  }

  /** PUT with the body's metadata.resourceVersion: 409 when someone wrote in between. */
  replace(r: ApiResource, namespace: string, name: string, body: KubeObject): Promise<KubeObject> {
    return this.custom.replaceNamespacedCustomObject({ ...r, namespace, name, body }) as Promise<KubeObject>;
  }

  mergePatch(r: ApiResource, namespace: string, name: string, body: object): Promise<KubeObject> {
    return this.custom.patchNamespacedCustomObject({ ...r, namespace, name, body }, MERGE_PATCH) as Promise<KubeObject>;
  }

  /** JSON merge patch on the status subresource. */
  patchStatus(r: ApiResource, namespace: string, name: string, status: object): Promise<KubeObject> {
    return this.custom.patchNamespacedCustomObjectStatus({ ...r, namespace, name, body: { status } }, MERGE_PATCH) as Promise<KubeObject>;
  }
}
