/** `validate` checks regular expressions with HAProxy's own engine (issue 12, Deliver 1), on $HAPROXY_BIN. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { HAPROXY_BIN } from '../helpers/haproxy.js';

const cli = join(packageRoot(), 'dist', 'src', 'cli.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 20_000 });

const manifests = (rules: string) => `apiVersion: haproxy.node-haproxy.io/v1alpha1
kind: Backend
metadata: { name: api }
spec:
  members: [{ name: a, address: 127.0.0.1, port: 9001 }]
---
apiVersion: haproxy.node-haproxy.io/v1alpha1
kind: Frontend
metadata: { name: web }
spec:
  binds: [{ address: 127.0.0.1, port: 8080 }]
  rules:
${rules}`;

const GOOD = `    - matches: { path: { type: RegularExpression, value: '^/item/[0-9]+$' } }
      backend: api
    - matches: { headers: [{ name: X-Env, type: RegularExpression, value: '^(beta|canary)$' }] }
      backend: api
`;

async function dir(t: import('node:test').TestContext, text: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'nh-regex-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  await writeFile(join(d, 'a.yaml'), text);
  return d;
}

const leftovers = async () => (await readdir(tmpdir())).filter((n) => n.startsWith('node-haproxy-regex-'));

test('validate: a regular expression HAProxy refuses is an error naming file, resource and field', async (t) => {
  const before = await leftovers();
  const d = await dir(
    t,
    manifests(`${GOOD}    - matches: { path: { type: RegularExpression, value: '(' } }
      backend: api
    - matches:
        headers: [{ name: X-A, value: b }, { name: X-B, type: RegularExpression, value: 'a{2,1}' }]
        queryParams: [{ name: q, type: RegularExpression, value: '[z-a]' }]
      backend: api
`),
  );
  const r = run('validate', d, '--haproxy-bin', HAPROXY_BIN);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  const where = 'a.yaml#2: Frontend default/web: ';
  assert.equal(lines.length, 3, r.stdout);
  assert.match(
    lines[0]!,
    new RegExp(`^${where}spec\\.rules\\[2\\]\\.matches\\.path\\.value: HAProxy refuses this regular expression: .*'\\('.*missing closing parenthesis`),
  );
  assert.match(
    lines[1]!,
    new RegExp(`^${where}spec\\.rules\\[3\\]\\.matches\\.headers\\[1\\]\\.value: HAProxy refuses this regular expression: .*out of order`),
  );
  assert.match(
    lines[2]!,
    new RegExp(`^${where}spec\\.rules\\[3\\]\\.matches\\.queryParams\\[0\\]\\.value: HAProxy refuses this regular expression: .*out of order`),
  );
  assert.match(r.stderr, /3 problem\(s\)/);
  assert.deepEqual(await leftovers(), before, 'the temporary directory is removed');
});

test('validate: regular expressions HAProxy accepts pass', async (t) => {
  const d = await dir(t, manifests(GOOD));
  const r = run('validate', d, '--haproxy-bin', HAPROXY_BIN);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /2 resource\(s\) in 1 file\(s\): all valid/);
  assert.doesNotMatch(r.stderr, /warning/);
});

test('validate without an HAProxy binary: a warning that regular expressions were not checked, exit code unchanged', async (t) => {
  const bad = await dir(t, manifests(`    - matches: { path: { type: RegularExpression, value: '(' } }\n      backend: api\n`));
  const missing = join(bad, 'no-haproxy-here');
  const r = run('validate', bad, '--haproxy-bin', missing);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr,
    new RegExp(`warning: 1 regular expression\\(s\\) not checked: cannot run HAProxy binary "${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`),
  );
});
