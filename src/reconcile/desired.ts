/**
 * Desired state: store snapshot → resolved resources → render model → text.
 * Pure given the renderer.
 */
import type { DiscoveredValues } from '../model/discovered.js';
import { resolve, type Resolution } from '../model/resolve.js';
import { SECRETS, type SecretData } from '../model/secrets.js';
import type { Resource, ResourceKey } from '../model/types.js';
import { buildConfigModel, type GlobalSettings } from '../render/model.js';
import type { ConfigRenderer } from '../render/render.js';
import type { Rendered } from './plan.js';
import type { StoreSnapshot } from './store.js';

export interface Desired extends Rendered {
  resolution: Resolution;
  renderMs: number;
}

export function computeDesired(
  snapshot: Pick<StoreSnapshot, 'declared'> & Partial<Pick<StoreSnapshot, 'discovered' | 'discoveredMembers'>>,
  lastAccepted: ReadonlyMap<ResourceKey, Resource>,
  global: GlobalSettings,
  render: ConfigRenderer,
  now: () => number = () => performance.now(),
): Desired {
  const t0 = now();
  const discovered = snapshot.discovered ?? (snapshot.discoveredMembers && new Map([['members', snapshot.discoveredMembers]]));
  const resolution = resolve({ declared: snapshot.declared, lastAccepted, discovered });
  const secrets = discovered?.get(SECRETS) as DiscoveredValues<SecretData> | undefined;
  const model = buildConfigModel({ frontends: resolution.frontends, backends: resolution.backends, global, secrets });
  const text = render(model);
  return { resolution, model, text, renderMs: now() - t0 };
}
