/**
 * The README's quick start as a user runs it: `npm start` builds, then runs
 * `node-haproxy demo`, which this test runs as that script does (the build is
 * what `npm test` just did; rebuilding dist/ under concurrently running tests
 * would race them). Every curl line the demo prints is tried, then Ctrl-C
 * (SIGINT) stops everything: exit 0, HAProxy and the upstreams gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { HAPROXY_BIN } from '../helpers/haproxy.js';

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; server?: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: 8080, path, headers, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, server: res.headers['x-served-by'] as string | undefined }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0 }));
    req.end();
  });
}

/** `curl -k https://localhost:8443/`: the demo's HTTPS frontend, self-signed. */
function getHttps(): Promise<{ status: number; server?: string; subject?: string }> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: 8443, path: '/', servername: 'localhost', rejectUnauthorized: false, agent: false, timeout: 2000 },
      (res) => {
        const subject = String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN);
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, server: res.headers['x-served-by'] as string | undefined, subject }));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0 }));
    req.end();
  });
}

test('quick start: the demo serves every route it prints, and Ctrl-C stops it cleanly', async (t) => {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.start!, /node dist\/src\/cli\.js demo$/, 'npm start runs the demo this test runs');
  const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'src', 'cli.js'), 'demo'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // The demo drives the haproxy on PATH, as npm start does; tests pick theirs with HAPROXY_BIN.
    env: { ...process.env, PATH: HAPROXY_BIN.includes('/') ? `${dirname(HAPROXY_BIN)}:${process.env.PATH}` : process.env.PATH },
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  const deadline = Date.now() + 30_000;
  while (!out.includes('Press Ctrl-C to stop.') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(out.includes('Press Ctrl-C to stop.'), `the demo did not start: ${out.slice(-1500)}`);

  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add((await get('/')).server ?? 'none');
  assert.deepEqual([...seen].sort(), ['app-1', 'app-2'], 'curl http://127.0.0.1:8080/ -> app-1, app-2 in turn');
  assert.equal((await get('/api/users')).server, 'api-1');
  assert.equal((await get('/', { host: 'api.localhost' })).server, 'api-1');
  assert.equal((await get('/', { 'x-canary': 'yes' })).server, 'canary-1');
  assert.ok(out.includes('curl -k https://localhost:8443/'), 'the demo prints its HTTPS line');
  const https = await getHttps();
  assert.match(https.server ?? '', /^app-[12]$/, `curl -k https://localhost:8443/ -> backend app (status ${https.status})`);
  assert.equal(https.subject, 'localhost', 'the self-signed certificate made at start');

  // The two lines the demo prints for a live rotation, run as a user pastes them.
  const lineAfter = (heading: string) => out.split('\n')[out.split('\n').findIndex((l) => l.startsWith(heading)) + 1]?.trim() ?? '';
  const rotate = lineAfter('Rotate it live');
  const showSerial = lineAfter('See the serial served');
  assert.match(rotate, /^openssl req /, 'the demo prints the rotate command');
  assert.match(showSerial, /^openssl s_client .* -serial$/, 'the demo prints how to see the serial');
  const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { encoding: 'utf8', timeout: 10_000 }).trim();
  const before = sh(showSerial);
  assert.match(before, /^serial=[0-9A-F]+$/, `the serial line prints a serial: ${before}`);
  sh(rotate);
  let after = before;
  const rotated = Date.now() + 15_000;
  while (after === before && Date.now() < rotated) {
    await new Promise((r) => setTimeout(r, 200));
    after = sh(showSerial);
  }
  assert.notEqual(after, before, 'the rotated certificate is served (stall bound 15 s)');

  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000))]);
  assert.equal(code, 0, `Ctrl-C: exit ${code}; ${out.slice(-800)}`);
  assert.equal((await get('/')).status, 0, 'HAProxy is gone');
});
