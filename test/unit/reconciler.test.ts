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

function frontendOn(port: number, name = 'web'): Declared {
  const raw = { apiVersion: API, kind: 'Frontend', metadata: { name }, spec: { binds: [{ address: '127.0.0.1', port }] } };
  const v = validateResource(raw);
  return { key: `Frontend/default/${name}`, origin: `${name}.yaml`, source: 'test', resource: v.resource, issues: v.issues };
}

class FakeHaproxy implements HaproxyControl {
  writeFiles?: (files: ReadonlyMap<string, string>) => Promise<void>;
  readonly actions: string[] = [];
  running = '';
  failStarts = 0;
  refuse: (text: string) => boolean = () => false;
  /** What HAProxy says when it refuses `text`. */
  output: (text: string) => string = () => 'bind failed';
  /** Which step refuses: the check (`haproxy -c`, HAProxy untouched) or the reload. */
  refuseReason: 'check' | 'reload' = 'reload';
  async start(text: string) {
    this.actions.push('start');
    if (this.failStarts-- > 0) throw new Error('cannot start');
    this.running = text;
    return { adopted: false };
  }
  async apply(text: string): Promise<ApplyResult> {
    this.actions.push('reload');
    if (this.refuse(text)) return { ok: false, reason: this.refuseReason, output: this.output(text) };
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
  const r = new Reconciler({
    store,
    haproxy,
    render: loadRenderer(),
    global,
    logger: silentLogger(),
    debounceMs: 20,
    minReloadIntervalMs: 0,
    retryInitialMs: 20,
    retryMaxMs: 80,
    ...extra,
  });
  const passes: PassResult[] = [];
  r.on('pass', (p) => passes.push(p));
  t.after(() => r.stop());
  return { store, r, passes };
}

/** The usual start: one frontend on 8000, the source synced, the loop started and settled. */
async function startOn8000(store: Store, r: Reconciler): Promise<void> {
  store.replaceAll('test', [frontendOn(8000)]);
  store.markSynced('test');
  await r.start();
  await r.settled();
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
  await startOn8000(store, r);
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
  await startOn8000(store, r);
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
  await startOn8000(store, r);
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
  await startOn8000(store, r);
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

test('HAProxy refuses one resource: the rest applies without it, it stays refused until it changes', async (t) => {
  const h = new FakeHaproxy();
  // HAProxy refuses any bind on port 8001, blaming that line as `haproxy -c` would.
  h.refuse = (text) => text.includes(':8001\n');
  h.output = (text) => {
    const line = text.split('\n').findIndex((l) => l.includes(':8001')) + 1;
    return `[ALERT]    (1) : config : parsing [/state/candidate-1-1.cfg:${line}] : cannot use port 8001\n[ALERT]    (1) : config : Fatal errors found in configuration.`;
  };
  h.refuseReason = 'check';
  // A refused check does not count as a reload: the isolated configuration need not wait out the interval.
  const { store, r, passes } = setup(t, h, { minReloadIntervalMs: 300 });
  const pause = () => new Promise((res) => setTimeout(res, 350));
  await startOn8000(store, r);
  await pause();

  store.replaceAll('test', [frontendOn(8002), frontendOn(8001, 'bad')]);
  await r.settled();
  assert.deepEqual(h.actions, ['start', 'reload', 'reload'], 'refused once, then applied without the culprit');
  assert.match(h.running, /bind 127\.0\.0\.1:8002\n/);
  assert.doesNotMatch(h.running, /8001/);
  const last = passes.at(-1)!;
  assert.equal(last.kind, 'reload');
  const bad = last.resolution!.outcomes.get('Frontend/default/bad');
  assert.ok(bad && !bad.accepted);
  assert.equal(bad.reason, 'RejectedByHAProxy');
  assert.match(
    bad.message,
    /^spec\.binds: HAProxy refuses it \(line \d+: cannot use port 8001\); the rendered line: "bind 127\.0\.0\.1:8001"\. Fix the resource; the other resources are applied without it$/,
  );
  assert.equal(bad.issues[0]!.origin, 'bad.yaml');
  assert.equal(r.isConverged(), true);
  assert.ok(!passes.some((p) => p.kind === 'deferred'), `no pass waited for the reload interval: ${passes.map((p) => p.kind).join(', ')}`);

  // Another change: HAProxy is not asked again about the refused version.
  await pause();
  store.replaceAll('test', [frontendOn(8003), frontendOn(8001, 'bad')]);
  await r.settled();
  assert.deepEqual(h.actions.slice(3), ['reload']);
  assert.match(h.running, /:8003\n/);

  // The culprit changes: it is tried, and applied.
  await pause();
  store.replaceAll('test', [frontendOn(8003), frontendOn(8004, 'bad')]);
  await r.settled();
  assert.deepEqual(h.actions.slice(4), ['reload']);
  assert.match(h.running, /:8004\n/);
  assert.equal(passes.at(-1)!.resolution!.outcomes.get('Frontend/default/bad')?.accepted, true);
});

test('a refusal that blames nothing known fails the pass as before (nothing to isolate)', async (t) => {
  const h = new FakeHaproxy();
  h.refuse = (text) => text.includes(':8001\n');
  h.output = () => '[ALERT]    (1) : config : Fatal errors found in configuration.';
  const { store, r, passes } = setup(t, h, { retryInitialMs: 60_000 });
  await startOn8000(store, r);
  store.replaceAll('test', [frontendOn(8000), frontendOn(8001, 'bad')]);
  await r.settled();
  assert.equal(passes.at(-1)!.kind, 'failed');
  assert.doesNotMatch(h.running, /8001/);
  assert.equal(r.isConverged(), false);
});

test('a certificate change goes through the runtime API; when HAProxy refuses it, one reload with the reason', async (t) => {
  const { selfSignedCert } = await import('../helpers/certs.js');
  const { SECRETS } = await import('../../src/model/secrets.js');
  const { CertUpdateError } = await import('../../src/reconcile/cert-updater.js');
  const h = new FakeHaproxy();
  const written: string[] = [];
  h.writeFiles = async (files: ReadonlyMap<string, string>) => void written.push(...files.keys());
  const applied: string[][] = [];
  let refuse = false;
  const certificates = {
    async execute(ops: readonly import('../../src/reconcile/cert-plan.js').CertOp[]) {
      if (refuse) throw new CertUpdateError(`update certificate ${ops[0]!.path} failed: Can't update`, ops[0]!, 0);
      applied.push(ops.map((o) => `${o.op} ${o.path}`));
    },
  };
  const { store, r, passes } = setup(t, h, { certificates, global: { ...global, stateDir: '/s' } });
  const raw = {
    apiVersion: API,
    kind: 'Frontend',
    metadata: { name: 'web' },
    spec: { binds: [{ address: '127.0.0.1', port: 8443, tls: { certificateRefs: [{ name: 'site' }] } }] },
  };
  const v = validateResource(raw);
  const secret = (c: { cert: string; key: string }) => ({
    kind: 'Secret',
    namespace: 'default',
    name: 'site',
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': c.cert, 'tls.key': c.key },
    origin: 'test',
  });
  store.replaceAll('test', [{ key: 'Frontend/default/web', origin: 'web.yaml', source: 'test', resource: v.resource, issues: v.issues }]);
  store.setDiscovered('test', SECRETS, 'Secret/default/site', secret(selfSignedCert('site.example.com')));
  store.markSynced('test');
  await r.start();
  await r.settled();
  assert.deepEqual(h.actions, ['start']);

  store.setDiscovered('test', SECRETS, 'Secret/default/site', secret(selfSignedCert('site.example.com')));
  await r.settled();
  assert.deepEqual(h.actions, ['start'], 'rotation: no reload');
  assert.deepEqual(applied, [['update-cert /s/certs/default/secret-site.pem']]);
  assert.deepEqual(written, ['certs/default/secret-site.pem', 'certs/default_web.0.crtlist'], 'the files are written before the runtime commands');
  assert.equal(passes.at(-1)?.kind, 'runtime');
  assert.equal(passes.at(-1)?.certificates, 'runtime');
  assert.equal(passes.at(-1)?.summary, 'certificate update (1)');

  refuse = true;
  store.setDiscovered('test', SECRETS, 'Secret/default/site', secret(selfSignedCert('site.example.com')));
  await r.settled();
  assert.deepEqual(h.actions, ['start', 'reload'], 'a refused certificate update falls back to one reload');
  assert.equal(passes.at(-1)?.kind, 'reload');
  assert.equal(passes.at(-1)?.certificates, 'failed');
  assert.match(
    passes.at(-1)!.reasons[0]!,
    /^certificate update failed \(update certificate \/s\/certs\/default\/secret-site\.pem failed: Can't update\); falling back to a reload$/,
  );
});

test('removed servers still connected are deleted by rechecks of their own (not passes), which a change pre-empts; no reload', async (t) => {
  const h = new FakeHaproxy();
  let pending = 0;
  const calls: { tryNow: boolean; at: number }[] = [];
  const runtime = {
    async execute() {},
    async finishDeletes(options: { tryNow?: boolean } = {}) {
      calls.push({ tryNow: options.tryNow !== false, at: Date.now() });
      if (pending === 0) return undefined;
      if (options.tryNow !== false) pending--;
      return pending === 0 ? undefined : { remaining: pending, recheckAfterMs: 100 };
    },
  };
  const { store, r, passes } = setup(t, h, { runtime });
  await startOn8000(store, r);
  pending = 3; // three more tries before HAProxy lets them go
  store.replaceAll('test', [frontendOn(8000)]); // an unchanged resource: a noop pass that tries them
  await r.settled();
  assert.equal(pending, 2, 'the pass tried once; settled() does not wait for the rechecks');
  const passesBefore = passes.length;
  const t0 = Date.now();
  await waitUntil(() => pending === 0, 3000);
  assert.ok(Date.now() - t0 >= 150, 'the rechecks are spaced (recheckAfterMs), not a busy loop');
  assert.equal(passes.length, passesBefore, 'a recheck is not a pass: no pass event (no computeDesired, no plan, no noop pass counted)');
  const n = calls.length;
  await new Promise((res) => setTimeout(res, 250));
  assert.equal(calls.length, n, 'no recheck once none remains');

  // A change while a recheck waits runs its pass at once, not after the recheck delay.
  pending = 2;
  store.replaceAll('test', [frontendOn(8000)]);
  await r.settled();
  const before = passes.length;
  const t1 = Date.now();
  store.replaceAll('test', [frontendOn(8000), frontendOn(8001, 'other')]);
  await waitUntil(() => passes.length > before);
  assert.ok(Date.now() - t1 < 90, `the change pre-empts the recheck (${Date.now() - t1} ms)`);
  await waitUntil(() => pending === 0, 3000);
  assert.deepEqual(h.actions, ['start', 'reload'], 'only the new frontend reloaded');
});
