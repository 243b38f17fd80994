/**
 * The REST API in our own shape, against a real controller and HAProxy 2.6:
 * every route with and without the token (reads too with --api-auth-reads),
 * malformed and oversized bodies, schema violations, injection attempts,
 * unknown names; a PUT changes live routing; member admin without a reload; a
 * restart keeps what the API declared.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startController } from '../../src/controller.js';
import { silentLogger } from '../../src/log.js';
import { REST_STATE_FILE } from '../../src/sources/rest/rest-source.js';
import { API_VERSION } from '../helpers/controller.js';
import { freePort, HAPROXY_BIN, tempStateDir } from '../helpers/haproxy.js';
import { call, eventually, startRestController, TOKEN, tokenFile, type Api } from '../helpers/rest.js';
import { streamClient } from '../helpers/observe-ws.js';
import { httpGet, sampleBodies, startUpstreams, waitForHttp, type Upstream } from '../helpers/upstream.js';

const NS = '/api/v1/namespaces/default';

const backend = (members: { name: string; port: number; state?: string; weight?: number }[]) => ({
  spec: { members: members.map((m) => ({ address: '127.0.0.1', ...m })) },
});

const frontend = (port: number, defaultBackend: string, rules: unknown[] = []) => ({
  spec: { binds: [{ address: '127.0.0.1', port }], defaultBackend, rules },
});

/** Declares backend `app` (members a, b) and frontend `web` on a free port; returns the port. */
async function seed(api: Api, up: Record<string, Upstream>): Promise<number> {
  const port = await freePort();
  const b = await api.put(`${NS}/backends/app`, backend([{ name: 'a', port: up.a!.port }, ...(up.b ? [{ name: 'b', port: up.b.port }] : [])]));
  assert.equal(b.status, 201, b.text);
  const f = await api.put(`${NS}/frontends/web?wait=true`, frontend(port, 'app'));
  assert.equal(f.status, 201, f.text);
  await waitForHttp(port, (r) => r.status === 200);
  return port;
}

/** Every read route, ours and aqueduct's, on what `seed` declares. */
const READS = [
  '/api/v1/status',
  '/api/v1/config',
  '/api/v1/frontends',
  '/api/v1/backends',
  `${NS}/frontends`,
  `${NS}/backends`,
  `${NS}/frontends/web`,
  `${NS}/backends/app`,
  `${NS}/backends/app/members`,
  `${NS}/backends/app/members/a`,
  '/frontends',
  '/frontends/web',
  '/backends',
  '/backends/app',
  '/backends/app/members',
  '/haproxy/config',
];

/** 401 with a Bearer challenge without a token or with Basic credentials; 403 with a wrong token. */
async function assertNeedsToken(port: number, method: string, path: string, body?: unknown): Promise<void> {
  const none = await call(port, method, path, { body });
  assert.equal(none.status, 401, `${method} ${path} without a token: ${none.text}`);
  assert.equal(none.json.field, 'authorization');
  assert.match(none.headers['www-authenticate'] ?? '', /^Bearer realm=/);
  const basic = await call(port, method, path, { body, headers: { authorization: 'Basic dXNlcjpwYXNz' } });
  assert.equal(basic.status, 401, `${method} ${path} with Basic auth: ${basic.text}`);
  const wrong = await call(port, method, path, { body, token: `${TOKEN}x` });
  assert.equal(wrong.status, 403, `${method} ${path} with a wrong token: ${wrong.text}`);
  assert.match(wrong.json.message, /not valid/);
}

test('every route answers; changes need the bearer token: 401 without one, 403 with a wrong one', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const fx = await startRestController(t);
  const { api } = fx;
  await seed(api, up);
  const configBefore = fx.controller.reconciler.runningText;

  for (const path of READS) {
    const r = await api.get(path);
    assert.equal(r.status, 200, `GET ${path}: ${r.text}`);
  }

  const writes: [string, string, unknown][] = [
    ['PUT', `${NS}/frontends/web`, frontend(1, 'app')],
    ['PUT', `${NS}/backends/app`, backend([])],
    ['DELETE', `${NS}/frontends/web`, undefined],
    ['DELETE', `${NS}/backends/app`, undefined],
    ['PATCH', `${NS}/backends/app/members/a`, { state: 'maint' }],
    ['PUT', '/frontends/web', { bind: '127.0.0.1:1', backend: 'app' }],
    ['PUT', '/backends/app', { type: 'static', members: [] }],
    ['DELETE', '/frontends/web', undefined],
    ['DELETE', '/backends/app', undefined],
  ];
  for (const [method, path, body] of writes) await assertNeedsToken(api.port, method, path, body);
  assert.equal(fx.controller.reconciler.runningText, configBefore, 'refused requests changed nothing');
  assert.equal((await api.get(`${NS}/backends/app/members/a`)).json.state, 'ready');

  // The same routes with the token work.
  const del = await api.del(`${NS}/frontends/web?wait=true`);
  assert.equal(del.status, 200, del.text);
  assert.deepEqual(del.json, { deleted: { kind: 'Frontend', namespace: 'default', name: 'web' } });
  assert.equal((await api.get(`${NS}/frontends/web`)).status, 404);
  assert.doesNotMatch(fx.controller.reconciler.runningText ?? '', /frontend default_web/);

  const wrongMethod = await call(api.port, 'POST', `${NS}/frontends/web`, { body: {} });
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.allow, 'GET, PUT, DELETE');
  const unknown = await api.get('/api/v1/nothing-here');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error, 'NotFound');
});

test('without a token file the API is read-only: changes get 403', async (t) => {
  const fx = await startRestController(t, { token: null });
  const r = await call(fx.api.port, 'PUT', `${NS}/backends/app`, { body: backend([]), token: TOKEN });
  assert.equal(r.status, 403);
  assert.match(r.json.message, /--api-token-file/);
  assert.equal((await fx.api.get('/api/v1/backends')).status, 200);
});

test('--api-auth-reads: every API route needs the token, reads too (401, 403, 200), and so does /stream; /metrics, /healthz and /readyz stay open', async (t) => {
  const up = await startUpstreams(t, 'a');
  const fx = await startRestController(t, { apiAuthReads: true });
  const { api } = fx;
  await seed(api, up);

  for (const path of READS) {
    await assertNeedsToken(api.port, 'GET', path);
    const ok = await api.get(path, TOKEN);
    assert.equal(ok.status, 200, `GET ${path} with the token: ${ok.text}`);
  }
  const none = await api.get('/haproxy/config');
  assert.match(none.json.message, /reading this API .*Authorization: Bearer/);
  assert.doesNotMatch(none.text, /frontend default_web/);
  assert.match((await api.get('/haproxy/config', TOKEN)).text, /frontend default_web\n/);
  assert.equal((await call(api.port, 'HEAD', '/api/v1/config')).status, 401);
  assert.equal((await call(api.port, 'HEAD', '/api/v1/config', { token: TOKEN })).status, 200);
  // Changes: as without the flag.
  await assertNeedsToken(api.port, 'PATCH', `${NS}/backends/app/members/a`, { state: 'maint' });
  assert.equal((await api.patch(`${NS}/backends/app/members/a`, { weight: 7 })).status, 200);

  // Not the REST API: probes and Prometheus need no token.
  assert.equal((await api.get('/metrics')).status, 200);
  assert.equal((await api.get('/healthz')).status, 200);
  await eventually(
    () => api.get('/readyz'),
    (r) => r.status === 200,
    10_000,
    '/readyz 200 without a token',
  );
  assert.equal((await api.get('/stream')).status, 426, "a plain GET of /stream gets the stream's own answer");
  // The live stream shows what reads show: its upgrade needs the token.
  await assert.rejects(streamClient(t, api.port), /401/);
  const stream = await streamClient(t, api.port, '/stream', { authorization: `Bearer ${TOKEN}` });
  assert.ok(await stream.next());
});

test('--api-auth-reads without --api-token-file stops the start, naming both flags', async (t) => {
  await assert.rejects(
    startController({
      sources: ['rest'],
      stateDir: await tempStateDir(t),
      haproxyBin: HAPROXY_BIN,
      logger: silentLogger(),
      httpAddress: { address: '127.0.0.1', port: 0 },
      apiAuthReads: true,
    }),
    /--api-auth-reads needs .* no --api-token-file was given; pass --api-token-file FILE/,
  );
});

test('bad requests get a JSON error naming the field, and change nothing', async (t) => {
  const up = await startUpstreams(t, 'a');
  const fx = await startRestController(t, { apiMaxBodyBytes: 4096 });
  const { api } = fx;
  await seed(api, up);
  const before = fx.controller.reconciler.runningText;
  const reloads = await fx.controller.supervisor.reloadCount();

  const expect = async (r: Promise<import('../helpers/rest.js').ApiResponse>, status: number, field: string, message?: RegExp) => {
    const res = await r;
    assert.equal(res.status, status, res.text);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(res.json.field, field, res.text);
    assert.equal(res.json.statusCode, status);
    if (message) assert.match(res.json.message, message);
    return res;
  };
  const put = (path: string, o: Parameters<typeof call>[3]) => call(api.port, 'PUT', path, { token: TOKEN, ...o });

  // Malformed bodies.
  await expect(put(`${NS}/backends/app`, { body: '{"spec": {' }), 400, 'body', /not valid JSON/);
  await expect(put(`${NS}/backends/app`, { body: '[1, 2]' }), 400, 'body', /must be a JSON object/);
  await expect(put(`${NS}/backends/app`, { body: '' }), 400, 'body', /empty/);
  await expect(put('/backends/app', { body: 'spec: [', headers: { 'content-type': 'application/yaml' } }), 415, 'content-type');
  await expect(put(`${NS}/backends/app`, { body: 'members: x', headers: { 'content-type': 'text/plain' } }), 415, 'content-type');
  await expect(put(`${NS}/backends/app`, { body: 'spec: {members: [', headers: { 'content-type': 'application/yaml' } }), 400, 'body', /not valid YAML/);

  // Oversized bodies, announced or streamed.
  const big = JSON.stringify({ spec: { members: [], pad: 'x'.repeat(10_000) } });
  await expect(put(`${NS}/backends/app`, { body: big }), 413, 'body', /larger than 4096 bytes/);
  const streamed = await put(`${NS}/backends/app`, { body: big, chunked: true }).catch((err: Error) => err);
  if (!(streamed instanceof Error)) assert.equal(streamed.status, 413, streamed.text);

  // Schema violations name the field.
  await expect(put(`${NS}/frontends/web`, { body: frontend(70000, 'app') }), 422, 'spec.binds[0].port', /must be <= 65535/);
  await expect(put(`${NS}/frontends/web`, { body: { spec: { defaultBackend: 'app' } } }), 422, 'spec.binds', /is required/);
  await expect(put(`${NS}/frontends/web`, { body: { spec: { binds: [{ port: 1 }], bindz: [] } } }), 422, 'spec.bindz', /not a known field/);
  await expect(put(`${NS}/backends/app`, { body: backend([{ name: 'a', port: 1, weight: 999 }]) }), 422, 'spec.members[0].weight');
  await expect(put(`${NS}/backends/app`, { body: { metadata: { name: 'other' }, spec: {} } }), 422, 'metadata.name', /does not match the URL/);
  await expect(put(`${NS}/backends/App_1`, { body: { spec: {} } }), 422, 'metadata.name', /DNS-1123/);
  await expect(put('/api/v1/namespaces/Bad_NS/backends/app', { body: { spec: {} } }), 422, 'metadata.namespace');
  await expect(put(`${NS}/frontends/web`, { body: { kind: 'Backend', spec: {} } }), 422, 'kind', /does not match the URL/);
  // Every disagreement with the URL at once, each naming its field and the fix (the declare step, src/model/declare.ts).
  const all = await expect(
    put(`${NS}/frontends/web`, { body: { kind: 'Backend', metadata: { name: 'other', namespace: 'prod' }, spec: {} } }),
    422,
    'kind',
    /^Frontend default\/web: kind: "Backend" does not match the URL, which names "Frontend"; leave kind out or set it to "Frontend" \(and 2 more problems/,
  );
  assert.deepEqual(
    all.json.issues.map((i: { field: string; message: string }) => `${i.field}: ${i.message}`),
    [
      'kind: "Backend" does not match the URL, which names "Frontend"; leave kind out or set it to "Frontend"',
      'metadata.name: "other" does not match the URL, which names "web"; leave metadata.name out or set it to "web"',
      'metadata.namespace: "prod" does not match the URL, which names "default"; leave metadata.namespace out or set it to "default"',
    ],
  );
  await expect(put(`${NS}/frontends/web`, { body: { apiVersion: 'v1', spec: {} } }), 422, 'apiVersion');

  // Member administration.
  const patch = (path: string, body: unknown) => call(api.port, 'PATCH', path, { body, token: TOKEN });
  await expect(patch(`${NS}/backends/app/members/a`, { state: 'off' }), 422, 'state', /not one of/);
  await expect(patch(`${NS}/backends/app/members/a`, { weight: 300 }), 422, 'weight', /0 to 256/);
  await expect(patch(`${NS}/backends/app/members/a`, { weight: 1.5 }), 422, 'weight');
  await expect(patch(`${NS}/backends/app/members/a`, {}), 422, 'state');
  await expect(patch(`${NS}/backends/app/members/a`, { state: 'maint', colour: 'red' }), 422, 'colour');

  // Unknown names.
  await expect(api.get(`${NS}/frontends/nope`), 404, 'metadata.name', /Frontend default\/nope not found/);
  await expect(api.get(`${NS}/backends/app/members/zz`), 404, 'member', /has no member "zz"; its members are "a"/);
  await expect(patch(`${NS}/backends/app/members/zz`, { state: 'maint' }), 404, 'member');
  await expect(patch(`${NS}/backends/nope/members/a`, { state: 'maint' }), 404, 'metadata.name');
  await expect(api.del(`${NS}/backends/nope`), 404, 'metadata.name');
  await expect(api.get('/frontends/nope'), 404, 'key', /frontend nope not found/);
  await expect(api.del('/backends/nope'), 404, 'key');
  await expect(api.get('/backends/nope/members'), 404, 'key');
  await expect(api.get(`${NS}/frontends/%E0%A4%A`), 400, 'path');

  assert.equal(fx.controller.reconciler.runningText, before, 'nothing reached HAProxy');
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'no reload');
});

test('injection attempts are refused before they reach haproxy.cfg', async (t) => {
  const up = await startUpstreams(t, 'a');
  const fx = await startRestController(t);
  const { api } = fx;
  const port = await seed(api, up);
  const before = fx.controller.reconciler.runningText!;
  const rule = (r: Record<string, unknown>) => frontend(port, 'app', [{ backend: 'app', ...r }]);
  const attempts: [string, unknown, string][] = [
    [`${NS}/frontends/web`, rule({ host: 'a.example.com\n    use_backend evil' }), 'spec.rules[0].host'],
    [`${NS}/frontends/web`, rule({ pathPrefix: '/x # evil' }), 'spec.rules[0].pathPrefix'],
    [`${NS}/frontends/web`, rule({ pathPrefix: '/x\r\nbackend evil' }), 'spec.rules[0].pathPrefix'],
    [`${NS}/frontends/web`, rule({ header: { name: 'X-A', value: 'yes" evil' } }), 'spec.rules[0].header.value'],
    [`${NS}/frontends/web`, rule({ header: { name: 'X-A) or evil(', value: 'x' } }), 'spec.rules[0].header.name'],
    [`${NS}/frontends/web`, { spec: { binds: [{ address: '127.0.0.1 ssl crt /etc/shadow', port }], defaultBackend: 'app' } }, 'spec.binds[0].address'],
    [
      `${NS}/backends/app`,
      backend([
        { name: 'a', port: up.a!.port },
        { name: 'evil\nserver x 10.0.0.1:80', port: 80 },
      ]),
      'spec.members[1].name',
    ],
    [`${NS}/backends/app`, { spec: { members: [{ name: 'a', address: '127.0.0.1:80 backup', port: 80 }] } }, 'spec.members[0].address'],
    [`${NS}/backends/app`, { spec: { healthCheck: { type: 'http', path: '/ HTTP/1.1\\r\\nHost: evil' } } }, 'spec.healthCheck.path'],
    [
      `${NS}/backends/app`,
      { metadata: { annotations: { 'haproxy.node-haproxy.io/raw-config': '["http-request deny"]' } }, spec: {} },
      'metadata.annotations["haproxy.node-haproxy.io/raw-config"]',
    ],
    ['/frontends/web', { bind: `127.0.0.1:${port} ssl crt /etc/shadow`, backend: 'app' }, 'bind'],
    [
      '/frontends/web',
      { bind: `127.0.0.1:${port}`, backend: 'app', rules: [{ type: 'path', operation: 'path_beg', value: '/a\nuse_backend evil', backend: 'app' }] },
      'rules[0].value',
    ],
    ['/frontends/web', { bind: `127.0.0.1:${port}`, backend: 'app', natives: ['http-request deny'] }, 'natives'],
    ['/backends/app', { type: 'static', members: [{ host: '127.0.0.1 check', port: 80 }] }, 'members[0].host'],
    ['/backends/app', { type: 'static', host: 'x.com\nbackend evil', members: [] }, 'host'],
  ];
  for (const [path, body, field] of attempts) {
    const r = await api.put(path, body);
    assert.equal(r.status, 422, `${path} ${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.field, field, r.text);
  }
  // A newline in the URL's name never becomes a name either.
  const nl = await api.put(`${NS}/backends/app%0Abackend%20evil`, { spec: {} });
  assert.equal(nl.status, 422);
  assert.equal(nl.json.field, 'metadata.name');
  assert.equal(fx.controller.reconciler.runningText, before);
  assert.doesNotMatch(await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8'), /evil/);
});

test('raw configuration, when enabled, is checked line by line and by haproxy -c', async (t) => {
  const up = await startUpstreams(t, 'a');
  const fx = await startRestController(t, { allowRawConfig: true });
  const { api } = fx;
  const port = await seed(api, up);
  const before = fx.controller.reconciler.runningText;
  const refused: [string[], string, RegExp][] = [
    [['http-response set-header X-A a\nbackend evil'], 'natives[0]', /newline/],
    [['option httplog', 'http-request deny # evil'], 'natives[1]', /comment/],
    [['backend evil'], 'natives[0]', /opens a new section/],
    [['server evil 10.0.0.1:80'], 'natives[0]', /managed by node-haproxy/],
    [['bind :80'], 'natives[0]', /managed by node-haproxy/],
    [['http-request set-header X-Only-Name'], 'natives', /HAProxy rejects/], // passes the allow-list; HAProxy wants a value
  ];
  for (const [natives, field, message] of refused) {
    const r = await api.put('/frontends/web', { bind: `127.0.0.1:${port}`, backend: 'app', natives });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.field, field, r.text);
    assert.match(r.json.message, message);
  }
  assert.equal(fx.controller.reconciler.runningText, before);

  const ok = await api.put('/frontends/web?wait=true', { bind: `127.0.0.1:${port}`, backend: 'app', natives: ['http-response set-header X-Native yes'] });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json.natives, ['http-response set-header X-Native yes']);
  assert.match(fx.controller.reconciler.runningText ?? '', /\n {4}http-response set-header X-Native yes\n/);
  const seen = await eventually(
    () => fetch(`http://127.0.0.1:${port}/`).then((r) => r.headers.get('x-native')),
    (v) => v === 'yes',
    5000,
    'the native header on responses',
  );
  assert.equal(seen, 'yes');
});

test('a PUT changes live routing through HAProxy', async (t) => {
  const up = await startUpstreams(t, 'a', 'b', 'api');
  const fx = await startRestController(t);
  const { api } = fx;
  const port = await freePort();
  assert.equal((await api.put(`${NS}/backends/app`, backend([{ name: 'a', port: up.a!.port }]))).status, 201);
  assert.equal((await api.put(`${NS}/backends/api`, backend([{ name: 'api', port: up.api!.port }]))).status, 201);
  const created = await api.put(`${NS}/frontends/web?wait=true`, frontend(port, 'app', [{ pathPrefix: '/api', backend: 'api' }]));
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.status.conditions[0].status, 'True', created.text);
  assert.equal((await waitForHttp(port, (r) => r.status === 200)).body, 'a');
  assert.equal((await httpGet(port, '/api/users')).body, 'api');

  // Replace: the default backend moves to b (a new member set), the rule goes.
  assert.equal((await api.put(`${NS}/backends/app`, backend([{ name: 'b', port: up.b!.port }]))).status, 200);
  const replaced = await api.put(`${NS}/frontends/web?wait=true`, frontend(port, 'app'));
  assert.equal(replaced.status, 200, replaced.text);
  await waitForHttp(port, (r) => r.body === 'b');
  assert.equal((await httpGet(port, '/api/users')).body, 'b');

  // A reference to a backend that does not exist is accepted as written and reported; the last good version keeps serving.
  const dangling = await api.put(`${NS}/frontends/web?wait=true`, frontend(port, 'missing'));
  assert.equal(dangling.status, 200);
  assert.equal(dangling.json.status.conditions[0].reason, 'BackendNotFound', dangling.text);
  assert.equal(dangling.json.status.serving, 'previous version');
  assert.equal((await httpGet(port)).body, 'b');
  const status = await api.get('/api/v1/status');
  assert.equal(status.json.rejected[0].resource, 'Frontend/default/web');
});

test('a member set to maint stops receiving traffic at once, without a reload, and stays so across reloads', async (t) => {
  const up = await startUpstreams(t, 'a', 'b');
  const fx = await startRestController(t);
  const { api } = fx;
  const port = await seed(api, up);
  await eventually(
    () => sampleBodies(port, 10),
    (m) => (m.get('200 a') ?? 0) > 0 && (m.get('200 b') ?? 0) > 0,
    10_000,
    'both members serving',
  );
  const reloads = await fx.controller.supervisor.reloadCount();
  const passes = fx.passes.length;

  const maint = await api.patch(`${NS}/backends/app/members/b`, { state: 'maint' });
  assert.equal(maint.status, 200, maint.text);
  assert.equal(maint.json.live.applied, true, maint.text);
  assert.equal(maint.json.member.state, 'maint');
  // At once: the answer came after HAProxy took it.
  assert.deepEqual([...(await sampleBodies(port, 20))], [['200 a', 20]]);
  const member = await api.get(`${NS}/backends/app/members/b`);
  assert.equal(member.json.state, 'maint');
  assert.equal(member.json.live.admin, 'maint');

  // The desired state has it too: the reconciler's pass is a runtime plan (or nothing), never a reload.
  await eventually(
    async () => fx.controller.reconciler.runningText ?? '',
    (text) => /server b 127\.0\.0\.1:\d+ weight 100\b.* disabled\n/.test(text),
    5000,
    'b disabled in the running config',
  );
  await fx.controller.reconciler.settled();
  const kinds = fx.passes.slice(passes).map((p) => p.kind);
  assert.ok(
    kinds.every((k) => k === 'runtime' || k === 'noop'),
    `passes after the change: ${kinds.join(', ')}`,
  );
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'no reload');

  // Weight and drain.
  const w = await api.patch(`${NS}/backends/app/members/a`, { weight: 7 });
  assert.equal(w.status, 200, w.text);
  assert.equal((await api.get(`${NS}/backends/app/members/a`)).json.live.weight, 7);
  const drain = await api.patch(`${NS}/backends/app/members/a`, { state: 'drain' });
  assert.equal(drain.status, 200);
  assert.equal((await api.get(`${NS}/backends/app/members/a`)).json.live.weight, 0);
  const back = await api.patch(`${NS}/backends/app/members/b`, { state: 'ready' });
  assert.equal(back.status, 200);
  assert.deepEqual([...(await sampleBodies(port, 10))], [['200 b', 10]], 'a drains (weight 0), b is back');
  await fx.controller.reconciler.settled();
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'still no reload');

  // A structural change reloads HAProxy; the member states declared through the API survive it.
  await api.patch(`${NS}/backends/app/members/a`, { state: 'ready' });
  await api.patch(`${NS}/backends/app/members/b`, { state: 'maint' });
  const reloaded = await api.put(`${NS}/frontends/web?wait=true`, { spec: { ...frontend(port, 'app').spec, forwardFor: false } });
  assert.equal(reloaded.status, 200);
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads + 1);
  assert.deepEqual([...(await sampleBodies(port, 10))], [['200 a', 10]]);

  // b is `disabled` in the running file now; set ready at runtime, it serves and reads as ready.
  assert.equal((await api.patch(`${NS}/backends/app/members/b`, { state: 'ready' })).status, 200);
  assert.equal((await api.get(`${NS}/backends/app/members/b`)).json.live.admin, 'ready');
  const both = await sampleBodies(port, 10);
  assert.ok((both.get('200 b') ?? 0) > 0, `b serves again: ${JSON.stringify([...both])}`);
});

test('a restart keeps what the API declared (saved atomically in the state directory)', async (t) => {
  const up = await startUpstreams(t, 'a');
  const stateDir = await tempStateDir(t);
  const first = await startRestController(t, { stateDir });
  const port = await seed(first.api, up);
  assert.equal((await first.api.patch(`${NS}/backends/app/members/a`, { weight: 42 })).status, 200);
  await first.controller.stop({ stopHaproxy: true });
  const saved = JSON.parse(await readFile(join(stateDir, REST_STATE_FILE), 'utf8')) as { resources: { metadata: { name: string } }[] };
  assert.deepEqual(saved.resources.map((r) => r.metadata.name).sort(), ['app', 'web']);
  await assert.rejects(httpGet(port, '/', 500), 'HAProxy is stopped');

  const second = await startRestController(t, { stateDir });
  assert.equal((await waitForHttp(port, (r) => r.status === 200)).body, 'a');
  const list = await second.api.get('/api/v1/backends');
  assert.equal(list.json.items.length, 1);
  assert.equal(list.json.items[0].spec.members[0].weight, 42);
  assert.equal(list.json.items[0].status.source, 'rest');

  // A damaged file stops the start with a message that says what to do.
  await second.controller.stop({ stopHaproxy: true });
  await writeFile(join(stateDir, REST_STATE_FILE), '{"version": 1, "resources": [');
  await assert.rejects(
    startController({
      sources: ['rest'],
      stateDir,
      haproxyBin: HAPROXY_BIN,
      logger: silentLogger(),
      httpAddress: { address: '127.0.0.1', port: 0 },
      apiTokenFile: await tokenFile(t),
    }),
    /rest-resources\.json is damaged .*restore it from a backup, or delete it/,
  );
});

test('the API does not touch what another source declares: 409 naming it', async (t) => {
  const up = await startUpstreams(t, 'a');
  const fx = await startRestController(t, {
    withManifests: true,
    files: {
      'app.yaml': `apiVersion: ${API_VERSION}\nkind: Backend\nmetadata:\n  name: app\nspec:\n  members:\n    - { name: a, address: 127.0.0.1, port: ${up.a!.port} }\n`,
    },
  });
  const { api } = fx;
  const put = await api.put(`${NS}/backends/app`, backend([]));
  assert.equal(put.status, 409, put.text);
  assert.match(put.json.message, /Backend default\/app is declared by app\.yaml#1 \(source files:.*\); change it there/);
  assert.equal((await api.patch(`${NS}/backends/app/members/a`, { state: 'maint' })).status, 409);
  assert.equal((await api.del(`${NS}/backends/app`)).status, 409);
  assert.equal((await api.get(`${NS}/backends/app`)).json.status.source.startsWith('files:'), true);
});

test('the REST view names the rule whose backend is missing, and how each rule is routed', async (t) => {
  const up = await startUpstreams(t, 'a');
  const fx = await startRestController(t);
  const { api } = fx;
  const port = await freePort();
  assert.equal((await api.put(`${NS}/backends/app`, backend([{ name: 'a', port: up.a!.port }]))).status, 201);
  const rules = [
    { pathPrefix: '/a', backend: 'app' },
    { header: { name: 'X-Env', value: 'beta' }, backend: 'app' },
  ];
  const ok = await api.put(`${NS}/frontends/web?wait=true`, frontend(port, 'app', rules));
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.json.status.conditions[0].status, 'True', ok.text);
  assert.match(ok.json.status.conditions[0].message, /rules routed by map \(runtime\): 0; by ACL \(reload on change\): 1/);

  const dangling = await api.put(`${NS}/frontends/web?wait=true`, frontend(port, 'app', [...rules, { pathPrefix: '/b', backend: 'missing' }]));
  assert.equal(dangling.status, 200, dangling.text);
  const c = dangling.json.status.conditions[0];
  assert.equal(c.reason, 'BackendNotFound', dangling.text);
  assert.match(c.message, /rule 2: backend "missing" does not exist/);
  const read = await api.get(`${NS}/frontends/web`);
  assert.match(read.json.status.conditions[0].message, /rule 2: backend "missing" does not exist/);
  assert.equal((await httpGet(port, '/a')).body, 'a');
});
