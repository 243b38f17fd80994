/**
 * Issue 13, item 2b: `kubectl describe` tells whether a resource's last
 * change reached HAProxy at run time or by a reload. The test API server, the
 * real controller, a real HAProxy and real upstreams; what is asserted is what
 * `kubectl describe backend app` shows: the Programmed condition's message and
 * the Events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/haproxy.js';
import { sampleBodies, startUpstream, waitForHttp } from '../helpers/upstream.js';
import { eventually, startApiServer, startK8sController } from '../k8s/controller-harness.js';
import { applySpec, backendObject, condition, frontendObject } from '../k8s/fixtures.js';
import type { KubeApiTestServer } from '../k8s/index.js';

function eventsFor(server: KubeApiTestServer, name: string): Array<{ reason: string; type: string; note: string; action: string }> {
  return server
    .listObjects('Event.events.k8s.io')
    .filter((e) => (e.regarding as { name?: string } | undefined)?.name === name)
    .map((e) => ({ reason: e.reason as string, type: e.type as string, note: e.note as string, action: e.action as string }));
}

test('the Programmed condition and Events say whether the last change was applied at run time or by a reload', async (t) => {
  const server = await startApiServer(t);
  const ups = await Promise.all(['a', 'b'].map(startUpstream));
  t.after(() => Promise.all(ups.map((u) => u.close())));
  const [a, b] = ups as [Awaited<ReturnType<typeof startUpstream>>, Awaited<ReturnType<typeof startUpstream>>];
  const port = await freePort();
  const member = (name: string, p: number) => ({ name, address: '127.0.0.1', port: p });
  applySpec(server, backendObject('app', { members: [member('a', a.port)] }));
  applySpec(server, frontendObject('web', { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'app' }));
  const { controller } = await startK8sController(t, { kubeConfig: server.kubeConfig() });
  await waitForHttp(port, (r) => r.status === 200 && r.body === 'a');
  const programmed = (generation: number) =>
    eventually(`Backend app Programmed for generation ${generation}`, () => {
      const o = server.getObject('Backend', 'default', 'app');
      const c = condition(o, 'Programmed');
      return c?.status === 'True' && o?.status && (o.status as { observedGeneration?: number }).observedGeneration === generation ? c : undefined;
    });
  assert.doesNotMatch((await programmed(1)).message ?? '', /last change/, 'at start nothing is claimed');

  // A new member: generation 2, applied through the runtime API.
  const reloads = await controller.supervisor.reloadCount();
  applySpec(server, backendObject('app', { members: [member('a', a.port), member('b', b.port)] }));
  await eventually('both members answer', async () => ((await sampleBodies(port, 12)).size === 2 ? true : undefined));
  assert.equal(await controller.supervisor.reloadCount(), reloads, 'no reload');
  const runtime = await eventually('the runtime sentence', async () => {
    const c = await programmed(2);
    return /generation 2\) was applied at run time, without a reload\./.test(c.message ?? '') ? c : undefined;
  });
  assert.equal(runtime.reason, 'Programmed');
  const atRuntime = await eventually('an AppliedAtRuntime event', () => eventsFor(server, 'app').find((e) => e.reason === 'AppliedAtRuntime'));
  assert.equal(atRuntime.type, 'Normal');
  assert.match(atRuntime.note, /^Generation 2 applied through the runtime API, without a reload \(1 add\)\.$/);
  assert.ok(!eventsFor(server, 'app').some((e) => e.reason === 'Reloaded'), 'no Reloaded event for a runtime change');

  // A structural change: generation 3, applied by a reload, with the reason.
  applySpec(server, backendObject('app', { members: [member('a', a.port), member('b', b.port)], timeouts: { server: '20s' } }));
  await eventually('the reload sentence', async () => {
    const c = await programmed(3);
    return /generation 3\) was applied by a reload\./.test(c.message ?? '') ? c : undefined;
  });
  assert.ok((await controller.supervisor.reloadCount()) > reloads, 'HAProxy reloaded');
  const reloaded = await eventually('a Reloaded event', () => eventsFor(server, 'app').find((e) => e.reason === 'Reloaded'));
  assert.match(reloaded.note, /^HAProxy reloaded to apply generation 3 \(.*backend default_app changed.*\)\.$/);
  // The Frontend did not change: it claims nothing and gets no event.
  assert.doesNotMatch(condition(server.getObject('Frontend', 'default', 'web'), 'Programmed')?.message ?? '', /last change/);
  assert.ok(!eventsFor(server, 'web').some((e) => e.reason === 'Reloaded' || e.reason === 'AppliedAtRuntime'));
});
