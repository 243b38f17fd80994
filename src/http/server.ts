/**
 * The controller's one HTTP server: /healthz, /readyz, /metrics, the REST API
 * and the live stats stream all mount here as handlers, tried in order.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../log.js';

/** Returns true when it handled the request. */
export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

export interface HttpServerOptions {
  address: string;
  port: number;
  logger: Logger;
  /** Longest time a client may take to send its request headers (default 10 s): slow clients cannot hold sockets open. */
  headersTimeoutMs?: number;
  /** Longest time a client may take to send a whole request (default 30 s). */
  requestTimeoutMs?: number;
  /** Most connections at once (default 1000); more are closed as they arrive. */
  maxConnections?: number;
}

/**
 * The URL of a request, whatever its request target: origin form (`/path?q`),
 * absolute form (`http://host:port/path`, whose host is ignored once it is
 * known to be valid: this server has one origin), or garbage. Undefined when it cannot be read, so the
 * caller answers 400 instead of throwing.
 */
export function requestUrl(req: Pick<IncomingMessage, 'url'>): URL | undefined {
  const target = req.url ?? '/';
  if (target.length > 8192) return undefined;
  let path = target;
  if (!target.startsWith('/')) {
    // Absolute form (`http://host:port/path`): it must be a valid URL (a port of 99999 or a bad IPv6 literal is a 400); only its path and query count.
    if (!/^https?:\/\//i.test(target)) return undefined;
    try {
      const abs = new URL(target);
      path = `${abs.pathname}${abs.search}`;
    } catch {
      return undefined;
    }
  }
  try {
    return new URL(path, 'http://localhost');
  } catch {
    return undefined;
  }
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
    this.server = createServer((req, res) => {
      // A client that goes away mid-request must not surface as an unhandled 'error' event.
      req.on('error', () => undefined);
      res.on('error', () => undefined);
      void this.dispatch(req, res);
    });
    this.server.headersTimeout = o.headersTimeoutMs ?? 10_000;
    this.server.requestTimeout = o.requestTimeoutMs ?? 30_000;
    this.server.maxConnections = o.maxConnections ?? 1000;
    // A request line or header Node cannot parse: answer 400 (431 for oversized headers) and close, never throw.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable || err.code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const status =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? '408 Request Timeout'
            : '400 Bad Request';
      // Answer, then close for good: a client that never reads must not keep a half-closed socket (and close()) waiting.
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
      setTimeout(() => socket.destroy(), 1000).unref();
    });
    // Every socket, parsed or not (upgraded, refused by the parser), so close() can end them all.
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  private readonly sockets = new Set<Socket>();

  /** Adds a handler; handlers are tried in the order they were added. */
  use(handler: Handler): void {
    this.handlers.push(handler);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req);
    if (!url) {
      sendJson(
        res,
        400,
        { error: 'BadRequest', message: 'the request target is not a valid URL path; send a path like /api/v1/frontends' },
        { connection: 'close' },
      );
      return;
    }
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
        reject(
          new Error(
            `cannot listen on ${this.o.address}:${this.o.port}: ${err.code === 'EADDRINUSE' ? 'the port is in use; choose another with --http-address' : err.message}`,
            { cause: err },
          ),
        ),
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
      for (const socket of this.sockets) socket.destroy();
    });
  }
}
