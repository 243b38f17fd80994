/**
 * Certificate rotation through the runtime API → served (HAProxy alone, no
 * controller: the controller-level benchmark comes with the integration).
 *
 * HAProxy serves a bind `ssl crt-list` with two certificates, laid out as
 * the TLS contract says. 100 times: a new certificate for b.example is
 * written to its file and sent with `set ssl cert` + `commit ssl cert`
 * (SslRuntime.updateCert), then TLS handshakes with SNI b.example are made
 * until the new serial is served; timed from the start of `set`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { silentLogger } from '../src/log.js';
import { SslRuntime } from '../src/haproxy/ssl-runtime.js';
import { HaproxySupervisor, statePaths } from '../src/haproxy/supervisor.js';
import { makeCert, type TestCert } from '../test/helpers/certs.js';
import { servedCert } from '../test/helpers/tls-client.js';
import { HAPROXY_BIN } from './lib/harness.js';
import { freeLoopbackPort } from './lib/ports.js';
import { atMost, percentile, round, writeResult } from './lib/results.js';

const ROTATIONS = 100;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nh-bench-'));
  const port = await freeLoopbackPort();
  const sup = new HaproxySupervisor({ stateDir: dir, haproxyBin: HAPROXY_BIN, logger: silentLogger(), pollIntervalMs: 200, stopGraceMs: 2000 });
  try {
    const a = join(dir, 'certs/default/secret-a.pem');
    const b = join(dir, 'certs/default/secret-b.pem');
    const list = join(dir, 'certs/web.0.crtlist');
    const write = async (path: string, text: string) => {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(path, text, { mode: 0o600 });
    };
    const certs: TestCert[] = [];
    for (let i = 0; i <= ROTATIONS; i++) certs.push(await makeCert(['b.example']));
    await write(a, (await makeCert(['a.example'])).pem);
    await write(b, certs[0]!.pem);
    await write(list, `${a} a.example\n${b} b.example\n`);
    await sup.start(
      [
        'global',
        `  stats socket ${statePaths(dir).adminSocket} mode 600 level admin expose-fd listeners`,
        '  hard-stop-after 10s',
        'defaults',
        '  mode http',
        '  timeout connect 2s',
        '  timeout client 10s',
        '  timeout server 10s',
        'frontend web',
        `  bind 127.0.0.1:${port} ssl crt-list ${list}`,
        '  http-request return status 200 content-type text/plain string ok',
        '',
      ].join('\n'),
    );
    const ssl = new SslRuntime({ socketPath: sup.paths.adminSocket });
    if ((await servedCert(port, 'b.example')).serial !== certs[0]!.serial) throw new Error('the first certificate is not served');
    const reloads0 = await sup.reloadCount();

    const servedMs: number[] = [];
    const commandMs: number[] = [];
    let staleHandshakes = 0;
    for (let i = 1; i <= ROTATIONS; i++) {
      const next = certs[i]!;
      await write(b, next.pem); // as the renderer does, before the runtime update (a later reload serves the same)
      const t0 = performance.now();
      await ssl.updateCert(b, next.pem);
      commandMs.push(performance.now() - t0);
      for (;;) {
        if ((await servedCert(port, 'b.example')).serial === next.serial) break;
        staleHandshakes++;
        if (performance.now() - t0 > 5000) throw new Error(`rotation ${i}: the new serial is not served after 5 s`);
      }
      servedMs.push(performance.now() - t0);
    }
    const reloads = (await sup.reloadCount()) - reloads0;

    const p99 = percentile(servedMs, 99);
    writeResult({
      name: 'cert-rotation-runtime',
      title: 'Certificate rotation through the runtime API → served',
      method:
        `HAProxy alone (no controller) serves a bind \`ssl crt-list\` with two EC P-256 certificates. ${ROTATIONS} times, a new certificate ` +
        'for b.example is written to its file and sent with `set ssl cert` + `commit ssl cert` (one admin-socket connection each), then TLS ' +
        'handshakes with SNI b.example (node:tls) are made until the new serial is served; timed from the start of `set`.',
      settings: { rotations: ROTATIONS, certificates: 2, keyType: 'EC P-256' },
      targets: [atMost('rotation → new serial served, p99', p99, 100, 'ms'), atMost(`reloads during the ${ROTATIONS} rotations`, reloads, 0, '')],
      metrics: {
        'served p50 (ms)': round(percentile(servedMs, 50)),
        'served p99 (ms)': round(p99),
        'served max (ms)': round(Math.max(...servedMs)),
        'set + commit p50 (ms)': round(percentile(commandMs, 50)),
        'set + commit p99 (ms)': round(percentile(commandMs, 99)),
        'handshakes after commit that still got the old serial': staleHandshakes,
      },
      notes: [
        'Served includes one TLS handshake (about a millisecond on loopback): the first handshake after the commit gets the new certificate.',
        'The controller-level benchmark (Secret changed in a source → served) comes with the reconciler integration.',
      ],
    });
  } finally {
    await sup.stop({ stopHaproxy: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
