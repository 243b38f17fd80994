/**
 * `node-haproxy validate DIR` as a user runs it: every problem of every
 * resource in one run, and the certificates of the Secrets DIR declares judged
 * as `run` judges them (refused ones are problems, expiring ones warnings),
 * naming the Secret and the Frontend that references it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { TestPki, tlsSecret } from '../helpers/certs.js';
import { HAPROXY_BIN } from '../helpers/haproxy.js';

const cli = join(packageRoot(), 'dist', 'src', 'cli.js');
const validate = (d: string) => spawnSync(process.execPath, [cli, 'validate', '--haproxy-bin', HAPROXY_BIN, d], { encoding: 'utf8', timeout: 20_000 });

async function dir(t: import('node:test').TestContext, files: Record<string, string>): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'nh-validate-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) await writeFile(join(d, name), text);
  return d;
}

const API = 'apiVersion: haproxy.node-haproxy.io/v1alpha1';
const backend = (name: string, mode = 'http') =>
  `${API}\nkind: Backend\nmetadata: { name: ${name} }\nspec:\n  mode: ${mode}\n  members: [{ name: a, address: 127.0.0.1, port: 9001 }]\n`;
const lines = (s: string) => s.split('\n').filter((l) => l !== '');

test('validate reports every problem of every resource in one run, in file, document and field order', async (t) => {
  const d = await dir(t, {
    'web.yaml': `${API}
kind: Frontend
metadata: { name: web }
spec:
  binds: [{ port: 8080 }]
  tiemouts: { client: 5s }
  defaultBackend: app
  rules:
    - { matches: { path: { type: PathPrefix, value: /a } }, backend: canarry }
    - { matches: { path: { type: PathPrefix, value: /b } }, backend: app }
    - { matches: { path: { type: PathPrefix, value: /c } }, backend: canarry }
    - { matches: { path: { type: PathPrefix, value: /d } }, backend: db }
---
${backend('app')}---
${backend('db', 'tcp')}`,
    'api.yaml': `${API}
kind: Frontend
metadata: { name: api }
spec:
  binds: [{ port: 8081 }]
  mode: tcp
  defaultBackend: app
`,
  });
  const r = validate(d);
  assert.equal(r.status, 1, r.stderr);
  assert.deepEqual(lines(r.stdout), [
    'api.yaml#1: Frontend default/api: spec.defaultBackend: Backend default/app has mode http but this frontend has mode tcp; make them match',
    'web.yaml#1: Frontend default/web: spec.rules[0].backend: Backend default/canarry does not exist; create it or fix the name',
    'web.yaml#1: Frontend default/web: spec.rules[2].backend: Backend default/canarry does not exist; create it or fix the name',
    'web.yaml#1: Frontend default/web: spec.rules[3].backend: Backend default/db has mode tcp but this frontend has mode http; make them match',
    'web.yaml#1: Frontend default/web: spec.tiemouts: is not a known field; remove it or check its spelling',
  ]);
  assert.match(r.stderr, /^5 problem\(s\) in /m);
  // The same directory twice: the same lines in the same order.
  assert.equal(validate(d).stdout, r.stdout);
});

test('validate judges the certificates of the Secrets DIR declares as run does: refused ones are problems, expiring ones warnings', async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const good = pki.issue({ cn: 'good.test', dns: ['good.test'] });
  const soon = pki.issue({ cn: 'soon.test', dns: ['soon.test'], endDays: 3 });
  const expired = pki.issue({ cn: 'old.test', dns: ['old.test'], startDays: -30, endDays: -2 });
  const future = pki.issue({ cn: 'new.test', dns: ['new.test'], startDays: 5, endDays: 60 });
  const other = pki.issue({ cn: 'other.test', dns: ['other.test'] });
  const secrets = [
    tlsSecret('default', 'good', good),
    tlsSecret('default', 'soon', soon),
    tlsSecret('default', 'old', expired),
    tlsSecret('default', 'new', future),
    tlsSecret('default', 'mismatch', { cert: good.cert, key: other.key }),
  ];
  const frontend = (name: string, port: number, refs: string[]) =>
    `${API}\nkind: Frontend\nmetadata: { name: ${name} }\nspec:\n  binds: [{ port: ${port}, tls: { certificateRefs: [${refs.map((n) => `{ name: ${n} }`).join(', ')}] } }]\n  defaultBackend: app\n`;
  const d = await dir(t, {
    'secrets.yaml': secrets.map((s) => JSON.stringify(s)).join('\n---\n'),
    'app.yaml': backend('app'),
    'https.yaml': [frontend('https', 8443, ['good', 'old', 'new', 'mismatch', 'soon']), frontend('soon', 8444, ['soon', 'elsewhere'])].join('---\n'),
  });
  const r = validate(d);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  const serialOf = (c: { serial: string }) => c.serial;
  const out = lines(r.stdout);
  assert.equal(out.length, 3, r.stdout);
  assert.match(
    out[0]!,
    new RegExp(
      `^https\\.yaml#1: Frontend default/https: spec\\.binds\\[0\\]\\.tls\\.certificateRefs\\[1\\]: Secret default/old: the certificate \\(CN=old\\.test, serial 0*${serialOf(expired)}\\) expired at \\S+; renew it$`,
      'i',
    ),
  );
  assert.match(
    out[1]!,
    /^https\.yaml#1: Frontend default\/https: spec\.binds\[0\]\.tls\.certificateRefs\[2\]: Secret default\/new: the certificate \(CN=new\.test, serial \w+\) is not valid before \S+$/,
  );
  assert.match(
    out[2]!,
    /^https\.yaml#1: Frontend default\/https: spec\.binds\[0\]\.tls\.certificateRefs\[3\]: Secret default\/mismatch: tls\.key does not match the certificate \(CN=good\.test\); put the private key of this certificate in tls\.key$/,
  );
  assert.ok(!r.stdout.includes(other.keyMarker) && !r.stderr.includes(other.keyMarker), 'no key material is printed');
  const warnings = lines(r.stderr).filter((l) => l.startsWith('warning: '));
  assert.equal(warnings.length, 3, r.stderr);
  const expiring = (frontendName: string, field: string) =>
    new RegExp(
      `^warning: https\\.yaml#\\d: Frontend default/${frontendName}: ${field.replace(/[[\].]/g, '\\$&')}: Secret default/soon: the certificate \\(serial \\w+\\) expires at \\S+, in 2 day\\(s\\); renew it$`,
    );
  assert.match(warnings[0]!, expiring('https', 'spec.binds[0].tls.certificateRefs[4]'));
  assert.match(warnings[1]!, expiring('soon', 'spec.binds[0].tls.certificateRefs[0]'));
  assert.equal(
    warnings[2],
    `warning: https.yaml#2: Frontend default/soon: spec.binds[0].tls.certificateRefs[1]: Secret default/elsewhere is not declared in ${d} ` +
      `(fine if it lives in the cluster these manifests are applied to; "run --source ${d}" refuses this Frontend until it exists): ` +
      'create it (type kubernetes.io/tls, with tls.crt and tls.key) or fix the name',
  );
  assert.match(r.stderr, /^3 problem\(s\) in .*, 3 warning\(s\)$/m);
});

test('validate: an expiring certificate and a Secret DIR does not declare are warnings only (exit 0)', async (t) => {
  const pki = new TestPki();
  t.after(() => pki.cleanup());
  const soon = pki.issue({ cn: 'soon.test', dns: ['soon.test'], endDays: 10 });
  const d = await dir(t, {
    'all.yaml': [
      JSON.stringify(tlsSecret('default', 'soon', soon)),
      `${API}\nkind: Backend\nmetadata: { name: app }\nspec:\n  tls: { caRef: { kind: ConfigMap, name: cluster-ca } }\n  members: [{ name: a, address: 127.0.0.1, port: 9001 }]\n`,
      `${API}\nkind: Frontend\nmetadata: { name: web }\nspec:\n  binds: [{ port: 8443, tls: { certificateRefs: [{ name: soon }] } }, { port: 9443, tls: { certificateRefs: [{ name: from-cluster }] } }]\n  defaultBackend: app\n`,
    ].join('\n---\n'),
  });
  const r = validate(d);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr,
    /^warning: all\.yaml#3: Frontend default\/web: spec\.binds\[0\]\.tls\.certificateRefs\[0\]: Secret default\/soon: the certificate \(serial \w+\) expires at \S+, in 9 day\(s\); renew it$/m,
  );
  assert.match(
    r.stderr,
    /^warning: all\.yaml#3: Frontend default\/web: spec\.binds\[1\]\.tls\.certificateRefs\[0\]: Secret default\/from-cluster is not declared in /m,
  );
  // A Backend refused only for a ConfigMap DIR does not declare: it and the reference to it are warnings too.
  assert.match(r.stderr, /^warning: all\.yaml#2: Backend default\/app: spec\.tls\.caRef: ConfigMap default\/cluster-ca is not declared in /m);
  assert.match(
    r.stderr,
    /^warning: all\.yaml#3: Frontend default\/web: spec\.defaultBackend: Backend default\/app is declared but refused: nothing of it serves; fix the problems reported on it \(a Secret or ConfigMap it names is not declared in .*\)$/m,
  );
  assert.match(r.stderr, /^2 resource\(s\) in 1 file\(s\): all valid, 4 warning\(s\)$/m);
});
