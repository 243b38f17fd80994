/** REST API test helpers: a token file, a controller with the API on a free port, and a small HTTP client. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { httpGet } from './upstream.js';
import type { ControllerOptions } from '../../src/controller.js';
import { startTestController, type ControllerFixture } from './controller.js';

export const TOKEN = 'test-token-0123456789abcdef';

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: any;
}

export interface CallOptions {
  /** An object is sent as JSON; a string or Buffer as is. */
  body?: unknown;
  /** Bearer token; null sends no Authorization header. Default: none. */
  token?: string | null;
  headers?: Record<string, string>;
  /** Send the body without Content-Length (chunked). */
  chunked?: boolean;
}

/** One request on a fresh connection; never throws for an HTTP status. */
export function call(port: number, method: string, path: string, o: CallOptions = {}): Promise<ApiResponse> {
  const body =
    o.body === undefined ? undefined : typeof o.body === 'string' || Buffer.isBuffer(o.body) ? Buffer.from(o.body) : Buffer.from(JSON.stringify(o.body));
  const headers: Record<string, string> = { ...(body && !o.headers?.['content-type'] ? { 'content-type': 'application/json' } : {}), ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (body && !o.chunked) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

export interface Api {
  port: number;
  /** A read; without `token`, none is sent (reads are open unless --api-auth-reads). */
  get(path: string, token?: string | null): Promise<ApiResponse>;
  put(path: string, body: unknown, token?: string | null): Promise<ApiResponse>;
  patch(path: string, body: unknown, token?: string | null): Promise<ApiResponse>;
  del(path: string, token?: string | null): Promise<ApiResponse>;
}

export function apiClient(port: number, token: string | null = TOKEN): Api {
  return {
    port,
    get: (path, t = null) => call(port, 'GET', path, { token: t }),
    put: (path, body, t = token) => call(port, 'PUT', path, { body, token: t }),
    patch: (path, body, t = token) => call(port, 'PATCH', path, { body, token: t }),
    del: (path, t = token) => call(port, 'DELETE', path, { token: t }),
  };
}

export async function tokenFile(t: TestContext, token = TOKEN): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nh-tok-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'token');
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  return path;
}

export interface RestFixture extends ControllerFixture {
  api: Api;
}

/**
 * A controller with `--source rest` (plus `extraSources`), the API on a free
 * loopback port, a real HAProxy; stopped after the test.
 */
export async function startRestController(
  t: TestContext,
  o: Partial<ControllerOptions> & { files?: Record<string, string>; extraSources?: string[]; withManifests?: boolean; token?: string | null } = {},
): Promise<RestFixture> {
  const { files = {}, extraSources = [], withManifests = false, token = TOKEN, ...rest } = o;
  let manifests: string | undefined;
  if (withManifests) {
    manifests = await mkdtemp(join(tmpdir(), 'nh-m-'));
    t.after(() => rm(manifests!, { recursive: true, force: true }));
  }
  const fx = await startTestController(t, files, {
    sources: [...(manifests ? [manifests] : []), ...extraSources, 'rest'],
    manifests,
    httpAddress: { address: '127.0.0.1', port: 0 },
    apiTokenFile: token === null ? undefined : await tokenFile(t, token),
    ...rest,
  });
  return { ...fx, api: apiClient(fx.controller.httpAddress!.port, token) };
}

/** Retries `fn` until `accept` holds (bounded). */
export async function eventually<T>(fn: () => Promise<T>, accept: (v: T) => boolean, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | Error = new Error('never ran');
  for (;;) {
    try {
      last = await fn();
      if (accept(last)) return last;
    } catch (err) {
      last = err as Error;
    }
    if (Date.now() > deadline)
      throw new Error(`${what} not reached within ${timeoutMs} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves once nothing answers HTTP on 127.0.0.1:`port` (bounded: 10 s). */
export const portClosed = (port: number) =>
  eventually(
    () =>
      httpGet(port, '/', 500).then(
        () => 'open',
        () => 'closed',
      ),
    (s) => s === 'closed',
    10_000,
    `127.0.0.1:${port} closed`,
  );
