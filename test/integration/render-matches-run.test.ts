/**
 * `node-haproxy render` shows what `run` serves (decision 0011): the same
 * haproxy.cfg, routed through the same map files, and the same certificate
 * files, compared byte for byte with the state directory of a real
 * controller driving a real HAProxy. Printed, the files follow haproxy.cfg as
 * comments, a certificate by name and digest only; `--no-maps` keeps the
 * self-contained form; `--out-dir` never writes over a state directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { readAuxFiles } from '../../src/haproxy/aux-files.js';
import { API_VERSION, backendYaml, routingFrontendYaml, startTestController } from '../helpers/controller.js';
import { freePort, HAPROXY_BIN } from '../helpers/haproxy.js';
import { selfSignedCert, tlsSecret } from '../helpers/certs.js';
import { startUpstreams } from '../helpers/upstream.js';

const cli = join(packageRoot(), 'dist', 'src', 'cli.js');
const render = (...args: string[]) => spawnSync(process.execPath, [cli, 'render', ...args], { encoding: 'utf8', timeout: 20_000 });

test('render shows what run serves: the same haproxy.cfg, map files and certificate files; printed, the files follow as comments without key material', async (t) => {
  const up = await startUpstreams(t, 'app', 'api');
  const [port, tlsPort] = [await freePort(), await freePort()];
  const cert = selfSignedCert('render.test');
  const rules = `    - { host: api.render.test, backend: api }\n    - { pathPrefix: /v1, backend: api }\n    - { matches: { host: "*.render.test", path: { type: Exact, value: /x } }, backend: app }\n`;
  const tlsWeb = `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata: {name: secure}\nspec:\n  binds:\n    - address: 127.0.0.1\n      port: ${tlsPort}\n      tls: {certificateRefs: [{name: site}]}\n  defaultBackend: app\n`;
  const fx = await startTestController(
    t,
    {
      'web.yaml': routingFrontendYaml(port, rules),
      'secure.yaml': tlsWeb,
      // JSON is YAML: the Secret manifest as the files source reads it.
      'site.yaml': `${JSON.stringify(tlsSecret('default', 'site', cert))}\n`,
      'app.yaml': `${backendYaml('app', [{ name: 'a', port: up.app!.port }])}---\n${backendYaml('api', [{ name: 'b', port: up.api!.port }])}`,
    },
    { hardStopAfter: '7s', closeSpreadTime: '1s', maxconn: 1234 },
  );
  // run's options that change the text, given to render as run takes them.
  const runOptions = ['--hard-stop-after', '7s', '--close-spread-time', '1s', '--maxconn', '1234'];
  const running = await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8');
  const runningFiles = await readAuxFiles(fx.stateDir);
  const maps = [...runningFiles.keys()].filter((p) => p.startsWith('maps/'));
  const pem = 'certs/default/secret-site.pem';
  assert.ok(maps.length > 0 && runningFiles.has(pem), `run routes through maps and serves the certificate: ${[...runningFiles.keys()].join(' ')}`);

  // --out-dir: haproxy.cfg and every file run wrote beside it, byte for byte.
  const work = await mkdtemp(join(tmpdir(), 'nh-render-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const out = join(work, 'out');
  let r = render(fx.manifests, ...runOptions, '--state-dir', fx.stateDir, '--out-dir', out);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await readFile(join(out, 'haproxy.cfg'), 'utf8'), running, 'render --out-dir writes the haproxy.cfg run applied');
  assert.deepEqual(await readAuxFiles(out), runningFiles, 'and the same map and certificate files');
  assert.deepEqual(r.stdout.trim().split('\n'), [join(out, 'haproxy.cfg'), ...[...runningFiles.keys()].sort().map((p) => join(out, p))]);

  // A file an earlier render wrote (its marker lists it) that this one does not name is removed, as run removes it;
  // a file render did not write is left alone.
  await writeFile(join(out, 'maps', 'stale.map'), '/old 1\n');
  await appendFile(join(out, '.node-haproxy-render'), 'maps/stale.map\n');
  await writeFile(join(out, 'maps', 'notes.txt'), 'mine\n');
  assert.equal(render(fx.manifests, ...runOptions, '--state-dir', fx.stateDir, '--out-dir', out).status, 0);
  await assert.rejects(access(join(out, 'maps', 'stale.map')));
  assert.equal(await readFile(join(out, 'maps', 'notes.txt'), 'utf8'), 'mine\n', 'a file render did not write is kept');

  // A directory render did not write (no marker) is refused as it is: /etc/haproxy's own certificates are not render's to replace.
  const foreign = join(work, 'foreign');
  await mkdir(join(foreign, 'certs'), { recursive: true });
  await writeFile(join(foreign, 'certs', 'mysite.key'), 'key\n');
  const refused = render(fx.manifests, '--out-dir', foreign);
  assert.equal(refused.status, 2, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /is not empty and was not written by render.*pass an empty or new directory/);
  assert.equal(await readFile(join(foreign, 'certs', 'mysite.key'), 'utf8'), 'key\n');
  await assert.rejects(access(join(foreign, 'haproxy.cfg')));

  // Printed: run's haproxy.cfg, then the files as comments, a certificate by name and sha256 only.
  r = render(fx.manifests, ...runOptions, '--state-dir', fx.stateDir);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.startsWith(running), 'the printed configuration is the one that runs');
  const listing = r.stdout.slice(running.length);
  for (const m of maps) {
    assert.match(listing, new RegExp(`^# ==> ${m.replace(/[.]/g, '\\.')} <==`, 'm'));
    for (const line of runningFiles.get(m)!.split('\n').filter(Boolean)) assert.ok(listing.includes(`\n#   ${line}\n`), `${m}: ${line}`);
  }
  const digest = createHash('sha256').update(runningFiles.get(pem)!).digest('hex');
  assert.match(listing, new RegExp(`^# ==> ${pem.replace(/[.]/g, '\\.')} <== a certificate and its private key, not printed; sha256 ${digest}$`, 'm'));
  assert.doesNotMatch(r.stdout, /PRIVATE KEY|BEGIN CERTIFICATE/);
  assert.ok(!r.stdout.includes(cert.keyMarker), 'no line of the private key is printed');
  assert.ok(
    listing.split('\n').every((l) => l === '' || l.startsWith('#')),
    'after haproxy.cfg, only comments: the output stays HAProxy syntax',
  );

  // --no-maps: the self-contained form of earlier versions, every rule an ACL; not what runs.
  r = render(fx.manifests, ...runOptions, '--state-dir', fx.stateDir, '--no-maps');
  assert.equal(r.status, 0, r.stderr);
  assert.notEqual(r.stdout, running);
  assert.doesNotMatch(r.stdout, /maps\//);
  assert.match(r.stdout, /use_backend default_api if /);

  // Without --state-dir, --out-dir is the state directory the text names: HAProxy checks it as written, certificates included.
  const alone = join(work, 'alone');
  assert.equal(render(fx.manifests, '--out-dir', alone).status, 0);
  for (const [path, content] of runningFiles) assert.equal(await readFile(join(alone, path), 'utf8'), content.replaceAll(fx.stateDir, alone), path);
  const check = spawnSync(HAPROXY_BIN, ['-c', '-f', join(alone, 'haproxy.cfg')], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(check.status, 0, check.stdout + check.stderr);
});

test('render --out-dir refuses a controller state directory and leaves it as it was', async (t) => {
  const fx = await startTestController(t, { 'app.yaml': backendYaml('app', [{ name: 'a', port: 9 }]) });
  const before = await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8');
  const r = render(fx.manifests, '--out-dir', fx.stateDir);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /--out-dir .* holds (controller-state\.json|master\.sock|haproxy\.pid): it is a controller's state directory.*pass an empty or new directory/,
  );
  assert.equal(await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8'), before);
});
