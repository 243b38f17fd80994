/**
 * Last good values of everything read from Secrets and ConfigMaps:
 * certificates and CA bundles (a TLS bind's client CA, a Backend's `caRef`).
 * One mechanism for all of them. Pure. Basic-auth user lists are collected
 * here too, but never fall back: a removed user must lose access at once, so
 * their Secret is authoritative and one that is gone fails closed
 * (model/basic-auth.ts).
 *
 * Resolve collects the values that serve (`SecretsInUse`, by Secret/ConfigMap
 * key `Secret/ns/name`) and its caller passes them back on the next pass
 * (`lastGood`, beside `lastAccepted`). When a reference goes bad after it
 * served (a bad value, a missing key, the Secret or ConfigMap deleted), the
 * resource is not accepted as it is: its last accepted version keeps serving
 * with the last good value, and its status says so, naming the field, the
 * Secret or ConfigMap and the problem (`lastGoodNote`). A deleted Secret is
 * bad input like any other, not an intent: to stop using it, remove the
 * reference (or the resource).
 *
 * With no last good value (the reference never served, or the controller
 * restarted since: these values live in memory only, never on disk with the
 * key material), the problem refuses the resource.
 */
import type { AuthUser } from './basic-auth.js';
import type { CaBundle, Certificate } from './certificate.js';
import type { IssueReason } from './types.js';

/** Values from Secrets and ConfigMaps that serve now, by Secret/ConfigMap key (`Secret/ns/name`). */
export interface SecretsInUse {
  certificates: Map<string, Certificate>;
  caBundles: Map<string, CaBundle>;
  /** Basic-auth users that serve, by the key of the Secret that holds them: reported, never a fallback (revocation must work). */
  users: Map<string, readonly AuthUser[]>;
}

export const emptySecretsInUse = (): SecretsInUse => ({ certificates: new Map(), caBundles: new Map(), users: new Map() });

/** Why a reference does not give a value: the field that names it, and the problem (naming the Secret or ConfigMap and the fix). */
export interface ReferenceProblem {
  field: string;
  reason: IssueReason;
  message: string;
}

/** A value read from a Secret or ConfigMap, or why there is none; `warning` when the last good value stands in. */
export type FromSecret<T> = { value: T; warning?: string } | { problem: ReferenceProblem };

/** What a status says when `what` (`certificate`, `CA bundle`, `user list`) serves in place of a bad reference. */
export function lastGoodNote(problem: ReferenceProblem, what: string): string {
  return `${problem.field}: ${problem.message}; the last good ${what} keeps serving`;
}

/**
 * `fresh` when it holds a value; else the last good value (`last`, undefined
 * when there is none), with a warning naming the field and the problem; else
 * the problem.
 */
export function orLastGood<T>(fresh: FromSecret<T>, last: T | undefined, what: string): FromSecret<T> {
  if ('value' in fresh || last === undefined) return fresh;
  return { value: last, warning: lastGoodNote(fresh.problem, what) };
}
