import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HEAP_GROWING_PERCENT, tuneHeap } from '../../src/heap.js';

test('the heap policy is set unless the operator started node with their own', () => {
  assert.equal(tuneHeap(['--heap-growing-percent=50']), undefined);
  assert.equal(tuneHeap([]), HEAP_GROWING_PERCENT);
});

test('set at run time, it takes effect: a process that keeps 2 MB per round and drops 20 MB peaks lower', () => {
  const heapModule = fileURLToPath(new URL('../../src/heap.js', import.meta.url));
  // The same allocation pattern twice, with and without the policy; peak RSS in MiB on stdout.
  const script = `
    const { tuneHeap } = await import(${JSON.stringify(heapModule)});
    if (process.argv[1] === 'tuned') tuneHeap([]);
    let peak = 0; const keep = [];
    for (let i = 0; i < 60; i++) {
      keep.push(Array.from({ length: 20000 }, (_, j) => ({ a: j, b: 'x' + j })));
      for (let k = 0; k < 10; k++) Array.from({ length: 20000 }, (_, j) => ({ a: j, b: 'y' + j }));
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    console.log(Math.round(peak / 2 ** 20));`;
  const run = (mode: string) => Number(spawnSync(process.execPath, ['--input-type=module', '-e', script, mode], { encoding: 'utf8' }).stdout.trim());
  const untuned = run('untuned');
  const tuned = run('tuned');
  assert.ok(tuned > 0 && untuned > 0);
  assert.ok(tuned < untuned * 0.85, `tuned ${tuned} MiB vs V8 defaults ${untuned} MiB`);
});
