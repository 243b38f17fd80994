// HTTP routing (issue 12, phase 1), the pure parts: validation errors name the field, the
// shorthands normalise, weights become slots, precedence, rendering, aqueduct translation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseRule, precedence, weightSlots } from '../../src/model/routing.js';
import type { Frontend, RouteRule } from '../../src/model/types.js';
import { validateResource } from '../../src/model/validate.js';
import { routingLines } from '../../src/render/routing.js';
import { frontendFromAqueduct, frontendToAqueduct } from '../../src/sources/rest/aqueduct.js';

const frontend = (rules: unknown[]) => ({
  apiVersion: 'haproxy.node-haproxy.io/v1alpha1',
  kind: 'Frontend',
  metadata: { name: 'web' },
  spec: { binds: [{ port: 8080 }], defaultBackend: 'app', rules },
});

/** `field: message` of every issue. */
const problems = (rules: unknown[]): string[] => validateResource(frontend(rules)).issues.map((i) => `${i.field}: ${i.message}`);

test('a rule in the long form with every field is valid and gets its defaults', () => {
  const r = validateResource(
    frontend([
      {
        matches: {
          host: '*.example.com',
          path: { type: 'PathPrefix', value: '/v1' },
          headers: [{ name: 'X-Env', value: 'beta' }],
          queryParams: [{ name: 'debug', value: '^(1|true)$', type: 'RegularExpression' }],
          method: 'GET',
        },
        backends: [{ name: 'api', weight: 90 }, { name: 'canary' }],
        filters: [
          { type: 'URLRewrite', urlRewrite: { hostname: 'internal.api', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } },
          {
            type: 'RequestHeaderModifier',
            requestHeaderModifier: { set: [{ name: 'X-A', value: 'b c' }], add: [{ name: 'X-B', value: '1' }], remove: ['X-C'] },
          },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['Server'] } },
        ],
      },
      { matches: { path: { value: '/old' } }, filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] },
    ]),
  );
  assert.deepEqual(r.issues, []);
  const rules = (r.resource as Frontend).spec.rules;
  assert.equal(rules[0]!.matches!.headers![0]!.type, 'Exact', 'header match type defaults to Exact');
  assert.equal(rules[0]!.backends![1]!.weight, 1, 'weight defaults to 1');
  assert.equal(rules[1]!.matches!.path!.type, 'PathPrefix', 'path match type defaults to PathPrefix');
  const redirect = rules[1]!.filters![0]!;
  assert.equal(redirect.type === 'RequestRedirect' && redirect.requestRedirect?.statusCode, 302, 'redirect status defaults to 302');
});

test('validation errors name the field and say the fix', () => {
  const cases: [unknown, RegExp][] = [
    [{ host: 'a.com', matches: { method: 'GET' }, backend: 'a' }, /^spec\.rules\[0\]\.host: is a shorthand for matches/],
    [{ pathPrefix: '/a', backend: 'a', backends: [{ name: 'b' }] }, /^spec\.rules\[0\]\.backend: is a shorthand for backends/],
    [{ matches: { path: { type: 'Exact', value: '^/a$' } }, backend: 'a' }, /^spec\.rules\[0\]\.matches\.path\.value: "\^\/a\$" is not allowed for type Exact/],
    [{ matches: { path: { value: "/a'b" } }, backend: 'a' }, /^spec\.rules\[0\]\.matches\.path\.value: "\/a'b" is not allowed: use a regular expression/],
    [
      { matches: { headers: [{ name: 'X', value: 'a$' }] }, backend: 'a' },
      /^spec\.rules\[0\]\.matches\.headers\[0\]\.value: "a\$" is not allowed for type Exact/,
    ],
    [{ matches: { queryParams: [{ name: 'a b', value: 'x' }] }, backend: 'a' }, /^spec\.rules\[0\]\.matches\.queryParams\[0\]\.name: /],
    [{ matches: { method: 'FETCH' }, backend: 'a' }, /^spec\.rules\[0\]\.matches\.method: "FETCH" is not one of/],
    [{ matches: {}, backend: 'a' }, /^spec\.rules\[0\]: a rule needs at least one of host, pathPrefix or header/],
    [{ pathPrefix: '/a' }, /^spec\.rules\[0\]\.backend: is required: name the backend/],
    [{ pathPrefix: '/a', backends: [{ name: 'a', weight: 0 }] }, /^spec\.rules\[0\]\.backends: every backend has weight 0/],
    [{ pathPrefix: '/a', backends: [{ name: 'a', weight: 1001 }] }, /^spec\.rules\[0\]\.backends\[0\]\.weight: 1001 must be <= 1000/],
    [{ pathPrefix: '/a', backends: [{ name: 'a' }, { name: 'a' }] }, /^spec\.rules\[0\]\.backends\[1\]\.name: "a" is listed twice/],
    [
      { host: 'a.com', backend: 'a', filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }] },
      /^spec\.rules\[0\]\.filters\[0\]\.urlRewrite\.path\.type: ReplacePrefixMatch replaces the prefix the rule matched/,
    ],
    [
      { pathPrefix: '/a', backend: 'a', filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath' } } }] },
      /^spec\.rules\[0\]\.filters\[0\]\.urlRewrite\.path\.replaceFullPath: is required with type ReplaceFullPath/,
    ],
    [
      { pathPrefix: '/a', backend: 'a', filters: [{ type: 'RequestRedirect' }] },
      /^spec\.rules\[0\]\.filters\[0\]\.requestRedirect: is required with type RequestRedirect/,
    ],
    [
      { pathPrefix: '/a', backend: 'a', filters: [{ type: 'RequestRedirect', requestRedirect: {}, urlRewrite: {} }] },
      /^spec\.rules\[0\]\.filters\[0\]\.urlRewrite: does not apply to type RequestRedirect/,
    ],
    [
      {
        pathPrefix: '/a',
        backend: 'a',
        filters: [
          { type: 'RequestRedirect', requestRedirect: {} },
          { type: 'URLRewrite', urlRewrite: {} },
        ],
      },
      /^spec\.rules\[0\]\.filters\[1\]: a rule cannot both redirect and rewrite/,
    ],
    [
      { pathPrefix: '/a', filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 300 } }] },
      /^spec\.rules\[0\]\.filters\[0\]\.requestRedirect\.statusCode: 300 is not one of 301, 302, 303, 307, 308/,
    ],
    [
      { pathPrefix: '/a', backend: 'a', filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X', value: 'a\nb' }] } }] },
      /^spec\.rules\[0\]\.filters\[0\]\.requestHeaderModifier\.set\[0\]\.value: "a\\nb" is not allowed/,
    ],
    [
      { pathPrefix: '/a', filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: '*.a.com' } }] },
      /^spec\.rules\[0\]\.filters\[0\]\.requestRedirect\.hostname: "\*\.a\.com" is not allowed: use a DNS name/,
    ],
  ];
  for (const [rule, want] of cases) {
    const got = problems([rule]);
    assert.ok(
      got.some((p) => want.test(p)),
      `${JSON.stringify(rule)}: want ${want}, got ${JSON.stringify(got)}`,
    );
  }
});

test('the shorthands normalise to matches and backends', () => {
  assert.deepEqual(normaliseRule({ host: 'a.com', pathPrefix: '/x', header: { name: 'X', value: 'y' }, backend: 'b' }), {
    matches: { host: 'a.com', path: { type: 'PathPrefix', value: '/x' }, headers: [{ name: 'X', value: 'y', type: 'Exact' }] },
    backends: [{ name: 'b', weight: 1 }],
  });
});

test('weights become slots of 1,000: proportional, weight 0 gets none, every positive weight at least one', () => {
  assert.deepEqual(weightSlots([90, 10]), [
    [0, 899],
    [900, 999],
  ]);
  assert.deepEqual(weightSlots([0, 1]), [undefined, [0, 999]]);
  assert.deepEqual(weightSlots([1, 1, 1]), [
    [0, 333],
    [334, 666],
    [667, 999],
  ]);
  const tiny = weightSlots([1000, 1000, 1000, 1]);
  assert.deepEqual(tiny[3], [999, 999], 'weight 1 of 3001 still gets a slot');
  assert.equal(
    tiny.reduce((a, s) => a + (s ? s[1] - s[0] + 1 : 0), 0),
    1000,
  );
});

test('precedence: ACL rules first in order, then exact host, wildcard (longer first), no host; Exact path, longer prefix', () => {
  const rules: RouteRule[] = [
    { pathPrefix: '/', backend: 'a' }, // 0
    { pathPrefix: '/api', backend: 'a' }, // 1
    { host: '*.example.com', backend: 'a' }, // 2
    { host: '*.b.example.com', backend: 'a' }, // 3
    { host: 'x.example.com', backend: 'a' }, // 4
    { header: { name: 'X', value: 'y' }, backend: 'a' }, // 5
    { matches: { path: { type: 'Exact', value: '/api' } }, backend: 'a' }, // 6
    { matches: { path: { type: 'RegularExpression', value: '^/r' } }, backend: 'a' }, // 7
    { host: 'x.example.com', pathPrefix: '/deep', backend: 'a' }, // 8
  ];
  assert.deepEqual(precedence(rules), [5, 7, 8, 4, 3, 2, 6, 1, 0]);
});

test('rendering: shorthand rules keep their text; a split or a filter switches to the rule-id shape', () => {
  const plain = routingLines('ns', [{ pathPrefix: '/a', backend: 'x' }]);
  assert.deepEqual(plain.routes, ['use_backend ns_x if r0_path']);
  const split = routingLines('ns', [
    {
      pathPrefix: '/a',
      backends: [
        { name: 'x', weight: 3 },
        { name: 'y', weight: 0 },
        { name: 'z', weight: 1 },
      ],
    },
  ]);
  assert.deepEqual(split.routes, [
    'http-request set-var(txn.nh_rule) int(0) if !{ var(txn.nh_rule) -m found } r0_path',
    'http-request set-var(txn.nh_slot) rand(1000) if { var(txn.nh_rule) -m found }',
    'use_backend ns_x if { var(txn.nh_rule) -m int 0 } { var(txn.nh_slot) -m int 0:749 }',
    'use_backend ns_z if { var(txn.nh_rule) -m int 0 } { var(txn.nh_slot) -m int 750:999 }',
  ]);
  // Free text is quoted, `%` is literal in log-format strings, a regex is never a flag.
  const quoted = routingLines('ns', [
    {
      matches: { path: { type: 'RegularExpression', value: "-i'x" } },
      backend: 'x',
      filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: "50% o'k" }] } }],
    },
  ]);
  assert.ok(quoted.acls.includes("acl r0_path path -m reg -- '-i'\\''x'"), quoted.acls.join('\n'));
  assert.ok(quoted.routes.includes("http-request set-header X-A '50%% o'\\''k' if { var(txn.nh_rule) -m int 0 }"), quoted.routes.join('\n'));
});

test('aqueduct path, path_reg and hdr_reg rules translate onto matches, and back', () => {
  const t = frontendFromAqueduct(
    'web',
    {
      bind: '*:80',
      rules: [
        { type: 'path', operation: 'path', value: '/exact', backend: 'a' },
        { type: 'path', operation: 'path_reg', value: '^/item/[0-9]+$', backend: 'a' },
        { type: 'url', operation: 'url', value: '/u', backend: 'a' },
        { type: 'header', header: 'X-Ver', operation: 'hdr_reg', value: '^v[0-9]+$', backend: 'a' },
      ],
    },
    { namespace: 'default', allowRawConfig: false },
  );
  assert.deepEqual(t.issues, []);
  const v = validateResource(t.resource);
  assert.deepEqual(v.issues, []);
  const f = v.resource as Frontend;
  assert.deepEqual(
    f.spec.rules.map((r) => r.matches),
    [
      { path: { type: 'Exact', value: '/exact' } },
      { path: { type: 'RegularExpression', value: '^/item/[0-9]+$' } },
      { path: { type: 'Exact', value: '/u' } },
      { headers: [{ name: 'X-Ver', value: '^v[0-9]+$', type: 'RegularExpression' }] },
    ],
  );
  // Written elsewhere (no aqueduct annotation): the rules are shown in aqueduct's terms.
  const bare = { ...f, metadata: { ...f.metadata, annotations: {} } };
  assert.deepEqual(
    frontendToAqueduct(bare).rules.map((r) => ('operation' in r ? r.operation : r.type)),
    ['path', 'path_reg', 'path', 'hdr_reg'],
  );
});
