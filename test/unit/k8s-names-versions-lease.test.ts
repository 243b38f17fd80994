// Event names, the version check's choice of members, and client-go's Lease
// rules (leaseTransitions, campaigning only with synced caches), against the
// Kubernetes API test server. test/integration/k8s-real-apiserver.test.ts runs
// the Event scenario against a real kube-apiserver too.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import { KubeClient, LeaderElector } from '../../src/sources/kubernetes/index.js';
import { eventName, trimNote } from '../../src/sources/kubernetes/events.js';
import { chooseMembersFrom, parseMinor, versionWarning } from '../../src/sources/kubernetes/server-version.js';
import { KubeApiTestServer, waitFor } from '../k8s/index.js';
import { eventNameScenario } from '../k8s/event-scenario.js';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

async function setup(t: TestContext, options: ConstructorParameters<typeof KubeApiTestServer>[0] = {}) {
  const server = new KubeApiTestServer({ bookmarkIntervalMs: 100, ...options });
  await server.start();
  t.after(() => server.stop());
  return { server, client: new KubeClient(server.kubeConfig()) };
}

test('eventName: <object>.<hex time>, a valid DNS subdomain, unique, within 253 characters', () => {
  const at = new Date('2026-01-02T03:04:05.678Z');
  const a = eventName('echo', at);
  const b = eventName('echo', at);
  assert.match(a, /^echo\.[0-9a-f]+$/);
  assert.notEqual(a, b, 'two events in the same millisecond get different names');
  assert.ok(BigInt(`0x${a.slice(5)}`) >= BigInt(at.getTime()) * 1_000_000n, 'the suffix is the time in nanoseconds');
  const long = eventName(`${'a'.repeat(120)}.${'b'.repeat(130)}`, at);
  assert.ok(long.length <= 253, `${long.length} characters`);
  assert.match(long, DNS1123_SUBDOMAIN);
  // A cut that would end in '.' or '-' is trimmed to stay valid.
  const cut = eventName(`${'a'.repeat(236)}.bbbb`, at);
  assert.match(cut, DNS1123_SUBDOMAIN);
});

test('trimNote: at most 1,024 bytes of UTF-8, cut on a character boundary', () => {
  assert.equal(trimNote('short'), 'short');
  const note = trimNote('é'.repeat(1000));
  assert.ok(Buffer.byteLength(note) <= 1024, `${Buffer.byteLength(note)} bytes`);
  assert.ok(note.endsWith('...'));
  assert.ok(!note.includes('\uFFFD'));
});

test('the members source by server: auto falls back to Endpoints on 1.20; a forced endpointslices names the fix', () => {
  const v120 = { gitVersion: 'v1.20.2', minor: 20, endpointSlicesV1: false };
  const v131 = { gitVersion: 'v1.31.0', minor: 31, endpointSlicesV1: true };
  assert.deepEqual(chooseMembersFrom('auto', v131), { membersFrom: 'endpointslices' });
  const auto = chooseMembersFrom('auto', v120);
  assert.ok('membersFrom' in auto && auto.membersFrom === 'endpoints');
  assert.match(('note' in auto && auto.note) || '', /EndpointSlice v1 .*needs Kubernetes 1\.21 .*v1\.20\.2/);
  const forced = chooseMembersFrom('endpointslices', v120);
  assert.ok('problem' in forced);
  assert.match(forced.problem, /EndpointSlice v1 \(discovery\.k8s\.io\/v1\) needs Kubernetes 1\.21.*v1\.20\.2.*use --members-from endpoints/);
  assert.deepEqual(chooseMembersFrom('endpoints', v131), { membersFrom: 'endpoints' });
  assert.equal(parseMinor('21+'), 21);
  assert.equal(versionWarning(v120), undefined);
  assert.match(versionWarning({ gitVersion: 'v1.19.4', minor: 19, endpointSlicesV1: false }) ?? '', /supports Kubernetes 1\.20 and newer/);
});

test('test API server: Event names and generateName are checked as the real API server checks them', async (t) => {
  const { server } = await setup(t);
  await eventNameScenario(server.kubeConfig(), 'default');
});

test('leader election: every takeover counts one leaseTransition, as client-go counts them', async (t) => {
  const { server, client } = await setup(t);
  const lease = () => server.getObject('Lease', 'default', 'lock')!.spec as { holderIdentity: string | null; leaseTransitions: number };
  const make = (identity: string) => {
    const e = new LeaderElector({
      client,
      namespace: 'default',
      name: 'lock',
      identity,
      logger: silentLogger(),
      leaseDurationMs: 1000,
      renewDeadlineMs: 700,
      retryPeriodMs: 100,
    });
    e.start();
    t.after(() => e.stop());
    return e;
  };
  const a = make('a');
  await waitFor(() => a.isLeader(), { what: 'a leads' });
  assert.equal(lease().leaseTransitions, 0, 'creating the Lease is no transition');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(lease().leaseTransitions, 0, 'renewals are no transitions');
  const b = make('b');
  await a.stop(); // releases
  await waitFor(() => b.isLeader(), { what: 'b takes the released lease' });
  assert.equal(lease().holderIdentity, 'b');
  assert.equal(lease().leaseTransitions, 1, 'taking a released lease is a transition');
  const c = make('c');
  await b.stop({ release: false }); // dies
  await waitFor(() => c.isLeader(), { what: 'c takes the expired lease', timeoutMs: 3000 });
  assert.equal(lease().leaseTransitions, 2, 'taking an expired lease is a transition');
});

test('leader election: a replica that cannot lead never takes a free lease; a leader that stops being able to steps down and releases it', async (t) => {
  const { server, client } = await setup(t);
  const holder = () => (server.getObject('Lease', 'default', 'lock')?.spec as { holderIdentity?: string | null } | undefined)?.holderIdentity ?? '';
  const make = (identity: string, canLead: () => boolean) => {
    const e = new LeaderElector({
      client,
      namespace: 'default',
      name: 'lock',
      identity,
      logger: silentLogger(),
      leaseDurationMs: 1000,
      renewDeadlineMs: 700,
      retryPeriodMs: 100,
      canLead,
    });
    e.start();
    t.after(() => e.stop());
    return e;
  };
  let aSynced = false;
  const a = make('a', () => aSynced);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(a.isLeader(), false);
  assert.equal(server.getObject('Lease', 'default', 'lock'), undefined, 'an unsynced replica does not even create the Lease');
  aSynced = true;
  await waitFor(() => a.isLeader(), { what: 'a leads once synced' });
  const b = make('b', () => true);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(holder(), 'a');

  // a's caches stop being current: it stops leading at once, and b takes over without waiting out the lease.
  const lost = Date.now();
  aSynced = false;
  assert.equal(a.isLeader(), false, 'steps down at once');
  await waitFor(() => b.isLeader(), { what: 'b takes over' });
  assert.ok(Date.now() - lost < 700, `b took over ${Date.now() - lost} ms later: the lease was released, not left to expire`);
  assert.equal(holder(), 'b');
  aSynced = true;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(a.isLeader(), false, 'a synced again campaigns, but b holds a live lease');
});
