/**
 * Issue 13, item 4: what thalassa-aqueduct accepted and node-haproxy used to
 * refuse, driven through aqueduct's routes against a real HAProxy 2.6 with
 * real requests: hashing algorithms (uri, url_param, hdr) that still take
 * members at run time, POST health checks, keys like `My_App`; and what is
 * still refused says which field and why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../helpers/haproxy.js';
import { call, eventually, startRestController, TOKEN } from '../helpers/rest.js';
import { httpGet, startUpstreams, waitForHttp } from '../helpers/upstream.js';

const put = (port: number, path: string, body: unknown) => call(port, 'PUT', path, { body, token: TOKEN });
const get = (port: number, path: string) => call(port, 'GET', path, { token: null });

/** Which upstream answers each of `users`, by url_param / header / path. */
async function answers(port: number, users: string[], how: 'param' | 'header' | 'uri'): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const u of users) {
    const r =
      how === 'param'
        ? await httpGet(port, `/?userid=${u}`)
        : how === 'header'
          ? await httpGet(port, '/', 3000, { 'x-user': u })
          : await httpGet(port, `/files/${u}`);
    assert.equal(r.status, 200, `${how} ${u}: ${r.body}`);
    out.set(u, r.body);
  }
  return out;
}

const USERS = Array.from({ length: 40 }, (_, i) => `user${i}`);

test('aqueduct balance uri / url_param / hdr: sticky per key, members added at run time without a reload', async (t) => {
  const up = await startUpstreams(t, 'a', 'b', 'c');
  const fx = await startRestController(t);
  const api = fx.api.port;
  const members = (...names: string[]) => names.map((n) => ({ host: '127.0.0.1', port: up[n]!.port }));

  for (const [balance, how] of [
    ['url_param userid', 'param'],
    ['hdr(X-User)', 'header'],
    ['uri', 'uri'],
  ] as const) {
    const key = `Hash_${how}`;
    let r = await put(api, `/backends/${key}?wait=true`, { type: 'static', balance, members: members('a', 'b') });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.balance, balance, 'the answer gives back the balance as written');
    assert.equal(r.json.key, key);
    const port = await freePort();
    r = await put(api, `/frontends/Front_${how}?wait=true`, { bind: `127.0.0.1:${port}`, backend: key });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status.conditions[0].status, 'True', r.text);
    await waitForHttp(port, (x) => x.status === 200);
    await fx.controller.reconciler.settled();
    const config = (await get(api, '/haproxy/config')).text;
    assert.match(
      config,
      new RegExp(`backend default_hash-${how}\\n {4}mode http\\n {4}balance ${balance.replace(/[()]/g, '\\$&')}\\n {4}hash-type consistent\\n`),
    );

    // The same key always reaches the same member; different keys spread over both.
    const first = await answers(port, USERS, how);
    assert.deepEqual(await answers(port, USERS, how), first, `${balance}: each key sticks to its member`);
    assert.deepEqual(new Set(first.values()), new Set(['a', 'b']), `${balance}: keys spread over both members`);

    // A third member joins through the runtime API (add server works with hash-type consistent): no reload.
    const reloads = await fx.controller.supervisor.reloadCount();
    r = await put(api, `/backends/${key}?wait=true`, { type: 'static', balance, members: members('a', 'b', 'c') });
    assert.equal(r.status, 200, r.text);
    const after = await eventually(
      () => answers(port, USERS, how),
      (m) => [...m.values()].includes('c'),
      10_000,
      `${balance}: keys reach the new member`,
    );
    assert.equal(await fx.controller.supervisor.reloadCount(), reloads, `${balance}: the member was added without a reload`);
    // Consistent hashing: keys that did not move to the new member stay where they were.
    for (const [u, m] of after) if (m !== 'c') assert.equal(m, first.get(u), `${balance}: ${u} kept its member`);

    // Weight 0 takes the new member out of the hash at run time too (set server weight with hash-type consistent).
    r = await put(api, `/backends/${key}?wait=true`, { type: 'static', balance, members: [...members('a', 'b'), { ...members('c')[0]!, weight: 0 }] });
    assert.equal(r.status, 200, r.text);
    await eventually(
      () => answers(port, USERS, how),
      (m) => ![...m.values()].includes('c'),
      10_000,
      `${balance}: keys leave the weight-0 member`,
    );
    assert.equal(await fx.controller.supervisor.reloadCount(), reloads, `${balance}: the weight changed without a reload`);
  }
});

test('aqueduct health.method POST: HAProxy checks members with POST', async (t) => {
  const methods: string[] = [];
  const server = createServer((req, res) => {
    if (req.url === '/health') methods.push(req.method ?? '');
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  const fx = await startRestController(t);
  const r = await put(fx.api.port, '/backends/checked?wait=true', {
    type: 'static',
    health: { method: 'POST', uri: '/health', httpVersion: 'HTTP/1.0', interval: 200 },
    members: [{ host: '127.0.0.1', port: (server.address() as AddressInfo).port }],
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.health.method, 'POST');
  await eventually(
    async () => methods.length,
    (n) => n >= 2,
    10_000,
    'health checks reach the member',
  );
  assert.deepEqual(new Set(methods), new Set(['POST']));
});

test('aqueduct keys with capitals or "_": served, shown as written, collisions refused with 409', async (t) => {
  const up = await startUpstreams(t, 'app');
  const fx = await startRestController(t);
  const api = fx.api.port;
  const port = await freePort();
  let r = await put(api, '/backends/My_App', { type: 'static', members: [{ host: '127.0.0.1', port: up.app!.port }] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.json.key, r.json.id], ['My_App', 'backend/My_App']);
  r = await put(api, '/frontends/My_Site?wait=true', { bind: `127.0.0.1:${port}`, backend: 'My_App' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status.conditions[0].status, 'True', r.text);
  assert.equal((await waitForHttp(port, (x) => x.status === 200)).body, 'app', 'the frontend serves through the mapped backend');

  r = await get(api, '/frontends/My_Site');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.json.key, r.json.name, r.json.id, r.json.backend], ['My_Site', 'My_Site', 'frontend/My_Site', 'My_App']);
  assert.deepEqual(
    (await get(api, '/backends')).json.map((b: { key: string }) => b.key),
    ['My_App'],
  );
  assert.deepEqual(
    (await get(api, '/frontends')).json.map((f: { key: string }) => f.key),
    ['My_Site'],
  );
  assert.equal((await get(api, '/backends/My_App/members')).json.length, 1);
  // Our routes show the resource name the key maps to.
  assert.equal((await get(api, '/api/v1/namespaces/default/backends/my-app')).status, 200);

  // Another key mapping to the same name is another key: not found, and a PUT is a conflict.
  assert.equal((await get(api, '/backends/my_app')).status, 404);
  assert.equal((await call(api, 'DELETE', '/backends/MY_APP', { token: TOKEN })).status, 404);
  r = await put(api, '/backends/my-app', { type: 'static', members: [] });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.field, 'key');
  assert.match(r.json.message, /"my-app" maps to the resource name "my-app", which the key "My_App" already holds/);
  assert.equal((await httpGet(port, '/')).body, 'app', 'the refused PUT changed nothing');

  // The key as written deletes; a backend still in use is named by its key.
  r = await call(api, 'DELETE', '/backends/My_App', { token: TOKEN });
  assert.equal(r.status, 409, r.text);
  assert.match(r.json.message, /^backend My_App is still used by frontend My_Site;/);
  assert.equal((await call(api, 'DELETE', '/frontends/My_Site', { token: TOKEN })).status, 200);
  assert.equal((await call(api, 'DELETE', '/backends/My_App', { token: TOKEN })).status, 200);
  assert.deepEqual((await get(api, '/backends')).json, []);
});

test('what aqueduct accepted and node-haproxy still refuses names the field and says why', async (t) => {
  const fx = await startRestController(t);
  const api = fx.api.port;
  let r = await put(api, '/backends/app', { type: 'static', members: [] });
  assert.equal(r.status, 200, r.text);
  for (const operation of ['url_reg', 'url']) {
    r = await put(api, '/frontends/web', { bind: '127.0.0.1:1', rules: [{ type: 'url', operation, value: '/a?b=1', backend: 'app' }] });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.field, 'rules[0].operation');
    assert.match(r.json.message, /with a query is not supported: .*use "path"\/"path_reg"/);
  }
  r = await put(api, '/backends/app', { type: 'static', host: 'app.example.com', members: [] });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.field, 'host');
  assert.match(r.json.message, /no Host rewrite field yet.*--allow-raw-config/);
  r = await put(api, '/backends/app', { type: 'static', balance: 'uri whole', members: [] });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.field, 'balance');
  assert.match(r.json.message, /uri depth\/whole/);
  r = await put(api, '/backends/app', { type: 'static', mode: 'tcp', balance: 'hdr(X-User)', members: [] });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.field, 'balance');
  assert.match(r.json.message, /needs mode "http"/);
});
