import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEAP_GROWING_PERCENT, tuneHeap } from '../../src/heap.js';

// Its effect on peak memory is measured by the scale benchmark (bench/results/scale.md), not here:
// peak RSS under a loaded test run is too noisy to assert on.
test('the heap policy is set unless the operator started node with their own', () => {
  assert.equal(tuneHeap(['--heap-growing-percent=50']), undefined);
  assert.equal(tuneHeap([]), HEAP_GROWING_PERCENT);
});
