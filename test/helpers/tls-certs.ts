/** Test certificates made by the `openssl` CLI (EC P-256: fast), and a TLS client that reports what HAProxy serves. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCert {
  /** Certificate then key, as HAProxy's `crt` reads it. */
  pem: string;
  cert: string;
  key: string;
  /** Uppercase hex without leading zeros (as node:tls reports it). */
  serial: string;
}

/** The serial as node:tls and HAProxy print it may differ in leading zeros and case: compare this. */
export const normalSerial = (s: string): string => s.toUpperCase().replace(/^0+/, '');

/**
 * A certificate for `names` (the first is the CN), valid for `days`: self-signed,
 * or signed by `ca` (a CA made with `ca: true`).
 */
export async function makeCert(names: string[], options: { days?: number; ca?: TestCert; isCa?: boolean; clientAuth?: boolean } = {}): Promise<TestCert> {
  const dir = await mkdtemp(join(tmpdir(), 'nh-cert-'));
  try {
    const key = join(dir, 'k.pem');
    const crt = join(dir, 'c.pem');
    await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', key]);
    const ext = join(dir, 'ext.cnf');
    const lines = options.isCa
      ? ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign']
      : [`subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`, `extendedKeyUsage=${options.clientAuth ? 'clientAuth' : 'serverAuth'}`];
    await writeFile(ext, lines.join('\n') + '\n');
    const days = String(options.days ?? 2);
    if (options.ca) {
      const csr = join(dir, 'r.csr');
      const caKey = join(dir, 'ca.key');
      const caCrt = join(dir, 'ca.crt');
      await writeFile(caKey, options.ca.key);
      await writeFile(caCrt, options.ca.cert);
      await run('openssl', ['req', '-new', '-key', key, '-subj', `/CN=${names[0]}`, '-out', csr]);
      await run('openssl', ['x509', '-req', '-in', csr, '-CA', caCrt, '-CAkey', caKey, '-CAcreateserial', '-days', days, '-extfile', ext, '-out', crt]);
    } else {
      await run('openssl', [
        'req',
        '-x509',
        '-new',
        '-key',
        key,
        '-subj',
        `/CN=${names[0]}`,
        '-days',
        days,
        '-extensions',
        'v3',
        '-config',
        await v3Config(dir, lines),
        '-out',
        crt,
      ]);
    }
    const cert = await readFile(crt, 'utf8');
    const keyText = await readFile(key, 'utf8');
    const { stdout } = await run('openssl', ['x509', '-noout', '-serial', '-in', crt]);
    return { pem: cert + keyText, cert, key: keyText, serial: normalSerial(stdout.trim().replace(/^serial=/, '')) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function v3Config(dir: string, lines: string[]): Promise<string> {
  const path = join(dir, 'req.cnf');
  await writeFile(path, ['[req]', 'distinguished_name=dn', '[dn]', '[v3]', ...lines].join('\n') + '\n');
  return path;
}

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
