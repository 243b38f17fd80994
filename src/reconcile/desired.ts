/**
 * Desired state: store snapshot → resolved resources → render model → text.
 * Pure given the renderer.
 */
import type { DiscoveredValues } from '../model/discovered.js';
import { resolve, type Resolution } from '../model/resolve.js';
import { SECRETS, type SecretData } from '../model/secrets.js';
import type { SecretsInUse } from '../model/last-good.js';
import type { Resource, ResourceKey } from '../model/types.js';
import { backendFiles, buildConfigModel, stateDirOf, type GlobalSettings } from '../render/model.js';
import type { ConfigRenderer } from '../render/render.js';
import { tlsFiles } from '../render/tls-files.js';
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
  tls: { lastGood?: SecretsInUse; now?: Date } = {},
): Desired {
  const t0 = now();
  const discovered = snapshot.discovered ?? (snapshot.discoveredMembers && new Map([['members', snapshot.discoveredMembers]]));
  const resolution = resolve({ declared: snapshot.declared, lastAccepted, discovered, lastGood: tls.lastGood, now: tls.now });
  const secrets = discovered?.get(SECRETS) as DiscoveredValues<SecretData> | undefined;
  const model = buildConfigModel({ frontends: resolution.frontends, backends: resolution.backends, global, secrets, tls: resolution.tls });
  const text = render(model);
  // Auxiliary files: certificates, crt-lists and client CA bundles of TLS binds, and backend CA bundles.
  const files = tlsFiles(resolution.frontends, resolution.tls, global.stateDir ?? stateDirOf(global));
  for (const [path, content] of backendFiles(model)) files.set(path, content);
  // Routing maps (render/routing-maps.ts): changes to them alone apply at run time (reconcile/map-plan.ts).
  for (const [path, content] of Object.entries(model.mapFiles ?? {})) files.set(path, content);
  return { resolution, model, text, files, renderMs: now() - t0 };
}
