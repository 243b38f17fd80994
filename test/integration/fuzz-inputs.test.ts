/**
 * Hostile input on every path at once, as properties: one real controller
 * with a file source, the REST API (our routes and aqueduct's), etcd and the
 * Kubernetes API test server, all fed generated hostile values (quotes,
 * escapes, `${}`, flags, separators, unicode, very long strings), hostile
 * documents (aliases, depth, size) and hostile HTTP. After every batch:
 *   - the controller answers /healthz;
 *   - HAProxy keeps serving the last good configuration (a baseline frontend
 *     still routes to its upstream);
 *   - nothing rendered leaves its section: haproxy.cfg is parsed back and
 *     every line is checked against the keywords its section may hold.
 *
 * Reproducible: FUZZ_SEED=N replays a run (the seed is printed on failure);
 * FUZZ_BUDGET_MS bounds each input path (default 4 s; under 60 s in all).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { startEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/haproxy.js';
import { call, tokenFile, TOKEN } from '../helpers/rest.js';
import { startUpstream, httpGet } from '../helpers/upstream.js';
import { describe, Fuzz, hostileYamlDocuments, leafPaths, withValue } from '../helpers/fuzz.js';
import { checkRenderedConfig, RAW_CONFIG_ANNOTATION } from '../../src/model/raw-config.js';
import { startApiServer } from '../k8s/controller-harness.js';
import { backendObject, frontendObject } from '../k8s/fixtures.js';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_MS ?? 4000);

/** A valid spec of each kind, every field set, for mutation. */
function templates(port: number, upstreamPort: number) {
  const frontend = {
    mode: 'http',
    binds: [{ address: '127.0.0.1', port }],
    defaultBackend: 'app',
    rules: [
      { host: 'api.example.com', backend: 'app' },
      { pathPrefix: '/api', backend: 'app' },
      { header: { name: 'X-Canary', value: 'yes' }, backend: 'app' },
    ],
    timeouts: { client: '30s', httpRequest: '10s', httpKeepAlive: '10s' },
    maxconn: 100,
    forwardFor: true,
    keepAlive: 'keep-alive',
  };
  const backend = {
    mode: 'http',
    balance: 'roundrobin',
    members: [{ name: 'm1', address: '127.0.0.1', port: upstreamPort, weight: 10, state: 'ready' }],
    healthCheck: { type: 'http', method: 'GET', path: '/healthz', host: 'a.example.com', interval: '2s', rise: 2, fall: 3 },
    timeouts: { connect: '2s', server: '30s' },
  };
  return { frontend, backend };
}

interface Mutant {
  kind: 'Frontend' | 'Backend';
  name: string;
  spec: Record<string, unknown>;
  annotations?: Record<string, string>;
  /** What was changed, for the failure message. */
  what: string;
}

/** A valid resource of either kind with one field (or the name, or raw config) replaced by something hostile. */
function mutant(f: Fuzz, prefix: string, port: number, upstreamPort: number): Mutant {
  const t = templates(port, upstreamPort);
  const kind = f.chance(0.5) ? 'Frontend' : 'Backend';
  const base: Record<string, unknown> = kind === 'Frontend' ? t.frontend : t.backend;
  let name = `${prefix}-${f.int(4)}`;
  let spec = base;
  let annotations: Record<string, string> | undefined;
  let what: string;
  const r = f.int(10);
  if (r === 0) {
    name = f.hostileString();
    what = `metadata.name = ${JSON.stringify(name).slice(0, 120)}`;
  } else if (r === 1) {
    const lines = Array.from({ length: 1 + f.int(3) }, () => (f.chance(0.5) ? f.hostileString() : `http-response set-header X-F ${f.hostileString()}`));
    annotations = { [RAW_CONFIG_ANNOTATION]: f.chance(0.9) ? JSON.stringify(lines) : f.hostileString() };
    what = `raw config ${annotations[RAW_CONFIG_ANNOTATION]!.slice(0, 160)}`;
  } else if (r === 2) {
    const key = f.hostileString();
    spec = { ...base, [key]: f.hostileValue() };
    what = `unknown field ${JSON.stringify(key).slice(0, 80)}`;
  } else {
    const path = f.pick(leafPaths(base));
    const value = f.hostileValue();
    spec = withValue(base, path, value);
    what = `spec.${path.join('.')} = ${describe(value)}`;
  }
  return { kind, name, spec, annotations, what };
}

/** Hostile raw requests for the controller's HTTP listener. */
function hostileRequest(f: Fuzz): string {
  const method = f.pick(['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'G\u0000T', 'get', '']);
  const target = f.pick([
    '/',
    '/healthz',
    '/stream',
    '/api/v1/namespaces/default/backends/x',
    '/frontends/x',
    `http://a:${f.int(200_000)}/`,
    `http://[${f.hostileString()}]/`,
    `//${f.hostileString()}`,
    `/${encodeURIComponent(f.hostileString())}`,
    f.hostileString().replace(/\s/g, ''),
    '*',
  ]);
  const headers = [`Host: ${f.pick(['x', '', f.hostileString().replace(/[\r\n]/g, '')])}`];
  if (f.chance(0.4))
    headers.push(
      'Connection: Upgrade',
      'Upgrade: websocket',
      `Sec-WebSocket-Version: ${f.pick(['13', '8', 'x'])}`,
      `Sec-WebSocket-Key: ${f.pick(['dGhlIHNhbXBsZSBub25jZQ==', '', 'x'])}`,
    );
  if (f.chance(0.3)) headers.push(`Content-Length: ${f.pick(['-1', '99999999999', 'x', '5'])}`);
  if (f.chance(0.2)) headers.push('Transfer-Encoding: chunked');
  if (f.chance(0.2)) headers.push(`Authorization: Bearer ${f.hostileString().replace(/[\r\n]/g, '')}`);
  const body = f.chance(0.3) ? JSON.stringify(f.hostileValue()) : '';
  return `${method} ${target} HTTP/${f.pick(['1.1', '1.0', '2', '9.9'])}\r\n${headers.join('\r\n')}\r\n\r\n${body}`;
}

function rawSend(port: number, bytes: string): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, 500);
    s.on('data', () => setTimeout(done, 20));
    s.on('error', done);
    s.on('close', done);
    s.write(bytes, 'latin1');
  });
}

/** Every way a pass can be seen as done, bounded: a stalled reconciler fails the property. */
async function settled(fx: { controller: { reconciler: { settled(): Promise<void> } } }, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    fx.controller.reconciler.settled(),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`reconciler did not settle within 15 s after ${what}`)), 15_000))),
  ]).finally(() => clearTimeout(timer));
}

test('hostile input on every path: the controller answers, the last good configuration serves, nothing leaves its section', async (t) => {
  const f = new Fuzz(SEED);
  // Printed first, so a run that hangs or crashes can still be replayed.
  process.stderr.write(`fuzz-inputs: FUZZ_SEED=${SEED}\n`);
  const where = (what: string): string => `FUZZ_SEED=${SEED}: ${what}`;
  const up = await startUpstream('baseline');
  t.after(() => up.close());
  const etcd = await startEtcd(t);
  const kube = await startApiServer(t);
  const manifests = await mkdtemp(join(tmpdir(), 'nh-fuzz-'));
  t.after(() => rm(manifests, { recursive: true, force: true }));
  const webPort = await freePort();
  const fx = await startTestController(
    t,
    {
      'web.yaml': `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: web\nspec:\n  binds: [{ address: 127.0.0.1, port: ${webPort} }]\n  defaultBackend: app\n`,
      'app.yaml': backendYaml('app', [{ name: 'u', port: up.port }]),
    },
    {
      manifests,
      sources: [manifests, `etcd://${etcd.endpoint}/fuzz`, 'kubernetes', 'rest'],
      httpAddress: { address: '127.0.0.1', port: 0 },
      apiTokenFile: await tokenFile(t),
      allowRawConfig: true,
      fileRescanIntervalMs: 200,
      kubernetes: { kubeConfig: kube.kubeConfig(), leaderElection: false, identity: 'fuzz', backoff: { initialMs: 50, maxMs: 500 } },
    },
  );
  const http = fx.controller.httpAddress!.port;
  const cfgPath = join(fx.stateDir, 'haproxy.cfg');
  let checks = 0;

  /** The three properties, after `what`. */
  const invariants = async (what: string): Promise<void> => {
    await settled(fx, what).catch((err: Error) => assert.fail(where(err.message)));
    const health = await call(http, 'GET', '/healthz').catch((err: Error) => ({ status: 0, text: err.message }));
    assert.equal(health.status, 200, where(`/healthz after ${what}: ${health.text}`));
    const served = await httpGet(webPort, '/').catch((err: Error) => ({ status: 0, body: err.message }));
    assert.deepEqual([served.status, served.body], [200, 'baseline'], where(`the baseline frontend after ${what}`));
    const problems = checkRenderedConfig(await readFile(cfgPath, 'utf8'));
    assert.deepEqual(problems, [], where(`haproxy.cfg after ${what}`));
    checks++;
  };
  await invariants('start');

  const run = async (path: string, one: (i: number) => Promise<string>): Promise<number> => {
    const deadline = Date.now() + BUDGET_MS;
    let i = 0;
    while (Date.now() < deadline) {
      const what = `${path} #${i}: ${await one(i)}`;
      if (i % 4 === 3) await invariants(what);
      i++;
    }
    await invariants(`${path} (end)`);
    return i;
  };
  const counts: Record<string, number> = {};

  // Files: mutated manifests, hostile YAML documents, and the baseline's own files damaged.
  const yamlDocs = hostileYamlDocuments();
  counts.files = await run('files', async (i) => {
    if (i % 5 === 4) {
      const d = yamlDocs[((i / 5) % yamlDocs.length) | 0]!;
      await writeFile(join(manifests, 'hostile.yaml'), d.text);
      return d.name;
    }
    if (i % 7 === 6) {
      const damage = f.pick([
        '',
        'kind: Frontend\nmetadata: {name: web',
        'plain text',
        `{"kind": "Frontend", "metadata": {"name": "web"}, "spec": ${JSON.stringify(f.hostileValue())}}`,
      ]);
      await writeFile(join(manifests, 'web.yaml'), damage);
      await settled(fx, 'damaged web.yaml');
      await invariants(`web.yaml damaged: ${describe(damage, 100)}`);
      await writeFile(
        join(manifests, 'web.yaml'),
        `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: web\nspec:\n  binds: [{ address: 127.0.0.1, port: ${webPort} }]\n  defaultBackend: app\n`,
      );
      return 'web.yaml restored';
    }
    const m = mutant(f, 'fz-file', await freePort(), up.port);
    const doc = { apiVersion: API_VERSION, kind: m.kind, metadata: { name: m.name, ...(m.annotations ? { annotations: m.annotations } : {}) }, spec: m.spec };
    await writeFile(join(manifests, `fz-${i % 3}.yaml`), dump(doc, { skipInvalid: true, lineWidth: -1 }));
    return m.what;
  });
  await rm(join(manifests, 'hostile.yaml'), { force: true });

  // REST, our routes: mutated bodies, hostile names in the URL, raw hostile bodies.
  counts.rest = await run('rest', async () => {
    const m = mutant(f, 'fz-rest', await freePort(), up.port);
    const plural = m.kind === 'Frontend' ? 'frontends' : 'backends';
    const name = encodeURIComponent(m.name);
    const body = f.chance(0.15)
      ? f.pick([JSON.stringify(f.hostileValue()), `{"spec":${'['.repeat(100_000)}`, f.hostileString()])
      : { metadata: m.annotations ? { annotations: m.annotations } : {}, spec: m.spec };
    const r = await call(http, f.pick(['PUT', 'PUT', 'PATCH', 'POST']), `/api/v1/namespaces/default/${plural}/${name}${f.chance(0.3) ? '?wait=true' : ''}`, {
      body,
      token: TOKEN,
    });
    assert.ok(r.status < 500, where(`REST ${m.what} answered ${r.status}: ${r.text.slice(0, 300)}`));
    return `${m.what} → ${r.status}`;
  });

  // REST, aqueduct's routes.
  counts.aqueduct = await run('aqueduct', async () => {
    const port = await freePort();
    const frontend = {
      bind: `127.0.0.1:${port}`,
      backend: 'app',
      mode: 'http',
      keepalive: true,
      rules: [{ type: 'header', header: 'X-A', value: 'b', backend: 'app' }],
      natives: ['http-request set-header X-N n'],
    };
    const backend = { type: 'static', members: [{ host: '127.0.0.1', port: up.port }], health: { httpPath: '/', interval: 2000 }, natives: [] as string[] };
    const isFrontend = f.chance(0.5);
    const base: Record<string, unknown> = isFrontend ? frontend : backend;
    const path = f.pick(leafPaths(base));
    const value = f.hostileValue();
    const key = f.chance(0.2) ? encodeURIComponent(f.hostileString()) : `fz-aq-${f.int(3)}`;
    const r = await call(http, 'PUT', `/${isFrontend ? 'frontends' : 'backends'}/${key}`, { body: withValue(base, path, value), token: TOKEN });
    assert.ok(r.status < 500, where(`aqueduct ${path.join('.')} = ${describe(value, 100)} answered ${r.status}: ${r.text.slice(0, 300)}`));
    return `aqueduct ${path.join('.')} → ${r.status}`;
  });

  // etcd: mutated resources as JSON or YAML values, hostile documents, hostile keys.
  // etcd itself refuses values over 1.5 MiB (and the client then opens its circuit breaker): larger ones are not sent.
  const put = async (key: string, value: string): Promise<unknown> =>
    Buffer.byteLength(key) + Buffer.byteLength(value) > 1_000_000 ? undefined : etcd.client.put(key).value(value);
  counts.etcd = await run('etcd', async (i) => {
    if (i % 6 === 5) {
      const d = yamlDocs[((i / 6) % yamlDocs.length) | 0]!;
      await put('fuzz/backends/default/fz-etcd-doc', d.text);
      return d.name;
    }
    const m = mutant(f, 'fz-etcd', await freePort(), up.port);
    const plural = m.kind === 'Frontend' ? 'frontends' : 'backends';
    const doc = { metadata: m.annotations ? { annotations: m.annotations } : {}, spec: m.spec };
    const value = f.chance(0.5) ? JSON.stringify(doc) : dump(doc, { skipInvalid: true, lineWidth: -1 });
    const key = f.chance(0.15) ? `fuzz/${plural}/${f.hostileString()}/${f.hostileString()}` : `fuzz/${plural}/default/${m.name}`;
    await put(key, value);
    return `${key.slice(0, 80)}: ${m.what}`;
  });

  // Kubernetes: custom resources with mutated specs, names and annotations.
  counts.kubernetes = await run('kubernetes', async () => {
    const m = mutant(f, 'fz-kube', await freePort(), up.port);
    const obj = m.kind === 'Frontend' ? frontendObject(m.name, m.spec) : backendObject(m.name, m.spec);
    if (m.annotations) obj.metadata.annotations = m.annotations;
    try {
      kube.apply(obj);
    } catch (err) {
      return `${m.what} (refused by the test API server: ${(err as Error).message.slice(0, 80)})`;
    }
    return m.what;
  });

  // Hostile HTTP on the controller's listener.
  counts.http = await run('http', async () => {
    const req = hostileRequest(f);
    await rawSend(http, req);
    return JSON.stringify(req.slice(0, 120));
  });

  t.diagnostic(`FUZZ_SEED=${SEED}: ${JSON.stringify(counts)} inputs, ${checks} property checks`);
  for (const [path, n] of Object.entries(counts)) assert.ok(n > 0, `${path}: no input was tried`);
});
