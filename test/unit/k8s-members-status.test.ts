// Pure parts of the Kubernetes source: members from endpoints, and status from passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  conditionChanges,
  desiredStatus,
  memberName,
  membersFromEndpoints,
  membersFromSlices,
  mergeStatus,
  sliceEndpointState,
  statusMatches,
} from '../../src/sources/kubernetes/index.js';
import type { KubeObject } from '../../src/sources/kubernetes/objects.js';
import { validateResource } from '../../src/model/validate.js';
import type { Outcome } from '../../src/model/resolve.js';
import { endpointsObject, serviceObject, sliceObject } from '../k8s/fixtures.js';

const svc = serviceObject('web', [
  { name: 'http', port: 80, targetPort: 'http' },
  { name: 'admin', port: 9000 },
]) as KubeObject;

test('member names are stable per address and port, and valid HAProxy server names', () => {
  assert.equal(memberName('10.1.2.3', 8080), '10.1.2.3_8080');
  assert.equal(memberName('fd00:1::5', 8080), 'fd00-1--5_8080');
  assert.equal(memberName('::1', 80), '0--1_80');
  for (const n of ['10.1.2.3_8080', 'fd00-1--5_8080', '0--1_80']) assert.match(n, /^[A-Za-z0-9][A-Za-z0-9_.-]*$/);
});

test('EndpointSlice conditions map to ready, drain and maint (unset reads as the API documents)', () => {
  const cases: Array<[object, string]> = [
    [{}, 'ready'],
    [{ ready: true }, 'ready'],
    [{ ready: false }, 'maint'],
    [{ ready: false, serving: true, terminating: true }, 'drain'],
    [{ ready: false, serving: false, terminating: true }, 'maint'],
    [{ terminating: true }, 'drain'], // serving unset reads as ready (unset: true)
  ];
  for (const [conditions, state] of cases) assert.equal(sliceEndpointState({ conditions }), state, JSON.stringify(conditions));
});

test('members from EndpointSlices: port by name or number, target ports per slice, states, duplicates', () => {
  const slices = [
    sliceObject('a', 'web', { name: 'http', port: 8080 }, [{ address: '10.0.0.1' }, { address: '10.0.0.2', ready: false }]),
    sliceObject('b', 'web', { name: 'http', port: 8081 }, [{ address: '10.0.0.3', ready: false, serving: true, terminating: true }]),
    // The same endpoint in two slices (during a slice migration): the better state wins.
    sliceObject('c', 'web', { name: 'http', port: 8080 }, [{ address: '10.0.0.2' }]),
    // Another port of the Service: not ours.
    sliceObject('d', 'web', { name: 'admin', port: 9000 }, [{ address: '10.0.0.9' }]),
  ] as KubeObject[];
  const byName = membersFromSlices({ name: 'web', port: 'http' }, svc, slices, 'default');
  assert.equal(byName.problem, undefined);
  assert.deepEqual(
    byName.members.map((m) => [m.name, m.address, m.port, m.state]),
    [
      ['10.0.0.1_8080', '10.0.0.1', 8080, 'ready'],
      ['10.0.0.2_8080', '10.0.0.2', 8080, 'ready'],
      ['10.0.0.3_8081', '10.0.0.3', 8081, 'drain'],
    ],
  );
  assert.equal(byName.port, 'port http (80) → target port 8080, 8081');
  const byNumber = membersFromSlices({ name: 'web', port: 80 }, svc, slices, 'default');
  assert.deepEqual(byNumber.members, byName.members);
  const fqdn = { ...sliceObject('e', 'web', { name: 'http', port: 80 }, [{ address: 'a.example.com' }]), addressType: 'FQDN' } as KubeObject;
  assert.deepEqual(membersFromSlices({ name: 'web', port: 'http' }, svc, [fqdn], 'default').members, []);
});

test('Service problems: not found, no such port, ExternalName', () => {
  const none = membersFromSlices({ name: 'web', port: 'http' }, undefined, [], 'shop');
  assert.equal(none.problem?.reason, 'ServiceNotFound');
  assert.match(none.problem!.message, /Service shop\/web does not exist/);
  const port = membersFromSlices({ name: 'web', port: 'grpc' }, svc, [], 'default');
  assert.equal(port.problem?.reason, 'PortNotFound');
  assert.match(port.problem!.message, /no TCP port named "grpc"; it has http \(80\), admin \(9000\)/);
  assert.equal(membersFromSlices({ name: 'web', port: 81 }, svc, [], 'default').problem?.reason, 'PortNotFound');
  const ext = { ...svc, spec: { type: 'ExternalName', externalName: 'db.example.com' } } as KubeObject;
  assert.equal(membersFromSlices({ name: 'web', port: 80 }, ext, [], 'default').problem?.reason, 'UnsupportedService');
});

test('members from core/v1 Endpoints: addresses ready, notReadyAddresses out of rotation', () => {
  const ep = endpointsObject('web', [{ port: { name: 'http', port: 8080 }, ready: ['10.0.0.1'], notReady: ['10.0.0.2'] }]) as KubeObject;
  const r = membersFromEndpoints({ name: 'web', port: 'http' }, svc, ep, 'default');
  assert.deepEqual(
    r.members.map((m) => [m.name, m.state]),
    [
      ['10.0.0.1_8080', 'ready'],
      ['10.0.0.2_8080', 'maint'],
    ],
  );
  assert.deepEqual(membersFromEndpoints({ name: 'web', port: 'http' }, svc, undefined, 'default').members, []);
});

// --- status ---

const backend = validateResource({
  apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
  kind: 'Backend',
  metadata: { name: 'app', namespace: 'default', generation: 3, uid: 'u1' },
  spec: { members: [] },
}).resource!;
const accepted: Outcome = { accepted: true, resource: backend };
const rejected: Outcome = {
  accepted: false,
  reason: 'InvalidSpec',
  message: 'spec.balance: "x" is not one of ...',
  issues: [{ field: 'spec.balance', message: '"x" is not one of ...', reason: 'InvalidSpec' }],
  serving: { ...backend, metadata: { ...backend.metadata, generation: 2 } },
};
const conds = (s: { conditions: Array<{ type: string; status: string; reason: string }> }) => s.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);

test('status from a pass: accepted and programmed, with member counts', () => {
  const s = desiredStatus({ generation: 3, outcome: accepted, pass: { ok: true }, members: { total: 3, ready: 2 } });
  assert.deepEqual(conds(s), ['Accepted=True/Accepted', 'Programmed=True/Programmed']);
  assert.equal(s.observedGeneration, 3);
  assert.deepEqual(s.members, { total: 3, ready: 2 });
  assert.match(s.conditions[1]!.message, /2 of 3 member\(s\) in rotation/);
  assert.ok(s.conditions.every((c) => c.observedGeneration === 3));
});

test('status when HAProxy rejected the configuration: ConfigRejected unless this generation already serves', () => {
  const pass = {
    ok: false as const,
    error: 'HAProxy rejected the configuration (haproxy -c)',
    output: "[ALERT] (1) : config : parsing [x.cfg:3] : unknown keyword 'bogus'\n",
  };
  const s = desiredStatus({ generation: 3, outcome: accepted, pass, servingGeneration: 2 });
  assert.deepEqual(conds(s), ['Accepted=True/Accepted', 'Programmed=False/ConfigRejected']);
  assert.match(s.conditions[1]!.message, /unknown keyword 'bogus'.*previous configuration keeps serving/);
  const same = desiredStatus({ generation: 3, outcome: accepted, pass, servingGeneration: 3 });
  assert.deepEqual(conds(same), ['Accepted=True/Accepted', 'Programmed=True/Programmed']);
});

test('status of a rejected resource says why and what keeps serving; ResolvedRefs for service backends', () => {
  const s = desiredStatus({
    generation: 3,
    outcome: rejected,
    pass: { ok: true },
    service: { members: [], problem: { reason: 'PortNotFound', message: 'no port' } },
  });
  assert.deepEqual(conds(s), ['Accepted=False/InvalidSpec', 'Programmed=False/InvalidSpec', 'ResolvedRefs=False/PortNotFound']);
  assert.match(s.conditions[0]!.message, /spec\.balance/);
  assert.match(s.conditions[1]!.message, /generation 2\) keeps serving/);
});

test('certificate notes (Secret, serial, notAfter, warnings) follow the Accepted message, as REST shows them; a rotation is a status change', () => {
  const inUse = 'certificates in use: Secret default/site (serial 1A2B, notAfter 2027-01-01T00:00:00Z)';
  const warning = 'Secret default/site: the certificate (serial 1A2B) expires at 2027-01-01T00:00:00Z, in 3 day(s); renew it';
  const s = desiredStatus({ generation: 1, outcome: { ...accepted, notes: [inUse, warning] }, pass: { ok: true } });
  assert.equal(s.conditions[0]!.message, `The spec is valid and every reference resolves; ${inUse}; ${warning}.`);
  assert.equal(
    desiredStatus({ generation: 1, outcome: accepted, pass: { ok: true } }).conditions[0]!.message,
    'The spec is valid and every reference resolves.',
    'no notes: the message as before',
  );
  const refused = desiredStatus({ generation: 3, outcome: { ...rejected, notes: [inUse] }, pass: { ok: true } });
  assert.match(refused.conditions[0]!.message, /^spec\.balance: .*; certificates in use: Secret default\/site \(serial 1A2B/);
  const written = mergeStatus(undefined, s, '2026-01-01T00:00:00Z');
  const rotated = desiredStatus({ generation: 1, outcome: { ...accepted, notes: [inUse.replace('1A2B', '3C4D')] }, pass: { ok: true } });
  assert.ok(statusMatches(written, s));
  assert.ok(!statusMatches(written, rotated), 'a new serial is written');
  assert.deepEqual(conditionChanges(written, mergeStatus(written, rotated, '2026-01-01T00:01:00Z')), [], 'no Event for a rotation');
});

test('lastTransitionTime moves only when a condition flips; matches ignore it; events on changes', () => {
  const ok = desiredStatus({ generation: 1, outcome: accepted, pass: { ok: true }, members: { total: 1, ready: 1 } });
  const first = mergeStatus(undefined, ok, '2026-01-01T00:00:00Z');
  assert.ok(statusMatches(first, ok));
  const scaled = desiredStatus({ generation: 1, outcome: accepted, pass: { ok: true }, members: { total: 2, ready: 2 } });
  assert.ok(!statusMatches(first, scaled));
  const second = mergeStatus(first, scaled, '2026-01-01T00:01:00Z');
  assert.ok(
    second.conditions!.every((c) => c.lastTransitionTime === '2026-01-01T00:00:00Z'),
    'no flip, no move',
  );
  assert.deepEqual(conditionChanges(first, second), []);
  const bad = mergeStatus(second, desiredStatus({ generation: 2, outcome: rejected, pass: { ok: true } }), '2026-01-01T00:02:00Z');
  assert.ok(
    bad.conditions!.every((c) => c.lastTransitionTime === '2026-01-01T00:02:00Z'),
    'flipped, moved',
  );
  assert.deepEqual(
    conditionChanges(second, bad).map((c) => `${c.type}/${c.reason}`),
    ['Warning/InvalidSpec'],
  );
  const fixed = mergeStatus(bad, desiredStatus({ generation: 3, outcome: accepted, pass: { ok: true } }), '2026-01-01T00:03:00Z');
  assert.deepEqual(
    conditionChanges(bad, fixed).map((c) => `${c.type}/${c.reason}`),
    ['Normal/Accepted'],
  );
});
