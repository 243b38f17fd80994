/**
 * The controller's V8 heap policy.
 *
 * With Node's defaults V8 lets the old generation grow to 3-4× what is live
 * before it collects. At 100,000 servers the live heap is ~100 MiB, and the
 * controller's peak RSS was 322 MiB; collecting once the heap has grown by
 * 20% keeps it at ~265 MiB for a few more (short) collections
 * (bench/results/scale.md). The `run` and `demo` commands set it at start;
 * V8 applies the flag to the running isolate (measured: the same peak as the
 * command-line flag).
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 20;

/**
 * Sets V8's heap growing factor unless Node was started with its own
 * `--heap-growing-percent`. Returns the percent in force, or undefined when
 * the operator's flag was kept.
 */
export function tuneHeap(execArgv: readonly string[] = process.execArgv): number | undefined {
  if (execArgv.some((a) => a.startsWith('--heap-growing-percent'))) return undefined;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return HEAP_GROWING_PERCENT;
}
