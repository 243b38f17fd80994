/**
 * The planner with certificates (plan.ts + cert-plan.ts) and what `node-haproxy
 * plan` / `?dryRun` print for it: a certificate change is a runtime plan
 * (`certificate update (N)`), a new default certificate reloads with the
 * reason, and no output ever holds PEM text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, type Rendered } from '../../src/reconcile/plan.js';
import { explainPlan } from '../../src/plan/explain.js';
import { formatPlanMarkdown, formatPlanText } from '../../src/plan/format.js';
import type { ConfigModel } from '../../src/render/model.js';

const DIR = '/var/lib/nh';
const pem = (tag: string): string =>
  `-----BEGIN CERTIFICATE-----\n${Buffer.from(tag.padEnd(48, tag)).toString('base64')}\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nU0VDUkVU${tag}\n-----END PRIVATE KEY-----\n`;
const A = 'certs/default/secret-a.pem';
const B = 'certs/default/secret-b.pem';
const LIST = 'certs/default_web.0.crtlist';
const list = (...lines: string[][]) => lines.map(([p, ...f]) => [`${DIR}/${p}`, ...f].join(' ')).join('\n') + '\n';
const model: ConfigModel = {
  global: { adminSocket: `${DIR}/admin.sock`, serverStateFile: `${DIR}/server-state`, hardStopAfter: '30s' },
  frontends: [],
  backends: [],
};
const rendered = (files: Record<string, string>, text = 'cfg'): Rendered => ({ model, text, files: new Map(Object.entries(files)) });
const running = rendered({ [A]: pem('a1'), [LIST]: list([A, 'a.example']) });
const options = { runtimeUpdates: true, certificates: { stateDir: DIR } };

test('a rotated certificate and an added one: one runtime plan, printed as a certificate update, without key material', () => {
  const desired = rendered({ [A]: pem('a2'), [B]: pem('b1'), [LIST]: list([A, 'a.example'], [B, 'b.example']) });
  const p = plan(desired, running, options);
  assert.equal(p.kind, 'runtime');
  assert.equal(p.kind === 'runtime' ? p.summary : '', 'certificate update (3)');
  const report = explainPlan({ plan: p, desired: model, running: model, problems: [] });
  assert.deepEqual(
    report.certificateOperations.map((o) => o.op),
    ['update-cert', 'new-cert', 'add-crtlist-line'],
  );
  const text = formatPlanText(report);
  assert.match(
    text,
    /^Plan: runtime: runtime changes only, no reload\n {2}runtime: certificate update \(3\)\n {4}update certificate \/var\/lib\/nh\/certs\/default\/secret-a\.pem\n/,
  );
  assert.match(text, /serve \/var\/lib\/nh\/certs\/default\/secret-b\.pem in crt-list \/var\/lib\/nh\/certs\/default_web\.0\.crtlist for b\.example/);
  const markdown = formatPlanMarkdown(report);
  assert.match(markdown, /#### Runtime: certificate update \(3\)/);
  for (const out of [text, markdown, JSON.stringify(report)]) {
    assert.doesNotMatch(out, /PRIVATE KEY|U0VDUkVU/, 'no PEM text in any output');
  }
});

test('a new default certificate: reload, with the reason; without the certificates option (runtime updates off), every changed file reloads', () => {
  const desired = rendered({ [A]: pem('a1'), [B]: pem('b1'), [LIST]: list([B, 'b.example'], [A, 'a.example']) });
  const p = plan(desired, running, options);
  assert.equal(p.kind, 'reload');
  assert.match(p.kind === 'reload' ? p.reasons.join('\n') : '', /the default certificate of crt-list certs\/default_web\.0\.crtlist changed/);
  const text = formatPlanText(explainPlan({ plan: p, desired: model, running: model, problems: [] }));
  assert.match(text, /reload: the default certificate of crt-list/);

  const rotated = rendered({ [A]: pem('a2'), [LIST]: list([A, 'a.example']) });
  assert.equal(plan(rotated, running, options).kind, 'runtime');
  const off = plan(rotated, running, { runtimeUpdates: false });
  assert.deepEqual(off, { kind: 'reload', reasons: [`file ${A} changed`] });
});

test('certificates and a haproxy.cfg change the runtime API cannot make: one reload, which carries the files', () => {
  const desired = rendered({ [A]: pem('a2'), [LIST]: list([A, 'a.example']) }, 'cfg changed');
  const p = plan(desired, running, options);
  assert.deepEqual(p, { kind: 'reload', reasons: ['configuration text changed'] });
});
