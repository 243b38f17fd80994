/**
 * The embedded demo: four small HTTP servers on loopback, and HAProxy in front
 * of them routed by the manifests in examples/. Editing those files while the
 * demo runs changes the routing live.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startController, type Controller } from './controller.js';
import type { Logger } from './log.js';
import { examplesDir } from './paths.js';

export const DEMO_UPSTREAMS = [
  { name: 'app-1', port: 9001 },
  { name: 'app-2', port: 9002 },
  { name: 'api-1', port: 9003 },
  { name: 'canary-1', port: 9004 },
] as const;

/** Longest wait a demo upstream takes when asked (`?delay=<ms>`). */
export const MAX_DEMO_DELAY_MS = 10_000;

/** An HTTP server that answers every request with its own name; `?delay=<ms>` makes it wait first (a slow upstream, for rules' timeouts). */
export function nameServer(name: string): Server {
  return createServer((req, res) => {
    const body = JSON.stringify({ server: name, method: req.method, path: req.url, host: req.headers.host, forwardedFor: req.headers['x-forwarded-for'] });
    const delay = Math.min(Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay')) || 0, MAX_DEMO_DELAY_MS);
    const answer = () => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': name });
      res.end(body + '\n');
    };
    if (delay > 0) {
      const timer = setTimeout(answer, delay);
      res.once('close', () => clearTimeout(timer));
    } else answer();
  });
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`port ${host}:${port} is in use; stop what listens there and run the demo again`) : err),
    );
    server.listen(port, host, () => resolve());
  });
}

/** The demo's HTTPS frontend. */
export const DEMO_HTTPS_PORT = 8443;

/**
 * `openssl req` for a fresh self-signed EC certificate for `name` (default
 * localhost), valid 30 days, written to DIR/tls.key and DIR/tls.crt (also how
 * to rotate the demo's by hand).
 */
export function selfSignedCommand(dir: string, name = 'localhost'): string[] {
  return [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '30',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name}`,
    '-keyout',
    join(dir, 'tls.key'),
    '-out',
    join(dir, 'tls.crt'),
  ];
}

/**
 * A self-signed certificate made with `openssl` in `dir`, a Secret that points
 * at its files (stringDataFiles) and an HTTPS Frontend using it; undefined
 * (and a warning) when openssl is missing.
 */
function demoTls(dir: string, logger: Logger): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    execFileSync('openssl', selfSignedCommand(dir), { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    logger.warn('no HTTPS in the demo: could not make a self-signed certificate with openssl (apt-get install openssl)', { err });
    return undefined;
  }
  writeFileSync(
    join(dir, 'https.yaml'),
    `# The demo's HTTPS entry point: https://localhost:${DEMO_HTTPS_PORT}/ (self-signed: curl -k).
# The Secret reads the PEM files beside this file; replace them and the new certificate serves.
apiVersion: v1
kind: Secret
metadata: { name: demo-cert }
type: kubernetes.io/tls
stringDataFiles: { tls.crt: tls.crt, tls.key: tls.key }
---
apiVersion: haproxy.node-haproxy.io/v1alpha1
kind: Frontend
metadata: { name: web-tls }
spec:
  binds:
    - address: 127.0.0.1
      port: ${DEMO_HTTPS_PORT}
      tls: { certificateRefs: [{ name: demo-cert }], alpn: [h2, http/1.1] }
  defaultBackend: app
`,
  );
  return dir;
}

export interface Demo {
  controller: Controller;
  stop(): Promise<void>;
}

export async function runDemo(o: { logger: Logger; examples?: string; stateDir?: string; tlsDir?: string }): Promise<Demo> {
  const servers: Server[] = [];
  const closeAll = () => Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  try {
    for (const u of DEMO_UPSTREAMS) {
      const s = nameServer(u.name);
      await listen(s, u.port, '127.0.0.1');
      servers.push(s);
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  const examples = o.examples ?? examplesDir();
  const tls = demoTls(o.tlsDir ?? join(tmpdir(), 'node-haproxy-demo-tls'), o.logger);
  let controller: Controller;
  try {
    controller = await startController({
      sources: tls ? [examples, tls] : [examples],
      stateDir: o.stateDir ?? join(tmpdir(), 'node-haproxy-demo'),
      logger: o.logger,
      stopHaproxyOnExit: true,
      fileRescanIntervalMs: 2000,
    });
  } catch (err) {
    await closeAll();
    throw err;
  }
  await controller.reconciler.settled();
  if (!controller.reconciler.haproxyStarted) {
    const why = controller.reconciler.last?.error ?? 'see the log above';
    await controller.stop({ stopHaproxy: true });
    await closeAll();
    throw new Error(`HAProxy did not start: ${why}`);
  }
  process.stdout.write(`
node-haproxy demo is running. HAProxy listens on http://127.0.0.1:8080/

  curl http://127.0.0.1:8080/                           -> backend app (app-1, app-2 in turn)
  curl http://127.0.0.1:8080/api/users                  -> backend api (path prefix /api)
  curl -H 'Host: api.localhost' http://127.0.0.1:8080/  -> backend api (host rule)
  curl -H 'X-Canary: yes' http://127.0.0.1:8080/        -> backend canary (header rule)
  curl -i http://127.0.0.1:8083/old/page                -> a 301 redirect (examples/routing.yaml: every routing feature)
  curl -i http://127.0.0.1:8081/                        -> HTTP policy: IP allow list, rate limit, CORS (examples/policy.yaml)
  curl -i -u alice:secret http://127.0.0.1:8084/        -> basic auth from a Secret (examples/basic-auth.yaml; 401 without -u)

Edit ${join(examples, 'frontend.yaml')} or backends.yaml: routing changes live.
${
  tls
    ? `
HTTPS, with a self-signed certificate made at start:
  curl -k https://localhost:${DEMO_HTTPS_PORT}/                    -> backend app, over TLS
Rotate it live (a new serial serves, no reload):
  openssl ${selfSignedCommand(tls).join(' ')}
See the serial served:
  openssl s_client -connect 127.0.0.1:${DEMO_HTTPS_PORT} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial
`
    : ''
}
Press Ctrl-C to stop.

`);
  return {
    controller,
    async stop() {
      await controller.stop({ stopHaproxy: true });
      await closeAll();
    },
  };
}
