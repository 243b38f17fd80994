/** Names the model gives HAProxy objects. Pure. */

/**
 * HAProxy proxy name for a resource. Kubernetes names never contain `_`, so
 * `namespace_name` is unique; HAProxy accepts letters, digits, `-_.:` in names.
 */
export function proxyName(namespace: string, name: string): string {
  return `${namespace}_${name}`;
}

/** `addr:port` as HAProxy reads it (`[::1]:80` for IPv6). */
export function endpoint(address: string, port: number): string {
  const s = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  s.charCodeAt(0); // flat, not a tree of concatenations: one per server, kept as long as its model
  return s;
}
