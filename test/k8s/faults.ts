/** Injected request failures. */
import { statusForCode, type Status } from './status.js';

export type RequestMatcher = (method: string, path: string, verb: string) => boolean;

export interface FailureRule {
  /** HTTP status to answer with (a Status body with the matching reason). */
  status: number;
  /** Fail this many matching requests, then stop. */
  count?: number;
  /** Fail matching requests until this time (epoch milliseconds, as Date.now()). */
  untilMs?: number;
  /** Fail matching requests for this long from now. */
  forMs?: number;
  /** Which requests fail; all when absent. */
  match?: RequestMatcher;
  /** Status message; a default for the code when absent. */
  message?: string;
}

interface ActiveRule {
  readonly rule: FailureRule;
  remaining: number;
  readonly untilMs: number;
}

/** Without count or time limit, a rule stays until it is cancelled or cleared. */
export class FaultInjector {
  private rules: ActiveRule[] = [];
  private injected = 0;

  add(rule: FailureRule): () => void {
    const untilMs = Math.min(rule.untilMs ?? Infinity, rule.forMs === undefined ? Infinity : Date.now() + rule.forMs);
    const active: ActiveRule = { rule, remaining: rule.count ?? Infinity, untilMs };
    this.rules.push(active);
    return () => {
      this.rules = this.rules.filter((r) => r !== active);
    };
  }

  clear(): void {
    this.rules = [];
  }

  get injectedCount(): number {
    return this.injected;
  }

  /** The failure for this request, if a rule takes it (consuming one of its count). */
  take(method: string, path: string, verb: string): Status | undefined {
    const now = Date.now();
    this.rules = this.rules.filter((r) => r.remaining > 0 && r.untilMs > now);
    const active = this.rules.find((r) => r.rule.match?.(method, path, verb) ?? true);
    if (!active) return undefined;
    active.remaining--;
    this.injected++;
    return statusForCode(active.rule.status, active.rule.message);
  }
}
