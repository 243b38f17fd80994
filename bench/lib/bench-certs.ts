/**
 * Many certificates for the TLS benchmarks, made fast and kept between runs:
 * one EC P-256 CA, one leaf key and one CSR, then one `openssl x509 -req`
 * per leaf (its own serial and subjectAltName), a few at a time. node:crypto
 * cannot issue certificates. The set lives under the system temp directory,
 * keyed by count, and is made again when its leaves are within 10 days of
 * expiry (they are valid 60 days).
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const VALID_DAYS = 60;
const REMAKE_AFTER_DAYS = 50;

export interface BenchCert {
  /** The DNS name (subjectAltName) of the leaf. */
  name: string;
  /** Uppercase hex, as node:tls reports it. */
  serial: string;
  cert: string;
  key: string;
}

export interface BenchCertSet {
  ca: string;
  leaves: BenchCert[];
  /** Milliseconds spent making them (0: reused from the cache). */
  madeMs: number;
  dir: string;
}

/** Leaf i answers to `h<i>.bench.example`; its serial is 0x10000 + i. */
export const benchCertName = (i: number): string => `h${i}.bench.example`;
const serialOf = (i: number): string => (0x10000 + i).toString(16).toUpperCase();

/** `count` leaves signed by one CA, from the cache when it is complete and fresh. */
export async function benchCerts(count: number, concurrency = 4): Promise<BenchCertSet> {
  const dir = join(tmpdir(), `nh-bench-tls-certs-${count}`);
  const done = join(dir, 'complete');
  const fresh = existsSync(done) && Date.now() - statSync(done).mtimeMs < REMAKE_AFTER_DAYS * 86_400_000;
  const t0 = performance.now();
  if (!fresh) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const p = (f: string): string => join(dir, f);
    await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', p('ca.key')]);
    await run('openssl', [
      ...['req', '-x509', '-new', '-key', p('ca.key'), '-subj', '/CN=node-haproxy bench CA', '-days', String(VALID_DAYS + 1)],
      ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', p('ca.crt')],
    ]);
    await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', p('leaf.key')]);
    await run('openssl', ['req', '-new', '-key', p('leaf.key'), '-subj', '/CN=bench leaf', '-out', p('leaf.csr')]);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < count; i = next++) {
        const ext = p(`${i}.ext`);
        await writeFile(ext, `subjectAltName=DNS:${benchCertName(i)}\nextendedKeyUsage=serverAuth\n`);
        await run('openssl', [
          ...['x509', '-req', '-in', p('leaf.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-set_serial', `0x${serialOf(i)}`],
          ...['-days', String(VALID_DAYS), '-extfile', ext, '-out', p(`${i}.crt`)],
        ]);
        await rm(ext);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await writeFile(done, `${count}\n`);
  }
  const key = await readFile(join(dir, 'leaf.key'), 'utf8');
  const leaves: BenchCert[] = [];
  for (let i = 0; i < count; i++) {
    leaves.push({ name: benchCertName(i), serial: serialOf(i), cert: await readFile(join(dir, `${i}.crt`), 'utf8'), key });
  }
  return { ca: await readFile(join(dir, 'ca.crt'), 'utf8'), leaves, madeMs: fresh ? 0 : Math.round(performance.now() - t0), dir };
}

/** A `kubernetes.io/tls` Secret document (YAML, `data` base64) as a file of the files source holds it. */
export function tlsSecretYaml(name: string, cert: string, key: string): string {
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: ${b64(cert)}\n  tls.key: ${b64(key)}\n`;
}
