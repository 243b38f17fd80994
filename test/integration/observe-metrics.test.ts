/**
 * /metrics against a real HAProxy (2.6 or 3.0: HAPROXY_BIN) and its built-in
 * exporter on the same process: same families (names, HELP, TYPE), same
 * series, same values after real traffic; the output passes promtool;
 * controller metrics follow what the controller does.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { API_VERSION, backendYaml, startTestController, type ControllerFixture } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { httpGet, startUpstream, type Upstream } from '../helpers/upstream.js';
import { familyOf, parseExposition, type Exposition } from '../../src/observe/exposition.js';
import type { ControllerOptions } from '../../src/controller.js';

/** GET a path of a local server: status, content type and body. */
function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function frontendYaml(port: number): string {
  return `apiVersion: ${API_VERSION}
kind: Frontend
metadata:
  name: web
spec:
  binds:
    - { address: 127.0.0.1, port: ${port} }
  defaultBackend: app
  rules:
    - pathPrefix: /dead
      backend: dead
`;
}

interface Setup {
  fx: ControllerFixture;
  httpPort: number;
  statsPort: number;
  webPort: number;
  upstreams: Upstream[];
}

async function setup(t: TestContext, options: Partial<ControllerOptions> = {}): Promise<Setup> {
  const upstreams = [await startUpstream('a1'), await startUpstream('a2')];
  for (const u of upstreams) t.after(() => u.close());
  const [webPort, statsPort, deadPort] = [await freePort(), await freePort(), await freePort()];
  const app = backendYaml(
    'app',
    [
      { name: 'a1', port: upstreams[0]!.port },
      { name: 'a2', port: upstreams[1]!.port },
      { name: 'a3', port: upstreams[1]!.port, state: 'maint' },
    ],
    '  healthCheck:\n    type: http\n    path: /\n    interval: 1s\n',
  );
  const fx = await startTestController(
    t,
    { 'frontend.yaml': frontendYaml(webPort), 'app.yaml': app, 'dead.yaml': backendYaml('dead', [{ name: 'd1', port: deadPort, state: 'maint' }]) },
    { httpAddress: { address: '127.0.0.1', port: 0 }, statsListener: { address: '127.0.0.1', port: statsPort }, observe: { statsCacheMs: 0 }, ...options },
  );
  return { fx, httpPort: fx.controller.httpAddress!.port, statsPort, webPort, upstreams };
}

async function scrape(port: number, path = '/metrics'): Promise<Exposition> {
  const r = await get(port, path);
  assert.equal(r.status, 200);
  return parseExposition(r.body);
}

/** Waits until `pred` holds for our /metrics. */
async function waitForMetrics(port: number, pred: (e: Exposition) => boolean, what: string, timeoutMs = 10_000): Promise<Exposition> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = await scrape(port);
    if (pred(e)) return e;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function promtool(text: string): { status: number | null; findings: string[] } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool not found (Debian package "prometheus"): ${r.error.message}`);
  return { status: r.status, findings: `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '') };
}

// Families whose values move on their own between two reads a few ms apart
// (clocks, health checks running), compared by presence only:
const MOVING = new Set([
  'last_session_seconds',
  'check_last_change_seconds',
  'check_duration_seconds',
  'check_failures_total',
  'check_up_down_total',
  'downtime_seconds_total',
  // Below 1024 connections HAProxy 2.6's exporter divides these averages by 1024
  // (rounding up) where `show stat` divides by the connections seen; node-haproxy
  // reports the stats page's value (docs/metrics.md, "Differences").
  'queue_time_average_seconds',
  'connect_time_average_seconds',
  'response_time_average_seconds',
  'total_time_average_seconds',
]);

const OURS = /proxy="default_(web|app|dead)"/;

test('HAProxy metrics: same families, series and values as the built-in exporter after real traffic', async (t) => {
  const s = await setup(t);
  // Health checks of a1/a2 have run once L7OK shows.
  await waitForMetrics(s.httpPort, (e) => e.samples.get('haproxy_server_check_status{proxy="default_app",server="a2",state="L7OK"}') === 1, 'health checks');
  for (let i = 0; i < 20; i++) assert.equal((await httpGet(s.webPort, '/')).status, 200);
  for (let i = 0; i < 5; i++) assert.equal((await httpGet(s.webPort, '/dead/x')).status, 503);
  for (let i = 0; i < 3; i++) assert.equal((await httpGet(s.webPort, '/missing')).status, 200); // upstream answers 200 to any path

  // HAProxy counts a request when its stream ends, which can be just after the
  // client has its response: wait until every request is counted and no
  // session is open. No traffic from here on: read ours, then the built-in one
  // (its own request only touches its stats frontend).
  const mine = await waitForMetrics(
    s.httpPort,
    (e) =>
      e.samples.get('haproxy_backend_http_requests_total{proxy="default_app"}') === 23 &&
      e.samples.get('haproxy_backend_http_requests_total{proxy="default_dead"}') === 5 &&
      e.samples.get('haproxy_frontend_current_sessions{proxy="default_web"}') === 0,
    'all 28 requests counted and no session open',
  );
  const builtin = await scrape(s.statsPort);

  // Families: every haproxy_* family of the built-in exporter, with its HELP and TYPE.
  const theirFamilies = [...builtin.type.keys()].filter((f) => f.startsWith('haproxy_'));
  for (const f of theirFamilies) {
    assert.equal(mine.type.get(f), builtin.type.get(f), `TYPE of ${f}`);
    assert.equal(mine.help.get(f), builtin.help.get(f), `HELP of ${f}`);
  }
  assert.deepEqual(
    [...mine.type.keys()].filter((f) => f.startsWith('haproxy_')),
    theirFamilies,
    'the same haproxy_* families, in the same order',
  );

  // Series and values of the controller's proxies.
  const ours = (e: Exposition) => [...e.samples.keys()].filter((k) => OURS.test(k)).sort();
  assert.deepEqual(ours(mine), ours(builtin), 'the same series (names and labels)');
  const differ: string[] = [];
  for (const key of ours(builtin)) {
    const family = familyOf(key).replace(/^haproxy_(frontend|backend|server)_/, '');
    if (MOVING.has(family)) continue;
    const [a, b] = [mine.samples.get(key)!, builtin.samples.get(key)!];
    if (!(a === b || (Number.isNaN(a) && Number.isNaN(b)))) differ.push(`${key}: ours ${a}, built-in ${b}`);
  }
  assert.deepEqual(differ, [], 'values equal to the built-in exporter');

  // What the traffic did, stated plainly (and equal in both, per the loop above).
  const v = (k: string) => mine.samples.get(k);
  assert.equal(v('haproxy_frontend_http_requests_total{proxy="default_web"}'), 28);
  assert.equal(v('haproxy_frontend_http_responses_total{proxy="default_web",code="2xx"}'), 23);
  assert.equal(v('haproxy_frontend_http_responses_total{proxy="default_web",code="5xx"}'), 5);
  assert.equal(v('haproxy_frontend_sessions_total{proxy="default_web"}'), 28);
  assert.equal(v('haproxy_backend_http_responses_total{proxy="default_dead",code="5xx"}'), 5);
  assert.equal(v('haproxy_backend_status{proxy="default_dead",state="DOWN"}'), 1, 'its only member is in maintenance');
  assert.equal(v('haproxy_server_sessions_total{proxy="default_app",server="a1"}')! + v('haproxy_server_sessions_total{proxy="default_app",server="a2"}')!, 23);
  assert.equal(v('haproxy_server_status{proxy="default_app",server="a1",state="UP"}'), 1);
  assert.equal(v('haproxy_server_status{proxy="default_app",server="a3",state="MAINT"}'), 1);
  assert.equal(v('node_haproxy_stats_up'), 1);

  // ?no-maint, as the built-in exporter reads it.
  const noMaint = await scrape(s.httpPort, '/metrics?scope=server&no-maint');
  const theirs = await scrape(s.statsPort, '/metrics?scope=server&no-maint');
  assert.equal(noMaint.samples.has('haproxy_server_status{proxy="default_app",server="a3",state="MAINT"}'), false);
  assert.deepEqual(ours(noMaint), ours(theirs));
});

test('/metrics passes promtool; the only lint findings are names kept for compatibility', async (t) => {
  const s = await setup(t);
  const r = await get(s.httpPort, '/metrics');
  assert.equal(r.type, 'text/plain; version=0.0.4; charset=utf-8');
  const ours = promtool(r.body);
  assert.notEqual(ours.status, 1, `promtool could not parse /metrics: ${ours.findings.join('\n')}`);
  // HAProxy's own name (its built-in exporter gets the same finding) and prom-client's default Node.js gauges.
  const allowed = [
    'haproxy_process_failed_resolutions counter metrics should have "_total" suffix',
    'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
    'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
    'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
  ];
  assert.deepEqual(
    ours.findings.filter((f) => !allowed.includes(f)),
    [],
    'no other finding',
  );
  assert.ok(!ours.findings.some((f) => f.startsWith('node_haproxy_')), 'node_haproxy_* metrics lint clean');
  const builtin = promtool((await get(s.statsPort, '/metrics')).body);
  assert.ok(builtin.findings.includes(allowed[0]!), 'the built-in exporter has the same finding');
  // Without the default metrics and the process family, nothing is left to report.
  const onlyServers = promtool((await get(s.httpPort, '/metrics?scope=server&scope=backend&scope=frontend')).body);
  assert.deepEqual(onlyServers, { status: 0, findings: [] });
});

test('scrape options: scope, server metrics off, excluded families; a broken stats socket leaves the controller metrics', async (t) => {
  const s = await setup(t, { observe: { statsCacheMs: 0, haproxyMetrics: { serverMetrics: false, exclude: ['haproxy_process_*'] } } });
  const all = await scrape(s.httpPort);
  assert.ok(!all.families.some((f) => f.startsWith('haproxy_server_') || f.startsWith('haproxy_process_')));
  assert.ok(all.families.includes('haproxy_backend_status'));
  assert.ok(all.families.includes('node_haproxy_reloads_total'));
  const controllerOnly = await scrape(s.httpPort, '/metrics?scope=controller');
  assert.ok(controllerOnly.families.length > 0 && !controllerOnly.families.some((f) => f.startsWith('haproxy_')));
  assert.equal((await get(s.httpPort, '/metrics?scope=bogus')).status, 400);
  assert.equal((await get(s.httpPort, '/metrics?scope=frontend')).body.includes('haproxy_backend_'), false);

  // HAProxy gone: /metrics still answers, with node_haproxy_stats_up 0.
  await s.fx.controller.supervisor.stop({ stopHaproxy: true });
  const down = await scrape(s.httpPort);
  assert.equal(down.samples.get('node_haproxy_stats_up'), 0);
  assert.equal(down.samples.get('node_haproxy_haproxy_up'), 0);
  assert.ok(!down.families.some((f) => f.startsWith('haproxy_')));
  assert.ok((down.samples.get('node_haproxy_stats_read_errors_total') ?? 0) >= 1);
});

test('concurrent scrapes cost one stats read', async (t) => {
  const s = await setup(t, { observe: { statsCacheMs: 1000 } });
  const reader = s.fx.controller.observe.stats;
  await scrape(s.httpPort); // warm: one read
  await new Promise((r) => setTimeout(r, 1100));
  const before = reader.reads;
  const bodies = await Promise.all(Array.from({ length: 8 }, () => get(s.httpPort, '/metrics?scope=server')));
  assert.equal(reader.reads - before, 1, 'eight concurrent scrapes, one read');
  assert.ok(
    bodies.every((b) => b.body === bodies[0]!.body),
    'all saw the same numbers',
  );
});

test('controller metrics follow reloads, runtime updates, resources and apply state', async (t) => {
  const s = await setup(t);
  const m0 = await scrape(s.httpPort);
  assert.equal(m0.samples.get('node_haproxy_reconcile_passes_total{result="start"}'), 1);
  assert.equal(m0.samples.get('node_haproxy_reloads_total{result="success"}'), 0);
  assert.equal(m0.samples.get('node_haproxy_resources{kind="Backend",condition="accepted"}'), 2);
  assert.equal(m0.samples.get('node_haproxy_resources{kind="Frontend",condition="accepted"}'), 1);
  assert.ok(m0.samples.get('node_haproxy_last_successful_apply_timestamp_seconds')! > Date.now() / 1000 - 60);
  assert.equal(m0.samples.get('node_haproxy_haproxy_up'), 1);
  assert.equal(m0.samples.get('node_haproxy_ready'), 1);

  // A member weight: runtime API, no reload.
  const runtime = s.fx.nextPass((p) => p.kind === 'runtime');
  await s.fx.write('dead.yaml', backendYaml('dead', [{ name: 'd1', port: s.webPort, state: 'maint', weight: 5 }]));
  await runtime;
  // A new backend: a reload.
  const reload = s.fx.nextPass((p) => p.kind === 'reload');
  await s.fx.write('extra.yaml', backendYaml('extra', [{ name: 'e1', port: s.upstreams[0]!.port }]));
  await reload;
  // An invalid resource: rejected, nothing served for it.
  const rejected = s.fx.nextPass((p) => p.resolution?.outcomes.get('Backend/default/broken')?.accepted === false);
  await s.fx.write(
    'broken.yaml',
    `apiVersion: ${API_VERSION}\nkind: Backend\nmetadata:\n  name: broken\nspec:\n  members: [{ name: x, address: 127.0.0.1, port: 99999 }]\n`,
  );
  await rejected;

  const m = await scrape(s.httpPort);
  assert.equal(m.samples.get('node_haproxy_runtime_updates_total{result="success"}'), 1);
  assert.equal(m.samples.get('node_haproxy_runtime_operations_total{op="weight"}'), 1);
  assert.equal(m.samples.get('node_haproxy_reloads_total{result="success"}'), 1);
  assert.equal(m.samples.get('node_haproxy_reloads_total{result="failed"}'), 0);
  assert.equal(m.samples.get('node_haproxy_resources{kind="Backend",condition="accepted"}'), 3);
  assert.equal(m.samples.get('node_haproxy_resources{kind="Backend",condition="rejected"}'), 1);
  assert.equal(m.samples.get('node_haproxy_unable_to_apply'), 0);
  assert.ok(m.samples.get('node_haproxy_reconcile_passes_total{result="reload"}')! >= 1);
  assert.ok(m.samples.get('node_haproxy_changes_total')! >= 4);
  assert.ok(m.samples.get('node_haproxy_reconcile_duration_seconds_count{result="reload"}')! >= 1);
  assert.ok(m.samples.get('node_haproxy_render_duration_seconds_count')! >= 4);
});
