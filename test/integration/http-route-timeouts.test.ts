/**
 * rules[].timeouts.request (issue 12; docs/decisions/0011-http-routing.md)
 * against real HAProxy with real requests: a slow upstream answers 504 after
 * about the timeout through the timed rule, while the same backend reached
 * through another rule (its own `timeout server` is 30s) answers 200 after
 * the upstream's delay. Through the routing maps (a host/path rule) and
 * through ACLs only (header rules: render/routing.ts's rule-id shape), with a
 * weighted split. Adding the first timed rule reloads and says why.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { backendYaml, routingFrontendYaml, startTestController } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { httpGet, serveForTest, startUpstreams } from '../helpers/upstream.js';

/** The rules' timeout, and how long the slow upstream waits before it answers. */
const TIMEOUT = '1s';
const DELAY_MS = 2500;

/** An upstream on loopback that waits `?delay=<ms>` (default 0) before answering with its name. */
async function slowUpstream(t: TestContext, name: string): Promise<number> {
  return serveForTest(t, (req, res) => {
    req.resume();
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay')) || 0;
    const timer = setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(name);
    }, delay);
    res.once('close', () => clearTimeout(timer));
  });
}

/** GET with its status, body and how long it took. */
async function timed(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  const r = await httpGet(port, path, 15_000, headers);
  return { status: r.status, body: r.body, ms: performance.now() - t0 };
}

async function fixture(t: TestContext, rules: string) {
  const up = await startUpstreams(t, 'app');
  const slow = await slowUpstream(t, 'slow');
  const slow2 = await slowUpstream(t, 'slow2');
  const port = await freePort();
  const backends = [
    backendYaml('app', [{ name: 'm1', port: up.app!.port }]),
    backendYaml('slow', [{ name: 'm1', port: slow }], '  timeouts: { server: 30s }\n'),
    backendYaml('slow2', [{ name: 'm1', port: slow2 }], '  timeouts: { server: 30s }\n'),
  ].join('---\n');
  const fx = await startTestController(t, { 'backends.yaml': backends, 'web.yaml': routingFrontendYaml(port, rules) });
  return { fx, port };
}

/** The timed request gets HAProxy's 504 after about the timeout; the untimed one waits for the upstream's 200. */
async function assertTimedAndNot(
  t: TestContext,
  timedReq: () => Promise<{ status: number; body: string; ms: number }>,
  freeReq: () => ReturnType<typeof timedReq>,
) {
  const [cut, free] = await Promise.all([timedReq(), freeReq()]);
  t.diagnostic(`timed: ${cut.status} after ${Math.round(cut.ms)} ms; untimed: ${free.status} after ${Math.round(free.ms)} ms`);
  assert.equal(cut.status, 504, `the timed rule's request: ${cut.status} ${cut.body.slice(0, 80)}`);
  assert.ok(cut.ms >= 900 && cut.ms < DELAY_MS - 200, `504 after ${Math.round(cut.ms)} ms, want about 1000 (timeout ${TIMEOUT})`);
  assert.equal(free.status, 200, `the same backend through another rule: ${free.status} ${free.body.slice(0, 80)}`);
  assert.ok(free.ms >= DELAY_MS - 50, `200 after ${Math.round(free.ms)} ms: the upstream's whole ${DELAY_MS} ms`);
}

test('routing maps: the timed rule answers 504 after the timeout, the same backend through another rule 200; adding the timeout says why it reloads', async (t) => {
  const PLAIN = `
    - { pathPrefix: /timed, backend: slow }
    - { pathPrefix: /free, backend: slow }
`;
  const { fx, port } = await fixture(t, PLAIN);
  const pass = fx.nextPass((p) => p.kind !== 'noop' && p.kind !== 'waiting');
  await fx.write('web.yaml', routingFrontendYaml(port, PLAIN.replace('backend: slow }', `backend: slow, timeouts: { request: ${TIMEOUT} } }`)));
  const p = await pass;
  assert.equal(p.kind, 'reload', JSON.stringify(p));
  assert.ok(p.reasons.includes('frontend default_web: rule 0 has a request timeout, which haproxy.cfg sets'), p.reasons.join('; '));
  assert.ok(p.reasons.includes('backend default_slow now applies a request timeout: a rule with timeouts.request targets it'), p.reasons.join('; '));
  assert.ok(!p.reasons.some((r) => /default_(app|slow2)/.test(r)), `other backends are unchanged: ${p.reasons.join('; ')}`);

  await assertTimedAndNot(
    t,
    () => timed(port, `/timed/x?delay=${DELAY_MS}`),
    () => timed(port, `/free/x?delay=${DELAY_MS}`),
  );
  // A request the upstream answers in time is served through the timed rule.
  const quick = await timed(port, '/timed/x?delay=200');
  assert.equal(quick.status, 200);
  assert.equal(quick.body, 'slow');
  assert.equal((await timed(port, '/other')).body, 'app');
});

test('ACL rules (no maps) and a weighted split: every backend of the split applies the timeout, the untimed rule does not', async (t) => {
  const { fx, port } = await fixture(
    t,
    `
    - matches: { headers: [{ name: X-Route, value: timed }] }
      backend: slow
      timeouts: { request: ${TIMEOUT} }
    - matches: { headers: [{ name: X-Route, value: free }] }
      backend: slow
    - matches: { headers: [{ name: X-Route, value: split }] }
      backends: [{ name: slow, weight: 50 }, { name: slow2, weight: 50 }]
      timeouts: { request: ${TIMEOUT} }
`,
  );
  const text = fx.controller.reconciler.runningRendered()?.text ?? '';
  assert.ok(!text.includes('map_'), 'no host/path rule: routed by ACLs only (render/routing.ts)');
  await assertTimedAndNot(
    t,
    () => timed(port, `/?delay=${DELAY_MS}`, { 'x-route': 'timed' }),
    () => timed(port, `/?delay=${DELAY_MS}`, { 'x-route': 'free' }),
  );
  // Both backends of the split time out (each of 6 requests lands on either).
  const split = await Promise.all(Array.from({ length: 6 }, () => timed(port, `/?delay=${DELAY_MS}`, { 'x-route': 'split' })));
  t.diagnostic(`split: ${split.map((s) => `${s.status}/${Math.round(s.ms)}ms`).join(' ')}`);
  for (const s of split) {
    assert.equal(s.status, 504);
    assert.ok(s.ms < DELAY_MS - 200, `504 after ${Math.round(s.ms)} ms`);
  }
  assert.equal((await timed(port, '/?delay=100', { 'x-route': 'split' })).status, 200, 'answered in time through the split');
});
