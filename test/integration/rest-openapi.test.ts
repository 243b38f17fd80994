/**
 * The OpenAPI document at /api/v1/openapi.json, against a real controller and
 * HAProxy 2.6: it describes every route the API serves (and nothing else), it
 * carries the one schema as it is, and real requests and answers (every
 * route, successes, dry runs, ?wait, ?force, the member PATCH, and every
 * error status) are what it says. The document and the server agree on which
 * bodies are invalid. A tampered answer fails the check, so the check can fail.
 */
import { test } from 'node:test';
import { selfSignedCert, tlsSecret } from '../helpers/certs.js';
import assert from 'node:assert/strict';
import { backendSpecSchema, frontendSpecSchema } from '../../src/model/schema.js';
import { RestApi, type RestApiOptions } from '../../src/sources/rest/api.js';
import { openApiDocument } from '../../src/sources/rest/openapi.js';
import { freePort } from '../helpers/haproxy.js';
import { OpenApiChecker } from '../helpers/openapi.js';
import { call, startRestController, TOKEN, type ApiResponse, type CallOptions } from '../helpers/rest.js';
import { startUpstreams, waitForHttp } from '../helpers/upstream.js';

const NS = '/api/v1/namespaces/default';

/** The API's own route table, as OpenAPI path templates (`:ns` → `{ns}`, `:plural` → frontends and backends). */
function routesOfTheApi(): string[] {
  const api = new RestApi({} as RestApiOptions);
  const out: string[] = [];
  for (const r of api.routeTable()) {
    const path = r.path.replace(/:([a-z]+)/g, '{$1}');
    const expanded = path.includes('{plural}')
      ? ['frontends', 'backends'].map((p) => path.replace('{plural}', p))
      : path.includes('{splural}')
        ? ['secrets', 'configmaps'].map((p) => path.replace('{splural}', p))
        : [path];
    for (const p of expanded) out.push(`${r.method} ${p}`);
  }
  return out.sort();
}

test('the document describes exactly the routes the API serves, with the one schema as it is', () => {
  const doc = openApiDocument({ authReads: false, aqueductNamespace: 'default' });
  assert.equal(doc.openapi, '3.1.0');
  const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
  assert.deepEqual(documented, routesOfTheApi());
  const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
  assert.deepEqual(schemas.FrontendSpec, frontendSpecSchema, 'FrontendSpec is schema.ts, untranslated');
  assert.deepEqual(schemas.BackendSpec, backendSpecSchema);
  // It compiles under JSON Schema 2020-12 in Ajv's strict mode.
  assert.ok(new OpenApiChecker(doc).compileAll() > Object.keys(schemas).length);
});

test('real requests and answers match the OpenAPI document: every route, dry runs, ?wait, ?force, the member PATCH, every error', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const fx = await startRestController(t, { apiMaxBodyBytes: 4096 });
  const port = fx.api.port;

  const served = await call(port, 'GET', '/api/v1/openapi.json');
  assert.equal(served.status, 200);
  assert.match(served.headers['content-type'] ?? '', /^application\/json/);
  assert.deepEqual(served.json, JSON.parse(JSON.stringify(openApiDocument({ authReads: false, aqueductNamespace: 'default' }))));
  const checker = new OpenApiChecker(served.json);
  assert.deepEqual(checker.checkResponse('GET', '/api/v1/openapi.json', served.status, served.headers['content-type'], served.text), []);

  /** Sends a request the document must accept (or refuse, `valid: false`), and checks the answer against the document. */
  async function send(method: string, path: string, o: CallOptions & { valid?: boolean; status: number }): Promise<ApiResponse> {
    const contentType = o.headers?.['content-type'] ?? 'application/json';
    const bodyForCheck =
      o.body === undefined ? undefined : typeof o.body === 'string' ? (contentType === 'application/json' ? safeJson(o.body) : o.body) : o.body;
    const problems = checker.checkRequest(method, path, bodyForCheck, contentType);
    if (o.valid === false) assert.notDeepEqual(problems, [], `the document should refuse ${method} ${path} ${JSON.stringify(o.body)}`);
    else assert.deepEqual(problems, [], `the document should accept ${method} ${path}`);
    const r = await call(port, method, path, { token: TOKEN, ...o });
    assert.equal(r.status, o.status, `${method} ${path}: ${r.text.slice(0, 500)}`);
    assert.deepEqual(
      checker.checkResponse(method, path, r.status, r.headers['content-type'], r.text),
      [],
      `${method} ${path} → ${r.status}: ${r.text.slice(0, 300)}`,
    );
    return r;
  }

  // Our shape: create, replace, read.
  const fePort = await freePort();
  const backend = {
    spec: {
      members: [
        { name: 'a', address: '127.0.0.1', port: up.a!.port },
        { name: 'b', address: '127.0.0.1', port: up.b!.port },
      ],
    },
  };
  await send('PUT', `${NS}/backends/app?wait=true`, { body: backend, status: 201 });
  const yaml = `spec:\n  binds: [{ address: 127.0.0.1, port: ${fePort} }]\n  defaultBackend: app\n  rules:\n    - { pathPrefix: /api, backend: app }\n`;
  await send('PUT', `${NS}/frontends/web?wait=true`, { body: yaml, headers: { 'content-type': 'application/yaml' }, status: 201 });
  await waitForHttp(fePort, (r) => r.status === 200);
  const got = await send('GET', `${NS}/frontends/web`, { status: 200 });
  await send('PUT', `${NS}/frontends/web?wait=true`, { body: got.json, status: 200 }); // GET, then PUT back
  await send('PUT', `${NS}/backends/spare`, {
    body: { apiVersion: 'haproxy.node-haproxy.io/v1alpha1', kind: 'Backend', metadata: { name: 'spare' }, spec: {} },
    status: 201,
  });
  for (const path of [
    '/api/v1/frontends',
    '/api/v1/backends?namespace=default',
    `${NS}/frontends`,
    `${NS}/backends`,
    `${NS}/backends/app`,
    `${NS}/backends/app/members`,
    `${NS}/backends/app/members/a`,
    '/api/v1/status',
    '/api/v1/config',
  ]) {
    await send('GET', path, { status: 200 });
  }

  // The member PATCH: applied at runtime, the answer waits for the pass.
  const patched = await send('PATCH', `${NS}/backends/app/members/a`, { body: { state: 'drain', weight: 20 }, status: 200 });
  assert.equal(patched.json.live.applied, true);
  const member = await send('GET', `${NS}/backends/app/members/a`, { status: 200 });
  assert.equal(member.json.live.weight, 0, 'drain is weight 0 in HAProxy');

  // Dry runs on every write.
  await send('PUT', `${NS}/backends/extra?dryRun=true`, { body: backend, status: 200 });
  await send('PATCH', `${NS}/backends/app/members/b?dryRun=true`, { body: { state: 'maint' }, status: 200 });
  await send('DELETE', `${NS}/frontends/web?dryRun=All`, { status: 200 });
  await send('PUT', '/backends/aq?dryRun=true', { body: { type: 'static', members: [{ host: '127.0.0.1', port: up.a!.port }] }, status: 200 });

  // thalassa-aqueduct.
  const aqPort = await freePort();
  await send('PUT', '/backends/aq?wait=true', {
    body: {
      type: 'static',
      balance: 'leastconn',
      host: null,
      health: { method: 'GET', uri: '/', httpVersion: 'HTTP/1.0', interval: 2000 },
      members: [{ host: '127.0.0.1', port: up.a!.port, name: 'svc', version: '1.0.0', meta: { hostname: 'a' } }],
    },
    status: 200,
  });
  await send('PUT', '/frontends/aq', {
    body: {
      bind: `127.0.0.1:${aqPort}`,
      backend: 'aq',
      mode: 'http',
      keepalive: 'default',
      rules: [{ type: 'header', header: 'host', operation: 'hdr_dom', value: 'example.com', backend: 'aq' }],
    },
    status: 200,
  });
  await send('PUT', '/frontends/aq?wait=true', { body: { bind: `127.0.0.1:${aqPort}`, backend: 'aq' }, status: 200 });
  for (const path of ['/frontends', '/frontends/aq', '/frontends/web', '/backends', '/backends/aq', '/backends/aq/members', '/haproxy/config'])
    await send('GET', path, { status: 200 });
  await send('DELETE', '/backends/aq?dryRun=true&force=true', { status: 200 });
  await send('DELETE', '/frontends/aq?wait=true', { status: 200 });
  await send('DELETE', '/backends/aq', { status: 200 });

  // Errors, each in the documented shape; bodies the server refuses with 422, the document refuses too.
  await send('PUT', `${NS}/backends/app`, { body: backend, token: null, status: 401 });
  await send('PUT', `${NS}/backends/app`, { body: backend, token: `${TOKEN}x`, status: 403 });
  await send('GET', `${NS}/frontends/nope`, { status: 404 });
  await send('GET', `${NS}/backends/app/members/zz`, { status: 404 });
  await send('GET', '/backends/nope', { status: 404 });
  await send('DELETE', `${NS}/backends/app`, { status: 409 });
  await send('PUT', `${NS}/backends/big`, { body: { spec: { members: [] }, metadata: { annotations: { x: 'y'.repeat(5000) } } }, status: 413 });
  await send('PUT', `${NS}/backends/app`, { body: 'spec: {}', headers: { 'content-type': 'text/plain' }, status: 415, valid: false });
  await send('PUT', `${NS}/backends/app`, { body: '{"spec": ', status: 400, valid: false });
  await send('PUT', `${NS}/frontends/bad`, { body: { spec: { binds: [{ port: 70000 }] } }, status: 422, valid: false });
  await send('PUT', `${NS}/frontends/bad`, { body: { spec: { binds: [{ port: 80 }], colour: 'red' } }, status: 422, valid: false });
  await send('PUT', `${NS}/backends/bad`, { body: { spec: { members: [{ name: 'a b', address: '127.0.0.1', port: 1 }] } }, status: 422, valid: false });
  await send('PATCH', `${NS}/backends/app/members/a`, { body: { state: 'off' }, status: 422, valid: false });
  await send('PATCH', `${NS}/backends/app/members/a`, { body: {}, status: 422, valid: false });
  await send('PATCH', `${NS}/backends/app/members/a`, { body: { weight: 300 }, status: 422, valid: false });
  await send('PUT', '/frontends/bad', { body: { bind: '*:80', colour: 'red' }, status: 422, valid: false });
  await send('PUT', '/backends/bad', { body: { type: 'static', members: [{ host: '127.0.0.1', port: 99999 }] }, status: 422, valid: false });
  const r405 = await call(port, 'POST', `${NS}/frontends/web`, { body: {}, token: TOKEN });
  assert.equal(r405.status, 405);
  assert.deepEqual(
    checker.checkResponse('GET', `${NS}/frontends/web`, r405.status, r405.headers['content-type'], r405.text),
    [],
    '405 has the error shape ("default")',
  );

  // Secrets and ConfigMaps: written, read back redacted, dry runs, deleted; a bad one is refused with the field.
  const cert = selfSignedCert('openapi.example.com');
  const secret = tlsSecret('default', 'site-cert', cert);
  await send('PUT', `${NS}/secrets/site-cert?dryRun=true`, { body: secret, status: 200 });
  const created = await send('PUT', `${NS}/secrets/site-cert`, { body: secret, status: 201 });
  assert.ok(!created.text.includes(cert.keyMarker), 'the answer holds no key');
  await send('PUT', `${NS}/secrets/site-cert?wait=true`, {
    body: { ...secret, data: undefined, stringData: { 'tls.crt': cert.cert, 'tls.key': cert.key } },
    status: 200,
  });
  await send('GET', `${NS}/secrets/site-cert`, { status: 200 });
  await send('GET', `${NS}/secrets`, { status: 200 });
  await send('PUT', `${NS}/secrets/site-cert`, { body: { ...secret, data: { 'tls.crt': '%%%' } }, status: 422, valid: true });
  await send('DELETE', `${NS}/secrets/site-cert?dryRun=true`, { status: 200 });
  await send('DELETE', `${NS}/secrets/site-cert`, { status: 200 });
  await send('GET', `${NS}/secrets/site-cert`, { status: 404 });
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'client-ca' }, data: { 'ca.crt': cert.cert } };
  await send('PUT', `${NS}/configmaps/client-ca?dryRun=true`, { body: cm, status: 200 });
  await send('PUT', `${NS}/configmaps/client-ca`, { body: cm, status: 201 });
  await send('PUT', `${NS}/configmaps/client-ca`, { body: cm, status: 200 });
  await send('GET', `${NS}/configmaps/client-ca`, { status: 200 });
  await send('GET', `${NS}/configmaps`, { status: 200 });
  await send('DELETE', `${NS}/configmaps/client-ca?dryRun=true`, { status: 200 });
  await send('DELETE', `${NS}/configmaps/client-ca`, { status: 200 });

  // ?force deletes a backend still in use; then the rest goes.
  await send('DELETE', `${NS}/backends/app?force=true&wait=true`, { status: 200 });
  await send('DELETE', `${NS}/frontends/web?wait=true`, { status: 200 });

  // Every operation was exercised with a success.
  const ops = Object.values(served.json.paths as Record<string, Record<string, { operationId: string }>>).flatMap((item) =>
    Object.values(item).map((op) => op.operationId),
  );
  const untested = ops.filter((id) => ![...checker.seen].some((s) => s.startsWith(`${id} 2`)));
  assert.deepEqual(untested, [], 'operations never answered with a success');

  // The check can fail: a tampered answer, a status the document does not give, a content type it does not name.
  const view = (await call(port, 'GET', `${NS}/backends/spare`)).text;
  assert.deepEqual(checker.checkResponse('GET', `${NS}/backends/spare`, 200, 'application/json', view), []);
  const noStatus = JSON.parse(view);
  delete noStatus.status;
  assert.notDeepEqual(checker.checkResponse('GET', `${NS}/backends/spare`, 200, 'application/json', JSON.stringify(noStatus)), []);
  assert.notDeepEqual(checker.checkResponse('GET', `${NS}/backends/spare`, 200, 'application/json', JSON.stringify({ ...JSON.parse(view), extra: 1 })), []);
  const badMember = JSON.parse(view);
  badMember.spec.members = [{ name: 'x', address: '127.0.0.1', port: 1, weight: 100, state: 'asleep' }];
  assert.notDeepEqual(checker.checkResponse('GET', `${NS}/backends/spare`, 200, 'application/json', JSON.stringify(badMember)), []);
  assert.notDeepEqual(checker.checkResponse('GET', '/api/v1/config', 200, 'application/json', '{}'), []);
  assert.notDeepEqual(checker.checkRequest('GET', `${NS}/backends/spare?colour=red`), []);
  assert.notDeepEqual(checker.checkRequest('PUT', `${NS}/backends/Not_A_Name`, { spec: {} }), []);
});

test('with --api-auth-reads the document says reads need the token, and serving it needs the token too', async (t) => {
  const fx = await startRestController(t, { apiAuthReads: true });
  const none = await call(fx.api.port, 'GET', '/api/v1/openapi.json');
  assert.equal(none.status, 401);
  const r = await call(fx.api.port, 'GET', '/api/v1/openapi.json', { token: TOKEN });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.paths['/api/v1/frontends'].get.security, [{ bearerAuth: [] }]);
  const checker = new OpenApiChecker(r.json);
  assert.deepEqual(checker.checkResponse('GET', '/api/v1/status', none.status, none.headers['content-type'], none.text), [], '401 is described on reads');
});

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
