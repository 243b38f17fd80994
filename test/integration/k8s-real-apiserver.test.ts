/**
 * The envtest-style tier: the real controller (with its real HAProxy) against
 * a real kube-apiserver 1.20.2 and a real etcd on loopback, with static-token
 * authentication and RBAC on. The controller authenticates as the project's
 * ServiceAccount, with the rights manifests/rbac.yaml gives it.
 *
 * Skipped, with the reason, when kube-apiserver has not been built
 * (scripts/build-kube-apiserver.sh), except in CI where that is a failure.
 * What a real server cannot be made to do on demand (410s, cut watches,
 * stalls, 500s) stays with the Kubernetes API test server (test/k8s/).
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, EventsV1Api, CoordinationV1Api, type KubernetesObject } from '@kubernetes/client-node';
import { startController } from '../../src/controller.js';
import { createLogger, type Logger } from '../../src/log.js';
import { SECRETS, type SecretData } from '../../src/model/secrets.js';
import { b64, selfSignedCert, tlsSecret } from '../helpers/certs.js';
import type { LeaderElectionSettings } from '../../src/sources/kubernetes/integration.js';
import { HAPROXY_BIN, freePort } from '../helpers/haproxy.js';
import { startUpstream, waitForHttp } from '../helpers/upstream.js';
import { TEST_LEASE, eventually, startK8sController, stateDir } from '../k8s/controller-harness.js';
import { eventNameScenario } from '../k8s/event-scenario.js';
import { CONTROLLER_NAMESPACE, realApiServerSkip, startRealApiServer, type RealApiServer } from '../k8s/real-api-server.js';

const skip = realApiServerSkip();
if (skip) console.log(`# skipping the real kube-apiserver tier: ${skip}`);

let api: RealApiServer | undefined;
before(async () => {
  if (!skip) api = await startRealApiServer();
});
after(async () => {
  await api?.stop();
});

const GROUP = 'haproxy.node-haproxy.io';
const VERSION = 'v1alpha1';
const NS = 'demo';

/** A logger that keeps the lines (JSON), for asserting what the controller said. */
function recordingLogger() {
  const lines: Array<{ level: string; msg: string; [k: string]: unknown }> = [];
  const logger = createLogger({ level: 'info', format: 'json', write: (line) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

function backend(name: string, spec: Record<string, unknown>): KubernetesObject & { spec: unknown } {
  return { apiVersion: `${GROUP}/${VERSION}`, kind: 'Backend', metadata: { name, namespace: NS }, spec };
}

test('CRDs are accepted and established; a Backend is stored with the schema defaults', { skip }, async () => {
  const a = api!;
  const crds = (await (
    await fetchJson(a, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions')
  ).items) as Array<{
    metadata: { name: string };
    status: { conditions: Array<{ type: string; status: string }> };
  }>;
  for (const name of [`frontends.${GROUP}`, `backends.${GROUP}`]) {
    const crd = crds.find((c) => c.metadata.name === name);
    assert.ok(crd, `${name} exists`);
    for (const type of ['NamesAccepted', 'Established']) {
      assert.equal(crd.status.conditions.find((c) => c.type === type)?.status, 'True', `${name}: ${type}`);
    }
  }
  await a.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  const custom = a.admin.makeApiClient(CustomObjectsApi);
  const made = (await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: NS,
    plural: 'backends',
    body: backend('schema-check', { members: [{ name: 'm1', address: '192.0.2.1', port: 80 }] }),
  })) as { spec: Record<string, unknown>; metadata: { generation: number } };
  assert.equal(made.metadata.generation, 1);
  assert.ok(made.spec.balance !== undefined, `the CRD schema defaults filled in balance: ${JSON.stringify(made.spec)}`);
  // The same refusal a user gets from kubectl apply: the schema's enum.
  await assert.rejects(
    custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'backends', body: backend('bad', { balance: 'fastest' }) }),
    (err: { code?: number; body?: string }) => err.code === 422 && /spec\.balance/.test(String(err.body)),
  );
});

test("Event names: the real API server refuses what the test server now refuses too, and records the controller's Events", { skip }, async () => {
  // The same scenario runs against the test server in test/unit/k8s-names-versions-lease.test.ts.
  await eventNameScenario(api!.admin, NS);
});

test('the controller as its ServiceAccount: members from Endpoints on 1.20, status through /status, Events listed, traffic', { skip }, async (t) => {
  const a = api!;
  const upstream = await startUpstream('static');
  t.after(() => upstream.close());
  const port = await freePort();
  // A Service without selector and its Endpoints (no controller-manager here). Endpoint addresses may not be
  // loopback, so these are TEST-NET-1 addresses HAProxy only lists (no health checks, no traffic to them).
  await a.create(
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: NS },
      spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'web', namespace: NS },
      subsets: [{ addresses: [{ ip: '192.0.2.10' }], notReadyAddresses: [{ ip: '192.0.2.11' }], ports: [{ name: 'http', port: 8080 }] }],
    } as KubernetesObject,
    backend('echo', { service: { name: 'web', port: 'http' } }),
    backend('static', { members: [{ name: 'local', address: '127.0.0.1', port: upstream.port }] }),
    {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'Frontend',
      metadata: { name: 'web', namespace: NS },
      spec: { binds: [{ address: '127.0.0.1', port }], defaultBackend: 'static' },
    } as KubernetesObject,
  );

  const { logger, lines } = recordingLogger();
  const { controller, stateDir } = await startK8sController(t, {
    kubeConfig: a.kubeConfig(a.tokens.controller, CONTROLLER_NAMESPACE),
    identity: 'replica-1',
    logger,
    kubernetes: { backoff: { initialMs: 200, maxMs: 2000 } },
  });
  // 1.20 serves no discovery.k8s.io/v1: the controller chose Endpoints by itself and said why.
  assert.equal(controller.kubernetes!.source.membersSource, 'endpoints');
  assert.equal(controller.kubernetes!.source.server?.gitVersion.startsWith('v1.20.'), true);
  assert.ok(
    lines.some((l) => l.level === 'warn' && /EndpointSlice v1 .*needs Kubernetes 1\.21/.test(l.msg)),
    'the fallback is logged',
  );
  assert.ok(
    !lines.some((l) => /list failed/.test(l.msg)),
    `no list failed under the project's RBAC: ${JSON.stringify(lines.filter((l) => l.level !== 'info'))}`,
  );

  // Traffic through the Frontend.
  const r = await waitForHttp(port, (res) => res.status === 200, 15_000);
  assert.equal(r.body, 'static');
  const cfg = await readFile(join(stateDir, 'haproxy.cfg'), 'utf8');
  assert.match(cfg, /192\.0\.2\.10:8080/);
  assert.match(cfg, /192\.0\.2\.11:8080/);

  // Status through the status subresource, with the ServiceAccount's rights.
  const custom = a.admin.makeApiClient(CustomObjectsApi);
  const read = async (name: string) =>
    (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'backends', name })) as {
      status?: { observedGeneration?: number; members?: { total: number; ready: number }; conditions?: Array<{ type: string; status: string }> };
    };
  const echo = await eventually(
    'Backend echo status written',
    async () => {
      const b = await read('echo');
      return b.status?.members?.total === 2 && b.status.conditions?.some((c) => c.type === 'Programmed' && c.status === 'True') ? b : undefined;
    },
    15_000,
  );
  assert.deepEqual(echo.status!.members, { total: 2, ready: 1 });
  assert.equal(echo.status!.observedGeneration, 1);

  // Events: a member change (runtime, no reload) and a Frontend whose Backend does not exist.
  const core = a.admin.makeApiClient(CoreV1Api);
  await core.replaceNamespacedEndpoints({
    namespace: NS,
    name: 'web',
    body: {
      metadata: { name: 'web', namespace: NS },
      subsets: [{ addresses: [{ ip: '192.0.2.10' }, { ip: '192.0.2.12' }], notReadyAddresses: [{ ip: '192.0.2.11' }], ports: [{ name: 'http', port: 8080 }] }],
    },
  });
  await a.create({
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Frontend',
    metadata: { name: 'dangling', namespace: NS },
    spec: { binds: [{ address: '127.0.0.1', port: await freePort() }], defaultBackend: 'nope' },
  } as KubernetesObject);
  const events = a.admin.makeApiClient(EventsV1Api);
  // What `kubectl get events -n demo` shows, through the API.
  const listed = await eventually(
    'MembersUpdated and BackendNotFound events listed',
    async () => {
      const l = await events.listNamespacedEvent({ namespace: NS });
      const mine = l.items.filter((e) => e.reportingController === 'haproxy.node-haproxy.io/controller' && e.reportingInstance === 'replica-1');
      const reasons = new Set(mine.map((e) => e.reason));
      return reasons.has('MembersUpdated') && reasons.has('BackendNotFound') ? mine : undefined;
    },
    15_000,
  );
  const members = listed.find((e) => e.reason === 'MembersUpdated')!;
  assert.equal(members.regarding?.kind, 'Backend');
  assert.equal(members.regarding?.name, 'echo');
  assert.match(members.note ?? '', /2 of 3 member\(s\) in rotation/);
  assert.match(members.metadata?.name ?? '', /^echo\.[0-9a-f]+$/);
  const dangling = listed.find((e) => e.reason === 'BackendNotFound')!;
  assert.equal(dangling.type, 'Warning');
  assert.equal(dangling.regarding?.name, 'dangling');
  assert.ok(!lines.some((l) => l.msg === 'could not record a Kubernetes event'), 'no Event was refused');
  await eventually('echo shows 3 members', async () => ((await read('echo')).status?.members?.total === 3 ? true : undefined), 10_000);
});

test(
  'Secrets on a real API server, as the ServiceAccount: a TLS Secret created, rotated and deleted; an Opaque one never listed; no key in the log',
  { skip },
  async (t) => {
    const a = api!;
    const first = selfSignedCert('real.example.com');
    await a.create(
      tlsSecret(NS, 'real-cert', first) as KubernetesObject,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'real-opaque', namespace: NS },
        type: 'Opaque',
        data: { password: b64('hunter2') },
      } as KubernetesObject,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'real-ca', namespace: NS }, data: { 'ca.crt': first.cert } } as KubernetesObject,
    );
    const { logger, lines } = recordingLogger();
    const { controller } = await startK8sController(t, {
      kubeConfig: a.kubeConfig(a.tokens.controller, CONTROLLER_NAMESPACE),
      identity: 'replica-secrets',
      logger,
      kubernetes: { backoff: { initialMs: 200, maxMs: 2000 } },
    });
    const secret = (key: string) => controller.store.snapshot().discovered.get(SECRETS)?.get(key) as SecretData | undefined;
    assert.equal(secret(`Secret/${NS}/real-cert`)?.data['tls.key'], first.key, 'listed at sync, under the RBAC of manifests/rbac.yaml');
    assert.deepEqual(secret(`ConfigMap/${NS}/real-ca`)?.data, { 'ca.crt': first.cert });
    assert.equal(secret(`Secret/${NS}/real-opaque`), undefined, 'the real server honours the type field selector');
    assert.ok(!lines.some((l) => /list failed/.test(l.msg)), `no list failed: ${JSON.stringify(lines.filter((l) => l.level !== 'info'))}`);

    const core = a.admin.makeApiClient(CoreV1Api);
    const second = selfSignedCert('real.example.com');
    await core.replaceNamespacedSecret({ namespace: NS, name: 'real-cert', body: tlsSecret(NS, 'real-cert', second) });
    await eventually('the rotated Secret reaches the store', () => secret(`Secret/${NS}/real-cert`)?.data['tls.crt'] === second.cert, 15_000);
    await core.deleteNamespacedSecret({ namespace: NS, name: 'real-cert' });
    await eventually('the deleted Secret leaves the store', () => secret(`Secret/${NS}/real-cert`) === undefined, 15_000);
    const text = JSON.stringify(lines);
    assert.ok(!text.includes(first.keyMarker) && !text.includes(second.keyMarker) && !text.includes('hunter2'), 'no Secret value in any log line');
  },
);

test('Lease on a real API server: a replica that never synced never takes it; a takeover counts a leaseTransition', { skip }, async (t) => {
  const a = api!;
  const coordination = a.admin.makeApiClient(CoordinationV1Api);
  // The project's Role allows only the Lease named node-haproxy (the previous test's replica released it).
  const lease = async () => {
    try {
      return (await coordination.readNamespacedLease({ namespace: CONTROLLER_NAMESPACE, name: 'node-haproxy' })).spec;
    } catch {
      return undefined;
    }
  };
  const leaderElection = { ...TEST_LEASE, leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 };
  // A replica allowed to take the Lease but not to list what it watches (403): its caches never sync.
  const unsynced = recordingLogger();
  const lonely = await startUnsynced(t, a, unsynced.logger, leaderElection);
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(lonely.kubernetes!.isLeader(), false);
  assert.ok(!(await lease())?.holderIdentity, `the unsynced replica did not take the free Lease: ${JSON.stringify(await lease())}`);
  assert.ok(
    unsynced.lines.some((l) => /not campaigning yet/.test(l.msg)),
    'it says why it does not campaign',
  );
  assert.ok(
    unsynced.lines.some((l) => /list failed/.test(l.msg) && /403|forbidden/i.test(JSON.stringify(l))),
    'its lists are forbidden',
  );

  const one = await startK8sController(t, {
    kubeConfig: a.kubeConfig(a.tokens.controller, CONTROLLER_NAMESPACE),
    identity: 'replica-1',
    kubernetes: { leaderElection },
  });
  await eventually('replica-1 holds the Lease', async () => ((await lease())?.holderIdentity === 'replica-1' ? true : undefined), 10_000);
  const transitions = (await lease())?.leaseTransitions ?? 0;
  const two = await startK8sController(t, {
    kubeConfig: a.kubeConfig(a.tokens.controller, CONTROLLER_NAMESPACE),
    identity: 'replica-2',
    kubernetes: { leaderElection },
  });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await lease())?.holderIdentity, 'replica-1');
  assert.equal(two.controller.kubernetes!.isLeader(), false);

  await one.stop(); // releases the Lease
  await eventually('replica-2 took over', async () => ((await lease())?.holderIdentity === 'replica-2' ? true : undefined), 5000);
  assert.equal((await lease())?.leaseTransitions, transitions + 1, 'taking a released lease counts, as client-go counts it');
  assert.equal(lonely.kubernetes!.isLeader(), false, 'the unsynced replica never led');
});

/** A controller whose token may take the Lease but not list Frontends, Backends or Services. */
async function startUnsynced(t: TestContext, a: RealApiServer, logger: Logger, leaderElection: LeaderElectionSettings) {
  const dir = await stateDir();
  const controller = await startController({
    sources: ['kubernetes'],
    stateDir: dir.dir,
    haproxyBin: HAPROXY_BIN,
    logger,
    kubernetes: {
      kubeConfig: a.kubeConfig(a.tokens.leaseOnly, CONTROLLER_NAMESPACE),
      identity: 'replica-unsynced',
      leaderElection,
      backoff: { initialMs: 200, maxMs: 1000 },
    },
  });
  t.after(async () => {
    await controller.stop({ stopHaproxy: true });
    await dir.cleanup();
  });
  return controller;
}

async function fetchJson(a: RealApiServer, path: string): Promise<Record<string, unknown>> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const url = new URL(path, a.url);
    const req = request(url, { ca: a.caPem, headers: { authorization: `Bearer ${a.tokens.admin}` } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(JSON.parse(body) as Record<string, unknown>) : reject(new Error(`GET ${path}: HTTP ${res.statusCode}: ${body}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}
