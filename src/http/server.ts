/**
 * The controller's one HTTP server: /healthz, /readyz, /metrics, the REST API
 * and the live stats stream all mount here as handlers, tried in order.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';

/** Returns true when it handled the request. */
export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

export interface HttpServerOptions {
  address: string;
  port: number;
  logger: Logger;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export class HttpServer {
  readonly server: Server;
  private readonly handlers: Handler[] = [];

  constructor(private readonly o: HttpServerOptions) {
    this.server = createServer((req, res) => void this.dispatch(req, res));
  }

  /** Adds a handler; handlers are tried in the order they were added. */
  use(handler: Handler): void {
    this.handlers.push(handler);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      for (const h of this.handlers) if (await h(req, res, url)) return;
      sendJson(res, 404, { error: 'NotFound', message: `no route for ${req.method} ${url.pathname}` });
    } catch (err) {
      this.o.logger.error('HTTP handler failed', { method: req.method, path: url.pathname, err });
      if (!res.headersSent) sendJson(res, 500, { error: 'InternalError', message: (err as Error).message });
      else res.destroy();
    }
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`cannot listen on ${this.o.address}:${this.o.port}: ${err.code === 'EADDRINUSE' ? 'the port is in use; choose another with --http-address' : err.message}`, { cause: err })),
      );
      this.server.listen(this.o.port, this.o.address, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    this.o.logger.info('HTTP server listening', { address: addr.address, port: addr.port });
    return addr;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
