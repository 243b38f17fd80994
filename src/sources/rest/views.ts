/**
 * What the REST API shows for a resource: the declared resource and its
 * status (which source declared it, whether it serves, and why not).
 */
import type { Declared, Outcome } from '../../model/resolve.js';
import { parseKey, type Resource, formatProblem } from '../../model/types.js';

export interface StatusCondition {
  type: 'Accepted';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export interface ResourceStatusView {
  source: string;
  origin: string;
  conditions: StatusCondition[];
  /** Which version HAProxy runs for this key. */
  serving: 'this version' | 'previous version' | 'nothing' | 'unknown';
  issues?: { origin?: string; field: string; message: string; reason: string }[];
}

export interface ResourceView {
  apiVersion: string;
  kind: string;
  metadata: Resource['metadata'];
  spec?: Resource['spec'];
  status: ResourceStatusView;
}

/**
 * `outcome` is from the last reconcile pass; `pending` says the store has
 * changed since (the outcome may be about an older version).
 */
export function statusOf(d: Declared, outcome: Outcome | undefined, pending: boolean): ResourceStatusView {
  const base = { source: d.source, origin: d.origin };
  if (!d.resource || d.issues.length > 0) {
    const first = d.issues[0];
    return {
      ...base,
      conditions: [{ type: 'Accepted', status: 'False', reason: first?.reason ?? 'InvalidSpec', message: first ? formatProblem(first) : 'invalid' }],
      serving: outcome && !outcome.accepted ? (outcome.serving ? 'previous version' : 'nothing') : 'unknown',
      issues: d.issues.map((i) => ({ origin: i.origin, field: i.field, message: i.message, reason: i.reason })),
    };
  }
  if (pending || !outcome) {
    return {
      ...base,
      conditions: [{ type: 'Accepted', status: 'Unknown', reason: 'Pending', message: 'the controller has not reconciled this version yet' }],
      serving: 'unknown',
    };
  }
  if (outcome.accepted) {
    const message = ['HAProxy serves this version', ...(outcome.notes ?? [])].join('; ');
    return { ...base, conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message }], serving: 'this version' };
  }
  return {
    ...base,
    conditions: [{ type: 'Accepted', status: 'False', reason: outcome.reason, message: [outcome.message, ...(outcome.notes ?? [])].join('; ') }],
    serving: outcome.serving ? 'previous version' : 'nothing',
    issues: outcome.issues.map((i) => ({ origin: i.origin, field: i.field, message: i.message, reason: i.reason })),
  };
}

export function resourceView(d: Declared, outcome: Outcome | undefined, pending: boolean): ResourceView {
  const status = statusOf(d, outcome, pending);
  if (d.resource) {
    const { status: _ignored, ...r } = d.resource;
    return { ...r, status };
  }
  const { kind, namespace, name } = parseKey(d.key);
  return { apiVersion: 'haproxy.node-haproxy.io/v1alpha1', kind, metadata: { name, namespace }, status };
}
