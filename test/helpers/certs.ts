/**
 * Test certificates made with the `openssl` CLI in a temporary directory: a
 * root CA, intermediates and leaves with chosen names, serials and validity
 * (`openssl ca -startdate/-enddate`, so expired and not-yet-valid ones too).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Issued {
  /** The certificate (PEM). */
  cert: string;
  /** Its private key (PEM, PKCS#8, unencrypted). */
  key: string;
  /** Serial in upper-case hex, as X509Certificate.serialNumber gives it. */
  serial: string;
  name: string;
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
    return { cert: readFileSync(p('crt'), 'utf8'), key: readFileSync(p('key'), 'utf8'), serial, name: n };
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
