/**
 * Issue 9, classes 6 and 8, against real HAProxy and real requests:
 * - one listening socket written two ways (or a wildcard and an address) in
 *   two frontends: the second is refused, and the traffic is not split;
 * - a port another HAProxy holds with SO_REUSEPORT is refused at start, and
 *   heals when that HAProxy goes;
 * - header rules match the whole value, exactly, and a value is never a flag.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PassResult } from '../../src/reconcile/reconciler.js';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { HAPROXY_BIN, freePort } from '../helpers/haproxy.js';
import { startUpstream, waitForHttp, type Upstream } from '../helpers/upstream.js';

/** GET on a fresh connection to host:port; a header given as an array is sent as that many lines. */
function get(host: string, port: number, headers: Record<string, string | string[]> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', agent: false, timeout: 3000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    for (const [k, v] of Object.entries(headers)) req.setHeader(k, v);
    req.on('timeout', () => req.destroy(new Error(`GET ${host}:${port} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Bodies of `n` requests, each on its own connection (the kernel picks a listener per connection). */
async function bodies(host: string, port: number, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const { body } = await get(host, port).catch((err: Error) => ({ body: `error: ${err.message}` }));
    seen.set(body, (seen.get(body) ?? 0) + 1);
  }
  return seen;
}

async function upstreams(t: TestContext, ...names: string[]): Promise<Record<string, Upstream>> {
  const out: Record<string, Upstream> = {};
  for (const n of names) {
    out[n] = await startUpstream(n);
    t.after(() => out[n]!.close());
  }
  return out;
}

const frontendYaml = (name: string, binds: { address: string; port: number }[], backend: string, rules = '') => `apiVersion: ${API_VERSION}
kind: Frontend
metadata:
  name: ${name}
spec:
  binds:
${binds.map((b) => `    - { address: "${b.address}", port: ${b.port} }`).join('\n')}
  defaultBackend: ${backend}
${rules}`;

const outcomeOf = (p: PassResult, key: string) => p.resolution?.outcomes.get(key);

/** Another HAProxy (not ours) answering `body` on host:port; it binds with SO_REUSEPORT, as HAProxy does. */
async function foreignHaproxy(t: TestContext, host: string, port: number, body: string): Promise<{ pid: number; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'nh-other-'));
  const cfg = join(dir, 'other.cfg');
  await writeFile(
    cfg,
    [
      'defaults',
      '  mode http',
      '  timeout client 5s',
      '  timeout server 5s',
      '  timeout connect 5s',
      'frontend other',
      `  bind ${host.includes(':') ? `[${host}]` : host}:${port}`,
      `  http-request return status 200 content-type text/plain string ${body}`,
      '',
    ].join('\n'),
  );
  const child = spawn(HAPROXY_BIN, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  t.after(stop);
  await waitForHttp(port, (r) => r.body === body, 5000).catch((err: Error) => {
    throw new Error(`the other HAProxy did not serve: ${err.message}; its output: ${stderr}`);
  });
  return { pid: child.pid!, stop };
}

test('one socket written two ways in two frontends: the second is refused by value, and the first keeps all the traffic', async (t) => {
  const u = await upstreams(t, 'first', 'second');
  const [p4, p6, pw] = [await freePort(), await freePort(), await freePort()];
  const fx = await startTestController(t, {
    'backends.yaml': [backendYaml('first', [{ name: 'f-1', port: u.first!.port }]), backendYaml('second', [{ name: 's-1', port: u.second!.port }])].join(
      '---\n',
    ),
    'first.yaml': frontendYaml(
      'first',
      [
        { address: '127.0.0.1', port: p4 },
        { address: '::1', port: p6 },
        { address: '*', port: pw },
      ],
      'first',
    ),
  });
  assert.equal((await get('127.0.0.1', p4)).body, 'first');
  assert.equal((await get('::1', p6)).body, 'first');

  // Each of these names a socket "first" listens on; each is refused on the bind that clashes.
  const cases: [string, { address: string; port: number }, RegExp][] = [
    ['wildcard', { address: '0.0.0.0', port: p4 }, /"127\.0\.0\.1" is one of the addresses "0\.0\.0\.0" listens on/],
    ['v6-spelling', { address: '0:0:0::1', port: p6 }, /"::1" is the same address written another way/],
    ['v6-upper', { address: '0000::0001', port: p6 }, /same address written another way/],
    ['dual-stack', { address: '::', port: p4 }, /one of the addresses "::" listens on/],
    ['inside-wildcard', { address: '127.0.0.1', port: pw }, /"\*" listens on every IPv4 address on port \d+, "127\.0\.0\.1" included/],
  ];
  for (const [name, bind, why] of cases) {
    const pass = fx.nextPass((p) => outcomeOf(p, `Frontend/default/${name}`) !== undefined);
    await fx.write(`${name}.yaml`, frontendYaml(name, [{ address: '127.0.0.1', port: await freePort() }, bind], 'second'));
    const o = outcomeOf(await pass, `Frontend/default/${name}`);
    assert.ok(o && !o.accepted, `${name} was accepted`);
    assert.equal(o.reason, 'Conflict');
    assert.equal(o.issues[0]!.field, 'spec.binds[1].address');
    assert.match(o.issues[0]!.message, /is already used by Frontend default\/first: /);
    assert.match(o.issues[0]!.message, why);
  }
  await fx.controller.reconciler.settled();
  const running = fx.controller.reconciler.runningText ?? '';
  assert.doesNotMatch(running, /frontend default_(wildcard|v6-spelling|v6-upper|dual-stack|inside-wildcard)/, 'no refused frontend reached HAProxy');

  // What a client sees: every connection still reaches "first".
  assert.deepEqual([...(await bodies('127.0.0.1', p4, 20))], [['first', 20]]);
  assert.deepEqual([...(await bodies('::1', p6, 20))], [['first', 20]]);
  assert.deepEqual([...(await bodies('127.0.0.1', pw, 20))], [['first', 20]]);

  // A zero-padded address is refused outright: libc would read 010 as octal 8.
  const pass = fx.nextPass((p) => outcomeOf(p, 'Frontend/default/octal') !== undefined);
  await fx.write('octal.yaml', frontendYaml('octal', [{ address: '127.000.000.010', port: await freePort() }], 'second'));
  const o = outcomeOf(await pass, 'Frontend/default/octal');
  assert.ok(o && !o.accepted);
  assert.equal(o.issues[0]!.field, 'spec.binds[0].address');
  assert.match(o.issues[0]!.message, /zero-padded numbers, which libc reads as octal: HAProxy would use 127\.0\.0\.8/);
});

test('start: a port another HAProxy holds with SO_REUSEPORT is refused (not shared), the rest starts, and it heals when that HAProxy goes', async (t) => {
  const u = await upstreams(t, 'app');
  const [held, free] = [await freePort(), await freePort()];
  const other = await foreignHaproxy(t, '127.0.0.1', held, 'other');

  const fx = await startTestController(
    t,
    {
      'backends.yaml': backendYaml('app', [{ name: 'a-1', port: u.app!.port }]),
      // A wildcard on the held port: it includes 127.0.0.1, which the other HAProxy holds.
      'held.yaml': frontendYaml('held', [{ address: '*', port: held }], 'app'),
      'free.yaml': frontendYaml('free', [{ address: '127.0.0.1', port: free }], 'app'),
    },
    { retryInitialMs: 300, retryMaxMs: 1000 },
  );
  assert.equal((await get('127.0.0.1', free)).body, 'app', 'the other frontend started');
  const o = outcomeOf(fx.controller.reconciler.last!, 'Frontend/default/held');
  assert.ok(o && !o.accepted, 'the frontend on the held port was accepted');
  assert.equal(o.reason, 'RejectedByHAProxy');
  assert.equal(o.issues[0]!.field, 'spec.binds');
  assert.match(
    o.issues[0]!.message,
    new RegExp(`bind 0\\.0\\.0\\.0:${held} \\(line \\d+\\): address already in use by another process \\(haproxy, pid ${other.pid}\\)`),
  );
  assert.match(o.issues[0]!.message, /tried again by itself/);
  assert.doesNotMatch(fx.controller.reconciler.runningText ?? '', new RegExp(`:${held}\\b`), 'our HAProxy does not bind the held port');
  // The traffic is not split: every connection reaches the other HAProxy.
  assert.deepEqual([...(await bodies('127.0.0.1', held, 20))], [['other', 20]]);

  // The other HAProxy goes: the refused frontend is tried again by itself and serves.
  await other.stop();
  assert.equal((await waitForHttp(held, (r) => r.body === 'app', 10_000)).body, 'app');
  await fx.controller.reconciler.settled();
  assert.equal(outcomeOf(fx.controller.reconciler.last!, 'Frontend/default/held')?.accepted, true);
});

test('reload: an address added beside our own wildcard on one port is checked for other holders, ours are not', async (t) => {
  const u = await upstreams(t, 'app');
  const port = await freePort();
  const fx = await startTestController(
    t,
    {
      'backends.yaml': backendYaml('app', [{ name: 'a-1', port: u.app!.port }]),
      'web.yaml': frontendYaml('web', [{ address: '*', port }], 'app'),
    },
    { retryInitialMs: 60_000, retryMaxMs: 60_000 },
  );
  assert.equal((await get('127.0.0.1', port)).body, 'app');
  const reloads = await fx.controller.supervisor.reloadCount();

  // Ours alone on the port: adding 127.0.0.1 beside our own "*" is fine (a Node bind would fail on our socket).
  let pass = fx.nextPass((p) => p.kind === 'reload' || p.kind === 'failed');
  await fx.write(
    'web.yaml',
    frontendYaml(
      'web',
      [
        { address: '*', port },
        { address: '::1', port: await freePort() },
      ],
      'app',
    ),
  );
  assert.equal((await pass).kind, 'reload');

  // An address this machine does not have, beside our "*": refused before any reload.
  pass = fx.nextPass((p) => outcomeOf(p, 'Frontend/default/web')?.accepted === false);
  await fx.write(
    'web.yaml',
    frontendYaml(
      'web',
      [
        { address: '*', port },
        { address: '192.0.2.1', port },
      ],
      'app',
    ),
  );
  const noAddress = outcomeOf(await pass, 'Frontend/default/web');
  assert.ok(noAddress && !noAddress.accepted);
  assert.match(noAddress.issues[0]!.message, new RegExp(`bind 192\\.0\\.2\\.1:${port} \\(line \\d+\\): no interface of this machine has that address`));
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads + 1);

  // Another HAProxy joins on 127.0.0.1 (SO_REUSEPORT lets it): a new bind of ours on it is refused, naming it.
  // (The kernel prefers its 127.0.0.1 socket to our "*" one: connections to 127.0.0.1 now go to it.)
  const other = await foreignHaproxy(t, '127.0.0.1', port, 'other');
  pass = fx.nextPass((p) => outcomeOf(p, 'Frontend/default/web')?.accepted === false);
  await fx.write(
    'web.yaml',
    frontendYaml(
      'web',
      [
        { address: '*', port },
        { address: '127.0.0.1', port },
      ],
      'app',
    ),
  );
  const o = outcomeOf(await pass, 'Frontend/default/web');
  assert.ok(o && !o.accepted);
  assert.match(
    o.issues[0]!.message,
    new RegExp(`bind 127\\.0\\.0\\.1:${port} \\(line \\d+\\): address already in use by another process \\(haproxy, pid ${other.pid}\\)`),
  );
  assert.equal(await fx.controller.supervisor.reloadCount(), reloads + 1, 'no reload was attempted for the refused version');
});

test('header rules match the whole header value exactly; a value is never read as a flag', async (t) => {
  const u = await upstreams(t, 'app', 'yes', 'dash-i', 'dash-f', 'dashes', 'comma', 'semicolon');
  const port = await freePort();
  const rule = (value: string, backend: string) => `    - header: { name: X-B, value: ${JSON.stringify(value)} }\n      backend: ${backend}\n`;
  const rules = `  rules:\n${rule('yes', 'yes')}${rule('-i', 'dash-i')}${rule('-f', 'dash-f')}${rule('--', 'dashes')}${rule('a,b', 'comma')}${rule('x;y=1&z', 'semicolon')}`;
  const names = Object.keys(u);
  await startTestController(t, {
    'backends.yaml': names.map((n) => backendYaml(n, [{ name: `${n}-1`, port: u[n]!.port }])).join('---\n'),
    'web.yaml': frontendYaml('web', [{ address: '127.0.0.1', port }], 'app', rules),
  });
  const routed = async (headers: Record<string, string | string[]>) => (await get('127.0.0.1', port, headers)).body;
  assert.equal(await routed({}), 'app');
  assert.equal(await routed({ 'X-B': 'yes' }), 'yes');
  assert.equal(await routed({ 'x-b': 'yes' }), 'yes', 'the header name is case-insensitive');
  assert.equal(await routed({ 'X-B': 'YES' }), 'app', 'the value is case-sensitive');
  assert.equal(await routed({ 'X-B': 'no, yes' }), 'app', 'a list is not its last element');
  assert.equal(await routed({ 'X-B': 'yes, no' }), 'app', 'a list is not its first element');
  assert.equal(await routed({ 'X-B': 'yes,yes' }), 'app');
  assert.equal(await routed({ 'X-B': ['no', 'yes'] }), 'app', 'two lines are the list "no, yes"');
  assert.equal(await routed({ 'X-B': ['yes', 'yes'] }), 'app', 'two lines are the list "yes, yes"');
  assert.equal(await routed({ 'X-B': 'yess' }), 'app');
  assert.equal(await routed({ 'X-B': '-i' }), 'dash-i', '"-i" is a value, not the ignore-case flag');
  assert.equal(await routed({ 'X-B': '-I' }), 'app');
  assert.equal(await routed({ 'X-B': '-f' }), 'dash-f', '"-f" is a value, not a file flag');
  assert.equal(await routed({ 'X-B': '--' }), 'dashes');
  assert.equal(await routed({ 'X-B': 'a,b' }), 'comma', 'a value with a comma matches exactly that');
  assert.equal(await routed({ 'X-B': 'a, b' }), 'app');
  assert.equal(await routed({ 'X-B': 'a' }), 'app');
  assert.equal(await routed({ 'X-B': 'b' }), 'app');
  assert.equal(await routed({ 'X-B': 'x;y=1&z' }), 'semicolon');
});
