/**
 * The controller's own metrics: each controller has its own registry, every
 * labelled counter exists at 0 from the start, and passes, reloads, runtime
 * updates and watch restarts move the right series.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register as globalRegistry } from 'prom-client';
import { ApplyState } from '../../src/observe/apply-state.js';
import { ControllerMetrics } from '../../src/observe/controller-metrics.js';
import { parseExposition } from '../../src/observe/exposition.js';
import type { PassResult } from '../../src/reconcile/reconciler.js';
import type { Resolution } from '../../src/model/resolve.js';

async function samples(m: ControllerMetrics): Promise<Map<string, number>> {
  return parseExposition(await m.text()).samples;
}

function pass(kind: PassResult['kind'], extra: Partial<PassResult> = {}): PassResult {
  return { kind, reasons: [], durationMs: 12, renderMs: 3, coalesced: 1, ...extra };
}

test('one registry per controller, never the global one; default process metrics included', async () => {
  const a = new ControllerMetrics();
  const b = new ControllerMetrics({ defaultMetrics: false });
  a.reloaded('success');
  assert.equal((await samples(a)).get('node_haproxy_reloads_total{result="success"}'), 1);
  assert.equal((await samples(b)).get('node_haproxy_reloads_total{result="success"}'), 0);
  assert.equal(globalRegistry.getMetricsAsArray().length, 0, 'nothing registered globally');
  const text = await a.text();
  assert.match(text, /^process_cpu_seconds_total /m);
  assert.match(text, /^nodejs_heap_size_used_bytes /m);
  assert.doesNotMatch(await b.text(), /^process_cpu_seconds_total /m);
});

test('every labelled counter starts at 0 for each known label value', async () => {
  const m = new ControllerMetrics({ defaultMetrics: false });
  m.registerSource('kubernetes');
  const s = await samples(m);
  for (const result of ['success', 'rejected', 'failed']) assert.equal(s.get(`node_haproxy_reloads_total{result="${result}"}`), 0);
  for (const result of ['success', 'failure']) assert.equal(s.get(`node_haproxy_runtime_updates_total{result="${result}"}`), 0);
  for (const op of ['add', 'del', 'addr', 'weight', 'state']) assert.equal(s.get(`node_haproxy_runtime_operations_total{op="${op}"}`), 0);
  for (const result of ['start', 'noop', 'runtime', 'reload', 'deferred', 'failed', 'waiting']) {
    assert.equal(s.get(`node_haproxy_reconcile_passes_total{result="${result}"}`), 0);
    assert.equal(s.get(`node_haproxy_reconcile_duration_seconds_count{result="${result}"}`), 0);
  }
  for (const reason of ['expired', 'error', 'stalled', 'closed', 'resync']) {
    assert.equal(s.get(`node_haproxy_watch_restarts_total{source="kubernetes",reason="${reason}"}`), 0);
  }
  for (const reason of ['slow', 'unresponsive']) assert.equal(s.get(`node_haproxy_stream_clients_dropped_total{reason="${reason}"}`), 0);
  for (const kind of ['Frontend', 'Backend']) {
    for (const condition of ['accepted', 'rejected', 'rejected_serving_previous']) {
      assert.equal(s.get(`node_haproxy_resources{kind="${kind}",condition="${condition}"}`), 0);
    }
  }
  assert.equal(s.get('node_haproxy_unable_to_apply'), 0);
  assert.equal(s.get('node_haproxy_last_successful_apply_timestamp_seconds'), 0);
});

test('passes: counted by result, durations, changes coalesced, resources by kind and condition, apply state', async () => {
  const m = new ControllerMetrics({ defaultMetrics: false });
  const apply = new ApplyState(() => 1_700_000_000_000);
  const resolution = {
    outcomes: new Map([
      ['Frontend/default/web', { accepted: true }],
      ['Backend/default/app', { accepted: true }],
      ['Backend/default/old', { accepted: false, reason: 'InvalidSpec', message: 'x', issues: [], serving: {} }],
      ['Backend/default/bad', { accepted: false, reason: 'InvalidSpec', message: 'x', issues: [] }],
    ]),
  } as unknown as Resolution;
  const feed = (p: PassResult): void => {
    apply.observe(p);
    m.observePass(p, apply.lastOk, apply.lastSuccessAt);
  };
  feed(pass('waiting', { coalesced: 1 }));
  feed(pass('start', { coalesced: 5, resolution, durationMs: 300 }));
  let s = await samples(m);
  assert.equal(s.get('node_haproxy_reconcile_passes_total{result="start"}'), 1);
  assert.equal(s.get('node_haproxy_reconcile_passes_total{result="waiting"}'), 1);
  assert.equal(s.get('node_haproxy_reconcile_duration_seconds_bucket{le="0.5",result="start"}'), 1);
  assert.equal(s.get('node_haproxy_reconcile_duration_seconds_bucket{le="0.25",result="start"}'), 0);
  assert.equal(s.get('node_haproxy_render_duration_seconds_count'), 1, 'waiting passes render nothing');
  assert.equal(s.get('node_haproxy_changes_total'), 6);
  assert.equal(s.get('node_haproxy_changes_coalesced_total'), 4);
  assert.equal(s.get('node_haproxy_resources{kind="Backend",condition="accepted"}'), 1);
  assert.equal(s.get('node_haproxy_resources{kind="Backend",condition="rejected_serving_previous"}'), 1);
  assert.equal(s.get('node_haproxy_resources{kind="Backend",condition="rejected"}'), 1);
  assert.equal(s.get('node_haproxy_resources{kind="Frontend",condition="accepted"}'), 1);
  assert.equal(s.get('node_haproxy_last_successful_apply_timestamp_seconds'), 1_700_000_000);
  assert.equal(s.get('node_haproxy_unable_to_apply'), 0);

  feed(pass('failed', { error: 'HAProxy rejected the configuration (haproxy -c)' }));
  s = await samples(m);
  assert.equal(s.get('node_haproxy_unable_to_apply'), 1);
  assert.equal(apply.lastError, 'HAProxy rejected the configuration (haproxy -c)');
  feed(pass('deferred'));
  assert.equal((await samples(m)).get('node_haproxy_unable_to_apply'), 1, 'a deferred pass changes nothing');
  feed(pass('reload'));
  assert.equal((await samples(m)).get('node_haproxy_unable_to_apply'), 0);
  assert.equal(apply.lastOk, true);
});

test('runtime updates counted by result and operation through the wrapped executor', async () => {
  const m = new ControllerMetrics({ defaultMetrics: false });
  let fail = false;
  let saved = 0;
  const wrapped = m.countRuntimeUpdates({
    execute: async () => {
      if (fail) throw new Error('HAProxy refused');
    },
    saveServerState: async () => {
      saved++;
    },
  });
  const server = { name: 'm1' } as never;
  await wrapped.execute([
    { op: 'weight', backend: 'b', server },
    { op: 'state', backend: 'b', server },
  ]);
  fail = true;
  await assert.rejects(wrapped.execute([{ op: 'add', backend: 'b', server }]), /HAProxy refused/);
  await wrapped.saveServerState?.({} as never);
  const s = await samples(m);
  assert.equal(s.get('node_haproxy_runtime_updates_total{result="success"}'), 1);
  assert.equal(s.get('node_haproxy_runtime_updates_total{result="failure"}'), 1);
  assert.equal(s.get('node_haproxy_runtime_operations_total{op="weight"}'), 1);
  assert.equal(s.get('node_haproxy_runtime_operations_total{op="add"}'), 0, 'operations of failed updates are not counted');
  assert.equal(saved, 1, 'the other executor methods pass through');
});

test('pending server deletions: a gauge at 0 from the start, set from what each look at them leaves', async () => {
  const m = new ControllerMetrics({ defaultMetrics: false });
  assert.equal((await samples(m)).get('node_haproxy_pending_server_deletions'), 0);
  let remaining = 3;
  const wrapped = m.countRuntimeUpdates({
    execute: async () => {},
    finishDeletes: async () => (remaining === 0 ? undefined : { remaining, recheckAfterMs: 100 }),
  });
  await wrapped.finishDeletes?.();
  assert.equal((await samples(m)).get('node_haproxy_pending_server_deletions'), 3);
  remaining = 0;
  await wrapped.finishDeletes?.({ tryNow: false });
  assert.equal((await samples(m)).get('node_haproxy_pending_server_deletions'), 0);
});

test('watch restarts: a source increments by reason; an unknown reason counts as error', async () => {
  const m = new ControllerMetrics({ defaultMetrics: false });
  m.registerSource('etcd://127.0.0.1:2379/nh');
  m.watchRestarted('etcd://127.0.0.1:2379/nh', 'expired');
  m.watchRestarted('etcd://127.0.0.1:2379/nh', 'bogus' as never);
  const s = await samples(m);
  assert.equal(s.get('node_haproxy_watch_restarts_total{source="etcd://127.0.0.1:2379/nh",reason="expired"}'), 1);
  assert.equal(s.get('node_haproxy_watch_restarts_total{source="etcd://127.0.0.1:2379/nh",reason="error"}'), 1);
});
