// manifests/: kustomize-able, least-privilege RBAC that covers what the controller calls,
// and a Deployment whose probes and flags match the controller.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import yaml from 'js-yaml';
import { RESOURCES } from '../../src/sources/kubernetes/client.js';

const root = new URL('../../../', import.meta.url).pathname;
type Doc = Record<string, any>;

/** Every document a kustomization pulls in (resources, recursively). */
function kustomize(dir: string): Doc[] {
  const k = yaml.load(readFileSync(join(root, dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  const out: Doc[] = [];
  for (const r of k.resources) {
    const path = join(root, dir, r);
    assert.ok(existsSync(path), `${dir}/kustomization.yaml lists ${r}, which does not exist`);
    if (existsSync(join(path, 'kustomization.yaml'))) out.push(...kustomize(join(dir, r)));
    else out.push(...(yaml.loadAll(readFileSync(path, 'utf8')) as Doc[]).filter(Boolean));
  }
  return out;
}

const docs = kustomize('manifests');
const find = (kind: string, name?: string) => docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));

test('manifests/ is one kustomization with the CRDs, namespace, RBAC, Deployment, Services and a PDB', () => {
  for (const kind of [
    'CustomResourceDefinition',
    'Namespace',
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Role',
    'RoleBinding',
    'Deployment',
    'Service',
    'PodDisruptionBudget',
  ]) {
    assert.ok(find(kind).length > 0, `a ${kind}`);
  }
  assert.equal(find('CustomResourceDefinition').length, 2);
  assert.ok(existsSync(join(root, dirname('manifests/examples/kustomization.yaml'))));
  const examples = kustomize('manifests/examples');
  assert.deepEqual(examples.map((d) => d.kind).sort(), ['Backend', 'Deployment', 'Frontend', 'Namespace', 'Service']);
});

function allows(rules: Doc[], group: string, resource: string, verb: string, name?: string): boolean {
  return rules.some(
    (r) =>
      r.apiGroups.includes(group) &&
      r.resources.includes(resource) &&
      r.verbs.includes(verb) &&
      (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))),
  );
}

test('RBAC: reads what the controller watches, writes only status, events and its lease', () => {
  const cluster = find('ClusterRole', 'node-haproxy')[0]!.rules as Doc[];
  const lease = find('Role', 'node-haproxy-leader-election')[0]!.rules as Doc[];
  for (const r of [RESOURCES.frontends, RESOURCES.backends, RESOURCES.services, RESOURCES.endpoints, RESOURCES.endpointslices]) {
    for (const verb of ['list', 'watch']) assert.ok(allows(cluster, r.group, r.plural, verb), `${verb} ${r.plural}`);
  }
  for (const plural of ['frontends/status', 'backends/status']) assert.ok(allows(cluster, 'haproxy.node-haproxy.io', plural, 'patch'));
  assert.ok(allows(cluster, 'events.k8s.io', 'events', 'create') && allows(cluster, 'events.k8s.io', 'events', 'patch'));
  assert.ok(allows(lease, 'coordination.k8s.io', 'leases', 'create'));
  for (const verb of ['get', 'update']) assert.ok(allows(lease, 'coordination.k8s.io', 'leases', verb, 'node-haproxy'));
  const writes = ['create', 'update', 'patch', 'delete', 'deletecollection', '*'];
  for (const r of [...cluster, ...lease]) {
    assert.ok(!r.verbs.includes('*') && !r.resources.includes('*') && !r.apiGroups.includes('*'), 'no wildcards');
    const writable = r.verbs.some((v: string) => writes.includes(v));
    if (writable) {
      assert.ok(
        r.resources.every((x: string) => x.endsWith('/status') || x === 'events' || x === 'leases'),
        `writes only status, events and leases: ${JSON.stringify(r)}`,
      );
    }
  }
  assert.ok(!allows(lease, 'coordination.k8s.io', 'leases', 'update', 'someone-else'), 'only its own lease');
});

test('RBAC: Secrets and ConfigMaps are exactly get, list and watch, in one rule of their own', () => {
  const cluster = find('ClusterRole', 'node-haproxy')[0]!.rules as Doc[];
  for (const r of [RESOURCES.secrets, RESOURCES.configmaps]) {
    const rules = cluster.filter((x) => x.apiGroups.includes(r.group) && x.resources.includes(r.plural));
    assert.equal(rules.length, 1, `one rule names ${r.plural}`);
    assert.deepEqual([...rules[0]!.verbs].sort(), ['get', 'list', 'watch'], `${r.plural}: read only`);
    assert.deepEqual([...rules[0]!.resources].sort(), ['configmaps', 'secrets'], 'the rule names nothing else');
    assert.equal(rules[0]!.resourceNames, undefined);
  }
});

test('Deployment: two replicas, probes on the controller HTTP server, requests, non-root with NET_BIND_SERVICE', () => {
  const d = find('Deployment', 'node-haproxy')[0]!;
  assert.equal(d.spec.replicas, 2);
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  assert.ok(c.args.includes('--source=kubernetes'));
  const http = c.args.find((a: string) => a.startsWith('--http-address='));
  const port = Number(http.split(':').pop());
  const named = Object.fromEntries(c.ports.map((p: Doc) => [p.name, p.containerPort]));
  assert.equal(named.metrics, port, '--http-address listens on the probed port');
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.equal(c.readinessProbe.httpGet.port, 'metrics');
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
  assert.deepEqual(c.env.map((e: Doc) => e.name).sort(), ['POD_NAME', 'POD_NAMESPACE']);
  assert.equal(pod.serviceAccountName, find('ServiceAccount')[0]!.metadata.name);
  const svc = find('Service', 'node-haproxy')[0]!;
  assert.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);
});

test('versions are stated where they matter: the Deployment comment and docs agree on ports below 1024; the README and docs name the supported Kubernetes versions', () => {
  // Read as prose: line breaks and comment markers as single spaces.
  const prose = (path: string) => readFileSync(join(root, path), 'utf8').replace(path.endsWith('.yaml') ? /\s*\n\s*#?\s*/g : /[ \t]*\n(?![\n#|])[ \t]*/g, ' ');
  const deployment = prose('manifests/deployment.yaml');
  const docsText = prose('docs/kubernetes.md');
  const readme = prose('README.md');
  // With allowPrivilegeEscalation: false the file capability does nothing: the comment must not suggest otherwise.
  assert.equal(find('Deployment', 'node-haproxy')[0]!.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation, false);
  assert.match(deployment, /can NOT bind ports below 1024/);
  for (const text of [deployment, docsText]) {
    assert.match(text, /ip_unprivileged_port_start/);
    assert.match(text, /safe sysctl from Kubernetes 1\.22/);
    assert.match(text, /allowed-unsafe-sysctls/);
  }
  // policy/v1 PDB and EndpointSlice v1 need 1.21; 1.20 works with Endpoints.
  assert.equal(find('PodDisruptionBudget')[0]!.apiVersion, 'policy/v1');
  assert.match(docsText, /## Supported Kubernetes versions/);
  assert.match(docsText, /not supported/);
  assert.match(docsText, /\*\*1\.21\*\* \| everything in `manifests\/`/);
  assert.match(readme, /Supported Kubernetes versions: 1\.21 and newer/);
});
