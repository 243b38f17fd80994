/**
 * Discovered data: what a source finds for a declared resource beside the
 * resource itself (Kubernetes endpoints for a Backend with `spec.service`;
 * next, certificates, CA bundles and user lists from Secrets). Pure.
 *
 * One mechanism for every kind of it:
 * - a source writes values into the store by kind and resource key
 *   (`Store.setDiscovered(source, kind, key, value)`), and nothing else;
 * - the store's snapshot carries them as `discovered` (kind → key → value);
 * - `resolve` merges them into each candidate resource through the kind's
 *   `apply` (registered in DISCOVERED_KINDS below), before references are
 *   checked, so a resolved resource is what should serve.
 *
 * A new kind is one entry here (its value type and how it enters the
 * resource) plus the source that writes it; the store, resolve, desired and
 * the planner do not change.
 *
 * Caching: `mergeDiscovered` returns the same object for the same declared
 * resource and the same discovered values (compared by identity; the store
 * keeps a value's object until a source writes a new one). The render model
 * and the rendered text are cached by resolved object (render/model.ts,
 * render/render.ts), so they are keyed explicitly by resource and
 * discovered inputs: an unchanged Service-backed Backend is not modelled or
 * rendered again.
 */
import type { Backend, Member, Resource, ResourceKey } from './types.js';

/** Discovered values of one kind, by resource key. */
export type DiscoveredValues<T = unknown> = ReadonlyMap<ResourceKey, T>;
/** Every kind of discovered data, by kind name. */
export type Discovered = ReadonlyMap<string, DiscoveredValues>;

export interface DiscoveredKind<T = unknown> {
  /** The kind name sources write under (`members`, later `certificates`...). */
  name: string;
  /**
   * The resource with `value` merged in, or the resource itself when the kind
   * does not apply to it. Pure; must not mutate `resource` or `value`.
   */
  apply(resource: Resource, value: T): Resource;
}

/** Members of a Backend with `spec.service`, from Kubernetes endpoints; they replace `spec.members`. */
export const MEMBERS: DiscoveredKind<readonly Member[]> = {
  name: 'members',
  apply(resource, members) {
    if (resource.kind !== 'Backend' || !resource.spec.service) return resource;
    const b: Backend = { ...resource, spec: { ...resource.spec, members: [...members] } };
    return b;
  },
};

/** Every kind resolve merges, in this order. Add a kind here. */
export const DISCOVERED_KINDS: readonly DiscoveredKind<never>[] = [MEMBERS as DiscoveredKind<never>];

/**
 * Cache of merged resources: declared resource → the discovered values it was
 * merged with, and the result. Weak: a resource gone from the store goes from here.
 */
const merged = new WeakMap<Resource, { inputs: unknown[]; out: Resource }>();

/**
 * `resource` with every discovered value for `key` merged in, through each
 * kind's `apply`. The same resource object and the same value objects give
 * the same result object, so caches keyed by resolved object hit.
 */
export function mergeDiscovered(
  resource: Resource,
  key: ResourceKey,
  discovered: Discovered | undefined,
  kinds: readonly DiscoveredKind<never>[] = DISCOVERED_KINDS,
): Resource {
  if (!discovered || discovered.size === 0) return resource;
  let any = false;
  const inputs = kinds.map((k) => {
    const v = discovered.get(k.name)?.get(key);
    if (v !== undefined) any = true;
    return v;
  });
  if (!any) return resource;
  const hit = merged.get(resource);
  if (hit && hit.inputs.length === inputs.length && hit.inputs.every((v, i) => v === inputs[i])) return hit.out;
  let out = resource;
  kinds.forEach((k, i) => {
    if (inputs[i] !== undefined) out = (k as DiscoveredKind<unknown>).apply(out, inputs[i]);
  });
  merged.set(resource, { inputs, out });
  return out;
}
