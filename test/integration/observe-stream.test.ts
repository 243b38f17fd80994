/**
 * The live stats stream with a real controller and HAProxy: a subscriber gets
 * the snapshot of what it asked for, then the counters traffic moves; a
 * client that never reads is disconnected and counted in /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { rawStreamClient, streamClient } from '../helpers/observe-ws.js';
import { httpGet, startUpstream } from '../helpers/upstream.js';
import { parseExposition } from '../../src/observe/exposition.js';

test('live stream: snapshot, then updates after traffic; a client that never reads is dropped', async (t) => {
  const upstream = await startUpstream('u');
  t.after(() => upstream.close());
  const webPort = await freePort();
  // A big backend (no traffic) makes snapshots large enough to fill a non-reading client's socket buffers.
  const big = Array.from({ length: 250 }, (_, i) => ({ name: `b${i}`, port: upstream.port }));
  const fx = await startTestController(
    t,
    {
      'web.yaml': `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: web\nspec:\n  binds: [{ address: 127.0.0.1, port: ${webPort} }]\n  defaultBackend: app\n`,
      'app.yaml': backendYaml('app', [
        { name: 'm1', port: upstream.port },
        { name: 'm2', port: upstream.port },
      ]),
      'big.yaml': backendYaml('big', big),
    },
    { httpAddress: { address: '127.0.0.1', port: 0 }, observe: { stream: { intervalMs: 200, maxBufferedBytes: 512 * 1024 } } },
  );
  const port = fx.controller.httpAddress!.port;

  const app = await streamClient(t, port);
  assert.deepEqual(await app.next(), { type: 'hello', intervalMs: 200, path: '/stream' });
  app.ws.send(JSON.stringify({ type: 'subscribe', backends: ['default/app'] }));
  const snap = await app.next((m) => m.type === 'snapshot');
  assert.deepEqual(snap.rows.map((r: any) => `${r.type} ${r.proxy} ${r.server ?? ''}`).sort(), [
    'backend default_app ',
    'server default_app m1',
    'server default_app m2',
  ]);
  const m1 = snap.rows.find((r: any) => r.server === 'm1');
  assert.equal(m1.stats.status, 'no check');
  assert.equal(typeof m1.stats.weight, 'number');
  assert.equal(typeof m1.stats.stot, 'number');

  const web = await streamClient(t, port, '/stream?frontend=web&fields=stot,req_tot,hrsp_2xx');
  const webSnap = await web.next((m) => m.type === 'snapshot');
  assert.deepEqual(webSnap.rows, [{ type: 'frontend', proxy: 'default_web', stats: { stot: 0, req_tot: 0, hrsp_2xx: 0 } }]);

  for (let i = 0; i < 10; i++) assert.equal((await httpGet(webPort, '/')).status, 200);

  // Updates carry the rows and fields that moved, until all 10 requests are seen.
  let backendStot = 0;
  while (backendStot < 10) {
    const upd = await app.next((m) => m.type === 'update');
    for (const row of upd.changed) {
      assert.equal(row.proxy, 'default_app', 'only the subscribed backend');
      if (row.type === 'backend' && row.stats.stot !== undefined) backendStot = row.stats.stot;
    }
  }
  assert.equal(backendStot, 10);
  let frontendReq = 0;
  while (frontendReq < 10) {
    const upd = await web.next((m) => m.type === 'update');
    assert.deepEqual(
      Object.keys(upd.changed[0].stats).filter((k) => !['stot', 'req_tot', 'hrsp_2xx'].includes(k)),
      [],
    );
    frontendReq = upd.changed[0].stats.req_tot ?? frontendReq;
  }

  // A client that asks for the big backend again and again but never reads.
  const raw = await rawStreamClient(t, port);
  const dropped = async () => parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics?scope=controller`)).text()).samples;
  let m = await dropped();
  assert.equal(m.get('node_haproxy_stream_clients'), 3);
  for (let i = 0; i < 80 && (await dropped()).get('node_haproxy_stream_clients_dropped_total{reason="slow"}') === 0; i++) {
    raw.sendText(JSON.stringify({ type: 'subscribe', backends: ['default/big'] }));
    await new Promise((r) => setTimeout(r, 25));
  }
  m = await dropped();
  assert.equal(m.get('node_haproxy_stream_clients_dropped_total{reason="slow"}'), 1);
  assert.equal(m.get('node_haproxy_stream_clients'), 2);
  raw.socket.resume();
  await new Promise((resolve) => raw.socket.once('close', resolve));

  // The others keep streaming.
  await httpGet(webPort, '/');
  const later = await web.next((m) => m.type === 'update' && m.changed[0].stats.req_tot === 11);
  assert.equal(later.changed[0].proxy, 'default_web');
});
