/**
 * Resources HAProxy itself refused, so one bad resource does not hold back
 * every other change.
 *
 * Validation cannot know everything HAProxy will refuse (a raw configuration
 * line it does not understand, a port another process holds). When HAProxy
 * refuses a configuration, its output names a line or a proxy; the resource
 * that rendered that section is refused here, and the next computation treats
 * its current version like an invalid one: its last accepted version serves
 * (or nothing, for a new resource) and its status says why. Everything else
 * goes ahead.
 *
 * A refusal holds until the resource changes or goes. One whose cause lies
 * outside the configuration (a port in use) is `transient`: the reconciler
 * tries it again with backoff, so it heals when the port is freed.
 */
import { blameSections } from '../haproxy/check-output.js';
import type { Declared } from '../model/resolve.js';
import { RAW_CONFIG_FIELD, rawConfigLines } from '../model/raw-config.js';
import type { Issue, Resource, ResourceKey, RouteRule } from '../model/types.js';
import { isMapRoutable, normaliseRule } from '../model/routing.js';
import type { Desired } from './desired.js';

interface Refusal {
  /** The refused version (JSON text), so a changed resource is tried again. */
  version: string;
  issue: Issue;
  transient: boolean;
}

export class Refusals {
  private readonly byKey = new Map<ResourceKey, Refusal>();

  hasTransient(): boolean {
    for (const r of this.byKey.values()) if (r.transient) return true;
    return false;
  }

  /** Forgets refusals whose cause may have gone away: the next computation tries those resources again. */
  clearTransient(): void {
    for (const [key, r] of this.byKey) if (r.transient) this.byKey.delete(key);
  }

  /**
   * `declared` with each refused version carrying its issue (so resolution
   * treats it as invalid). Refusals whose resource changed or went are dropped.
   */
  apply(declared: Declared[]): Declared[] {
    if (this.byKey.size === 0) return declared;
    const current = new Set<ResourceKey>();
    const out = declared.map((d) => {
      const r = this.byKey.get(d.key);
      if (!r || !d.resource || JSON.stringify(d.resource) !== r.version) return d;
      current.add(d.key);
      return { ...d, issues: [...d.issues, { ...r.issue, origin: d.origin }] };
    });
    for (const key of [...this.byKey.keys()]) if (!current.has(key)) this.byKey.delete(key);
    return out;
  }

  /**
   * Refuses the resources whose sections `output` (HAProxy's, for the text of
   * `desired`) blames. Only a resource serving its current version can be
   * refused: a last accepted version that fails is not the new input's fault.
   * Returns the keys newly refused; none means the refusal cannot be isolated.
   */
  blame(output: string, desired: Desired, declared: readonly Declared[]): ResourceKey[] {
    const keyOfProxy = new Map<string, ResourceKey>();
    for (const p of [...desired.model.frontends, ...desired.model.backends]) keyOfProxy.set(p.name, p.key);
    const refused: ResourceKey[] = [];
    for (const b of blameSections(output, desired.text)) {
      const key = keyOfProxy.get(b.proxy);
      if (!key || this.byKey.has(key) || !desired.resolution.outcomes.get(key)?.accepted) continue;
      const d = declared.find((x) => x.key === key && x.resource);
      if (!d?.resource) continue;
      this.byKey.set(key, {
        version: JSON.stringify(d.resource),
        transient: b.transient,
        issue: {
          origin: d.origin,
          resource: `${d.resource.kind} ${d.resource.metadata.namespace}/${d.resource.metadata.name}`,
          field: fieldOf(d.resource, b.lineText),
          reason: 'RejectedByHAProxy',
          message: `HAProxy refuses it (${b.message})${b.lineText ? `; the rendered line: "${b.lineText}"` : ''}. ${
            b.transient ? 'It is tried again by itself, with backoff, and whenever it changes' : 'Fix the resource; the other resources are applied without it'
          }`,
        },
      });
      refused.push(key);
    }
    return refused;
  }
}

/** The field a refused line most likely came from. */
function fieldOf(resource: Resource, lineText: string | undefined): string {
  if (lineText === undefined) return 'spec';
  const raw = rawConfigLines(resource).indexOf(lineText);
  if (raw >= 0) return `${RAW_CONFIG_FIELD}[${raw}]`;
  if (/^bind\s/.test(lineText)) return 'spec.binds';
  if (resource.kind === 'Frontend') {
    // A routing ACL (src/render/routing.ts names them r<rule>_<condition>): a regular expression HAProxy refuses.
    // Routed by maps (src/render/routing-maps.ts), ACL rules are named a<k>_<condition>: k counts ACL rules only.
    const acl = /^acl ([ra])(\d+)_(path|hdr(\d*)|query(\d+))\s/.exec(lineText);
    const index = !acl ? -1 : acl[1] === 'r' ? Number(acl[2]) : aclRuleIndex(resource.spec.rules, Number(acl[2]));
    const rule = index >= 0 ? resource.spec.rules[index] : undefined;
    if (acl && rule) {
      const f = `spec.rules[${index}]`;
      if (acl[3] === 'path') return rule.matches?.path ? `${f}.matches.path.value` : `${f}.pathPrefix`;
      if (acl[5] !== undefined) return `${f}.matches.queryParams[${acl[5]}].value`;
      return rule.matches?.headers ? `${f}.matches.headers[${Number(acl[4] || 0)}].value` : `${f}.header.value`;
    }
  }
  return 'spec';
}

/** The list index of the k-th rule routed by ACL (not map-routable), or -1. */
function aclRuleIndex(rules: readonly RouteRule[], k: number): number {
  let n = 0;
  for (let i = 0; i < rules.length; i++) if (!isMapRoutable(normaliseRule(rules[i]!).matches) && n++ === k) return i;
  return -1;
}
