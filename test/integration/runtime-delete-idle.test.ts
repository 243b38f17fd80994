/**
 * Removing a member stays a runtime change when HAProxy still holds idle
 * server-side keep-alive connections to it (http-reuse): `del server` refuses
 * a server with idle connections on 2.6, and a request that ends after `state
 * maint` puts its connection back in the idle pool (docs/decisions/0002).
 * Real HAProxy (HAPROXY_BIN), real keep-alive clients on loopback.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, createServer, request, type Server } from 'node:http';
import { startHarness, type Harness } from '../../bench/lib/harness.js';
import { backendResource, frontendResource, type MemberSpec } from '../../bench/lib/resources.js';
import { createLogger } from '../../src/log.js';
import { backendYaml, routingFrontendYaml, startTestController } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { listenOnLoopback, waitForHttp } from '../helpers/upstream.js';

interface SlowUpstream {
  name: string;
  port: number;
  close(): Promise<void>;
}

/** An upstream that answers with its name, after `?ms=N` milliseconds when asked, and keeps idle connections open for 2 minutes. */
async function slowUpstream(t: TestContext, name: string): Promise<SlowUpstream> {
  const server: Server = createServer((req, res) => {
    req.resume();
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 0);
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(name);
    }, ms);
  });
  // Idle keep-alive connections stay open on this side: only HAProxy closes them.
  server.keepAliveTimeout = 120_000;
  const u = { name, ...(await listenOnLoopback(server)) };
  t.after(() => u.close());
  return u;
}

/** GET over a keep-alive agent (the connection to HAProxy stays open between requests). */
function get(agent: Agent, port: number, path: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function harness(t: TestContext, log: string[]): Promise<Harness> {
  const h = await startHarness({
    debounceMs: 20,
    minReloadIntervalMs: 0,
    hardStopAfter: '5s',
    logger: createLogger({ level: 'debug', write: (l) => log.push(l) }),
  });
  t.after(() => h.stop());
  return h;
}

/** Idle/used server-side connections of `backend/server` (`show servers conn`), or undefined when the server is gone. */
async function serverConns(h: Harness, backend: string, server: string): Promise<string | undefined> {
  const text = await h.controller.runtime.execute(`show servers conn ${backend}`);
  return text.split('\n').find((l) => l.startsWith(`${backend}/${server} `));
}

/** Upstreams a and b, a harness (its log kept), and Frontend web on a free port serving Backend app with member a; the reload count then. */
async function servingA(t: TestContext) {
  const log: string[] = [];
  const a = await slowUpstream(t, 'a');
  const b = await slowUpstream(t, 'b');
  const port = await freePort();
  const h = await harness(t, log);
  const fe = frontendResource('web', port, 'app');
  const app = (members: MemberSpec[]) => backendResource('app', { members });
  assert.equal((await h.apply([fe, app([{ name: 'a', port: a.port }])])).kind, 'reload');
  await waitForHttp(port, (r) => r.status === 200);
  return { log, a, b, port, h, fe, app, reloads: await h.reloads() };
}

async function liveServers(h: Harness, backend: string): Promise<string[]> {
  return (await h.controller.runtime.showServersState(backend)).map((s) => s.server).sort();
}

test('a member with idle keep-alive server connections is removed at run time, no reload', async (t) => {
  const { b, port, h, fe, app, reloads } = await servingA(t);

  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  for (let i = 0; i < 5; i++) assert.deepEqual(await get(agent, port, '/'), { status: 200, body: 'a' });
  t.diagnostic(`before removal: ${await h.controller.runtime.execute('show servers conn default_app')}`);

  const t0 = Date.now();
  const p = await h.apply([fe, app([{ name: 'b', port: b.port }])]);
  t.diagnostic(`pass ${p.kind} in ${p.durationMs} ms: ${p.reasons.join('; ')}`);
  assert.equal(p.kind, 'runtime', p.reasons.join('; '));
  assert.deepEqual(await liveServers(h, 'default_app'), ['b']);
  t.diagnostic(`a gone after ${Date.now() - t0} ms`);
  assert.equal(await h.reloads(), reloads, 'no reload');
  assert.deepEqual(await get(agent, port, '/'), { status: 200, body: 'b' });
});

/** Sequential GETs over one keep-alive connection until stopped; counts what fails. */
function keepAliveLoop(port: number): { stop(): Promise<{ ok: number; failed: string[] }> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const report = { ok: 0, failed: [] as string[] };
  let running = true;
  const done = (async () => {
    while (running) {
      try {
        const r = await get(agent, port, '/?ms=5');
        if (r.status === 200) report.ok++;
        else report.failed.push(`HTTP ${r.status}`);
      } catch (err) {
        report.failed.push((err as Error).message);
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      agent.destroy();
      return report;
    },
  };
}

test('a member whose requests end after maint (their connections back in the idle pool) is removed at run time: no reload, no failed request, deleted within 3 s', async (t) => {
  const { log, b, port, h, fe, app, reloads } = await servingA(t);

  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  for (let i = 0; i < 3; i++) assert.deepEqual(await get(agent, port, '/'), { status: 200, body: 'a' });
  // Load on keep-alive connections, and one request in flight on a while a is removed: they end after
  // `state maint`, and on 2.6 their server connections go back to the idle pool, where `del server` sees them.
  const loops = [keepAliveLoop(port), keepAliveLoop(port)];
  await new Promise((r) => setTimeout(r, 100));
  const slow = get(agent, port, '/?ms=300');
  await new Promise((r) => setTimeout(r, 50));

  const t0 = Date.now();
  const p = await h.apply([fe, app([{ name: 'b', port: b.port }])]);
  t.diagnostic(`pass ${p.kind} in ${Math.round(p.durationMs)} ms; after it: ${(await serverConns(h, 'default_app', 'a')) ?? 'a deleted'}`);
  assert.equal(p.kind, 'runtime', p.reasons.join('; '));
  assert.ok(p.durationMs < 1500, `the pass does not wait for the connections to end (${Math.round(p.durationMs)} ms)`);
  assert.deepEqual(await slow, { status: 200, body: 'a' }, 'the in-flight request is served');
  const deadline = Date.now() + 20_000;
  while ((await liveServers(h, 'default_app')).includes('a') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const goneMs = Date.now() - t0;
  t.diagnostic(`a deleted ${goneMs} ms after the removal`);
  await new Promise((r) => setTimeout(r, 100));
  const reports = await Promise.all(loops.map((l) => l.stop()));
  t.diagnostic(`keep-alive loops: ${reports.map((r) => `${r.ok} ok`).join(', ')}`);
  assert.deepEqual(await liveServers(h, 'default_app'), ['b']);
  assert.ok(goneMs < 3000, `deleted within 3 s, not after HAProxy's idle purge (${goneMs} ms)`);
  assert.equal(await h.reloads(), reloads, 'no reload');
  assert.deepEqual(
    reports.flatMap((r) => r.failed),
    [],
    'no request failed',
  );
  assert.ok(reports.every((r) => r.ok > 0));
  assert.deepEqual(await h.fileVsLive(), [], 'haproxy.cfg matches the live servers once a is deleted');
  assert.deepEqual(await get(agent, port, '/'), { status: 200, body: 'b' });
  assert.ok(
    log.some((l) => l.includes('kept in maint')),
    'the wait is logged',
  );
});

test('a member added again while its removal waits for an in-flight request is the same server again: no reload, it serves, the request completes', async (t) => {
  const { a, b, port, h, fe, app, reloads } = await servingA(t);

  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const slow = get(agent, port, '/?ms=1500');
  await new Promise((r) => setTimeout(r, 100));

  const removed = await h.apply([fe, app([{ name: 'b', port: b.port }])]);
  assert.equal(removed.kind, 'runtime', removed.reasons.join('; '));
  assert.deepEqual(await liveServers(h, 'default_app'), ['a', 'b'], 'a waits in maint for its request');

  const again = await h.apply([fe, app([{ name: 'a', port: a.port }])]);
  t.diagnostic(`added again: pass ${again.kind} in ${Math.round(again.durationMs)} ms (${again.summary ?? again.reasons.join('; ')})`);
  assert.equal(again.kind, 'runtime', again.reasons.join('; '));
  const other = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => other.destroy());
  assert.deepEqual(await get(other, port, '/'), { status: 200, body: 'a' }, 'a serves again at once');
  assert.deepEqual(await slow, { status: 200, body: 'a' }, 'the in-flight request completes');
  // Its deletion was cancelled: a stays once its request has ended.
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(await liveServers(h, 'default_app'), ['a']);
  assert.deepEqual(await get(other, port, '/'), { status: 200, body: 'a' });
  assert.equal(await h.reloads(), reloads, 'no reload');
  assert.deepEqual(await h.fileVsLive(), [], 'haproxy.cfg matches the live servers');
  assert.equal(h.controller.reconciler.last?.kind, 'runtime', 'no pass since (no noise from the rechecks)');
});

test('a restarted controller deletes the member its predecessor left waiting in maint once its request ends: no reload', async (t) => {
  const a = await slowUpstream(t, 'a');
  const b = await slowUpstream(t, 'b');
  const port = await freePort();
  const fx = await startTestController(t, {
    'frontend.yaml': routingFrontendYaml(port, '    []'),
    'backends.yaml': backendYaml('app', [{ name: 'a', port: a.port }]),
  });
  await waitForHttp(port, (r) => r.body === 'a');
  const reloads = await fx.controller.supervisor.reloadCount();
  const live = async (c = fx.controller): Promise<string[]> => (await c.runtime.showServersState('default_app')).map((s) => s.server).sort();

  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const slow = get(agent, port, '/?ms=2500');
  await new Promise((r) => setTimeout(r, 100));
  const removed = fx.nextPass((p) => p.kind !== 'waiting');
  await fx.write('backends.yaml', backendYaml('app', [{ name: 'b', port: b.port }]));
  assert.equal((await removed).kind, 'runtime');
  assert.deepEqual(await live(), ['a', 'b'], 'a waits in maint for its request');

  await fx.controller.stop({ stopHaproxy: false });
  const log: string[] = [];
  const again = await fx.restart({ logger: createLogger({ level: 'debug', write: (l) => log.push(l) }) });
  await again.reconciler.settled();
  assert.deepEqual(await live(again), ['a', 'b'], 'a still waits: its request is in flight');
  assert.deepEqual(await slow, { status: 200, body: 'a' }, 'the in-flight request completes');
  const t0 = Date.now();
  while ((await live(again)).includes('a') && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
  t.diagnostic(`a deleted ${Date.now() - t0} ms after its request ended`);
  assert.deepEqual(await live(again), ['b'], 'the new controller deleted a');
  assert.equal(await again.supervisor.reloadCount(), reloads, 'no reload');
  assert.deepEqual(await get(agent, port, '/'), { status: 200, body: 'b' });
  assert.ok(
    log.some((l) => l.includes('kept in maint')),
    'the new controller took over the wait',
  );
});
