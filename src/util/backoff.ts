/**
 * Exponential backoff with jitter, for restarting watches and retrying
 * writes, and the one `sleep`. Pure apart from the injected random source and
 * the timer.
 */
export interface BackoffOptions {
  /** First delay. Default 500 ms. */
  initialMs?: number;
  /** Largest delay. Default 30 s. */
  maxMs?: number;
  /** Multiplier per failure. Default 2. */
  factor?: number;
  /** Fraction of the delay that is random: 0.5 waits between 50 % and 100 % of it. Default 0.5. */
  jitter?: number;
  random?: () => number;
}

export class Backoff {
  private failures = 0;
  private readonly o: Required<BackoffOptions>;

  constructor(options: BackoffOptions = {}) {
    this.o = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5, random: Math.random };
    for (const [k, v] of Object.entries(options)) if (v !== undefined) (this.o as Record<string, unknown>)[k] = v;
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const base = Math.min(this.o.maxMs, this.o.initialMs * this.o.factor ** this.failures);
    this.failures++;
    return Math.round(base * (1 - this.o.jitter * this.o.random()));
  }

  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}

/** `ms` scaled by a random factor in [1 - fraction, 1 + fraction]: spreads periodic work of many replicas. */
export function jittered(ms: number, fraction = 0.1, random: () => number = Math.random): number {
  return Math.round(ms * (1 - fraction + 2 * fraction * random()));
}

/** Resolves after `ms`, or at once when `signal` aborts; `unref`: the wait does not keep the process alive. */
export function sleep(ms: number, signal?: AbortSignal, o: { unref?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    if (o.unref) timer.unref();
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
