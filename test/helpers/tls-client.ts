/** A TLS client that reports what HAProxy serves (certificates come from ./certs.ts). */
import { connect } from 'node:tls';
import { normalSerial } from './certs.js';

export interface Served {
  /** Normalized serial (normalSerial) of the certificate HAProxy sent. */
  serial: string;
  subjectCn: string;
}

/** One TLS handshake to 127.0.0.1:port with SNI `servername` (no verification): the certificate served. */
export function servedCert(port: number, servername: string, options: { cert?: string; key?: string; timeoutMs?: number } = {}): Promise<Served> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername,
      rejectUnauthorized: false,
      ...(options.cert ? { cert: options.cert, key: options.key } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake with 127.0.0.1:${port} (SNI ${servername}) within ${options.timeoutMs ?? 5000} ms`));
    }, options.timeoutMs ?? 5000);
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      clearTimeout(timer);
      socket.destroy();
      resolve({ serial: normalSerial(peer.serialNumber), subjectCn: String(peer.subject?.CN ?? '') });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/** An HTTPS request over TLS 1.2/1.3 (with a client certificate when given): resolves with the status line, rejects when the handshake or request fails. */
export function httpsStatus(port: number, servername: string, options: { cert?: string; key?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername,
      rejectUnauthorized: false,
      ...(options.cert ? { cert: options.cert, key: options.key } : {}),
    });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no HTTPS reply within 5000 ms'));
    }, 5000);
    socket.once('secureConnect', () => socket.write(`GET / HTTP/1.1\r\nhost: ${servername}\r\nconnection: close\r\n\r\n`));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      if (text === '') reject(new Error('connection closed without a reply (handshake refused?)'));
      else resolve(text.split('\r\n')[0]!);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}
