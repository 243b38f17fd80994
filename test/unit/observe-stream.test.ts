/**
 * The live stats stream against a fake stats source (no HAProxy): snapshot
 * then changes, filters, field selection, bad messages, and the protections
 * against clients that do not read or do not answer pings.
 * (test/integration/observe-stream.test.ts runs it against a real HAProxy.)
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { HttpServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { LiveStream, parseSubscription, type LiveStreamSettings } from '../../src/observe/live-stream.js';
import { StatTable } from '../../src/observe/stat-table.js';
import { rawStreamClient, streamClient as client } from '../helpers/observe-ws.js';

const COLUMNS = ['pxname', 'svname', 'scur', 'stot', 'status', 'type', 'weight', 'check_desc'];

class FakeStats {
  reads = 0;
  rows = new Map<string, Record<string, string | number>>();
  fail = false;
  set(pxname: string, svname: string, type: number, values: Record<string, string | number>): void {
    this.rows.set(`${pxname}/${svname}`, { pxname, svname, type, ...values });
  }
  async read(): Promise<{ table: StatTable }> {
    this.reads++;
    if (this.fail) throw new Error('cannot read HAProxy stats: ECONNREFUSED');
    const lines = [...this.rows.values()].map((r) => COLUMNS.map((c) => (r[c] === undefined ? '' : String(r[c]))).join(',') + ',');
    return { table: new StatTable(`# ${COLUMNS.join(',')},\n${lines.join('\n')}\n`) };
  }
}

interface Fixture {
  stats: FakeStats;
  stream: LiveStream;
  port: number;
  drops: string[];
}

async function start(t: TestContext, settings: LiveStreamSettings = {}): Promise<Fixture> {
  const stats = new FakeStats();
  stats.set('fe_web', 'FRONTEND', 0, { scur: 1, stot: 10, status: 'OPEN' });
  stats.set('be_app', 'm1', 2, { scur: 0, stot: 4, status: 'UP', weight: 1 });
  stats.set('be_app', 'm2', 2, { scur: 0, stot: 6, status: 'UP', weight: 1 });
  stats.set('be_app', 'BACKEND', 1, { scur: 0, stot: 10, status: 'UP', weight: 2 });
  stats.set('be_other', 'BACKEND', 1, { stot: 0, status: 'UP' });
  const drops: string[] = [];
  const http = new HttpServer({ address: '127.0.0.1', port: 0, logger: silentLogger() });
  const stream = new LiveStream({ intervalMs: 100, ...settings, stats, logger: silentLogger(), onDrop: (r) => drops.push(r) });
  http.use(stream.attach(http.server));
  const addr = await http.listen();
  t.after(async () => {
    await stream.stop();
    await http.close();
  });
  return { stats, stream, port: (addr as AddressInfo).port, drops };
}

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('subscription messages are validated; namespace/name means the resource proxy', () => {
  const s = parseSubscription({ backends: ['prod/app', 'be_x'] });
  assert.deepEqual([...s.backends!], ['prod_app', 'be_x', 'default_be_x'], 'a bare name: a proxy name or a resource of namespace default');
  assert.deepEqual([...s.frontends!], [], 'naming backends only means no frontends');
  assert.equal(parseSubscription({}).backends, undefined, 'no filter: everything');
  assert.throws(() => parseSubscription({ backends: 'app' }), /backends must be a list/);
  assert.throws(() => parseSubscription({ frontends: ['a b'] }), /frontends must be a list/);
  assert.throws(() => parseSubscription({ fields: ['scur', 'DROP TABLE'] }), /fields must be a list/);
});

test('hello, then a filtered snapshot, then only the rows and fields that changed', async (t) => {
  const f = await start(t);
  const c = await client(t, f.port);
  assert.deepEqual(await c.next(), { type: 'hello', intervalMs: 100, path: '/stream' });
  assert.equal(f.stats.reads, 0, 'no stats read before anyone subscribes');
  c.ws.send(JSON.stringify({ type: 'subscribe', backends: ['be_app'] }));
  const snap = await c.next((m) => m.type === 'snapshot');
  assert.deepEqual(
    snap.rows.map((r: any) => `${r.type}:${r.proxy}/${r.server ?? ''}`),
    ['server:be_app/m1', 'server:be_app/m2', 'backend:be_app/'],
  );
  assert.deepEqual(snap.rows[0].stats, { scur: 0, stot: 4, status: 'UP', weight: 1 });

  f.stats.set('be_app', 'm1', 2, { scur: 2, stot: 9, status: 'UP', weight: 1 });
  f.stats.set('fe_web', 'FRONTEND', 0, { scur: 5, stot: 99, status: 'OPEN' }); // not subscribed
  const upd = await c.next((m) => m.type === 'update');
  assert.deepEqual(upd.changed, [{ type: 'server', proxy: 'be_app', server: 'm1', stats: { scur: 2, stot: 9 } }]);
  assert.deepEqual(upd.removed, []);

  f.stats.rows.delete('be_app/m2');
  f.stats.set('be_app', 'm3', 2, { stot: 0, status: 'MAINT', weight: 0 });
  const upd2 = await c.next((m) => m.type === 'update');
  assert.deepEqual(upd2.changed, [{ type: 'server', proxy: 'be_app', server: 'm3', stats: { stot: 0, status: 'MAINT', weight: 0 } }]);
  assert.deepEqual(upd2.removed, [{ type: 'server', proxy: 'be_app', server: 'm2' }]);

  f.stats.set('be_app', 'm1', 2, { scur: '', stot: 9, status: 'UP', weight: 1 });
  const upd3 = await c.next((m) => m.type === 'update');
  assert.deepEqual(upd3.changed[0].stats, { scur: null }, 'an emptied field is null');
});

test('subscribe from the query string, with frontends only and a field selection', async (t) => {
  const f = await start(t);
  const c = await client(t, f.port, '/stream?frontend=fe_web&fields=stot,status');
  const snap = await c.next((m) => m.type === 'snapshot');
  assert.deepEqual(snap.rows, [{ type: 'frontend', proxy: 'fe_web', stats: { stot: 10, status: 'OPEN' } }]);
  f.stats.set('fe_web', 'FRONTEND', 0, { scur: 7, stot: 10, status: 'OPEN' }); // scur is not selected
  f.stats.set('be_app', 'm1', 2, { scur: 3, stot: 5, status: 'UP', weight: 1 }); // not subscribed
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(c.messages.filter((m) => m.type === 'update').length, 0, 'no update when nothing selected changed');
  f.stats.set('fe_web', 'FRONTEND', 0, { scur: 7, stot: 11, status: 'OPEN' });
  const upd = await c.next((m) => m.type === 'update');
  assert.deepEqual(upd.changed, [{ type: 'frontend', proxy: 'fe_web', stats: { stot: 11 } }]);
});

test('bad messages get an error and the connection stays; a plain GET gets 426', async (t) => {
  const f = await start(t);
  const c = await client(t, f.port);
  c.ws.send('not json');
  assert.match((await c.next((m) => m.type === 'error')).message, /messages are JSON objects/);
  c.ws.send(JSON.stringify({ type: 'subscribe', backends: 'be_app' }));
  assert.match((await c.next((m) => m.type === 'error')).message, /backends must be a list/);
  c.ws.send(JSON.stringify({ type: 'subscribe' }));
  assert.equal((await c.next((m) => m.type === 'snapshot')).rows.length, 5);
  const res = await fetch(`http://127.0.0.1:${f.port}/stream`);
  assert.equal(res.status, 426);
});

test('stats reads happen once per interval for all clients, and stop when nobody listens', async (t) => {
  const f = await start(t);
  const a = await client(t, f.port, '/stream?all');
  const b = await client(t, f.port, '/stream?backend=be_other');
  await a.next((m) => m.type === 'snapshot');
  await b.next((m) => m.type === 'snapshot');
  await new Promise((r) => setTimeout(r, 550));
  const reads = f.stats.reads;
  assert.ok(reads >= 3 && reads <= 8, `about one read per 100 ms interval for both clients, got ${reads}`);
  a.ws.close();
  b.ws.close();
  await until(() => f.stream.clientCount === 0, 'clients gone');
  await new Promise((r) => setTimeout(r, 250));
  const after = f.stats.reads;
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(f.stats.reads, after, 'no reads without subscribers');
});

test('when the stats cannot be read, subscribers get one error, then updates resume', async (t) => {
  const f = await start(t);
  const c = await client(t, f.port, '/stream?all');
  await c.next((m) => m.type === 'snapshot');
  f.stats.fail = true;
  assert.match((await c.next((m) => m.type === 'error')).message, /ECONNREFUSED/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.messages.filter((m) => m.type === 'error').length, 1, 'reported once per outage');
  f.stats.fail = false;
  f.stats.set('be_other', 'BACKEND', 1, { stot: 1, status: 'UP' });
  const upd = await c.next((m) => m.type === 'update');
  assert.deepEqual(upd.changed, [{ type: 'backend', proxy: 'be_other', stats: { stot: 1 } }]);
});

test('a client that never reads is disconnected once too much is unsent', async (t) => {
  const f = await start(t, { maxBufferedBytes: 256 * 1024 });
  for (let i = 0; i < 3000; i++) f.stats.set('be_big', `s${i}`, 2, { scur: 0, stot: i, status: 'UP', weight: 1, check_desc: 'x'.repeat(100) });
  const reader = await client(t, f.port, '/stream?backend=be_app');
  await reader.next((m) => m.type === 'snapshot');
  const { socket, sendText } = await rawStreamClient(t, f.port);
  // Each subscribe asks for a ~600 KB snapshot; the client reads none of it.
  for (let i = 0; i < 60 && f.drops.length === 0; i++) {
    sendText(JSON.stringify({ type: 'subscribe' }));
    await new Promise((r) => setTimeout(r, 20));
  }
  await until(() => f.drops.length > 0, 'the slow client to be dropped');
  assert.deepEqual(f.drops, ['slow']);
  await until(() => f.stream.clientCount === 1, 'only the reading client left');
  f.stats.set('be_app', 'm1', 2, { scur: 1, stot: 5, status: 'UP', weight: 1 });
  assert.equal((await reader.next((m) => m.type === 'update')).changed[0].server, 'm1', 'the other client is unaffected');
  socket.resume();
  await new Promise((resolve) => socket.once('close', resolve));
});

test('a client that does not answer pings is disconnected', async (t) => {
  const f = await start(t, { pingIntervalMs: 100 });
  const good = await client(t, f.port); // ws answers pings by itself
  const { socket } = await rawStreamClient(t, f.port);
  socket.resume(); // reads, but never answers a ping
  await until(() => f.drops.includes('unresponsive'), 'the unresponsive client to be dropped');
  assert.equal(f.stream.clientCount, 1);
  assert.equal(good.ws.readyState, WebSocket.OPEN);
});

test('too many clients are refused with 503; stop() disconnects everyone', async (t) => {
  const f = await start(t, { maxClients: 1 });
  const first = await client(t, f.port);
  const second = new WebSocket(`ws://127.0.0.1:${f.port}/stream`);
  second.on('error', () => undefined); // refused: expected
  t.after(() => second.terminate());
  const status = await new Promise<number>((resolve) => second.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
  assert.equal(status, 503);
  const closed = new Promise((resolve) => first.ws.once('close', resolve));
  await f.stream.stop();
  await closed;
});
