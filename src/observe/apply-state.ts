/**
 * What the reconcile passes say about applying: did the last attempt leave
 * HAProxy running the desired configuration, and when did that last happen.
 * Feeds /readyz and the unable-to-apply / last-apply metrics.
 */
import type { PassKind, PassResult } from '../reconcile/reconciler.js';

/** Pass kinds after which HAProxy runs the desired configuration. */
const SUCCESS: ReadonlySet<PassKind> = new Set(['start', 'noop', 'runtime', 'reload']);

export class ApplyState {
  /** undefined until the first pass that tried to apply; then whether it succeeded. */
  lastOk: boolean | undefined;
  /** Date.now() of the last successful pass. */
  lastSuccessAt: number | undefined;
  /** Why the last failed pass failed (cleared by a success). */
  lastError: string | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** Folds in one reconcile pass ('waiting' and 'deferred' change nothing: nothing was tried). */
  observe(p: PassResult): void {
    if (SUCCESS.has(p.kind)) {
      this.lastOk = true;
      this.lastSuccessAt = this.now();
      this.lastError = undefined;
    } else if (p.kind === 'failed') {
      this.lastOk = false;
      this.lastError = p.error ?? p.reasons.join('; ');
    }
  }
}
