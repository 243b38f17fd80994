/**
 * A recording HTTP proxy in front of the KubeApiTestServer: give each
 * controller replica its own, and the test can tell which replica made
 * which request (the test server sees one client). Streams (watches) pass
 * through as they come.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface ProxiedRequest {
  method: string;
  path: string;
}

export class RecordingProxy {
  readonly requests: ProxiedRequest[] = [];
  private server: Server | undefined;
  private port = 0;
  private readonly upstreams = new Set<{ destroy(): void }>();

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    const target = new URL(this.target);
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      this.requests.push({ method: req.method ?? 'GET', path: url.pathname });
      const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        upRes.on('error', () => res.destroy());
      });
      this.upstreams.add(up);
      up.on('close', () => this.upstreams.delete(up));
      up.on('error', () => res.destroy());
      res.on('close', () => up.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** A kubeconfig like `base` whose cluster is this proxy. */
  kubeConfig(base: KubeConfig): KubeConfig {
    const kc = new KubeConfig();
    const user = base.getCurrentUser()!;
    kc.loadFromOptions({
      clusters: [{ name: 'proxy', server: `http://127.0.0.1:${this.port}`, skipTLSVerify: true }],
      users: [{ name: user.name, token: user.token }],
      contexts: [{ name: 'proxy', cluster: 'proxy', user: user.name, namespace: 'default' }],
      currentContext: 'proxy',
    });
    return kc;
  }

  /** Requests whose method is `method` and whose path ends with `suffix` or contains `/part/`. */
  count(method: string, pathPart: string): number {
    return this.requests.filter((r) => r.method === method && r.path.includes(pathPart)).length;
  }

  async stop(): Promise<void> {
    for (const u of this.upstreams) u.destroy();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}
