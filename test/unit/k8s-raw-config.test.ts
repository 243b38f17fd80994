/**
 * The Kubernetes source and raw configuration (pure part): only the
 * raw-config annotation reaches validation, refused unless
 * --allow-raw-config, and a change of it alone changes the store entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { declaredFromObject } from '../../src/sources/kubernetes/index.js';
import type { KubeObject } from '../../src/sources/kubernetes/objects.js';
import { backendObject } from '../k8s/fixtures.js';
import { BAD_LINES, DISABLED, RAW_CONFIG_ANNOTATION, RAW_CONFIG_FIELD, rawAnnotation } from '../helpers/raw-config.js';

const LINE = 'http-response set-header X-Raw yes';

function annotated(annotations: Record<string, string>): KubeObject {
  const o = backendObject('app', { members: [{ name: 'a', address: '10.0.0.1', port: 80 }] });
  return { ...o, metadata: { ...o.metadata, uid: 'u-1', generation: 3, annotations } };
}

test('k8s: only the raw-config annotation is kept; without --allow-raw-config it is refused with the clear issue', () => {
  const obj = annotated({ ...rawAnnotation([LINE]), 'kubectl.kubernetes.io/last-applied-configuration': '{}', other: 'x' });
  const d = declaredFromObject('Backend', obj, 'kubernetes');
  assert.equal(d.key, 'Backend/default/app');
  assert.equal(d.issues.length, 1, JSON.stringify(d.issues));
  assert.equal(d.issues[0]!.field, RAW_CONFIG_FIELD);
  assert.equal(d.issues[0]!.reason, 'InvalidSpec');
  assert.match(d.issues[0]!.message, DISABLED);
  assert.deepEqual(d.resource?.metadata.annotations, rawAnnotation([LINE]), 'every other annotation stays out');

  const plain = declaredFromObject('Backend', annotated({ other: 'x' }), 'kubernetes');
  assert.deepEqual(plain.issues, []);
  assert.equal(plain.resource?.metadata.annotations, undefined, 'other annotations alone are dropped');
});

test('k8s: with --allow-raw-config the annotation is accepted; its lines are still checked', () => {
  const d = declaredFromObject('Backend', annotated(rawAnnotation([LINE])), 'kubernetes', { allowRawConfig: true });
  assert.deepEqual(d.issues, []);
  assert.equal(d.resource?.metadata.annotations?.[RAW_CONFIG_ANNOTATION], JSON.stringify([LINE]));
  for (const [bad, why] of BAD_LINES) {
    const r = declaredFromObject('Backend', annotated(rawAnnotation([LINE, bad])), 'kubernetes', { allowRawConfig: true });
    assert.equal(r.issues.length, 1, JSON.stringify(bad));
    assert.equal(r.issues[0]!.field, `${RAW_CONFIG_FIELD}[1]`);
    assert.match(r.issues[0]!.message, why);
  }
});

test("k8s: an annotation-only change changes the store entry (the source's change signature); other annotations do not", () => {
  const signature = (annotations: Record<string, string>) =>
    JSON.stringify(declaredFromObject('Backend', annotated(annotations), 'kubernetes', { allowRawConfig: true }));
  const base = signature(rawAnnotation([LINE]));
  assert.notEqual(signature(rawAnnotation(['http-response set-header X-Raw two'])), base);
  assert.notEqual(signature({}), base);
  assert.equal(signature({ ...rawAnnotation([LINE]), other: 'changed' }), base);
});
