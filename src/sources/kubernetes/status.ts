/**
 * The status a Frontend or Backend should show, from a reconcile pass. Pure.
 *
 * Conditions:
 * - Accepted: the current generation is valid and its references resolve
 *   (reasons Accepted, InvalidSpec, BackendNotFound, Conflict, Duplicate,
 *   RejectedByHAProxy); a Frontend with TLS binds adds the certificates that
 *   serve (Secret, serial, notAfter) and any warning (expiry within 14 days, a
 *   bad Secret whose last good certificate keeps serving), as REST shows them;
 * - Programmed: HAProxy serves the current generation (reasons Programmed,
 *   ConfigRejected when HAProxy refused the configuration, or the reason it
 *   was not accepted); while True, its message says how the resource's last
 *   change reached HAProxy: through the runtime API without a reload, or by a
 *   reload (the Events AppliedAtRuntime, MembersUpdated and Reloaded say the same);
 * - ResolvedRefs (Backends with spec.service): the Service and its port were
 *   found (reasons ResolvedRefs, ServiceNotFound, PortNotFound, UnsupportedService).
 *
 * `lastTransitionTime` moves only when a condition's status flips.
 */
import { formatProblem } from '../../model/types.js';
import type { Outcome } from '../../model/resolve.js';
import type { Condition, ResourceStatus } from '../../model/types.js';
import type { MemberResolution } from './members.js';

export const CONDITION_TYPES = ['Accepted', 'Programmed', 'ResolvedRefs'] as const;

/** How the pass that produced the outcome ended. */
export type PassVerdict = { ok: true } | { ok: false; error: string; output?: string };

export interface StatusInput {
  generation?: number;
  outcome: Outcome;
  pass: PassVerdict;
  /** The generation HAProxy serves for this resource, if it serves any. */
  servingGeneration?: number;
  /** Backends: members of what serves. */
  members?: { total: number; ready: number };
  /** Backends with spec.service: how the Service resolved. */
  service?: MemberResolution;
  serviceName?: string;
  /** How this resource's last change reached HAProxy, when this replica saw it happen. */
  applied?: AppliedHow;
}

/** How a resource's last change reached HAProxy. */
export interface AppliedHow {
  how: 'runtime' | 'reload';
  /** The generation the change brought (spec changes), or absent for member changes. */
  generation?: number;
}

/** The sentence the Programmed condition carries about the last change. */
export function appliedSentence(a: AppliedHow): string {
  const what = a.generation !== undefined ? `Its last change (generation ${a.generation})` : 'Its last member change';
  return a.how === 'runtime' ? ` ${what} was applied at run time, without a reload.` : ` ${what} was applied by a reload.`;
}

/** A condition before lastTransitionTime is set. */
export type DesiredCondition = Omit<Condition, 'lastTransitionTime'>;

export interface DesiredStatus {
  observedGeneration?: number;
  conditions: DesiredCondition[];
  members?: { total: number; ready: number };
}

const MAX_MESSAGE = 1000;

function clip(s: string, max = MAX_MESSAGE): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** The first lines of HAProxy's output that say what is wrong. */
export function haproxyComplaint(output: string | undefined, maxLines = 3): string {
  if (!output) return '';
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /\[(ALERT|WARNING)\]/.test(l) || /error|fatal|cannot|unable/i.test(l));
  return lines.slice(0, maxLines).join(' | ');
}

/** How much of a condition message the problems take: the rest is for notes and what keeps serving. */
const ISSUES_BUDGET = 700;

/** Every problem (each rule's, each reference's), as many as fit the message, then how many more there are. */
function issuesText(outcome: Extract<Outcome, { accepted: false }>): string {
  const unique = [...new Set(outcome.issues.map(formatProblem))];
  if (unique.length === 0) return outcome.message;
  const shown: string[] = [];
  let length = 0;
  for (const p of unique) {
    if (shown.length > 0 && length + p.length + 2 > ISSUES_BUDGET) break;
    shown.push(p);
    length += p.length + 2;
  }
  const more = unique.length - shown.length;
  return shown.join('; ') + (more > 0 ? ` (and ${more} more)` : '');
}

/** `; certificates in use: Secret ns/name (serial …, notAfter …); <warning>`, or nothing. */
function notesText(notes: readonly string[] | undefined): string {
  return notes && notes.length > 0 ? `; ${notes.join('; ')}` : '';
}

export function desiredStatus(input: StatusInput): DesiredStatus {
  const g = input.generation;
  const cond = (type: string, status: Condition['status'], reason: string, message: string): DesiredCondition => ({
    type,
    status,
    reason,
    message: clip(message),
    ...(g !== undefined ? { observedGeneration: g } : {}),
  });
  const conditions: DesiredCondition[] = [];
  const o = input.outcome;
  if (o.accepted) {
    // Notes: the certificates that serve (Secret, serial, notAfter) and warnings, as REST shows them.
    conditions.push(cond('Accepted', 'True', 'Accepted', `The spec is valid and every reference resolves${notesText(o.notes)}.`));
    if (input.pass.ok || (input.servingGeneration !== undefined && input.servingGeneration === g)) {
      const members = input.members ? ` with ${input.members.ready} of ${input.members.total} member(s) in rotation` : '';
      conditions.push(
        cond('Programmed', 'True', 'Programmed', `HAProxy serves this generation${members}.${input.applied ? appliedSentence(input.applied) : ''}`),
      );
    } else {
      const complaint = haproxyComplaint(input.pass.output);
      conditions.push(
        cond(
          'Programmed',
          'False',
          'ConfigRejected',
          `${input.pass.error}${complaint ? `: ${complaint}` : ''}. The previous configuration keeps serving; fix the resource or what it conflicts with.`,
        ),
      );
    }
  } else {
    const why = issuesText(o);
    conditions.push(cond('Accepted', 'False', o.reason, `${why}${notesText(o.notes)}`));
    const servingGen = o.serving?.metadata.generation;
    const keeps = o.serving
      ? `The last accepted version${servingGen !== undefined ? ` (generation ${servingGen})` : ''} keeps serving.`
      : 'Nothing of it serves.';
    conditions.push(cond('Programmed', 'False', o.reason, `This generation is not applied: ${why}. ${keeps}`));
  }
  if (input.service) {
    const p = input.service.problem;
    conditions.push(
      p
        ? cond('ResolvedRefs', 'False', p.reason, p.message)
        : cond('ResolvedRefs', 'True', 'ResolvedRefs', `Service ${input.serviceName ?? ''} ${input.service.port ?? ''}`.replace(/\s+/g, ' ').trim() + '.'),
    );
  }
  return {
    ...(g !== undefined ? { observedGeneration: g } : {}),
    conditions,
    ...(input.members ? { members: input.members } : {}),
  };
}

function conditionKey(c: Partial<Condition>): string {
  return JSON.stringify([c.type, c.status, c.reason, c.message, c.observedGeneration]);
}

/** True when `current` already shows `desired` (lastTransitionTime aside). */
export function statusMatches(current: ResourceStatus | undefined, desired: DesiredStatus): boolean {
  if (!current) return false;
  if (current.observedGeneration !== desired.observedGeneration) return false;
  if (JSON.stringify(current.members ?? null) !== JSON.stringify(desired.members ?? null)) return false;
  const a = (current.conditions ?? []).map(conditionKey);
  const b = desired.conditions.map(conditionKey);
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

/** The full status to write: lastTransitionTime kept from `current` when a condition's status did not flip. */
export function mergeStatus(current: ResourceStatus | undefined, desired: DesiredStatus, now: string): ResourceStatus {
  const before = new Map((current?.conditions ?? []).map((c) => [c.type, c]));
  const conditions: Condition[] = desired.conditions.map((c) => {
    const prev = before.get(c.type);
    const lastTransitionTime = prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now;
    return { ...c, lastTransitionTime };
  });
  const out: ResourceStatus = { conditions };
  if (desired.observedGeneration !== undefined) out.observedGeneration = desired.observedGeneration;
  if (desired.members) out.members = desired.members;
  return out;
}

/** A condition that changed in a way worth an Event: what to record. */
export interface ConditionChange {
  type: 'Normal' | 'Warning';
  reason: string;
  note: string;
}

/**
 * Events for condition changes: a Warning when Accepted, Programmed (for
 * ConfigRejected) or ResolvedRefs turns False or changes why it is False; a
 * Normal event when Accepted turns True again after being False.
 */
export function conditionChanges(current: ResourceStatus | undefined, next: ResourceStatus): ConditionChange[] {
  const before = new Map((current?.conditions ?? []).map((c) => [c.type, c]));
  const out: ConditionChange[] = [];
  for (const c of next.conditions ?? []) {
    const prev = before.get(c.type);
    const changed = !prev || prev.status !== c.status || prev.reason !== c.reason || prev.message !== c.message;
    if (!changed) continue;
    if (c.status === 'False') {
      if (c.type === 'Programmed' && c.reason !== 'ConfigRejected') continue; // the Accepted event says it
      out.push({ type: 'Warning', reason: c.reason, note: c.message });
    } else if (c.type === 'Accepted' && prev?.status === 'False') {
      out.push({ type: 'Normal', reason: 'Accepted', note: 'The spec is valid again and every reference resolves.' });
    } else if (c.type === 'ResolvedRefs' && prev?.status === 'False') {
      out.push({ type: 'Normal', reason: 'ResolvedRefs', note: c.message });
    }
  }
  return out;
}
