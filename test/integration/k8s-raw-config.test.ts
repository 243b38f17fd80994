/**
 * Raw configuration from Kubernetes custom resources, end to end: the test API
 * server, the real controller with and without --allow-raw-config, a real
 * HAProxy. The annotation is refused (Accepted=False, InvalidSpec) without
 * the flag and applied with it; an update that edits only the annotation
 * (no new generation) is seen; a line HAProxy itself refuses is reported on its
 * Backend (RejectedByHAProxy) while other changes apply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/haproxy.js';
import { BAD_LINES, DISABLED, RAW_CONFIG_FIELD, rawAnnotation, sectionOf } from '../helpers/raw-config.js';
import { startUpstream, waitForHttp } from '../helpers/upstream.js';
import { eventually, startApiServer, startK8sController } from '../k8s/controller-harness.js';
import { applySpec, backendObject, condition, frontendObject } from '../k8s/fixtures.js';
import type { KubeApiTestServer } from '../k8s/index.js';
import type { KubeObject } from '../k8s/objects.js';

const LINE = 'http-response set-header X-Raw one';

async function setup(t: import('node:test').TestContext, annotations?: Record<string, string>) {
  const server = await startApiServer(t);
  const up = await startUpstream('app');
  t.after(() => up.close());
  const port = await freePort();
  const backend = (a?: Record<string, string>): KubeObject => {
    const o = backendObject('app', { members: [{ name: 'a', address: '127.0.0.1', port: up.port }] });
    return a ? { ...o, metadata: { ...o.metadata, annotations: a } } : o;
  };
  applySpec(server, backend(annotations));
  applySpec(server, frontendObject('web', { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app' }));
  return { server, port, backend };
}

/** The Backend once its Accepted condition has `status` (and `reason`, when given). */
const accepted = (server: KubeApiTestServer, status: 'True' | 'False', reason?: string) =>
  eventually(`Backend default/app Accepted=${status}${reason ? `/${reason}` : ''}`, () => {
    const o = server.getObject('Backend', 'default', 'app');
    const c = condition(o, 'Accepted');
    return c?.status === status && (!reason || c.reason === reason) ? o : undefined;
  });

const rawHeader = async (port: number) => (await fetch(`http://127.0.0.1:${port}/`)).headers.get('x-raw');

test('Kubernetes without --allow-raw-config: adding the annotation alone is refused (Accepted=False, InvalidSpec); removing it is accepted again', async (t) => {
  const { server, port, backend } = await setup(t);
  const { controller } = await startK8sController(t, { kubeConfig: server.kubeConfig() });
  await waitForHttp(port, (r) => r.body === 'app');
  const generation = (await accepted(server, 'True')).metadata.generation;
  const text = controller.reconciler.runningText;

  applySpec(server, backend(rawAnnotation([LINE])));
  const refused = await accepted(server, 'False', 'InvalidSpec');
  assert.equal(refused.metadata.generation, generation, 'an annotation-only update: no new generation');
  const message = condition(refused, 'Accepted')?.message ?? '';
  assert.ok(message.includes(RAW_CONFIG_FIELD), message);
  assert.match(message, DISABLED);
  await controller.reconciler.settled();
  assert.equal(controller.reconciler.runningText, text, 'the last accepted version keeps serving');
  assert.equal(await rawHeader(port), null);

  applySpec(server, backend());
  await accepted(server, 'True');
});

test('Kubernetes with --allow-raw-config: the annotation is applied to its section; annotation-only updates are seen; a bad line is refused naming its index', async (t) => {
  const { server, port, backend } = await setup(t, rawAnnotation([LINE]));
  const { controller } = await startK8sController(t, { kubeConfig: server.kubeConfig(), controller: { allowRawConfig: true } });
  await waitForHttp(port, (r) => r.body === 'app');
  const generation = (await accepted(server, 'True')).metadata.generation;
  assert.ok(sectionOf(controller.reconciler.runningText ?? '', 'backend default_app').includes(LINE), controller.reconciler.runningText);
  assert.ok(!sectionOf(controller.reconciler.runningText ?? '', 'frontend default_web').includes(LINE));
  assert.equal(await rawHeader(port), 'one');

  // Only the annotation changes: the generation stays, HAProxy follows.
  applySpec(server, backend(rawAnnotation(['http-response set-header X-Raw two'])));
  await eventually('the edited raw line serves', async () => ((await rawHeader(port)) === 'two' ? true : undefined));
  assert.equal(server.getObject('Backend', 'default', 'app')?.metadata.generation, generation, 'no new generation');

  // Other annotations never reach the store.
  const version = controller.store.version;
  applySpec(server, backend({ ...rawAnnotation(['http-response set-header X-Raw two']), note: 'unrelated' }));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(controller.store.version, version, 'an unrelated annotation changes nothing in the store');

  const [bad, why] = BAD_LINES[1]!;
  applySpec(server, backend(rawAnnotation(['http-response set-header X-Raw two', bad])));
  const refused = await accepted(server, 'False', 'InvalidSpec');
  const message = condition(refused, 'Accepted')?.message ?? '';
  assert.ok(message.includes(`${RAW_CONFIG_FIELD}[1]`), message);
  assert.match(message, why);
  assert.equal(await rawHeader(port), 'two', 'the last accepted version keeps serving');
});

test("Kubernetes: a raw line HAProxy refuses puts RejectedByHAProxy on that Backend only (HAProxy's words, the line, the field); a new Frontend applies meanwhile", async (t) => {
  const { server, port, backend } = await setup(t, rawAnnotation([LINE]));
  const { controller } = await startK8sController(t, { kubeConfig: server.kubeConfig(), controller: { allowRawConfig: true } });
  await waitForHttp(port, (r) => r.body === 'app');
  await accepted(server, 'True');

  // Passes every line check; HAProxy does not know `sstatus`.
  applySpec(server, backend(rawAnnotation(['http-response set-header X-Raw two', 'http-check expect sstatus 200'])));
  const second = await freePort();
  applySpec(server, frontendObject('second', { binds: [{ address: '127.0.0.1', port: second }], defaultBackend: 'app' }));
  const refused = await accepted(server, 'False', 'RejectedByHAProxy');
  const message = condition(refused, 'Accepted')?.message ?? '';
  assert.ok(message.startsWith(`${RAW_CONFIG_FIELD}[1]: HAProxy refuses it (line `), message);
  assert.match(message, /'sstatus'.*the rendered line: "http-check expect sstatus 200"/);
  assert.equal(condition(refused, 'Programmed')?.status, 'False');
  assert.equal((await waitForHttp(second, (r) => r.status === 200)).body, 'app', 'the new Frontend serves');
  assert.equal(await rawHeader(port), 'one', 'the refused Backend serves its last accepted version');
  await eventually('Frontend default/second Accepted=True', () =>
    condition(server.getObject('Frontend', 'default', 'second'), 'Accepted')?.status === 'True' ? true : undefined,
  );
  assert.equal(controller.reconciler.isConverged(), true);

  // Fixed: applied, and the condition clears.
  applySpec(server, backend(rawAnnotation(['http-response set-header X-Raw three'])));
  await accepted(server, 'True');
  await eventually('the fixed line serves', async () => ((await rawHeader(port)) === 'three' ? true : undefined));
});
