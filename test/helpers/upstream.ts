/** Real HTTP upstreams on 127.0.0.1 that answer with their own name, and a plain GET client. */
import { createServer, request, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Upstream {
  name: string;
  port: number;
  /** Requests this upstream answered. */
  hits(): number;
  close(): Promise<void>;
}

/** An HTTP server listening on an OS-chosen loopback port: its port, and `close` (which ends its open connections too). */
export async function listenOnLoopback(server: Server): Promise<{ port: number; close(): Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `handler` served on loopback until the test ends; resolves with the port. */
export async function serveForTest(t: { after(fn: () => Promise<unknown>): void }, handler: RequestListener): Promise<number> {
  const l = await listenOnLoopback(createServer(handler));
  t.after(() => l.close());
  return l.port;
}

/** Starts an HTTP server on an OS-chosen loopback port; every answer's body is `name`. */
export async function startUpstream(name: string): Promise<Upstream> {
  let hits = 0;
  const l = await listenOnLoopback(
    createServer((req, res) => {
      hits++;
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
      res.end(name);
    }),
  );
  return { name, port: l.port, hits: () => hits, close: l.close };
}

export interface HttpResult {
  status: number;
  body: string;
  headers: import('node:http').IncomingHttpHeaders;
}

/** GET http://127.0.0.1:<port><path> on a fresh connection (agent: false), with optional request headers. */
export function httpGet(port: number, path = '/', timeoutMs = 3000, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET 127.0.0.1:${port}${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Retries GET until `accept` holds (HAProxy may still be switching workers or checking servers). */
export async function waitForHttp(port: number, accept: (r: HttpResult) => boolean, timeoutMs = 5000): Promise<HttpResult> {
  const deadline = Date.now() + timeoutMs;
  let last: HttpResult | Error = new Error('no request made');
  for (;;) {
    try {
      last = await httpGet(port);
      if (accept(last)) return last;
    } catch (err) {
      last = err as Error;
    }
    if (Date.now() >= deadline) {
      const seen = last instanceof Error ? last.message : `${last.status} ${JSON.stringify(last.body)}`;
      throw new Error(`127.0.0.1:${port} did not give the expected answer within ${timeoutMs} ms; last: ${seen}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Counts what `n` sequential requests got back, body by body. */
export async function sampleBodies(port: number, n: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await httpGet(port);
    const key = `${r.status} ${r.body}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

export interface LoopReport {
  ok: number;
  failed: number;
  errors: string[];
}

/**
 * Sequential GETs (fresh connection each) until stop() is called or maxMs has
 * passed; a non-200 or an error counts as failed.
 */
export function requestLoop(port: number, maxMs = 30_000): { stop(): Promise<LoopReport> } {
  const report: LoopReport = { ok: 0, failed: 0, errors: [] };
  let running = true;
  const deadline = Date.now() + maxMs;
  const done = (async () => {
    while (running && Date.now() < deadline) {
      try {
        const r = await httpGet(port);
        if (r.status === 200) report.ok++;
        else {
          report.failed++;
          report.errors.push(`HTTP ${r.status} ${r.body.slice(0, 80)}`);
        }
      } catch (err) {
        report.failed++;
        report.errors.push((err as Error).message);
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return report;
    },
  };
}

/** Starts one upstream per name, each closed after the test. */
export async function startUpstreams(t: { after(fn: () => Promise<unknown>): void }, ...names: string[]): Promise<Record<string, Upstream>> {
  const out: Record<string, Upstream> = {};
  for (const n of names) {
    const u = await startUpstream(n);
    out[n] = u;
    t.after(() => u.close());
  }
  return out;
}
