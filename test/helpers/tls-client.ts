/** A TLS client that reports what HAProxy serves (certificates come from ./certs.ts). */
import { connect, type TLSSocket } from 'node:tls';
import { normalSerial } from './certs.js';

export interface Served {
  /** Normalized serial (normalSerial) of the certificate HAProxy sent. */
  serial: string;
  subjectCn: string;
}

interface ClientOptions {
  cert?: string;
  key?: string;
  timeoutMs?: number;
}

/**
 * A TLS connection to 127.0.0.1:port with SNI `servername` (no verification,
 * a client certificate when given); `use` settles the promise through `done`,
 * which also stops the timer and closes the socket. Errors and the timeout reject.
 */
function withTls<T>(
  port: number,
  servername: string,
  options: ClientOptions,
  what: string,
  use: (socket: TLSSocket, done: (r: T | Error) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername,
      rejectUnauthorized: false,
      ...(options.cert ? { cert: options.cert, key: options.key } : {}),
    });
    const done = (r: T | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const ms = options.timeoutMs ?? 5000;
    const timer = setTimeout(() => done(new Error(`no ${what} from 127.0.0.1:${port} (SNI ${servername}) within ${ms} ms`)), ms);
    socket.once('error', (err) => done(err));
    use(socket, done);
  });
}

/** One TLS handshake: the certificate served. */
export function servedCert(port: number, servername: string, options: ClientOptions = {}): Promise<Served> {
  return withTls(port, servername, options, 'TLS handshake', (socket, done) =>
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      done({ serial: normalSerial(peer.serialNumber), subjectCn: String(peer.subject?.CN ?? '') });
    }),
  );
}

/** An HTTPS request over TLS 1.2/1.3: resolves with the status line, rejects when the handshake or request fails. */
export function httpsStatus(port: number, servername: string, options: ClientOptions = {}): Promise<string> {
  return withTls(port, servername, options, 'HTTPS reply', (socket, done) => {
    const chunks: Buffer[] = [];
    socket.once('secureConnect', () => socket.write(`GET / HTTP/1.1\r\nhost: ${servername}\r\nconnection: close\r\n\r\n`));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      done(text === '' ? new Error('connection closed without a reply (handshake refused?)') : text.split('\r\n')[0]!);
    });
  });
}
