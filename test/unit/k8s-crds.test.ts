// The CRDs in crds/ are generated from the one schema, are structural, and
// accept and reject the same values as `node-haproxy validate`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import yaml from 'js-yaml';
import { CRD_FILES, crdFor, crdYaml } from '../../src/model/crd.js';
import type { JsonSchema } from '../../src/model/schema.js';
import { validateResource } from '../../src/model/validate.js';
import { KINDS, type Kind } from '../../src/model/types.js';

const root = new URL('../../../', import.meta.url).pathname;

test('committed crds/ equal what scripts/gen-crds.mjs generates from the schema', async () => {
  for (const { kind, file } of CRD_FILES) {
    const committed = await readFile(join(root, 'crds', file), 'utf8').catch(() => '(missing)');
    assert.equal(committed, crdYaml(kind), `crds/${file} is stale: run "npm run build && node scripts/gen-crds.mjs" and commit the result`);
  }
  const kustomization = yaml.load(await readFile(join(root, 'crds', 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  assert.deepEqual([...kustomization.resources].sort(), CRD_FILES.map((f) => f.file).sort());
});

/** The rules of a structural schema that the apiserver enforces on a CRD. */
function structuralProblems(s: JsonSchema, path: string, inJunctor = false): string[] {
  const out: string[] = [];
  if (s.additionalProperties === false) out.push(`${path}: additionalProperties: false (pruning does that job)`);
  if (inJunctor && (s.description !== undefined || s.default !== undefined || s.additionalProperties !== undefined)) {
    out.push(`${path}: description, default or additionalProperties inside anyOf`);
  }
  if (!inJunctor && s.type === undefined && !s['x-kubernetes-int-or-string'] && !s['x-kubernetes-preserve-unknown-fields']) {
    out.push(`${path}: no type`);
  }
  if (s['x-kubernetes-int-or-string']) {
    if (s.type !== undefined) out.push(`${path}: int-or-string with a type`);
    const shape = JSON.stringify(s.anyOf);
    if (s.anyOf && shape !== JSON.stringify([{ type: 'integer' }, { type: 'string' }])) out.push(`${path}: int-or-string anyOf is ${shape}`);
  } else if (s.anyOf) {
    for (const [i, b] of s.anyOf.entries()) {
      if (b.type !== undefined) out.push(`${path}.anyOf[${i}]: type inside anyOf`);
      out.push(...structuralProblems(b, `${path}.anyOf[${i}]`, true));
    }
  }
  for (const [name, p] of Object.entries(s.properties ?? {})) out.push(...structuralProblems(p, `${path}.${name}`, inJunctor));
  if (s.items) out.push(...structuralProblems(s.items, `${path}[]`, inJunctor));
  if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    out.push(...structuralProblems(s.additionalProperties, `${path}.*`, inJunctor));
  }
  return out;
}

test('each CRD is apiextensions.k8s.io/v1, namespaced, structural, with status, printer columns, short names and a category', () => {
  for (const kind of KINDS) {
    const crd = crdFor(kind);
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.metadata.name, `${crd.spec.names.plural}.haproxy.node-haproxy.io`);
    assert.equal(crd.spec.scope, 'Namespaced');
    assert.equal(crd.spec.group, 'haproxy.node-haproxy.io');
    assert.equal(crd.spec.versions.length, 1);
    const v = crd.spec.versions[0]!;
    assert.equal(v.name, 'v1alpha1');
    assert.ok(v.served && v.storage);
    assert.deepEqual(v.subresources, { status: {} });
    assert.ok(crd.spec.names.shortNames.length > 0);
    assert.deepEqual(crd.spec.names.categories, ['haproxy']);
    const columns = v.additionalPrinterColumns.map((c) => c.name);
    assert.ok(columns.includes('Ready') && columns.includes('Age'), `${kind} columns: ${columns.join(', ')}`);
    if (kind === 'Backend') assert.ok(columns.includes('Members'));
    const schema = v.schema.openAPIV3Schema;
    assert.deepEqual(structuralProblems(schema, kind), []);
    assert.deepEqual(schema.properties?.metadata, { type: 'object' }, 'metadata is left to the apiserver');
    assert.equal(schema.additionalProperties, undefined, 'no additionalProperties at the root');
  }
});

// --- The CRD schema and validateResource agree on values ---

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });
ajv.addKeyword('x-kubernetes-int-or-string');
ajv.addKeyword('x-kubernetes-preserve-unknown-fields');
const crdValidators = Object.fromEntries(KINDS.map((k) => [k, ajv.compile(crdFor(k).spec.versions[0]!.schema.openAPIV3Schema)])) as Record<
  Kind,
  ReturnType<Ajv['compile']>
>;

/** What the cluster would do: validate against the CRD (applying its defaults). */
function clusterAccepts(raw: Record<string, unknown>): { ok: boolean; defaulted: unknown } {
  const copy = structuredClone(raw);
  const ok = crdValidators[raw.kind as Kind](copy) as boolean;
  return { ok, defaulted: copy };
}

/** The schema part of validateResource (semantic checks such as duplicate names are not in any schema). */
function fileSourceAccepts(raw: Record<string, unknown>): { ok: boolean; resource: unknown } {
  const r = validateResource(raw);
  return { ok: r.resource !== undefined, resource: r.resource };
}

const base: Record<Kind, () => Record<string, unknown>> = {
  Frontend: () => ({
    apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
    kind: 'Frontend',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { binds: [{ port: 80 }], defaultBackend: 'app', rules: [{ host: '*.example.com', pathPrefix: '/api', backend: 'api' }] },
  }),
  Backend: () => ({
    apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
    kind: 'Backend',
    metadata: { name: 'app', namespace: 'shop' },
    spec: { service: { name: 'app', port: 'http' }, healthCheck: { type: 'http', path: '/healthz?full=1' } },
  }),
};

type Mutation = [kind: Kind, description: string, mutate: (spec: Record<string, any>) => void];

const MUTATIONS: Mutation[] = [
  ['Frontend', 'unchanged', () => undefined],
  ['Frontend', 'port 0', (s) => (s.binds[0].port = 0)],
  ['Frontend', 'port 65536', (s) => (s.binds[0].port = 65536)],
  ['Frontend', 'port as string', (s) => (s.binds[0].port = '80')],
  ['Frontend', 'no binds', (s) => (s.binds = [])],
  ['Frontend', 'binds missing', (s) => delete s.binds],
  ['Frontend', 'bind address with a space', (s) => (s.binds[0].address = '1.2.3.4 ssl')],
  ['Frontend', 'mode udp', (s) => (s.mode = 'udp')],
  ['Frontend', 'backend name with uppercase', (s) => (s.defaultBackend = 'App')],
  ['Frontend', 'host with a newline', (s) => (s.rules[0].host = 'a.com\nuse_backend x')],
  ['Frontend', 'path with a quote', (s) => (s.rules[0].pathPrefix = '/a"b')],
  ['Frontend', 'rule without backend', (s) => delete s.rules[0].backend],
  ['Frontend', 'timeout without unit is fine', (s) => (s.timeouts = { client: '30' })],
  ['Frontend', 'timeout with a bad unit', (s) => (s.timeouts = { client: '30x' })],
  ['Frontend', 'keepAlive bogus', (s) => (s.keepAlive = 'sometimes')],
  ['Frontend', 'maxconn 0', (s) => (s.maxconn = 0)],
  ['Frontend', 'forwardFor as string', (s) => (s.forwardFor = 'yes')],
  ['Backend', 'unchanged', () => undefined],
  ['Backend', 'service port by number', (s) => (s.service.port = 8080)],
  ['Backend', 'service port 0', (s) => (s.service.port = 0)],
  ['Backend', 'service port 70000', (s) => (s.service.port = 70000)],
  ['Backend', 'service port name with uppercase', (s) => (s.service.port = 'HTTP')],
  ['Backend', 'service port name too long', (s) => (s.service.port = 'a'.repeat(64))],
  ['Backend', 'service port as boolean', (s) => (s.service.port = true)],
  ['Backend', 'service without port', (s) => delete s.service.port],
  ['Backend', 'balance bogus', (s) => (s.balance = 'fastest')],
  ['Backend', 'static member', (s) => ((s.members = [{ name: 'a-1', address: '10.0.0.1', port: 80 }]), delete s.service)],
  ['Backend', 'member name with a space', (s) => ((s.members = [{ name: 'a 1', address: '10.0.0.1', port: 80 }]), delete s.service)],
  ['Backend', 'member state bogus', (s) => ((s.members = [{ name: 'a', address: '10.0.0.1', port: 80, state: 'up' }]), delete s.service)],
  ['Backend', 'member weight 300', (s) => ((s.members = [{ name: 'a', address: '10.0.0.1', port: 80, weight: 300 }]), delete s.service)],
  ['Backend', 'member without address', (s) => ((s.members = [{ name: 'a', port: 80 }]), delete s.service)],
  ['Backend', 'health check type bogus', (s) => (s.healthCheck.type = 'icmp')],
  ['Backend', 'health check method POST', (s) => (s.healthCheck.method = 'POST')],
  ['Backend', 'health check rise 0', (s) => (s.healthCheck.rise = 0)],
  ['Backend', 'health check path with #', (s) => (s.healthCheck.path = '/a#b')],
];

for (const [kind, description, mutate] of MUTATIONS) {
  test(`CRD and file schema agree: ${kind} ${description}`, () => {
    const raw = base[kind]();
    mutate(raw.spec as Record<string, unknown>);
    const file = fileSourceAccepts(raw);
    const cluster = clusterAccepts(raw);
    assert.equal(cluster.ok, file.ok, `cluster ${cluster.ok ? 'accepts' : 'rejects'} but validate ${file.ok ? 'accepts' : 'rejects'}`);
    if (file.ok) {
      // Same defaults: the spec the cluster stores is the spec the file source builds.
      assert.deepEqual((cluster.defaulted as { spec: unknown }).spec, (file.resource as { spec: unknown }).spec);
    }
  });
}

test('an unknown field: validate rejects it, the cluster prunes it (the documented difference)', () => {
  const raw = base.Frontend();
  (raw.spec as Record<string, unknown>).bindz = [];
  assert.equal(fileSourceAccepts(raw).ok, false);
  assert.equal(clusterAccepts(raw).ok, true);
});

test('every example under manifests/examples/ and examples/ is valid', async () => {
  let checked = 0;
  for (const dir of ['manifests/examples', 'examples']) {
    for (const file of (await readdir(join(root, dir))).filter((f) => /\.ya?ml$/.test(f))) {
      const docs = yaml.loadAll(await readFile(join(root, dir, file), 'utf8')) as Array<Record<string, unknown> | null>;
      for (const doc of docs) {
        if (!doc || doc.apiVersion !== 'haproxy.node-haproxy.io/v1alpha1') continue;
        const r = validateResource(doc, `${dir}/${file}`);
        assert.deepEqual(r.issues, [], `${dir}/${file}`);
        assert.equal(clusterAccepts(doc).ok, true, `${dir}/${file} against the CRD`);
        checked++;
      }
    }
  }
  assert.ok(checked >= 4, `checked ${checked} resources`);
});
