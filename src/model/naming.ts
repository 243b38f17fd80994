/** Names the model gives HAProxy objects. Pure. */

/**
 * HAProxy proxy name for a resource. Kubernetes names never contain `_`, so
 * `namespace_name` is unique; HAProxy accepts letters, digits, `-_.:` in names.
 */
export function proxyName(namespace: string, name: string): string {
  return `${namespace}_${name}`;
}
