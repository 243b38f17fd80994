/**
 * One scenario run against both the Kubernetes API test server and a real
 * kube-apiserver (where they disagree, the real one is right): how Event
 * names are checked, and that the controller's EventRecorder gets its Events
 * recorded and listed.
 */
import assert from 'node:assert/strict';
import { EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { silentLogger } from '../../src/log.js';
import { KubeClient, RESOURCES } from '../../src/sources/kubernetes/client.js';
import { EventRecorder, REPORTING_CONTROLLER } from '../../src/sources/kubernetes/events.js';
import { errorStatus, microTime, type KubeObject } from '../../src/sources/kubernetes/objects.js';
import { HAPROXY_API_VERSION } from './resources.js';

function eventBody(metadata: Record<string, string>, regarding: string) {
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata,
    eventTime: microTime(new Date()),
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: 'scenario',
    action: 'Update',
    reason: 'Scenario',
    note: 'checking names',
    type: 'Normal',
    regarding: { apiVersion: HAPROXY_API_VERSION, kind: 'Backend', namespace: '', name: regarding },
  };
}

async function status(p: Promise<unknown>): Promise<{ code: number | undefined; body: string }> {
  try {
    await p;
    return { code: 201, body: '' };
  } catch (err) {
    return { code: errorStatus(err), body: String((err as { body?: unknown }).body ?? err) };
  }
}

/** Runs the scenario in `namespace` with `kc` (allowed to create and list events.k8s.io Events there). */
export async function eventNameScenario(kc: KubeConfig, namespace: string): Promise<void> {
  const api = kc.makeApiClient(EventsV1Api);
  const client = new KubeClient(kc);
  // Raw JSON through the client the controller uses (the typed client would send eventTime with milliseconds only).
  const create = (b: ReturnType<typeof eventBody>) => client.create(RESOURCES.events, namespace, b as unknown as KubeObject);
  const body = (metadata: Record<string, string>, regarding = 'echo') => {
    const b = eventBody(metadata, regarding);
    b.regarding.namespace = namespace;
    return b;
  };
  // The old recorder's generateName: refused by the real server, so no Event was ever recorded.
  const dotted = await status(create(body({ generateName: 'echo.' })));
  assert.equal(dotted.code, 422, `generateName "echo." is refused: ${dotted.body}`);
  assert.match(dotted.body, /metadata\.generateName/);
  // The conventional form.
  const dashed = await create(body({ generateName: 'echo-' }));
  assert.match(dashed.metadata?.name ?? '', /^echo-[a-z0-9]{5}$/);
  // Names are DNS subdomains.
  const upper = await status(create(body({ name: 'Echo.1' })));
  assert.equal(upper.code, 422, `name "Echo.1" is refused: ${upper.body}`);
  assert.match(upper.body, /metadata\.name/);

  // The controller's recorder: created, listed, and a repeat updates its series.
  const recorder = new EventRecorder({ client: new KubeClient(kc), instance: 'scenario-replica', logger: silentLogger() });
  const target = { apiVersion: HAPROXY_API_VERSION, kind: 'Backend', namespace, name: 'web' };
  const e = { type: 'Warning' as const, reason: 'ServiceNotFound', action: 'ResolveRefs', note: `Service ${namespace}/web not found.` };
  await recorder.record(target, e);
  await recorder.record(target, e);
  assert.equal(recorder.createdCount, 1, 'the recorder created its event');
  const list = await api.listNamespacedEvent({ namespace });
  const mine = list.items.filter((x) => x.regarding?.name === 'web' && x.reason === 'ServiceNotFound');
  assert.equal(mine.length, 1, 'one event listed for Backend web');
  assert.match(mine[0]!.metadata?.name ?? '', /^web\.[0-9a-f]+$/);
  assert.equal(mine[0]!.type, 'Warning');
  assert.equal(mine[0]!.reportingController, REPORTING_CONTROLLER);
  assert.equal(mine[0]!.series?.count, 2, 'the repeat counted in series');
}
