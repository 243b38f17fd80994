/**
 * Test certificates, one way for every test and bench: made with the `openssl`
 * CLI in a temporary directory (a root CA, intermediates and leaves with chosen
 * names, serials and validity; `openssl ca -startdate/-enddate`, so expired and
 * not-yet-valid ones too), and the Secret manifests that carry them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCommand } from '../../src/demo.js';

export interface Issued {
  /** The certificate (PEM). */
  cert: string;
  /** Its private key (PEM, PKCS#8, unencrypted). */
  key: string;
  /** Serial in upper-case hex, as X509Certificate.serialNumber gives it. */
  serial: string;
  name: string;
  /** Certificate then key, as HAProxy's `crt` reads it. */
  pem: string;
  /** A line from the middle of the private key: what must never appear in a log or an answer. */
  keyMarker: string;
}

export interface IssueOptions {
  /** Subject CN. */
  cn: string;
  /** DNS names for subjectAltName (none: no SAN extension). */
  dns?: string[];
  /** Days from now the certificate starts (negative: in the past). Default -1. */
  startDays?: number;
  /** Days from now the certificate ends. Default 365. */
  endDays?: number;
  /** A CA (basicConstraints CA:TRUE). */
  ca?: boolean;
  /** Signed by this CA; default self-signed. */
  issuer?: Issued;
  /** Client authentication usage (for mTLS client certificates). */
  client?: boolean;
}

const stamp = (days: number): string =>
  new Date(Date.now() + days * 86_400_000)
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .slice(2);

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'nh-pki-'));
  private seq = 0;
  private serial = 0x1000;

  constructor() {
    writeFileSync(join(this.dir, 'index.txt'), '');
    writeFileSync(
      join(this.dir, 'ca.cnf'),
      [
        '[ca]',
        'default_ca = c',
        '[c]',
        `database = ${join(this.dir, 'index.txt')}`,
        `new_certs_dir = ${this.dir}`,
        `serial = ${join(this.dir, 'serial')}`,
        'default_md = sha256',
        'policy = p',
        'unique_subject = no',
        'email_in_dn = no',
        '[p]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
  }

  private run(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }

  issue(o: IssueOptions): Issued {
    const n = `c${++this.seq}`;
    const p = (ext: string) => join(this.dir, `${n}.${ext}`);
    this.run([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      p('key'),
      '-out',
      p('csr'),
      '-subj',
      `/CN=${o.cn}`,
    ]);
    const ext: string[] = [];
    if (o.ca) ext.push('basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature');
    else ext.push('basicConstraints=CA:FALSE', `extendedKeyUsage=${o.client ? 'clientAuth' : 'serverAuth'}`);
    if (o.dns?.length) ext.push(`subjectAltName=${o.dns.map((d) => `DNS:${d}`).join(',')}`);
    writeFileSync(p('ext'), ext.join('\n') + '\n');
    const serial = (++this.serial).toString(16).toUpperCase();
    writeFileSync(join(this.dir, 'serial'), serial + '\n');
    const issuerCert = o.issuer ? join(this.dir, `${o.issuer.name}.crt`) : undefined;
    const issuerKey = o.issuer ? join(this.dir, `${o.issuer.name}.key`) : p('key');
    const args = ['ca', '-batch', '-config', 'ca.cnf', '-in', p('csr'), '-out', p('crt'), '-notext', '-extfile', p('ext')];
    args.push('-startdate', stamp(o.startDays ?? -1), '-enddate', stamp(o.endDays ?? 365));
    if (issuerCert) args.push('-cert', issuerCert, '-keyfile', issuerKey);
    else args.push('-selfsign', '-keyfile', issuerKey);
    this.run(args);
    const cert = readFileSync(p('crt'), 'utf8');
    const key = readFileSync(p('key'), 'utf8');
    return { cert, key, serial, name: n, pem: cert + key, keyMarker: middleLine(key) };
  }

  /** Writes `text` to a file in the PKI directory and returns its path. */
  write(name: string, text: string): string {
    const file = join(this.dir, name);
    writeFileSync(file, text);
    return file;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const middleLine = (key: string): string => {
  const lines = key.trim().split('\n');
  return lines[Math.floor(lines.length / 2)]!;
};

/** The serial as node:tls and HAProxy print it may differ in leading zeros and case: compare this. */
export const normalSerial = (s: string): string => s.toUpperCase().replace(/^0+/, '');

/** A certificate made by `makeCert` (one PKI per process, so serials never repeat within a run). */
export type TestCert = Issued;

let shared: TestPki | undefined;

/**
 * A certificate for `names` (the first is the CN), valid for `days` (default 2):
 * self-signed, or signed by `ca` (a CA made with `isCa: true`).
 */
export function makeCert(names: string[], options: { days?: number; ca?: TestCert; isCa?: boolean; clientAuth?: boolean } = {}): Promise<TestCert> {
  if (!shared) {
    const pki = (shared = new TestPki());
    process.once('exit', () => pki.cleanup());
  }
  return Promise.resolve(
    shared.issue({
      cn: names[0]!,
      ...(options.isCa ? { ca: true } : { dns: names }),
      endDays: options.days ?? 2,
      ...(options.ca ? { issuer: options.ca } : {}),
      ...(options.clientAuth ? { client: true } : {}),
    }),
  );
}

/** A self-signed EC certificate for `cn` (and its DNS name), valid 30 days, made by the demo's own openssl command. */
export function selfSignedCert(cn: string): Pick<Issued, 'cert' | 'key' | 'keyMarker'> {
  const dir = mkdtempSync(join(tmpdir(), 'nh-cert-'));
  try {
    execFileSync('openssl', selfSignedCommand(dir, cn), { stdio: 'ignore' });
    const key = readFileSync(join(dir, 'tls.key'), 'utf8');
    return { cert: readFileSync(join(dir, 'tls.crt'), 'utf8'), key, keyMarker: middleLine(key) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** A `kubernetes.io/tls` Secret manifest with `data` base64-encoded. */
export function tlsSecret(
  namespace: string,
  name: string,
  c: { cert: string; key: string },
): { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; type: string; data: Record<string, string> } {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(c.cert), 'tls.key': b64(c.key) },
  };
}
