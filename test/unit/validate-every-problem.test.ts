// validate and resolve report every problem of every resource in one pass:
// schema problems, the references of the well-formed parts, every rule, in a
// stable order; the Kubernetes Accepted condition lists every rule problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { declare } from '../../src/model/declare.js';
import { resolve, type Declared } from '../../src/model/resolve.js';
import { formatIssue, type Issue } from '../../src/model/types.js';
import { naturalCompare, validateReport } from '../../src/model/validate-report.js';
import { desiredStatus } from '../../src/sources/kubernetes/status.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';

function declared(raws: unknown[]): Declared[] {
  return raws.map((raw, i) => {
    const d = declare(raw, { origin: `m.yaml#${i + 1}`, source: 'files' }).declared;
    assert.ok(d, `document ${i + 1} names a resource`);
    return d;
  });
}

const backend = (name: string, mode = 'http') => ({
  apiVersion: API,
  kind: 'Backend',
  metadata: { name },
  spec: { mode, members: [{ name: 'a', address: '10.0.0.1', port: 80 }] },
});

const rule = (path: string, backendName: string) => ({ matches: { path: { type: 'PathPrefix', value: path } }, backend: backendName });

const issuesOf = (raws: unknown[]): string[] => {
  const r = resolve({ declared: declared(raws), lastAccepted: new Map() });
  return [...r.outcomes.values()].flatMap((o) => (o.accepted ? [] : o.issues.map((i) => formatIssue(i))));
};

test('every rule naming a missing backend is reported, and the Accepted condition lists each', () => {
  const web = {
    apiVersion: API,
    kind: 'Frontend',
    metadata: { name: 'web' },
    spec: { binds: [{ port: 8080 }], defaultBackend: 'app', rules: [rule('/a', 'canarry'), rule('/b', 'app'), rule('/c', 'canarry')] },
  };
  const r = resolve({ declared: declared([web, backend('app')]), lastAccepted: new Map() });
  const o = r.outcomes.get('Frontend/default/web');
  assert.ok(o && !o.accepted);
  assert.deepEqual(
    o.issues.map((i) => `${i.field}: ${i.message}`),
    [
      'spec.rules[0].backend: Backend default/canarry does not exist; create it or fix the name',
      'spec.rules[2].backend: Backend default/canarry does not exist; create it or fix the name',
    ],
  );
  const accepted = desiredStatus({ generation: 1, outcome: o, pass: { ok: true } }).conditions.find((c) => c.type === 'Accepted');
  assert.equal(accepted?.status, 'False');
  assert.match(accepted?.message ?? '', /spec\.rules\[0\]\.backend: Backend default\/canarry does not exist/);
  assert.match(accepted?.message ?? '', /spec\.rules\[2\]\.backend: Backend default\/canarry does not exist/);

  // Five rule problems: every one is listed (before, only the first three were).
  const many = { ...web, spec: { ...web.spec, rules: ['/a', '/b', '/c', '/d', '/e'].map((p, i) => rule(p, `missing-${i}`)) } };
  const m = resolve({ declared: declared([many, backend('app')]), lastAccepted: new Map() }).outcomes.get('Frontend/default/web');
  assert.ok(m && !m.accepted);
  const message = desiredStatus({ generation: 1, outcome: m, pass: { ok: true } }).conditions.find((c) => c.type === 'Accepted')?.message ?? '';
  for (let i = 0; i < 5; i++) assert.ok(message.includes(`spec.rules[${i}].backend: Backend default/missing-${i} does not exist`), message);
  assert.ok(!message.includes('more)'), message);
});

test('a schema problem does not hide the references of the well-formed parts', () => {
  const web = {
    apiVersion: API,
    kind: 'Frontend',
    metadata: { name: 'web' },
    spec: {
      binds: [{ port: 8080 }],
      tiemouts: { client: '5s' },
      defaultBackend: 'missing',
      // rule 1 names no backend, rule 2 has a bad path but names its backend well.
      rules: [rule('/a', 'tcp-app'), { matches: { path: { type: 'PathPrefix', value: '/b' } } }, rule('no-slash', 'gone'), { matches: 'all' }],
    },
  };
  assert.deepEqual(issuesOf([web, backend('tcp-app', 'tcp')]).sort(naturalCompare), [
    'm.yaml#1: Frontend default/web: spec.defaultBackend: Backend default/missing does not exist; create it or fix the name',
    'm.yaml#1: Frontend default/web: spec.rules[0].backend: Backend default/tcp-app has mode tcp but this frontend has mode http; make them match',
    'm.yaml#1: Frontend default/web: spec.rules[1].backend: is required: name the backend that serves this rule (backend or backends), unless the rule redirects (a RequestRedirect filter)',
    'm.yaml#1: Frontend default/web: spec.rules[2].backend: Backend default/gone does not exist; create it or fix the name',
    'm.yaml#1: Frontend default/web: spec.rules[2].matches.path.value: "no-slash" is not allowed for type PathPrefix: use a path starting with "/" made of letters, digits and ._~!&()*+,;=:@%/- (or type RegularExpression)',
    'm.yaml#1: Frontend default/web: spec.rules[3].backend: is required: name the backend that serves this rule (backend or backends), unless the rule redirects (a RequestRedirect filter)',
    'm.yaml#1: Frontend default/web: spec.rules[3].matches: "all" must be object',
    'm.yaml#1: Frontend default/web: spec.tiemouts: is not a known field; remove it or check its spelling',
  ]);
});

test('a semantic problem (schema valid) does not hide missing references either', () => {
  const web = {
    apiVersion: API,
    kind: 'Frontend',
    metadata: { name: 'web' },
    spec: { binds: [{ port: 8080 }, { port: 8080 }], defaultBackend: 'nope' },
  };
  const lines = issuesOf([web]);
  assert.ok(
    lines.some((l) => l.includes('spec.binds[1]: "*" port 8080 is listed twice')),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => l.includes('spec.defaultBackend: Backend default/nope does not exist')),
    lines.join('\n'),
  );
});

test('a reference to a Backend that is declared but refused says so, not that it does not exist', () => {
  const web = { apiVersion: API, kind: 'Frontend', metadata: { name: 'web' }, spec: { binds: [{ port: 8080 }], defaultBackend: 'app' } };
  const app = { ...backend('app'), spec: { members: [], balance: 'fastest' } };
  assert.deepEqual(issuesOf([web, app]), [
    'm.yaml#2: Backend default/app: spec.balance: "fastest" is not one of "roundrobin", "leastconn", "source", "first", "random", "uri", "url_param", "hdr"',
    'm.yaml#1: Frontend default/web: spec.defaultBackend: Backend default/app is declared but refused: nothing of it serves; fix the problems reported on it',
  ]);
});

test('a typo at the top level of a resource does not hide its references', () => {
  const web = { apiVersion: API, kind: 'Frontend', metadata: { name: 'web' }, stauts: {}, spec: { binds: [{ port: 8080 }], defaultBackend: 'gone' } };
  assert.deepEqual(issuesOf([web]), [
    'm.yaml#1: Frontend default/web: stauts: is not a known field; remove it or check its spelling',
    'm.yaml#1: Frontend default/web: spec.defaultBackend: Backend default/gone does not exist; create it or fix the name',
  ]);
});

test('a resource whose identity is malformed has no partial: only its schema problems', () => {
  const d = declare(
    { apiVersion: API, kind: 'Frontend', metadata: { name: 'Bad_Name' }, spec: { binds: [{ port: 80 }], defaultBackend: 'x' } },
    { origin: 'm.yaml#1', source: 'files' },
  );
  assert.equal(d.declared?.partial, undefined);
});

test('the report: problems in file, document and field order (numbers as numbers); undeclared Secrets are warnings', () => {
  const i = (origin: string, field: string, message: string, reason: Issue['reason'] = 'InvalidSpec'): Issue => ({
    origin,
    resource: 'Frontend default/web',
    field,
    message,
    reason,
  });
  const report = validateReport(
    [
      i('b.yaml#10', 'spec.rules[10].backend', 'x'),
      i('b.yaml#2', 'spec.rules[2].backend', 'x'),
      i('b.yaml#2', 'spec.rules[10].backend', 'x'),
      i('a.yaml#1', 'spec.mode', 'y'),
      i('a.yaml#1', 'spec.mode', 'y'),
      i('a.yaml#1', 'spec.binds[0].tls.certificateRefs[0]', 'Secret default/tls does not exist; create it or fix the name', 'SecretNotFound'),
      i('a.yaml#1', 'spec.binds[0].tls.clientCertificate.caRef', 'ConfigMap default/ca has no ca.crt; put the CA bundle under ca.crt', 'SecretNotFound'),
    ],
    [],
    'manifests',
  );
  assert.deepEqual(report.problems, [
    'a.yaml#1: Frontend default/web: spec.binds[0].tls.clientCertificate.caRef: ConfigMap default/ca has no ca.crt; put the CA bundle under ca.crt',
    'a.yaml#1: Frontend default/web: spec.mode: y',
    'b.yaml#2: Frontend default/web: spec.rules[2].backend: x',
    'b.yaml#2: Frontend default/web: spec.rules[10].backend: x',
    'b.yaml#10: Frontend default/web: spec.rules[10].backend: x',
  ]);
  assert.deepEqual(report.warnings, [
    'a.yaml#1: Frontend default/web: spec.binds[0].tls.certificateRefs[0]: Secret default/tls is not declared in manifests ' +
      '(fine if it lives in the cluster these manifests are applied to; "run --source manifests" refuses this Frontend until it exists): create it or fix the name',
  ]);
});
