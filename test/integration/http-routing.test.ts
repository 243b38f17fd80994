/**
 * HTTP routing (issue 12, phase 1) against real HAProxy with real requests:
 * each match type, a weighted split over 1,000 requests, each filter, the
 * precedence examples of docs/decisions/0011-http-routing.md, and a regular
 * expression HAProxy refuses, named by its field.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { API_VERSION, routingFrontendYaml, startTestController } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { call, startRestController, TOKEN } from '../helpers/rest.js';
import { serveForTest } from '../helpers/upstream.js';

interface Echo {
  name: string;
  port: number;
}

/** An upstream that answers with its name and the request it saw (method, url, headers) as JSON. */
async function echoUpstream(t: TestContext, name: string): Promise<Echo> {
  const port = await serveForTest(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name });
    res.end(JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers }));
  });
  return { name, port };
}

interface Seen {
  status: number;
  headers: IncomingHttpHeaders;
  /** The upstream's name, or '' when no upstream answered. */
  upstream: string;
  /** What the upstream saw. */
  url?: string;
  reqHeaders?: IncomingHttpHeaders;
}

function send(port: number, o: { path?: string; method?: string; headers?: Record<string, string> } = {}): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: o.path ?? '/', method: o.method ?? 'GET', headers: o.headers ?? {}, agent: false, timeout: 3000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: { name?: string; url?: string; headers?: IncomingHttpHeaders } = {};
          try {
            body = JSON.parse(text) as typeof body;
          } catch {
            // not an upstream's answer (a redirect)
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, upstream: body.name ?? '', url: body.url, reqHeaders: body.headers });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${o.method ?? 'GET'} ${o.path ?? '/'} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const backend = (name: string, port: number) =>
  `apiVersion: ${API_VERSION}\nkind: Backend\nmetadata:\n  name: ${name}\nspec:\n  members:\n    - { name: m1, address: 127.0.0.1, port: ${port} }\n`;

const frontend = routingFrontendYaml;

const RULES = `
    - matches: { host: exact.test }
      backend: api
    - matches: { host: "*.wild.test" }
      backend: canary
    - matches: { path: { type: Exact, value: /exact } }
      backend: api
    - matches: { path: { type: PathPrefix, value: /pre } }
      backend: canary
    - matches: { path: { type: RegularExpression, value: '^/item/[0-9]+$' } }
      backend: api
    - matches: { headers: [{ name: X-Env, value: beta }] }
      backend: canary
    - matches: { headers: [{ name: X-Ver, value: '^v[0-9]+$', type: RegularExpression }] }
      backend: api
    - matches: { queryParams: [{ name: debug, value: "1" }] }
      backend: canary
    - matches: { method: DELETE }
      backend: api
    - matches: { path: { type: PathPrefix, value: /split } }
      backends: [{ name: api, weight: 90 }, { name: canary, weight: 10 }]
    - matches: { path: { type: PathPrefix, value: /old } }
      filters:
        - type: RequestRedirect
          requestRedirect: { scheme: https, port: 8443, path: { type: ReplacePrefixMatch, replacePrefixMatch: /new }, statusCode: 301 }
    - matches: { path: { type: Exact, value: /moved } }
      filters:
        - type: RequestRedirect
          requestRedirect: { hostname: other.test, path: { type: ReplaceFullPath, replaceFullPath: /elsewhere } }
    - matches: { path: { type: PathPrefix, value: /app2 } }
      filters:
        - type: URLRewrite
          urlRewrite: { hostname: internal.api, path: { type: ReplacePrefixMatch, replacePrefixMatch: / } }
      backend: api
    - matches: { path: { type: PathPrefix, value: /hdr } }
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: X-Route, value: "a b 100%" }], add: [{ name: X-Trace, value: "on" }], remove: [X-Debug] }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { set: [{ name: Cache-Control, value: "no-store, max-age=0" }], remove: [X-Upstream] }
      backend: api
    # Precedence: a catch-all prefix listed first does not shadow a longer prefix ...
    - pathPrefix: /
      host: prec.test
      backend: app
    - pathPrefix: /deep
      host: prec.test
      backend: canary
    # ... and an exact host wins over a wildcard listed before it.
    - host: "*.prec.test"
      backend: api
    - host: a.prec.test
      backend: canary
`;

async function routingFixture(t: TestContext) {
  const app = await echoUpstream(t, 'app');
  const api = await echoUpstream(t, 'api');
  const canary = await echoUpstream(t, 'canary');
  const port = await freePort();
  const fx = await startTestController(t, {
    'backends.yaml': [backend('app', app.port), backend('api', api.port), backend('canary', canary.port)].join('---\n'),
    'web.yaml': frontend(port, RULES),
  });
  return { fx, port };
}

test('each match type routes what it matches and nothing else', async (t) => {
  const { port } = await routingFixture(t);
  const to = async (o: Parameters<typeof send>[1]) => (await send(port, o)).upstream;
  // host: exact, and wildcard (a subdomain at any depth, not the domain itself)
  assert.equal(await to({ headers: { host: 'exact.test' } }), 'api');
  assert.equal(await to({ headers: { host: 'EXACT.test:8080' } }), 'api', 'case and port are ignored');
  assert.equal(await to({ headers: { host: 'x.exact.test' } }), 'app');
  assert.equal(await to({ headers: { host: 'a.wild.test' } }), 'canary');
  assert.equal(await to({ headers: { host: 'a.b.wild.test' } }), 'canary');
  assert.equal(await to({ headers: { host: 'wild.test' } }), 'app');
  // path: Exact, PathPrefix, RegularExpression
  assert.equal(await to({ path: '/exact' }), 'api');
  assert.equal(await to({ path: '/exact?x=1' }), 'api', 'the query is not part of the path');
  assert.equal(await to({ path: '/exact/x' }), 'app');
  assert.equal(await to({ path: '/pre' }), 'canary');
  assert.equal(await to({ path: '/pre/x' }), 'canary');
  assert.equal(await to({ path: '/prex' }), 'app');
  assert.equal(await to({ path: '/item/42' }), 'api');
  assert.equal(await to({ path: '/item/4x' }), 'app');
  // headers: Exact, RegularExpression
  assert.equal(await to({ headers: { 'x-env': 'beta' } }), 'canary');
  assert.equal(await to({ headers: { 'x-env': 'betamax' } }), 'app');
  assert.equal(await to({ headers: { 'x-ver': 'v12' } }), 'api');
  assert.equal(await to({ headers: { 'x-ver': 'v1x' } }), 'app');
  // query parameters and method
  assert.equal(await to({ path: '/q?a=2&debug=1' }), 'canary');
  assert.equal(await to({ path: '/q?debug=10' }), 'app');
  assert.equal(await to({ method: 'DELETE' }), 'api');
  assert.equal(await to({ method: 'PUT' }), 'app');
});

test('a 90/10 weighted split over 1,000 requests stays within 5% of the weights', async (t) => {
  const { port } = await routingFixture(t);
  const counts = new Map<string, number>();
  for (let i = 0; i < 1000; i++) {
    const { upstream } = await send(port, { path: '/split/x' });
    counts.set(upstream, (counts.get(upstream) ?? 0) + 1);
  }
  const api = counts.get('api') ?? 0;
  const canary = counts.get('canary') ?? 0;
  t.diagnostic(`90/10 split over 1000 requests: api ${api}, canary ${canary}`);
  assert.equal(api + canary, 1000, `every request went to the split: ${JSON.stringify([...counts])}`);
  assert.ok(Math.abs(api - 900) <= 50, `api got ${api} of 1000 (want 900 ± 50)`);
  assert.ok(Math.abs(canary - 100) <= 50, `canary got ${canary} of 1000 (want 100 ± 50)`);
});

test('filters: redirects and rewrites are seen by the client and the upstream; header changes by each side', async (t) => {
  const { port } = await routingFixture(t);
  // RequestRedirect, ReplacePrefixMatch with scheme and port: the prefix is replaced, the rest and the query kept.
  let r = await send(port, { path: '/old/page?x=1', headers: { host: 'site.test' } });
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, 'https://site.test:8443/new/page?x=1');
  r = await send(port, { path: '/old', headers: { host: 'site.test:81' } });
  assert.equal(r.headers.location, 'https://site.test:8443/new');
  r = await send(port, { path: '/oldx' });
  assert.equal(r.upstream, 'app', '/oldx is not under /old');
  // ReplaceFullPath with a hostname only: 302 by default, the request's scheme and port kept.
  r = await send(port, { path: '/moved?a=b', headers: { host: 'site.test:8080' } });
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, 'http://other.test:8080/elsewhere?a=b');
  // URLRewrite: the upstream sees the new Host and path, the query kept; the client sees the upstream's answer.
  r = await send(port, { path: '/app2/x/y?q=1', headers: { host: 'site.test' } });
  assert.equal(r.status, 200);
  assert.equal(r.upstream, 'api');
  assert.equal(r.url, '/x/y?q=1');
  assert.equal(r.reqHeaders?.host, 'internal.api');
  r = await send(port, { path: '/app2' });
  assert.equal(r.url, '/');
  // Header modifiers: set (with a space and a literal %), add, remove; on the response too.
  r = await send(port, { path: '/hdr', headers: { 'x-route': 'old', 'x-trace': 'first', 'x-debug': '1' } });
  assert.equal(r.upstream, 'api');
  assert.equal(r.reqHeaders?.['x-route'], 'a b 100%');
  assert.equal(r.reqHeaders?.['x-trace'], 'first, on');
  assert.equal(r.reqHeaders?.['x-debug'], undefined);
  assert.equal(r.headers['cache-control'], 'no-store, max-age=0');
  assert.equal(r.headers['x-upstream'], undefined);
  // The filters of one rule never touch a request another rule won.
  r = await send(port, { path: '/exact', headers: { 'x-debug': '1' } });
  assert.equal(r.reqHeaders?.['x-debug'], '1');
  assert.equal(r.headers['x-upstream'], 'api');
  assert.equal(r.headers['cache-control'], undefined);
});

test('precedence: specific host and path rules win whatever their order; header rules come first', async (t) => {
  const { port } = await routingFixture(t);
  const to = async (o: Parameters<typeof send>[1]) => (await send(port, o)).upstream;
  assert.equal(await to({ path: '/deep/x', headers: { host: 'prec.test' } }), 'canary', 'the longer prefix wins over / listed before it');
  assert.equal(await to({ path: '/other', headers: { host: 'prec.test' } }), 'app');
  assert.equal(await to({ headers: { host: 'a.prec.test' } }), 'canary', 'the exact host wins over the wildcard listed before it');
  assert.equal(await to({ headers: { host: 'b.prec.test' } }), 'api');
  assert.equal(await to({ path: '/exact', headers: { host: 'exact.test' } }), 'api');
  // A header rule (rule 5) comes before every host and path rule.
  assert.equal(await to({ path: '/deep/x', headers: { host: 'prec.test', 'x-env': 'beta' } }), 'canary');
  assert.equal(await to({ path: '/exact', headers: { 'x-env': 'beta' } }), 'canary');
});

test('a regular expression HAProxy refuses is refused naming its field; the last accepted version keeps serving', async (t) => {
  const { fx, port } = await routingFixture(t);
  const bad = RULES.replace("'^/item/[0-9]+$'", () => "'^/item/([0-9]+$'");
  const key = 'Frontend/default/web';
  const pass = fx.nextPass((p) => p.resolution?.outcomes.get(key)?.accepted === false, 15_000);
  await fx.write('web.yaml', frontend(port, bad));
  const p = await pass;
  const outcome = p.resolution!.outcomes.get(key)!;
  assert.equal(outcome.accepted, false);
  const issue = !outcome.accepted ? outcome.issues.find((i) => i.reason === 'RejectedByHAProxy') : undefined;
  assert.ok(issue, JSON.stringify(outcome));
  assert.equal(issue.field, 'spec.rules[4].matches.path.value');
  assert.match(issue.message, /regex .* is invalid/);
  assert.equal((await send(port, { path: '/item/42' })).upstream, 'api', 'the last accepted rules still serve');
});

test('thalassa-aqueduct path, path_reg and hdr_reg rules route real traffic through the new matches', async (t) => {
  const a = await echoUpstream(t, 'a');
  const b = await echoUpstream(t, 'b');
  const fx = await startRestController(t);
  const api = fx.api.port;
  const put = (path: string, body: unknown) => call(api, 'PUT', path, { body, token: TOKEN });
  for (const [key, up] of [
    ['A', a],
    ['B', b],
  ] as const) {
    const r = await put(`/backends/${key}?wait=true`, { type: 'static', members: [{ host: '127.0.0.1', port: up.port }] });
    assert.equal(r.status, 200, r.text);
  }
  const port = await freePort();
  const rules = [
    { type: 'path', operation: 'path', value: '/exact', backend: 'B' },
    { type: 'path', operation: 'path_reg', value: '^/item/[0-9]+$', backend: 'B' },
    { type: 'header', header: 'X-Ver', operation: 'hdr_reg', value: '^v[0-9]+$', backend: 'B' },
  ];
  const r = await put(`/frontends/Web?wait=true`, { bind: `127.0.0.1:${port}`, backend: 'A', rules });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.rules, rules, 'the rules are given back as written');
  const to = async (o: Parameters<typeof send>[1]) => (await send(port, o)).upstream;
  assert.equal(await to({ path: '/exact' }), 'b');
  assert.equal(await to({ path: '/exact/x' }), 'a');
  assert.equal(await to({ path: '/item/7' }), 'b');
  assert.equal(await to({ path: '/item/x' }), 'a');
  assert.equal(await to({ headers: { 'x-ver': 'v2' } }), 'b');
  assert.equal(await to({ headers: { 'x-ver': 'vx' } }), 'a');
});
