// Running certificate files by digest (plan/file-digests.ts): what
// GET /api/v1/running-state serves instead of key material, and how
// `plan --from` turns it back into files the certificate planner compares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certFileDigests, digestsProblem, runningFilesFromDigests, sha256Hex, unknownContent } from '../../src/plan/file-digests.js';
import { planCertificates } from '../../src/reconcile/cert-plan.js';

const DIR = '/var/lib/nh';
const pem = (tag: string): string =>
  `-----BEGIN CERTIFICATE-----\n${tag}\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nkey-${tag}\n-----END PRIVATE KEY-----\n`;
const A = 'certs/default/secret-a.pem';
const B = 'certs/default/secret-b.pem';
const CA = 'certs/default/secret-ca.ca.pem';
const LIST = 'certs/default_web.0.crtlist';
const MAP = 'maps/default_web.routes.map';
const list = (...lines: string[]) => lines.map((l) => `${DIR}/${l}`).join('\n') + '\n';
const running = new Map([
  [A, pem('a1')],
  [CA, '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n'],
  [LIST, list(`${A} a.example`)],
  [MAP, '/v1/ 200000\n'],
]);
// The certificate planner sees no maps (reconcile/plan.ts leaves them to the map planner).
const certs = new Map([...running].filter(([p]) => p !== MAP));
const plan = (desired: Map<string, string>) =>
  planCertificates(runningFilesFromDigests(certFileDigests(running), desired), desired, { stateDir: DIR, runningConfig: '' });

test('served: every file under certs/ by sha256; crt-lists also by content; never a .pem, never a map', () => {
  const d = certFileDigests(running);
  assert.deepEqual(Object.keys(d), [A, CA, LIST]);
  assert.deepEqual(d[A], { sha256: sha256Hex(pem('a1')) });
  assert.deepEqual(d[CA], { sha256: sha256Hex(running.get(CA)!) });
  assert.deepEqual(d[LIST], { sha256: sha256Hex(running.get(LIST)!), content: running.get(LIST) });
  assert.doesNotMatch(JSON.stringify(d), /PRIVATE KEY|key-a1/);
  assert.deepEqual(certFileDigests(undefined), {});
  assert.equal(digestsProblem(d), undefined);
  assert.equal(digestsProblem(undefined), undefined);
  assert.match(digestsProblem({ [A]: { sha256: 'abc' } })!, /auxFiles\["certs\/default\/secret-a\.pem"\]\.sha256 is not a sha256 in hex/);
  assert.match(digestsProblem({ 'haproxy.cfg': { sha256: sha256Hex('') } })!, /not under certs\//);
  assert.match(digestsProblem([])!, /not an object/);
});

test('equal digests are unchanged files: nothing to plan', () => {
  const desired = new Map(certs);
  assert.deepEqual(runningFilesFromDigests(certFileDigests(running), desired), desired);
  assert.deepEqual(plan(desired), { kind: 'noop' });
});

test('a .pem whose digest differs is updated at run time, as the controller would', () => {
  const desired = new Map(certs).set(A, pem('a2'));
  const files = runningFilesFromDigests(certFileDigests(running), desired);
  assert.equal(files.get(A), unknownContent(sha256Hex(pem('a1'))));
  assert.doesNotMatch(files.get(A)!, /PRIVATE KEY/);
  assert.deepEqual(plan(desired), {
    kind: 'runtime',
    ops: [{ op: 'update-cert', path: `${DIR}/${A}`, pem: pem('a2') }],
    summary: '1 update-cert',
  });
});

test('a crt-list that changed is planned from its served lines: a certificate added to a bind loads at run time', () => {
  const desired = new Map(certs).set(B, pem('b1')).set(LIST, list(`${A} a.example`, `${B} b.example`));
  const p = plan(desired);
  assert.equal(p.kind, 'runtime', JSON.stringify(p));
  assert.deepEqual(p.kind === 'runtime' ? p.ops.map((o) => o.op) : [], ['new-cert', 'add-crtlist-line']);
});

test('a .pem the desired files no longer have is known only by its digest', () => {
  const desired = new Map(certs);
  desired.delete(CA);
  const files = runningFilesFromDigests(certFileDigests(running), desired);
  assert.equal(files.get(CA), unknownContent(sha256Hex(running.get(CA)!)));
});
