/**
 * manifests/monitoring/ agrees with the code and with manifests/: the
 * dashboard only queries metrics that exist, the ServiceMonitor selects the
 * metrics Service and its port, the scrape annotations name the container's
 * metrics port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { ControllerMetrics } from '../../src/observe/controller-metrics.js';
import { allHaproxyMetricNames } from '../../src/observe/promex-metrics.js';

const root = new URL('../../../', import.meta.url).pathname;
const dir = join(root, 'manifests', 'monitoring');
type Doc = Record<string, any>;
const load = (file: string): Doc[] => (yaml.loadAll(readFileSync(join(root, file), 'utf8')) as Doc[]).filter(Boolean);

/** Every PromQL expression in the dashboard (panels, variables, annotations). */
function expressions(dashboard: Doc): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if ((k === 'expr' || k === 'definition') && typeof x === 'string') out.push(x);
        else walk(x);
      }
    }
  };
  walk(dashboard);
  return out;
}

test('the Grafana dashboard queries only metrics node-haproxy exports', async () => {
  const dashboard = JSON.parse(readFileSync(join(dir, 'grafana-dashboard.json'), 'utf8')) as Doc;
  assert.equal(dashboard.uid, 'node-haproxy');
  const m = new ControllerMetrics();
  const known = new Set<string>(allHaproxyMetricNames());
  for (const metric of await m.registry.getMetricsAsJSON()) {
    known.add(metric.name);
    if (String(metric.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) known.add(metric.name + s);
  }
  const exprs = expressions(dashboard);
  assert.ok(exprs.length > 30, 'the dashboard has queries');
  const used = new Set(exprs.flatMap((e) => e.match(/\b(node_haproxy_[a-z_]+|haproxy_[a-z_]+|process_[a-z_]+|nodejs_[a-z_]+)/g) ?? []));
  const unknown = [...used].filter((n) => !known.has(n));
  assert.deepEqual(unknown, [], 'metrics the dashboard queries but nobody exports');
  for (const p of dashboard.panels as Doc[]) {
    if (p.type !== 'row') assert.ok(p.gridPos && p.title && p.description, `panel ${p.title} has a position, title and description`);
  }
  const ids = (dashboard.panels as Doc[]).map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
});

test('every dashboard query is valid PromQL (promtool check rules)', () => {
  const dashboard = JSON.parse(readFileSync(join(dir, 'grafana-dashboard.json'), 'utf8')) as Doc;
  const exprs = expressions(dashboard).filter((e) => !e.startsWith('label_values('));
  const rules = { groups: [{ name: 'dashboard', rules: exprs.map((e, i) => ({ record: `dashboard:q${i}`, expr: e.replace(/\$__rate_interval/g, '5m') })) }] };
  const tmp = mkdtempSync(join(tmpdir(), 'nh-rules-'));
  try {
    writeFileSync(join(tmp, 'rules.yaml'), yaml.dump(rules));
    const r = spawnSync('promtool', ['check', 'rules', join(tmp, 'rules.yaml')], { encoding: 'utf8' });
    if (r.error) throw new Error(`promtool not found (Debian package "prometheus"): ${r.error.message}`);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('the ServiceMonitor selects the metrics Service of manifests/ and its port', () => {
  const [sm] = load('manifests/monitoring/servicemonitor.yaml');
  const service = load('manifests/service.yaml').find((d) => d.kind === 'Service' && d.metadata.name === 'node-haproxy-metrics')!;
  assert.ok(service, 'manifests/service.yaml has the node-haproxy-metrics Service');
  for (const [k, v] of Object.entries(sm!.spec.selector.matchLabels as Record<string, string>)) {
    assert.equal(service.metadata.labels[k], v, `the Service has label ${k}=${v}`);
  }
  assert.ok(sm!.spec.namespaceSelector.matchNames.includes(service.metadata.namespace));
  const portNames = (service.spec.ports as Doc[]).map((p) => p.name);
  for (const e of sm!.spec.endpoints as Doc[]) {
    assert.ok(portNames.includes(e.port), `the Service has port ${e.port}`);
    assert.equal(e.path, '/metrics');
  }
});

test('the scrape annotations name the port the controller container serves metrics on', () => {
  const [patch] = load('manifests/monitoring/scrape-annotations.yaml');
  const deployment = load('manifests/deployment.yaml').find((d) => d.kind === 'Deployment')!;
  const container = (deployment.spec.template.spec.containers as Doc[])[0]!;
  const metricsPort = (container.ports as Doc[]).find((p) => p.name === 'metrics')!.containerPort;
  const a = patch!.spec.template.metadata.annotations;
  assert.equal(Number(a['prometheus.io/port']), metricsPort);
  assert.equal(a['prometheus.io/scrape'], 'true');
  assert.equal(a['prometheus.io/path'], '/metrics');
  assert.ok((container.args as string[]).includes(`--http-address=0.0.0.0:${metricsPort}`));
});

test('the monitoring kustomization lists files that exist', () => {
  const [k] = load('manifests/monitoring/kustomization.yaml');
  for (const r of k!.resources as string[]) assert.ok(existsSync(join(dir, r)), r);
  for (const g of k!.configMapGenerator as Doc[]) for (const f of g.files as string[]) assert.ok(existsSync(join(dir, f)), f);
});
