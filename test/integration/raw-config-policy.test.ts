/**
 * The raw-config policy against a real HAProxy:
 * - the tokenizer reads words exactly as HAProxy 2.6 does (HAProxy echoes
 *   each word back in a response body);
 * - with --allow-raw-config, the issue's attack lines (`"global"` then
 *   `stats socket ... level admin`, or `lua-load`) from a file source are
 *   refused naming resource and field; no admin socket opens, no Lua runs
 *   (not even during `haproxy -c`), and the rest keeps serving;
 * - the useful lines the default list accepts are lines HAProxy takes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitHaproxyWords } from '../../src/model/haproxy-words.js';
import { checkRenderedConfig, DEFAULT_RAW_KEYWORDS } from '../../src/model/raw-config.js';
import { checkConfigFile } from '../../src/haproxy/check.js';
import type { PassResult } from '../../src/reconcile/reconciler.js';
import { API_VERSION, startTestController } from '../helpers/controller.js';
import { freePort, HAPROXY_BIN } from '../helpers/haproxy.js';
import { RAW_CONFIG_ANNOTATION, RAW_CONFIG_FIELD, rawBackendYaml } from '../helpers/raw-config.js';
import { startRestController } from '../helpers/rest.js';
import { httpGet, startUpstream, waitForHttp } from '../helpers/upstream.js';

async function tempDir(t: import('node:test').TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'nh-raw-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

/** Words as written in haproxy.cfg, and what HAProxy makes of each. */
const WORDS = [
  `'a b'`,
  `"a b"`,
  `a\\ b`,
  `a\\\\b`,
  `a\\.b`,
  `"a\\"b"`,
  `'a"b'`,
  `"a'b"`,
  `a\\'b`,
  `"a#b"`,
  `a\\#b`,
  `'a\\b'`,
  `"a\\\\b"`,
  `a"b c"d`,
  `'$HOME'`,
  `$HOME`,
  `"a\\.b"`,
  `\\$x`,
  `'a'"b"c`,
  `gl\\obal`,
  `"'"`,
  `'"#"'`,
  `"a\\'b"`,
  `"a\\#b"`,
  `'a  b'`,
];

test('the tokenizer reads each word as HAProxy 2.6 does', async (t) => {
  const dir = await tempDir(t);
  const port = await freePort();
  const lines = WORDS.map((w, i) => `http-request return status 200 content-type text/plain string ${w} if { path /${i} }`);
  for (const l of lines) {
    const r = splitHaproxyWords(l);
    assert.equal(r.problem, undefined, l);
    assert.equal(r.words.length, 13, `${l}: ${JSON.stringify(r.words)}`);
  }
  const cfg = join(dir, 'haproxy.cfg');
  await writeFile(
    cfg,
    `defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\nfrontend f\n    bind 127.0.0.1:${port}\n${lines.map((l) => `    ${l}\n`).join('')}`,
  );
  const child = spawn(HAPROXY_BIN, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  await waitForHttp(port, (r) => r.status > 0, 10_000).catch((err: Error) => {
    throw new Error(`HAProxy did not serve: ${stderr}`, { cause: err });
  });
  for (const [i, l] of lines.entries()) {
    const body = (await httpGet(port, `/${i}`)).body;
    assert.equal(splitHaproxyWords(l).words[7]!.text, body, `${WORDS[i]}: HAProxy read ${JSON.stringify(body)}`);
  }
});

const KEY = 'Backend/default/app';
const outcome = (p: PassResult) => p.resolution?.outcomes.get(KEY);
const frontendYaml = (port: number, raw: string[]) => `apiVersion: ${API_VERSION}
kind: Frontend
metadata:
  name: web
  annotations:
    ${RAW_CONFIG_ANNOTATION}: ${JSON.stringify(JSON.stringify(raw))}
spec:
  binds: [{ address: 127.0.0.1, port: ${port} }]
  defaultBackend: app
`;

/** Resolves true when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test("with --allow-raw-config the issue's attack lines from a file source are refused: no admin socket, no Lua, the rest keeps serving", async (t) => {
  const up = await startUpstream('app');
  t.after(() => up.close());
  const dir = await tempDir(t);
  const port = await freePort();
  const socketPort = await freePort();
  const marker = join(dir, 'lua-ran');
  const lua = join(dir, 'evil.lua');
  await writeFile(lua, `local f = io.open('${marker}', 'w'); f:write('ran'); f:close()\n`);

  // Useful lines the default list accepts are lines HAProxy takes, and act.
  const frontendLines = [
    'http-request return status 200 content-type text/plain string pong if { path /ping }',
    'http-request deny if { path_beg /admin }',
    'http-response set-header X-Front "a b"',
    'no option http-buffer-request',
    'capture request header Host len 64',
  ];
  const backendLines = [
    'http-response set-header X-Raw yes',
    'timeout server 5s',
    'retries 2',
    'option redispatch',
    'http-reuse safe',
    "http-request set-header X-Id '%[uuid]'",
  ];
  const fx = await startTestController(
    t,
    { 'web.yaml': frontendYaml(port, frontendLines), 'app.yaml': rawBackendYaml('app', backendLines, up.port) },
    { allowRawConfig: true },
  );
  await waitForHttp(port, (r) => r.body === 'app');
  assert.equal((await httpGet(port, '/ping')).body, 'pong');
  assert.equal((await httpGet(port, '/admin')).status, 403);
  const res = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(res.headers.get('x-raw'), 'yes');
  assert.equal(res.headers.get('x-front'), 'a b');
  const cfg = await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8');
  assert.deepEqual(checkRenderedConfig(cfg), [], 'the applied configuration passes the property check');

  const attacks: Array<[string[], RegExp]> = [
    [['"global"', `stats socket ipv4@127.0.0.1:${socketPort} level admin`], /starts with "global", which opens a new section/],
    [["'glo'bal", `stats socket ipv4@127.0.0.1:${socketPort} level admin`], /opens a new section/],
    [['\\x67lobal', `stats socket ipv4@127.0.0.1:${socketPort} level admin`], /escape "\\x"/],
    [['"global"', `lua-load ${lua}`], /opens a new section/],
    [[`"lua-load" ${lua}`], /"lua-load" is not a directive/],
    [['http-request return status 200 content-type text/plain file /etc/passwd'], /reads a local file/],
    [['stats enable', 'stats uri /stats', 'stats admin if TRUE'], /"stats enable" is not a directive/],
  ];
  for (const [lines, why] of attacks) {
    const pass = fx.nextPass((p) => outcome(p)?.accepted === false);
    await fx.write('app.yaml', rawBackendYaml('app', ['http-response set-header X-Raw yes', ...lines], up.port));
    const o = outcome(await pass)!;
    assert.ok(!o.accepted, JSON.stringify(lines));
    assert.equal(o.reason, 'InvalidSpec');
    assert.equal(o.issues[0]!.resource, 'Backend default/app');
    assert.equal(o.issues[0]!.field, `${RAW_CONFIG_FIELD}[1]`);
    assert.match(o.issues[0]!.message, why);
    assert.ok(o.serving, 'the last accepted version keeps serving');
    assert.equal(await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8'), cfg, 'haproxy.cfg is unchanged');
    assert.equal(await listening(socketPort), false, 'no admin socket opened');
    assert.equal(existsSync(marker), false, 'the Lua file did not run');
    assert.equal((await httpGet(port, '/')).body, 'app');
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).headers.get('x-raw'), 'yes');
  }

  // The same lines, written straight into haproxy.cfg, are what the issue
  // says: `haproxy -c` alone runs the Lua file. So the assertions above can fail.
  const raw = cfg.replace(/^(backend default_app\n)/m, `$1    "global"\n    lua-load ${lua}\n`);
  const file = join(dir, 'unchecked.cfg');
  await writeFile(file, raw);
  await checkConfigFile(file, { haproxyBin: HAPROXY_BIN });
  assert.equal(existsSync(marker), true, 'haproxy -c ran the Lua file: the check above is what stops it');
});

test('REST aqueduct natives: the attack lines are refused before haproxy -c, and --raw-config-keywords narrows what is accepted', async (t) => {
  const up = await startUpstream('app');
  t.after(() => up.close());
  const dir = await tempDir(t);
  const marker = join(dir, 'lua-ran');
  const lua = join(dir, 'evil.lua');
  await writeFile(lua, `local f = io.open('${marker}', 'w'); f:write('ran'); f:close()\n`);
  const socketPort = await freePort();
  const port = await freePort();
  const fx = await startRestController(t, { allowRawConfig: true, rawConfigKeywords: ['timeout', 'http-response set-header'] });
  const { api } = fx;
  const b = await api.put('/backends/app', { type: 'static', members: [{ host: '127.0.0.1', port: up.port }] });
  assert.ok(b.status === 200 || b.status === 201, b.text);
  const f = await api.put('/frontends/web?wait=true', { bind: `127.0.0.1:${port}`, backend: 'app', natives: ['http-response set-header X-Native yes'] });
  assert.ok(f.status === 200 || f.status === 201, f.text);
  await waitForHttp(port, (r) => r.body === 'app');
  const before = fx.controller.reconciler.runningText;

  const refused: Array<[string[], string, RegExp]> = [
    [['"global"', `stats socket ipv4@127.0.0.1:${socketPort} level admin`], 'natives[0]', /opens a new section/],
    [['"global"', `lua-load ${lua}`], 'natives[0]', /opens a new section/],
    [['http-request set-header X-A a'], 'natives[0]', /"http-request set-header" is not allowed by this controller's --raw-config-keywords/],
    [['http-response set-header X-A "${HOME}"'], 'natives[0]', /environment/],
  ];
  for (const [natives, field, message] of refused) {
    const r = await api.put('/frontends/web', { bind: `127.0.0.1:${port}`, backend: 'app', natives });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.field, field, r.text);
    assert.match(r.json.message, message);
    assert.equal(existsSync(marker), false, 'haproxy -c never saw the Lua line');
    assert.equal(await listening(socketPort), false);
  }
  assert.equal(fx.controller.reconciler.runningText, before);
  assert.equal((await fetch(`http://127.0.0.1:${port}/`)).headers.get('x-native'), 'yes');
});

test('every entry of the default allow-list is a keyword HAProxy 2.6 takes in that section', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'kw.cfg');
  const head = 'defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n';
  const wrong: string[] = [];
  for (const section of ['frontend', 'backend'] as const) {
    for (const entry of DEFAULT_RAW_KEYWORDS[section]) {
      // The entry alone: HAProxy may miss its arguments, but must know the keyword, here.
      await writeFile(file, `${head}${section === 'frontend' ? 'frontend f\n    bind 127.0.0.1:1\n' : 'backend b\n'}    ${entry}\n`);
      const r = spawnSync(HAPROXY_BIN, ['-c', '-f', file], { encoding: 'utf8', timeout: 10_000 });
      const out = `${r.stdout}${r.stderr}`;
      const got = /got '([^']+)'/.exec(out)?.[1];
      const exempt = section === 'backend' && /^option (httplog|tcplog)$/.test(entry);
      if (/unknown (option|keyword)|has no (frontend|backend) capability|ignored in backends/.test(out) && !exempt) wrong.push(`${section}: ${entry}: ${out}`);
      else if (got !== undefined && entry.split(' ').includes(got)) wrong.push(`${section}: ${entry}: ${out}`);
    }
  }
  assert.deepEqual(wrong, []);
});
