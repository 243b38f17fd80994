/**
 * The declare step (src/model/declare.ts): every source turns a raw object
 * into a store entry the same way. Each source's cases: a file's document
 * states its own identity; an etcd key and a REST URL fix it (mismatches are
 * all reported, each naming the field and the fix); a Kubernetes object keeps
 * the API server's uid and generation. Also the one wording of a refused text
 * (src/model/document.ts) and the one change signature (src/model/signature.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { declare, type DeclareAt } from '../../src/model/declare.js';
import { describeDocumentError, DocumentError, parseFor } from '../../src/model/document.js';
import { RAW_CONFIG_ANNOTATION } from '../../src/model/raw-config.js';
import { signatureOf, signatureOfSet } from '../../src/model/signature.js';
import { API_VERSION, formatIssue } from '../../src/model/types.js';
import { declareKv } from '../../src/sources/etcd/keys.js';
import { parseManifests } from '../../src/sources/files/load.js';
import { declaredFromObject } from '../../src/sources/kubernetes/index.js';

const SPEC = { members: [{ name: 'a', address: '10.0.0.1', port: 80 }] };
const FILE: DeclareAt = { origin: 'app.yaml#1', source: 'files' };
const ETCD: DeclareAt = { origin: 'etcd:/p/backends/ns1/app', source: 'etcd', expected: { kind: 'Backend', namespace: 'ns1', name: 'app', by: 'its key' } };
const REST: DeclareAt = { origin: 'rest', source: 'rest', expected: { kind: 'Backend', namespace: 'ns1', name: 'app', by: 'the URL' } };

test('files: the document states its identity; the namespace defaults to "default"', () => {
  const d = declare({ apiVersion: API_VERSION, kind: 'Backend', metadata: { name: 'app' }, spec: SPEC }, FILE);
  assert.deepEqual(d.issues, []);
  assert.equal(d.declared?.key, 'Backend/default/app');
  assert.equal(d.declared?.resource?.metadata.namespace, 'default');
  assert.equal(d.declared?.origin, 'app.yaml#1');
  assert.equal(d.declared?.source, 'files');

  // Invalid but named: held under its key (its last good version keeps serving), with the issue.
  const bad = declare({ apiVersion: API_VERSION, kind: 'Backend', metadata: { name: 'app', namespace: 'ns1' }, spec: { members: 'x' } }, FILE);
  assert.equal(bad.declared?.key, 'Backend/ns1/app');
  assert.equal(bad.declared?.resource, undefined);
  assert.equal(bad.issues[0]?.field, 'spec.members');
  assert.equal(bad.issues[0]?.origin, 'app.yaml#1');
});

test('files: a document that names no resource is an issue and no store entry', () => {
  const noName = declare({ apiVersion: API_VERSION, kind: 'Backend', metadata: {}, spec: SPEC }, FILE);
  assert.equal(noName.declared, undefined);
  assert.equal(noName.issues[0]?.field, 'metadata.name');
  assert.match(noName.issues[0]!.message, /is required/);
  const noMeta = declare({ apiVersion: API_VERSION, kind: 'Backend', spec: SPEC }, FILE);
  assert.equal(noMeta.declared, undefined);
  assert.equal(noMeta.issues[0]?.field, 'metadata');
  const noKind = declare({ apiVersion: API_VERSION, metadata: { name: 'app' }, spec: SPEC }, FILE);
  assert.equal(noKind.declared, undefined);
  assert.equal(noKind.issues[0]?.field, 'kind');
  assert.match(noKind.issues[0]!.message, /use "Frontend" or "Backend"/);
  // Without a place that gives it, apiVersion is not filled in.
  const noVersion = declare({ kind: 'Backend', metadata: { name: 'app' }, spec: SPEC }, FILE);
  assert.equal(noVersion.declared?.resource, undefined);
  assert.equal(noVersion.issues[0]?.field, 'apiVersion');
  assert.match(noVersion.issues[0]!.message, /use "haproxy\.node-haproxy\.io\/v1alpha1"/);
  const list = declare([1, 2], FILE);
  assert.equal(list.declared, undefined);
  assert.equal(list.issues[0]?.reason, 'ParseError');
  assert.match(list.issues[0]!.message, /^is a list, not a Frontend or Backend object/);
});

test('etcd and REST: the place fills in what is left out; every mismatch is reported, naming the field and the fix', () => {
  for (const at of [ETCD, REST]) {
    const ok = declare({ spec: SPEC }, at);
    assert.deepEqual(ok.issues, []);
    assert.equal(ok.declared?.key, 'Backend/ns1/app');
    assert.equal(ok.declared?.resource?.apiVersion, API_VERSION);
    assert.equal(ok.declared?.resource?.metadata.namespace, 'ns1', 'the namespace comes from the place, not the default');

    const where = at === ETCD ? 'its key' : 'the URL';
    const all = declare({ kind: 'Frontend', metadata: { name: 'other', namespace: 'ns2' }, spec: SPEC }, at);
    assert.equal(all.declared?.key, 'Backend/ns1/app', 'reported against the resource the place names');
    assert.equal(all.declared?.resource, undefined);
    assert.deepEqual(
      all.issues.map((i) => formatIssue(i)),
      [
        `${at.origin}: Backend ns1/app: kind: "Frontend" does not match ${where}, which names "Backend"; leave kind out or set it to "Backend"`,
        `${at.origin}: Backend ns1/app: metadata.name: "other" does not match ${where}, which names "app"; leave metadata.name out or set it to "app"`,
        `${at.origin}: Backend ns1/app: metadata.namespace: "ns2" does not match ${where}, which names "ns1"; leave metadata.namespace out or set it to "ns1"`,
      ],
    );
    const meta = declare({ metadata: 'app', spec: SPEC }, at);
    assert.equal(meta.issues[0]?.field, 'metadata');
    assert.match(meta.issues[0]!.message, /^must be an object/);
    const wrongVersion = declare({ apiVersion: 'v1', spec: SPEC }, at);
    assert.equal(wrongVersion.issues[0]?.field, 'apiVersion');
    const scalar = declare(5, at);
    assert.equal(scalar.declared?.key, 'Backend/ns1/app', 'a value that is no object is still reported against its resource');
    assert.equal(scalar.issues[0]?.reason, 'ParseError');
    assert.match(scalar.issues[0]!.message, /^is the number 5, not a Backend object/);
  }
  // The etcd source through its key layout: the same step.
  const kv = declareKv('/p', '/p/backends/ns1/app', JSON.stringify({ metadata: { name: 'other', namespace: 'ns2' } }), 'etcd', false);
  assert.deepEqual(
    kv.declared?.issues.map((i) => i.field),
    ['metadata.name', 'metadata.namespace'],
  );
});

test('metadata: documents keep labels and annotations; server-side fields and status are dropped everywhere', () => {
  const metadata = {
    name: 'app',
    namespace: 'ns1',
    labels: { team: 'a' },
    annotations: { note: 'x' },
    uid: 'u-1',
    generation: 4,
    resourceVersion: '77',
    creationTimestamp: '2026-01-01T00:00:00Z',
  };
  const raw = { apiVersion: API_VERSION, kind: 'Backend', metadata, spec: SPEC, status: { observedGeneration: 3 } };
  const fromFile = declare(raw, FILE).declared?.resource;
  const fromEtcd = declare(raw, ETCD).declared?.resource;
  const fromRest = declare(raw, REST).declared?.resource;
  assert.deepEqual(fromFile?.metadata, { name: 'app', namespace: 'ns1', labels: { team: 'a' }, annotations: { note: 'x' } });
  assert.equal(fromFile?.status, undefined);
  assert.deepEqual(fromEtcd, fromFile, 'etcd declares what a file declares');
  assert.deepEqual(fromRest, fromFile, 'REST declares what a file declares');
  // The etcd key layout and the files parser are the same step.
  assert.deepEqual(declareKv('/p', '/p/backends/ns1/app', JSON.stringify(raw), 'etcd', false).declared?.resource, fromFile);
  const yaml = `apiVersion: ${API_VERSION}\nkind: Backend\nmetadata: ${JSON.stringify(metadata)}\nspec: ${JSON.stringify(SPEC)}\nstatus: {observedGeneration: 3}\n`;
  assert.deepEqual(parseManifests(yaml, 'app.yaml').declared?.[0]?.resource, fromFile);
});

test('kubernetes: the API server owns the metadata: uid and generation kept, only the raw-config annotation, no labels', () => {
  const obj = {
    metadata: {
      name: 'app',
      namespace: 'ns1',
      uid: 'u-1',
      generation: 4,
      resourceVersion: '77',
      labels: { team: 'a' },
      annotations: { [RAW_CONFIG_ANNOTATION]: '["option httplog"]', note: 'x' },
    },
    spec: SPEC,
    status: { observedGeneration: 3 },
  };
  const d = declaredFromObject('Backend', obj, 'kubernetes', { allowRawConfig: true });
  assert.deepEqual(d.issues, []);
  assert.equal(d.key, 'Backend/ns1/app');
  assert.equal(d.origin, 'kubernetes');
  assert.deepEqual(d.resource?.metadata, {
    name: 'app',
    namespace: 'ns1',
    uid: 'u-1',
    generation: 4,
    annotations: { [RAW_CONFIG_ANNOTATION]: '["option httplog"]' },
  });
  assert.equal(d.resource?.status, undefined);
  // A label change alone gives the same store entry (no reconcile pass).
  const relabelled = declaredFromObject('Backend', { ...obj, metadata: { ...obj.metadata, labels: { team: 'b' } } }, 'kubernetes', { allowRawConfig: true });
  assert.equal(signatureOf(relabelled), signatureOf(d));
  // The watch fixes the kind: an object without spec is still reported against its key.
  const empty = declaredFromObject('Frontend', { metadata: { name: 'web', namespace: 'ns1' } }, 'kubernetes');
  assert.equal(empty.key, 'Frontend/ns1/web');
  assert.equal(empty.issues[0]?.field, 'spec.binds');
});

test('one wording for a refused text: file, etcd value, request body; a redacted one never quotes the text', () => {
  const syntax = new DocumentError('unexpected end of the stream', 'syntax', 2, 1);
  assert.equal(describeDocumentError(syntax, 'file', 'yaml'), 'YAML does not parse at line 2, column 1: unexpected end of the stream');
  assert.equal(describeDocumentError(syntax, 'value', 'json-or-yaml'), 'the value is neither JSON nor YAML at line 2, column 1: unexpected end of the stream');
  assert.equal(describeDocumentError(syntax, 'request body', 'json'), 'the request body is not valid JSON at line 2, column 1: unexpected end of the stream');
  assert.equal(describeDocumentError(syntax, 'request body', 'yaml'), 'the request body is not valid YAML at line 2, column 1: unexpected end of the stream');
  assert.equal(describeDocumentError(syntax, 'value', 'json-or-yaml', { redact: true }), 'the value is neither JSON nor YAML at line 2, column 1');
  const limit = new DocumentError('nests deeper than 64 levels; flatten it', 'limit');
  assert.equal(describeDocumentError(limit, 'value', 'json-or-yaml', { redact: true }), 'the value nests deeper than 64 levels; flatten it');

  const secret = 'tls.key: "-----BEGIN PRIVATE KEY----- abc';
  const refused = parseFor(`{${secret}`, 'value', { format: 'json-or-yaml', one: true, redact: true });
  assert.match(refused.problem ?? '', /^the value is neither JSON nor YAML at line \d+, column \d+$/);
  assert.ok(!refused.problem?.includes('PRIVATE'), refused.problem);
  assert.deepEqual(parseFor('a: 1\n---\nb: 2\n', 'file', { format: 'yaml' }).documents, [{ a: 1 }, { b: 2 }]);
});

test('one change signature: equal values give equal signatures whatever their key order; a change gives another', () => {
  assert.equal(signatureOf({ a: 1, b: { c: [1, 2], d: 'x' } }), signatureOf({ b: { d: 'x', c: [1, 2] }, a: 1 }));
  assert.notEqual(signatureOf({ a: 1, b: { c: [1, 2] } }), signatureOf({ a: 1, b: { c: [2, 1] } }));
  assert.notEqual(signatureOf({ a: 1 }), signatureOf({ a: '1' }));
  assert.equal(signatureOf({ a: 1 }).length, 44, 'a sha256 digest in base64, whatever the size of the value');
  assert.equal(signatureOfSet(['b@2', 'a@1']), signatureOfSet(['a@1', 'b@2']));
  assert.notEqual(signatureOfSet(['a@1', 'b@2']), signatureOfSet(['a@1', 'b@3']));
});
