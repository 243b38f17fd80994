/** plan/plan-sources.ts: which directory source DIR replaces, and what it keeps of the others. Pure. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planSources, PlanSourceError } from '../../src/plan/plan-sources.js';
import { MEMBERS } from '../../src/model/discovered.js';
import type { Declared } from '../../src/model/resolve.js';
import type { Backend, Member, Resource } from '../../src/model/types.js';
import type { ConfigModel } from '../../src/render/model.js';

const backend = (name: string, extra: Partial<Backend['spec']> = {}): Backend =>
  ({
    apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
    kind: 'Backend',
    metadata: { name, namespace: 'default' },
    spec: { mode: 'http', members: [], ...extra },
  }) as unknown as Backend;
const declared = (r: Resource, source: string, origin: string): Declared => ({
  key: `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`,
  origin,
  source,
  resource: r,
  issues: [],
});
const model = (backends: ConfigModel['backends'] = []) => ({ frontends: [], backends, global: {} }) as unknown as ConfigModel;

test('DIR replaces the directory source at its path; REST resources are kept as they run', () => {
  const a = backend('a');
  const b1 = backend('b1');
  const r = planSources({
    declared: [declared(backend('a', { members: [] }), 'files', 'a.yaml#1')],
    discovered: new Map(),
    dir: '/m',
    running: {
      accepted: [a, b1],
      model: model(),
      declaredBy: { 'Backend/default/a': [{ source: 'files:/m', origin: 'a.yaml#1' }], 'Backend/default/b1': [{ source: 'rest', origin: 'rest' }] },
    },
  });
  assert.equal(r.replaces, 'files:/m');
  assert.deepEqual(
    r.declared.map((d) => [d.key, d.source]),
    [
      ['Backend/default/a', 'files'],
      ['Backend/default/b1', 'rest'],
    ],
  );
  assert.equal(r.declared[1]!.resource, b1, 'the running version');
  assert.match(r.notes.join('\n'), /1 running resource\(s\) of other sources are kept as they run \(default\/b1 from rest\)/);
});

test('one directory source elsewhere: DIR stands for it; two: --source-name is needed', () => {
  const running = (sources: string[]) => ({
    accepted: sources.map((_, i) => backend(`b${i}`)),
    model: model(),
    declaredBy: Object.fromEntries(sources.map((s, i) => [`Backend/default/b${i}`, [{ source: s, origin: 'x.yaml#1' }]])),
  });
  const one = planSources({ declared: [], discovered: new Map(), dir: '/checkout', running: running(['files:/etc/m']) });
  assert.equal(one.replaces, 'files:/etc/m');
  assert.equal(one.declared.length, 0, "the replaced source's resources are DIR's to declare");
  assert.match(one.notes.join('\n'), /DIR stands for the controller's only directory source, \/etc\/m/);
  const two = running(['files:/etc/m', 'files:/etc/n']);
  assert.throws(
    () => planSources({ declared: [], discovered: new Map(), dir: '/checkout', running: two }),
    (e: Error) => {
      assert.ok(e instanceof PlanSourceError);
      assert.match(e.message, /runs 2 directory sources \(\/etc\/m, \/etc\/n\) and \/checkout is none of them: pass --source-name PATH/);
      return true;
    },
  );
  const named = planSources({ declared: [], discovered: new Map(), dir: '/checkout', sourceName: '/etc/n', running: two });
  assert.equal(named.replaces, 'files:/etc/n');
  assert.deepEqual(
    named.declared.map((d) => d.source),
    ['files:/etc/m'],
  );
});

test('no declaredBy (an older controller): DIR alone, with a note; a Kubernetes Backend keeps its running members', () => {
  const old = planSources({ declared: [], discovered: new Map(), dir: '/m', running: { accepted: [backend('b')], model: model() } });
  assert.equal(old.declared.length, 0);
  assert.match(old.notes[0]!, /does not say which source declared each resource/);

  const svc = backend('svc', { service: { name: 'web', port: 80 } } as Partial<Backend['spec']>);
  const server = { name: 'pod-1', address: '127.0.0.5', port: 8080, endpoint: '127.0.0.5:8080', weight: 100, state: 'ready' as const, params: '' };
  const r = planSources({
    declared: [],
    discovered: new Map(),
    dir: '/m',
    running: {
      accepted: [svc],
      model: model([{ key: 'Backend/default/svc', name: 'default_svc', mode: 'http', balance: 'roundrobin', lines: [], servers: [server] }]),
      declaredBy: { 'Backend/default/svc': [{ source: 'kubernetes', origin: 'kubernetes' }] },
    },
  });
  assert.deepEqual(r.discovered.get(MEMBERS.name)?.get('Backend/default/svc'), [
    { name: 'pod-1', address: '127.0.0.5', port: 8080, weight: 100, state: 'ready' },
  ] satisfies Member[]);
});
