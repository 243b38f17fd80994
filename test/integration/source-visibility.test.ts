/**
 * What a user sees of broken inputs, against a real controller and a real
 * HAProxy (HAPROXY_BIN: 2.6 and 3.0), with the REST API and /metrics on loopback:
 * - a file that does not parse and a file emptied to 0 bytes are listed in
 *   GET /api/v1/status `.sourceIssues` and counted by node_haproxy_source_issues;
 *   the Backend the emptied file declared keeps serving (HTTP 200 through
 *   HAProxy) and says so: not accepted, serving its last good version, naming
 *   the file (status, `.rejected`, node_haproxy_resources);
 * - a Secret with bad base64, and one in a file that never parsed, are
 *   reported to the Frontend that uses them as invalid (where, why), not missing;
 * - a Secret kept from a file cut short serves its last good data, and the
 *   Frontend using it says so (Accepted, with a note naming the file);
 * - the same for a Secret whose first etcd value is refused; fixed, it serves;
 * - Secrets, ConfigMaps, Frontends and Backends declared by files read through
 *   the REST API (Secrets redacted, with their origin); writes answer 409.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { API_VERSION, backendYaml } from '../helpers/controller.js';
import { b64, selfSignedCert, tlsSecret } from '../helpers/certs.js';
import { startEtcd } from '../helpers/etcd.js';
import { httpsStatus, servedCert } from '../helpers/tls-client.js';
import { freePort } from '../helpers/haproxy.js';
import { call, eventually, startRestController } from '../helpers/rest.js';
import { httpGet, startUpstreams, waitForHttp } from '../helpers/upstream.js';

const NS = '/api/v1/namespaces/default';
const frontendYaml = (name: string, port: number, tlsSecretName?: string) =>
  `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata: { name: ${name} }\nspec:\n  binds:\n    - address: 127.0.0.1\n      port: ${port}\n` +
  (tlsSecretName ? `      tls: { certificateRefs: [{ name: ${tlsSecretName} }] }\n` : '') +
  `  defaultBackend: web\n`;

test('broken and emptied files, and invalid Secrets, are visible through REST, metrics and the resources they keep serving', async (t) => {
  const up = await startUpstreams(t, 'a');
  const [sitePort, shopPort, apiPort, goodPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const cert = selfSignedCert('good.example');
  const good = tlsSecret('default', 'good-cert', cert);
  const badShop = { ...tlsSecret('default', 'shop-cert', cert), data: { 'tls.crt': good.data['tls.crt'], 'tls.key': '!!not base64!!' } };
  const fx = await startRestController(t, {
    withManifests: true,
    files: {
      'backends.yaml': backendYaml('web', [{ name: 'a', port: up.a!.port }]),
      'site.yaml': frontendYaml('site', sitePort),
      'shop.yaml': frontendYaml('shop', shopPort, 'shop-cert'),
      'api.yaml': frontendYaml('api', apiPort, 'api-cert'),
      'good-frontend.yaml': frontendYaml('good', goodPort, 'good-cert'),
      'secrets.yaml': JSON.stringify(badShop),
      'good.yaml': `${JSON.stringify(good)}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: some-ca }\ndata: { ca.crt: "not used" }\n`,
      // Never parsed: the Secret it seems to declare is reported as invalid, with the parse problem.
      'api-secret.yaml': 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-cert\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: [unclosed\n',
    },
  });
  const api = fx.api;
  const httpPort = fx.controller.httpAddress!.port;
  await waitForHttp(sitePort, (r) => r.status === 200);

  // 2. Invalid, not missing: the condition names the Secret, where it is declared, the field and the problem.
  const frontend = async (name: string) => (await api.get(`${NS}/frontends/${name}`)).json;
  const shop = await frontend('shop');
  assert.equal(shop.status.conditions[0].status, 'False', JSON.stringify(shop.status));
  assert.equal(shop.status.conditions[0].reason, 'InvalidSpec');
  assert.match(
    shop.status.conditions[0].message,
    /^spec\.binds\[0\]\.tls\.certificateRefs\[0\]: Secret default\/shop-cert is invalid \(secrets\.yaml#1: data\.tls\.key: is not valid base64; .*\); fix it there$/,
  );
  assert.doesNotMatch(shop.status.conditions[0].message, /does not exist/);
  const apiFrontend = await frontend('api');
  assert.match(apiFrontend.status.conditions[0].message, /Secret default\/api-cert is invalid \(api-secret\.yaml: YAML does not parse at line \d+/);

  // 4. Reads of what files declare: redacted, with the origin; writes are refused with 409.
  const g = await api.get(`${NS}/secrets/good-cert`);
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(g.json.data, { 'tls.crt': '<redacted>', 'tls.key': '<redacted>' });
  assert.equal(g.json.origin, 'good.yaml#1');
  assert.ok(!g.text.includes(cert.keyMarker), 'no value is shown');
  const list = await api.get(`${NS}/secrets`);
  assert.deepEqual(
    list.json.items.map((s: { metadata: { name: string } }) => s.metadata.name),
    ['good-cert'],
  );
  const cm = await api.get(`${NS}/configmaps/some-ca`);
  assert.equal(cm.status, 200, cm.text);
  assert.equal(cm.json.origin, 'good.yaml#2');
  const invalid = await api.get(`${NS}/secrets/shop-cert`);
  assert.equal(invalid.status, 404);
  assert.match(invalid.json.message, /^Secret default\/shop-cert is invalid \(secrets\.yaml#1: data\.tls\.key: is not valid base64/);
  for (const [method, path, body] of [
    ['PUT', `${NS}/secrets/good-cert`, good],
    ['DELETE', `${NS}/secrets/good-cert`, undefined],
    ['PUT', `${NS}/secrets/shop-cert`, tlsSecret('default', 'shop-cert', cert)],
    ['PUT', `${NS}/configmaps/some-ca`, { data: { 'ca.crt': 'x' } }],
    ['PUT', `${NS}/backends/web`, { apiVersion: API_VERSION, kind: 'Backend', metadata: { name: 'web' }, spec: { members: [] } }],
    ['DELETE', `${NS}/frontends/site`, undefined],
  ] as const) {
    const r = method === 'PUT' ? await api.put(path, body) : await api.del(path);
    assert.equal(r.status, 409, `${method} ${path}: ${r.text}`);
    assert.match(r.json.message, /change it there/);
  }
  const web = await api.get(`${NS}/backends/web`);
  assert.equal(web.status, 200);
  assert.equal(web.json.status.serving, 'this version');
  assert.equal(web.json.status.origin, 'backends.yaml#1');

  // 1. Before anything breaks: the bad Secret documents are source issues already.
  const status0 = (await api.get('/api/v1/status')).json;
  assert.deepEqual(status0.sourceIssues.map((i: { origin: string }) => i.origin).sort(), ['api-secret.yaml', 'secrets.yaml#1']);
  const source = status0.sourceIssues[0].source as string;
  assert.ok(source.startsWith('files:'), source);

  // A file that does not parse, and backends.yaml emptied (a write in progress): the last good Backend serves and says so.
  await writeFile(join(fx.manifests, 'broken.yaml'), 'kind: Backend\nspec: [unclosed\n');
  await writeFile(join(fx.manifests, 'backends.yaml'), '');
  // And the file of a Secret in use, cut short: its last good data serves, and the Frontend using it says so.
  const goodText = `${JSON.stringify(good)}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: some-ca }\ndata: { ca.crt: "not used" }\n`;
  await writeFile(join(fx.manifests, 'good.yaml'), goodText.slice(0, 40));
  const status = await eventually(
    async () => (await api.get('/api/v1/status')).json,
    (s) => s.sourceIssues.length === 5 && s.rejected.some((r: { resource: string }) => r.resource === 'Backend/default/web'),
    10_000,
    'the broken files in the status',
  );
  const origins = status.sourceIssues.map((i: { origin: string }) => i.origin).sort();
  assert.deepEqual(origins, ['api-secret.yaml', 'backends.yaml', 'broken.yaml', 'good.yaml', 'secrets.yaml#1']);
  const emptied = status.sourceIssues.find((i: { origin: string }) => i.origin === 'backends.yaml');
  assert.equal(emptied.source, source);
  assert.match(emptied.message, /^the file is empty; its last good resources keep serving/);
  const rejectedWeb = status.rejected.find((r: { resource: string }) => r.resource === 'Backend/default/web');
  assert.equal(rejectedWeb.serving, 'previous version');
  assert.match(rejectedWeb.message, /^serving the last good version: backends\.yaml: the file is empty/);
  assert.equal((await httpGet(sitePort, '/', 3000)).status, 200, 'HAProxy still serves the Backend the emptied file declared');

  const web2 = (await api.get(`${NS}/backends/web`)).json;
  assert.equal(web2.status.conditions[0].status, 'False', JSON.stringify(web2.status));
  assert.equal(web2.status.serving, 'previous version');
  assert.match(web2.status.conditions[0].message, /^serving the last good version: backends\.yaml: the file is empty/);

  const goodFrontend = await eventually(
    () => frontend('good'),
    (f) => /serves its last good data/.test(f.status.conditions[0].message),
    10_000,
    'the note on the Frontend that uses the kept Secret',
  );
  assert.equal(goodFrontend.status.conditions[0].status, 'True');
  assert.match(
    goodFrontend.status.conditions[0].message,
    /spec\.binds\[0\]\.tls\.certificateRefs\[0\]: Secret default\/good-cert serves its last good data; its source refuses the current one \(good\.yaml: YAML does not parse at line \d+.*\); fix it there/,
  );
  assert.equal((await servedCert(goodPort, 'good.example')).subjectCn, 'good.example', 'the last good certificate serves');

  const metrics = (await call(httpPort, 'GET', '/metrics')).text;
  const sample = (name: string) => Number(new RegExp(`^${name.replace(/[{}"/.:+]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(metrics)?.[1]);
  assert.equal(
    sample(`node_haproxy_source_issues{source="${source}"}`),
    5,
    metrics
      .split('\n')
      .filter((l) => l.includes('source_issues'))
      .join('\n'),
  );
  assert.equal(sample('node_haproxy_resources{kind="Backend",condition="rejected_serving_previous"}'), 1);

  // Fixed: the Backend is accepted again, and the issues of those files clear.
  await writeFile(join(fx.manifests, 'backends.yaml'), backendYaml('web', [{ name: 'a', port: up.a!.port }]));
  await writeFile(join(fx.manifests, 'broken.yaml'), '');
  await writeFile(join(fx.manifests, 'good.yaml'), goodText);
  await eventually(
    async () => (await api.get(`${NS}/backends/web`)).json,
    (b) => b.status.conditions[0].status === 'True' && b.status.serving === 'this version',
    10_000,
    'the Backend accepted again',
  );
  const after = (await api.get('/api/v1/status')).json;
  assert.deepEqual(after.sourceIssues.map((i: { origin: string }) => i.origin).sort(), ['api-secret.yaml', 'secrets.yaml#1']);
  const metrics2 = (await call(httpPort, 'GET', '/metrics')).text;
  assert.match(metrics2, new RegExp(`^node_haproxy_source_issues\\{source="${source.replace(/[/.]/g, (c) => `\\${c}`)}"\\} 2$`, 'm'));
});

test('etcd: a Secret whose first value is refused is reported to the Frontend that uses it as invalid, naming the key and the field; fixed, it serves', async (t) => {
  const up = await startUpstreams(t, 'a');
  const etcd = await startEtcd(t);
  const prefix = '/nh';
  const port = await freePort();
  const cert = selfSignedCert('shop.example');
  await etcd.client.put(`${prefix}/backends/default/web`).value(backendYaml('web', [{ name: 'a', port: up.a!.port }]));
  await etcd.client.put(`${prefix}/frontends/default/shop`).value(frontendYaml('shop', port, 'shop-cert'));
  await etcd.client
    .put(`${prefix}/secrets/default/shop-cert`)
    .value(JSON.stringify({ type: 'kubernetes.io/tls', data: { 'tls.crt': b64(cert.cert), 'tls.key': '!!' } }));
  const fx = await startRestController(t, { extraSources: [`etcd://${etcd.endpoint}${prefix}`], etcdRetryMaxMs: 500, etcdResyncIntervalMs: 0 });
  const shop = await eventually(
    async () => (await fx.api.get(`${NS}/frontends/shop`)).json,
    (f) => f.status?.conditions?.[0]?.status === 'False',
    10_000,
    'the Frontend refused',
  );
  assert.equal(
    shop.status.conditions[0].message,
    `spec.binds[0].tls.certificateRefs[0]: Secret default/shop-cert is invalid (etcd:${prefix}/secrets/default/shop-cert: data.tls.key: is not valid base64; encode the value (base64 -w0 FILE), or put the text under stringData); fix it there`,
  );
  const status = (await fx.api.get('/api/v1/status')).json;
  assert.ok(
    status.sourceIssues.some((i: { origin: string; field: string }) => i.origin === `etcd:${prefix}/secrets/default/shop-cert` && i.field === 'data.tls.key'),
    JSON.stringify(status.sourceIssues),
  );

  await etcd.client.put(`${prefix}/secrets/default/shop-cert`).value(JSON.stringify(tlsSecret('default', 'shop-cert', cert)));
  await eventually(
    async () => (await fx.api.get(`${NS}/frontends/shop`)).json,
    (f) => f.status?.conditions?.[0]?.status === 'True',
    10_000,
    'the Frontend accepted once the Secret is fixed',
  );
  const line = await eventually(
    () => httpsStatus(port, 'shop.example'),
    (l) => / 200 /.test(l),
    10_000,
    'HTTPS served with the fixed Secret',
  );
  assert.match(line, /^HTTP\/1\.1 200 /);
  assert.equal((await servedCert(port, 'shop.example')).subjectCn, 'shop.example');
});
