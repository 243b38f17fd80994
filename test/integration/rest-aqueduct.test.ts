/**
 * thalassa-aqueduct compatibility: a client written against aqueduct's
 * documented routes and payloads (its README) drives routing through a real
 * HAProxy 2.6, end to end. The only change such a client needs is the
 * Authorization header on PUT and DELETE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { freePort } from '../helpers/haproxy.js';
import { call, eventually, startRestController, TOKEN, type ApiResponse } from '../helpers/rest.js';
import { httpGet, startUpstreams, waitForHttp } from '../helpers/upstream.js';

/** The aqueduct client: its routes, its payloads, JSON in and out. */
class AqueductClient {
  constructor(
    private readonly port: number,
    private readonly token: string,
  ) {}
  private send(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    return call(this.port, method, path, { body, token: method === 'GET' ? null : this.token });
  }
  getFrontends = () => this.send('GET', '/frontends');
  getFrontend = (key: string) => this.send('GET', `/frontends/${key}`);
  putFrontend = (key: string, fe: unknown) => this.send('PUT', `/frontends/${key}`, fe);
  deleteFrontend = (key: string) => this.send('DELETE', `/frontends/${key}`);
  getBackends = () => this.send('GET', '/backends');
  getBackend = (key: string) => this.send('GET', `/backends/${key}`);
  getBackendMembers = (key: string) => this.send('GET', `/backends/${key}/members`);
  putBackend = (key: string, be: unknown) => this.send('PUT', `/backends/${key}`, be);
  deleteBackend = (key: string) => this.send('DELETE', `/backends/${key}`);
  getConfig = () => this.send('GET', '/haproxy/config');
}

/** GET with a Host header on a fresh connection. */
function getHost(port: number, host: string, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('an aqueduct client drives routing end to end', async (t) => {
  const up = await startUpstreams(t, 'live-1', 'live-2', 'staged-1');
  const fx = await startRestController(t);
  const aq = new AqueductClient(fx.api.port, TOKEN);
  const [p1, p2] = [await freePort(), await freePort()];

  // Backends as aqueduct's README shows them: a dynamic one with Thalassa's name/version/meta, a static one.
  const live = {
    type: 'dynamic',
    name: 'myapp',
    version: '1.0.0',
    balance: 'roundrobin',
    host: null,
    mode: 'http',
    health: { method: 'GET', uri: '/', httpVersion: 'HTTP/1.0', interval: 500 },
    members: [{ name: 'myapp', version: '1.0.0', host: '127.0.0.1', port: up['live-1']!.port, meta: { hostname: 'live-1', pid: 17941 } }],
    natives: [],
  };
  let r = await aq.putBackend('live', live);
  assert.equal(r.status, 200, r.text);
  r = await aq.putBackend('staged', { type: 'static', members: [{ host: '127.0.0.1', port: up['staged-1']!.port }] });
  assert.equal(r.status, 200, r.text);
  const fe = {
    bind: `127.0.0.1:${p1},127.0.0.1:${p2}`,
    backend: 'live',
    mode: 'http',
    keepalive: 'default',
    rules: [
      { type: 'header', header: 'host', operation: 'hdr_dom', value: 'staged.myapp.com', backend: 'staged' },
      { type: 'path', operation: 'path_beg', value: '/beta/', backend: 'staged' },
    ],
    natives: [],
  };
  r = await aq.putFrontend('myapp', fe);
  assert.equal(r.status, 200, r.text);

  await waitForHttp(p1, (res) => res.status === 200 && res.body === 'live-1');
  assert.equal(await getHost(p1, 'myapp.com'), '200 live-1');
  assert.equal(await getHost(p1, 'staged.myapp.com'), '200 staged-1');
  assert.equal(await getHost(p1, 'eu.staged.myapp.com:8080'), '200 staged-1', 'hdr_dom matches subdomains, port ignored');
  assert.equal(await getHost(p1, 'notstaged.myapp.com'), '200 live-1');
  assert.equal((await httpGet(p1, '/beta/page')).body, 'staged-1');
  assert.equal((await waitForHttp(p2, (res) => res.status === 200)).body, 'live-1', 'second bind');

  // Reads give back what was written, in aqueduct's shape.
  const frontends = await aq.getFrontends();
  assert.equal(frontends.status, 200);
  assert.deepEqual(frontends.json, [{ id: 'frontend/myapp', _type: 'frontend', key: 'myapp', name: 'myapp', ...fe }]);
  const got = await aq.getBackend('live');
  assert.equal(got.json.id, 'backend/live');
  assert.equal(got.json.key, 'live');
  assert.equal(got.json.type, 'dynamic');
  assert.equal(got.json.name, 'myapp');
  assert.equal(got.json.version, '1.0.0');
  assert.deepEqual(got.json.health, live.health);
  const members = await aq.getBackendMembers('live');
  assert.deepEqual(
    members.json.map((m: Record<string, unknown>) => ({ id: m.id, name: m.name, version: m.version, host: m.host, port: m.port, meta: m.meta })),
    [
      {
        id: `/myapp/1.0.0/127.0.0.1/${up['live-1']!.port}`,
        name: 'myapp',
        version: '1.0.0',
        host: '127.0.0.1',
        port: up['live-1']!.port,
        meta: { hostname: 'live-1', pid: 17941 },
      },
    ],
  );
  assert.deepEqual(
    (await aq.getBackends()).json.map((b: { key: string }) => b.key),
    ['live', 'staged'],
  );
  await fx.controller.reconciler.settled(); // the reload pass ends a little after the new worker serves
  const config = await aq.getConfig();
  assert.match(config.headers['content-type'] ?? '', /^text\/plain/);
  assert.match(config.text, new RegExp(`frontend default_myapp\\n[^]*bind 127\\.0\\.0\\.1:${p1}\\n`));
  assert.match(config.text, /option httpchk\n {4}http-check send meth GET uri \/\n/);

  // GET then PUT back, as clients do: nothing changes.
  const configBefore = fx.controller.reconciler.runningText;
  assert.equal((await aq.putBackend('live', got.json)).status, 200);
  assert.equal((await aq.putFrontend('myapp', frontends.json[0])).status, 200);
  await fx.controller.reconciler.settled();
  assert.equal(fx.controller.reconciler.runningText, configBefore);

  // A new version deploys: Thalassa's registrations move the members; traffic follows, without a reload.
  const reloads = await fx.controller.supervisor.reloadCount();
  r = await aq.putBackend('live', { ...live, version: '1.1.0', members: [{ name: 'myapp', version: '1.1.0', host: '127.0.0.1', port: up['live-2']!.port }] });
  assert.equal(r.status, 200, r.text);
  await eventually(
    () => getHost(p1, 'myapp.com'),
    (b) => b === '200 live-2',
    10_000,
    'traffic on the new member',
  );
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads, 'members changed through the runtime API');

  // What aqueduct could express and node-haproxy cannot is refused, naming the field.
  r = await aq.putFrontend('myapp', { ...fe, rules: [{ type: 'url', operation: 'url_reg', value: '^/article/[^/]*$', backend: 'staged' }] });
  assert.equal(r.status, 422);
  assert.equal(r.json.field, 'rules[0].operation');
  assert.match(r.json.message, /path_reg/);
  r = await aq.putFrontend('myapp', { ...fe, keepalive: 'sometimes' });
  assert.equal(r.json.field, 'keepalive');
  r = await aq.putBackend('staged', { type: 'static', health: { method: 'DELETE' }, members: [] });
  assert.equal(r.status, 422);
  assert.equal(r.json.field, 'health.method');
  r = await aq.putBackend('staged', { type: 'static', health: { httpVersion: 'HTTP/1.1' }, members: [] });
  assert.equal(r.json.field, 'host');
  r = await aq.putBackend('staged', {
    type: 'static',
    members: [
      { host: '127.0.0.1', port: 1 },
      { host: '127.0.0.1', port: 1 },
    ],
  });
  assert.equal(r.json.field, 'members[1]');
  assert.match(r.json.message, /unique/);
  r = await aq.putFrontend('Bad~Key', { bind: '*:1' });
  assert.equal(r.json.field, 'key');
  r = await aq.putFrontend('myapp', { ...fe, id: 'frontend/other' });
  assert.equal(r.json.field, 'id');
  assert.equal(await getHost(p1, 'staged.myapp.com'), '200 staged-1', 'refused requests left routing alone');

  // A backend a frontend still routes to is not deleted from under it.
  r = await aq.deleteBackend('staged');
  assert.equal(r.status, 409, r.text);
  assert.match(r.json.message, /backend staged is still used by frontend myapp/);

  // Deletes: the frontend's sockets close; unknown keys are 404.
  r = await aq.deleteFrontend('myapp');
  assert.equal(r.status, 200, r.text);
  await eventually(
    () =>
      httpGet(p1, '/', 500).then(
        () => 'open',
        () => 'closed',
      ),
    (s) => s === 'closed',
    10_000,
    'the frontend stops listening',
  );
  assert.equal((await aq.getFrontend('myapp')).status, 404);
  assert.equal((await aq.deleteFrontend('myapp')).status, 404);
  assert.equal((await aq.deleteBackend('staged')).status, 200);
  assert.deepEqual(
    (await aq.getBackends()).json.map((b: { key: string }) => b.key),
    ['live'],
  );
});

test('aqueduct routes with ?wait=true report the outcome: a frontend naming a missing backend is not Accepted', async (t) => {
  const up = await startUpstreams(t, 'a');
  const fx = await startRestController(t);
  const api = fx.api.port;
  const port = await freePort();
  let r = await call(api, 'PUT', '/backends/app?wait=true', { body: { type: 'static', members: [{ host: '127.0.0.1', port: up.a!.port }] }, token: TOKEN });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status.conditions[0].status, 'True', r.text);
  r = await call(api, 'PUT', '/frontends/web?wait=true', { body: { bind: `127.0.0.1:${port}`, backend: 'missing' }, token: TOKEN });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.key, 'web', 'the aqueduct payload is still there');
  assert.deepEqual([r.json.status.conditions[0].status, r.json.status.conditions[0].reason], ['False', 'BackendNotFound'], r.text);
  // Without ?wait=true the answer is aqueduct's payload alone, as before.
  r = await call(api, 'PUT', '/frontends/web', { body: { bind: `127.0.0.1:${port}`, backend: 'app' }, token: TOKEN });
  assert.equal(r.json.status, undefined);
});
