/**
 * The image: the repository's Dockerfile, built unchanged by a real Docker
 * engine and run the way docs/kubernetes.md runs it.
 *
 * The base image the Dockerfile names (node:<major>-<suite>-slim) comes from
 * scripts/build-base-image.sh, which assembles it from Debian's packages and
 * the npm registry (no container registry is reachable in CI) and starts
 * dockerd. Without a Docker engine or that base image these tests are skipped
 * with the reason, except under CI=true, where they fail.
 *
 * Every container talks to the test only through ports Docker publishes on
 * 127.0.0.1; the upstream runs in a container on the same private network.
 * The image's size is written to bench/results/image.{json,md}.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { atMost, round, writeResult } from '../../bench/lib/results.js';
import { httpGet } from '../helpers/upstream.js';

const root = new URL('../../../', import.meta.url).pathname.replace(/\/$/, '');
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const IN_CI = process.env.CI === 'true' || process.env.CI === '1';
const TAG = 'node-haproxy:integration-test';
const run = promisify(execFile);

// ---------------------------------------------------------------------------
// What the Dockerfile and the documentation say (pure, runs without Docker).

const dockerfile = read('Dockerfile');
const bases = [...new Set([...dockerfile.matchAll(/^FROM\s+(\S+)/gim)].map((m) => m[1]!))];
const header = dockerfile
  .split('\n')
  .filter((l) => l.startsWith('#'))
  .join('\n');
const documented = {
  node: /Node\.js (\d+)/.exec(header)?.[1],
  haproxy: /HAProxy (\d+\.\d+)/.exec(header)?.[1],
  debian: /Debian (\d+)/.exec(header)?.[1],
};

test("the Dockerfile's base is one node:<major>-<suite>-slim image that build-base-image.sh assembles, with the Node.js its header names", () => {
  assert.equal(bases.length, 1, `Dockerfile: both stages should use one base image, found ${bases.join(', ')}`);
  const m = /^node:(\d+)-([a-z]+)-slim$/.exec(bases[0]!);
  assert.ok(m, `Dockerfile: FROM ${bases[0]}: scripts/build-base-image.sh assembles only node:<major>-<debian suite>-slim`);
  assert.ok(
    documented.node && documented.haproxy && documented.debian,
    `Dockerfile: the header comment should name "Node.js N", "HAProxy X.Y" and "Debian N" (found ${JSON.stringify(documented)})`,
  );
  assert.equal(m[1], documented.node, `Dockerfile: FROM ${bases[0]} but its header says Node.js ${documented.node}`);
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
  const min = Number(/>=\s*(\d+)/.exec(engines)?.[1]);
  assert.ok(Number(m[1]) >= min, `package.json engines.node "${engines}" does not accept the image's Node.js ${m[1]}`);
});

test('README and docs/kubernetes.md name the versions the image carries', () => {
  for (const doc of ['README.md', 'docs/kubernetes.md']) {
    const text = read(doc);
    assert.ok(
      text.includes(`Node.js ${documented.node}`) && text.includes(`HAProxy ${documented.haproxy}`),
      `${doc} should say the image carries Node.js ${documented.node} and HAProxy ${documented.haproxy} (the Dockerfile's header)`,
    );
  }
});

// ---------------------------------------------------------------------------
// The real image.

function dockerProblem(): string | undefined {
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 30_000 });
  if (info.error || info.status !== 0) {
    const why = info.error ? info.error.message : (info.stderr || info.stdout).trim().split('\n')[0];
    return `no Docker engine answers (docker info: ${why}); run scripts/build-base-image.sh as root: it installs docker.io, starts dockerd and assembles ${bases[0]}`;
  }
  if (spawnSync('docker', ['image', 'inspect', bases[0]!], { stdio: 'ignore' }).status !== 0) {
    return `the Dockerfile's base image ${bases[0]} is not in the Docker engine (no registry is reachable); run scripts/build-base-image.sh as root to assemble it`;
  }
  return undefined;
}
const problem = dockerProblem();
const skip = problem !== undefined && !IN_CI ? `Docker unavailable: ${problem}` : false;
if (skip) console.error(`dockerfile.test: skipping the image tests. ${skip}`);
const ensureDocker = (): void => {
  if (problem) assert.fail(`CI=true and ${problem}`);
};

async function docker(args: string[], timeoutMs = 60_000): Promise<string> {
  try {
    const { stdout } = await run('docker', args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    throw new Error(`docker ${args.join(' ')} failed: ${(err.stderr || err.stdout || err.message).trim().split('\n').slice(-15).join('\n')}`, { cause: e });
  }
}

const prefix = `nh-test-${process.pid}`;
const network = `${prefix}-net`;
const containers: string[] = [];
let built = false;
let manifests = '';
let upstreamAddress = '';

/** The Kubernetes Deployment's securityContext (manifests/deployment.yaml), as docker run flags. */
const POD_SECURITY = [
  '--read-only',
  '--cap-drop',
  'ALL',
  '--cap-add',
  'NET_BIND_SERVICE',
  '--tmpfs',
  '/var/lib/node-haproxy:uid=1000,gid=1000,mode=0700',
  '--tmpfs',
  '/tmp',
];
const NO_NEW_PRIVILEGES = ['--security-opt', 'no-new-privileges'];
// Docker lets any user bind any port in a container's network namespace
// (ip_unprivileged_port_start=0); Kubernetes does not unless the pod sets the
// sysctl. 1024 is the kernel's default, what a pod gets without it.
const KERNEL_DEFAULT_PORTS = ['--sysctl', 'net.ipv4.ip_unprivileged_port_start=1024'];
const POD_SYSCTL_PORTS = ['--sysctl', 'net.ipv4.ip_unprivileged_port_start=0'];

interface Running {
  name: string;
  dataPort: number;
  httpPort: number;
}

async function startController(suffix: string, flags: string[], args: string[] = []): Promise<Running> {
  const name = `${prefix}-${suffix}`;
  containers.push(name);
  await docker([
    'run',
    '-d',
    '--name',
    name,
    '--network',
    network,
    ...flags,
    '-v',
    `${manifests}:/etc/node-haproxy:ro`,
    '-p',
    '127.0.0.1::80',
    '-p',
    '127.0.0.1::9101',
    TAG,
    ...args,
  ]);
  const port = async (p: number) => Number(/:(\d+)$/m.exec(await docker(['port', name, String(p)]))?.[1]);
  return { name, dataPort: await port(80), httpPort: await port(9101) };
}

async function poll<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await fn();
      if (ok(last as T)) return last as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const readyz = (c: Running) => httpGet(c.httpPort, '/readyz', 3000);

/** docker stop with a 30 s grace period; returns how long it took and how the container ended. */
async function stop(c: Running): Promise<{ ms: number; exitCode: number; logs: string }> {
  const started = Date.now();
  await docker(['stop', '-t', '30', c.name], 45_000);
  const ms = Date.now() - started;
  const exitCode = Number(await docker(['inspect', '-f', '{{.State.ExitCode}}', c.name]));
  const logs = spawnSync('docker', ['logs', c.name], { encoding: 'utf8' });
  return { ms, exitCode, logs: logs.stdout + logs.stderr };
}

/** Every process in the container, as `docker top` (the host's ps) sees it: uid and command. */
async function processes(c: Running): Promise<{ uid: string; cmd: string }[]> {
  const out = await docker(['top', c.name, '-o', 'uid,pid,args']); // dockerd needs the pid column
  return out
    .split('\n')
    .slice(1)
    .map((l) => {
      const m = /^\s*(\S+)\s+\d+\s+(.*)$/.exec(l)!;
      return { uid: m[1]!, cmd: m[2]! };
    });
}

before(async () => {
  if (skip || problem) return;
  manifests = mkdtempSync(join(tmpdir(), 'nh-image-'));
  chmodSync(manifests, 0o755); // read by uid 1000 in the container
});

after(async () => {
  for (const c of containers) spawnSync('docker', ['rm', '-f', '-v', c], { stdio: 'ignore' });
  if (!skip && !problem) spawnSync('docker', ['network', 'rm', network], { stdio: 'ignore' });
  if (manifests) rmSync(manifests, { recursive: true, force: true });
});

test(
  'docker build builds the Dockerfile unchanged; the image carries the documented Node.js, HAProxy and Debian; its size is recorded',
  { skip, timeout: 900_000 },
  async () => {
    ensureDocker();
    const previous = spawnSync('docker', ['image', 'inspect', '-f', '{{.Id}}', TAG], { encoding: 'utf8' }).stdout.trim();
    const started = Date.now();
    const b = spawnSync('docker', ['build', '--pull=false', '-t', TAG, '.'], { cwd: root, encoding: 'utf8', timeout: 840_000, maxBuffer: 64 * 1024 * 1024 });
    const buildSeconds = round((Date.now() - started) / 1000, 1);
    assert.equal(
      b.status,
      0,
      `docker build failed (${b.error?.message ?? `exit ${b.status}`}):\n${(b.stdout + b.stderr).trim().split('\n').slice(-30).join('\n')}`,
    );
    built = true;
    // The image an earlier run built under this tag, if this build replaced it (its layers stay cached).
    const current = await docker(['image', 'inspect', '-f', '{{.Id}}', TAG]);
    if (previous && previous !== current) spawnSync('docker', ['rmi', '--no-prune', previous], { stdio: 'ignore' });

    const v = (
      await docker(['run', '--rm', '--entrypoint', 'sh', TAG, '-c', 'node --version; haproxy -v | head -n 1; cat /etc/debian_version; id -u; id -un'])
    ).split('\n');
    const [nodeVersion, haproxyLine, debianVersion, uid, user] = v;
    assert.match(
      nodeVersion!,
      new RegExp(`^v${documented.node}\\.`),
      `the image's Node.js is ${nodeVersion}; the Dockerfile, README and docs/kubernetes.md say ${documented.node}`,
    );
    assert.match(
      haproxyLine!,
      new RegExp(`^HAProxy version ${documented.haproxy!.replace('.', '\\.')}\\.`),
      `the image's HAProxy is "${haproxyLine}"; the docs say ${documented.haproxy}`,
    );
    assert.match(
      debianVersion!,
      new RegExp(`^${documented.debian}\\.`),
      `the image's Debian is ${debianVersion}; the Dockerfile says Debian ${documented.debian}`,
    );
    assert.deepEqual([uid, user], ['1000', 'node'], 'the image runs as the user node, uid 1000');

    const size = Number(await docker(['image', 'inspect', '-f', '{{.Size}}', TAG]));
    const baseSize = Number(await docker(['image', 'inspect', '-f', '{{.Size}}', bases[0]!]));
    const mb = (n: number) => round(n / 1e6, 1);
    writeResult({
      name: 'image',
      haproxyIndependent: true,
      title: 'Container image size',
      method: `The repository's Dockerfile built unchanged by \`docker build\` (test/integration/dockerfile.test.ts) on the base image ${bases[0]} that scripts/build-base-image.sh assembles (Debian minbase by debootstrap, Node.js from the npm registry); size as \`docker image inspect\` reports it (uncompressed, all layers).`,
      settings: { base: bases[0]!, tag: TAG },
      targets: [atMost('image size (uncompressed)', mb(size), 350, 'MB')],
      metrics: {
        'image size (MB)': mb(size),
        'base image size (MB)': mb(baseSize),
        'added by the Dockerfile (MB)': mb(size - baseSize),
        'image Node.js': nodeVersion!,
        'image HAProxy': haproxyLine!.replace(/ - https?:.*$/, ''),
        'image Debian': debianVersion!,
        'docker build time, this run (s)': buildSeconds,
      },
      notes: [
        'The build time depends on the layer cache: 98 s on this 2-core machine with an empty layer cache (npm ci, tsc, apt-get install haproxy), a few seconds when only the last layers change.',
        "The machine line names the HAProxy of the host, not of the image: the image's versions are in the measurements.",
      ],
    });

    // The upstream: a plain HTTP server in its own container on a private network.
    await docker(['network', 'create', network]);
    const up = `${prefix}-upstream`;
    containers.push(up);
    await docker([
      'run',
      '-d',
      '--name',
      up,
      '--network',
      network,
      '--hostname',
      'upstream-in-docker',
      '--entrypoint',
      'node',
      TAG,
      '-e',
      "require('http').createServer((q, s) => s.end('answered by ' + require('os').hostname())).listen(8081)",
    ]);
    upstreamAddress = await docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', up]);
    assert.match(upstreamAddress, /^\d+\.\d+\.\d+\.\d+$/, `the upstream container has no address on ${network}`);
    writeFileSync(
      join(manifests, 'routes.yaml'),
      `apiVersion: haproxy.node-haproxy.io/v1alpha1
kind: Backend
metadata: { name: upstream }
spec:
  members:
    - { name: upstream-1, address: ${upstreamAddress}, port: 8081 }
---
apiVersion: haproxy.node-haproxy.io/v1alpha1
kind: Frontend
metadata: { name: web }
spec:
  mode: http
  binds: [{ address: "*", port: 80 }]
  defaultBackend: upstream
`,
    );
    chmodSync(join(manifests, 'routes.yaml'), 0o644);
  },
);

const needImage = (): void => {
  ensureDocker();
  assert.ok(built && upstreamAddress, 'the image did not build (see the first test)');
};

test(
  "the image's default command, under the Deployment's securityContext and the sysctl docs/kubernetes.md names: HAProxy binds port 80 and routes; every process is uid 1000; /readyz answers; docker stop ends it at once with exit 0, leaving HAProxy to end with the container",
  { skip, timeout: 120_000 },
  async () => {
    needImage();
    const c = await startController('sysctl', [...POD_SECURITY, ...NO_NEW_PRIVILEGES, ...POD_SYSCTL_PORTS]);
    const ready = await poll(
      '/readyz 200',
      () => readyz(c),
      (r) => r.status === 200,
    );
    assert.equal((JSON.parse(ready.body) as { ready: boolean }).ready, true);
    const res = await poll(
      'a request through the container on port 80',
      () => httpGet(c.dataPort, '/'),
      (r) => r.status === 200,
    );
    assert.equal(res.body, 'answered by upstream-in-docker', "the container's HAProxy routes port 80 to the upstream container");

    const ps = await processes(c);
    const haproxy = ps.filter((p) => /^haproxy /.test(p.cmd));
    assert.ok(haproxy.length >= 2, `HAProxy's master and worker run in the container: ${JSON.stringify(ps)}`);
    assert.ok(
      ps.some((p) => p.cmd.startsWith('/usr/bin/tini -- node ')),
      `tini is the container's first process: ${JSON.stringify(ps)}`,
    );
    assert.deepEqual([...new Set(ps.map((p) => p.uid))], ['1000'], `every process runs as uid 1000: ${JSON.stringify(ps)}`);

    const s = await stop(c);
    assert.equal(s.exitCode, 0, `the controller exits 0 on docker stop's SIGTERM (137 would be SIGKILL after the grace period):\n${s.logs.slice(-2000)}`);
    assert.ok(s.ms < 10_000, `docker stop took ${s.ms} ms (grace period 30 s)`);
    assert.match(s.logs, /"msg":"stopping","signal":"SIGTERM"/, 'tini passes SIGTERM to the controller');
    assert.match(
      s.logs,
      /supervisor stopped; HAProxy keeps running/,
      'without --stop-haproxy-on-exit the controller leaves HAProxy (it ends with the container)',
    );
  },
);

test(
  'the same without the sysctl (no-new-privileges): the kernel ignores the file capability, HAProxy cannot bind port 80, and /readyz says why',
  { skip, timeout: 120_000 },
  async () => {
    needImage();
    const c = await startController('nnp', [...POD_SECURITY, ...NO_NEW_PRIVILEGES, ...KERNEL_DEFAULT_PORTS]);
    const r = await poll(
      '/readyz naming the refused bind',
      () => readyz(c),
      (x) => x.status === 503 && /Permission denied/.test(x.body),
    );
    assert.match(r.body, /cannot bind socket \(Permission denied\) for \[0\.0\.0\.0:80\]/);
    await assert.rejects(httpGet(c.dataPort, '/', 1000), 'nothing serves port 80');
    const s = await stop(c);
    assert.equal(s.exitCode, 0, s.logs.slice(-2000));
  },
);

test(
  'allowPrivilegeEscalation (no no-new-privileges) with NET_BIND_SERVICE: the file capability binds port 80 without the sysctl; with --stop-haproxy-on-exit docker stop stops HAProxy first',
  { skip, timeout: 120_000 },
  async () => {
    needImage();
    const c = await startController(
      'filecap',
      [...POD_SECURITY, ...KERNEL_DEFAULT_PORTS],
      ['run', '--source', '/etc/node-haproxy', '--state-dir', '/var/lib/node-haproxy', '--stop-haproxy-on-exit'],
    );
    await poll(
      '/readyz 200',
      () => readyz(c),
      (r) => r.status === 200,
    );
    const res = await poll(
      'a request through the container on port 80',
      () => httpGet(c.dataPort, '/'),
      (r) => r.status === 200,
    );
    assert.equal(res.body, 'answered by upstream-in-docker');
    assert.deepEqual([...new Set((await processes(c)).map((p) => p.uid))], ['1000']);
    const s = await stop(c);
    assert.equal(s.exitCode, 0, s.logs.slice(-2000));
    assert.ok(s.ms < 10_000, `docker stop took ${s.ms} ms`);
    assert.match(s.logs, /"msg":"HAProxy stopped"/, 'with --stop-haproxy-on-exit the controller stops HAProxy before it exits');
  },
);
