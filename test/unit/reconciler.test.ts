/**
 * The reconcile loop against a fake HAProxy that records what it was asked to
 * do: coalescing, convergence on the latest state, and retries after failures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import type { Declared } from '../../src/model/resolve.js';
import { validateResource } from '../../src/model/validate.js';
import { loadRenderer } from '../../src/render/render.js';
import { Reconciler, type ApplyResult, type HaproxyControl, type PassResult } from '../../src/reconcile/reconciler.js';
import { Store } from '../../src/reconcile/store.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';
const global = { adminSocket: '/s/admin.sock', serverStateFile: '/s/state', hardStopAfter: '30s', closeSpreadTime: '5s' };

function frontendOn(port: number): Declared {
  const raw = { apiVersion: API, kind: 'Frontend', metadata: { name: 'web' }, spec: { binds: [{ address: '127.0.0.1', port }] } };
  const v = validateResource(raw);
  return { key: 'Frontend/default/web', origin: 'test', source: 'test', resource: v.resource, issues: v.issues };
}

class FakeHaproxy implements HaproxyControl {
  readonly actions: string[] = [];
  running = '';
  failStarts = 0;
  refuse: (text: string) => boolean = () => false;
  async start(text: string) {
    this.actions.push('start');
    if (this.failStarts-- > 0) throw new Error('cannot start');
    this.running = text;
    return { adopted: false };
  }
  async apply(text: string): Promise<ApplyResult> {
    this.actions.push('reload');
    if (this.refuse(text)) return { ok: false, reason: 'reload', output: 'bind failed' };
    this.running = text;
    return { ok: true };
  }
  async writeRunningConfig(text: string) {
    this.running = text;
  }
}

function setup(t: import('node:test').TestContext, haproxy: FakeHaproxy, extra: Partial<ConstructorParameters<typeof Reconciler>[0]> = {}) {
  const store = new Store();
  store.register('test');
  const r = new Reconciler({ store, haproxy, render: loadRenderer(), global, logger: silentLogger(), debounceMs: 20, minReloadIntervalMs: 0, retryInitialMs: 20, retryMaxMs: 80, ...extra });
  const passes: PassResult[] = [];
  r.on('pass', (p) => passes.push(p));
  t.after(() => r.stop());
  return { store, r, passes };
}

const waitUntil = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('nothing starts before every source has synced, then one start', async (t) => {
  const h = new FakeHaproxy();
  const { store, r } = setup(t, h);
  await r.start();
  store.replaceAll('test', [frontendOn(8000)]);
  await r.settled();
  assert.deepEqual(h.actions, [], 'not synced yet');
  store.markSynced('test');
  await r.settled();
  assert.deepEqual(h.actions, ['start']);
  assert.match(h.running, /bind 127\.0\.0\.1:8000/);
  assert.equal(r.isConverged(), true);
});

test('a burst of 200 changes costs at most three reloads and ends on the last state', async (t) => {
  const h = new FakeHaproxy();
  const { store, r, passes } = setup(t, h);
  store.replaceAll('test', [frontendOn(8000)]);
  store.markSynced('test');
  await r.start();
  await r.settled();
  for (let i = 1; i <= 200; i++) store.replaceAll('test', [frontendOn(8000 + i)]);
  await r.settled();
  const reloads = h.actions.filter((a) => a === 'reload').length;
  assert.ok(reloads >= 1 && reloads <= 3, `${reloads} reloads`);
  assert.match(h.running, /bind 127\.0\.0\.1:8200\n/);
  assert.equal(passes.reduce((n, p) => n + p.coalesced, 0) >= 200, true, 'every change is accounted for');
  assert.equal(r.isConverged(), true);
});

test('a refused configuration is retried with backoff, without waiting for a change', async (t) => {
  const h = new FakeHaproxy();
  const { store, r, passes } = setup(t, h);
  store.replaceAll('test', [frontendOn(8000)]);
  store.markSynced('test');
  await r.start();
  await r.settled();
  let refusals = 2;
  h.refuse = () => refusals-- > 0;
  store.replaceAll('test', [frontendOn(9000)]);
  await waitUntil(() => h.running.includes(':9000'));
  assert.deepEqual(h.actions, ['start', 'reload', 'reload', 'reload']);
  assert.deepEqual(passes.filter((p) => p.kind === 'failed').length, 2);
  assert.equal(r.isConverged(), true);
});

test('a refused configuration is not hammered when unrelated changes arrive', async (t) => {
  const h = new FakeHaproxy();
  const { store, r, passes } = setup(t, h, { retryInitialMs: 10_000, retryMaxMs: 10_000 });
  store.replaceAll('test', [frontendOn(8000)]);
  store.markSynced('test');
  await r.start();
  await r.settled();
  h.refuse = (text) => text.includes(':9000');
  store.replaceAll('test', [frontendOn(9000)]);
  await waitUntil(() => h.actions.length === 2);
  // The same desired state signalled again (a resync): no new reload attempt.
  store.replaceAll('test', [frontendOn(9000)]);
  store.replaceAll('test', [frontendOn(9000)]);
  await new Promise((res) => setTimeout(res, 100));
  assert.deepEqual(h.actions, ['start', 'reload']);
  assert.equal(r.isConverged(), false);
  assert.equal(r.last?.kind, 'failed');
  assert.match(passes.at(-1)?.error ?? '', /already rejected; waiting for a change/);

  // A real change is applied at once, not after the pending 10 s retry.
  h.refuse = () => false;
  const t0 = Date.now();
  store.replaceAll('test', [frontendOn(9001)]);
  await waitUntil(() => h.running.includes(':9001'), 2000);
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(r.isConverged(), true);
});

test('HAProxy that cannot start is started again by itself', async (t) => {
  const h = new FakeHaproxy();
  h.failStarts = 2;
  const { store, r } = setup(t, h);
  store.replaceAll('test', [frontendOn(8000)]);
  store.markSynced('test');
  await r.start();
  await waitUntil(() => r.haproxyStarted);
  assert.deepEqual(h.actions, ['start', 'start', 'start']);
  assert.equal(r.isConverged(), true);
});

test('not converged until the pass that applied the current version has ended (its outcomes are readable)', async (t) => {
  const h = new FakeHaproxy();
  let release!: () => void;
  let blocking = false;
  const runtime = {
    execute: async () => undefined,
    converge: async () => {
      if (blocking) await new Promise<void>((r) => (release = r));
      return 0;
    },
  };
  const { store, r } = setup(t, h, { runtime });
  store.replaceAll('test', [frontendOn(8000)]);
  store.markSynced('test');
  await r.start();
  await r.settled();
  assert.equal(r.isConverged(), true);
  blocking = true;
  store.replaceAll('test', [frontendOn(8001)]);
  // The reload has been applied; its post-reload check is still running.
  await waitUntil(() => h.running.includes(':8001') && release !== undefined);
  assert.equal(r.isConverged(), false, 'the pass has not ended: its outcomes are not published yet');
  release();
  await r.settled();
  assert.equal(r.isConverged(), true);
  assert.equal(r.last?.storeVersion, store.version);
});
