/**
 * Certificates for Secret tests, made by the openssl CLI into a temp dir
 * (removed before returning), and the Secret manifests that carry them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCommand } from '../../src/demo.js';

export interface TestCert {
  cert: string;
  key: string;
  /** A line from the middle of the private key: what must never appear in a log or an answer. */
  keyMarker: string;
}

/** A self-signed EC certificate for `cn` (and its DNS name), valid 30 days. */
export function selfSignedCert(cn: string): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'nh-cert-'));
  try {
    execFileSync('openssl', selfSignedCommand(dir, cn), { stdio: 'ignore' });
    const key = readFileSync(join(dir, 'tls.key'), 'utf8');
    const cert = readFileSync(join(dir, 'tls.crt'), 'utf8');
    const lines = key.trim().split('\n');
    return { cert, key, keyMarker: lines[Math.floor(lines.length / 2)]! };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** A `kubernetes.io/tls` Secret manifest with `data` base64-encoded. */
export function tlsSecret(
  namespace: string,
  name: string,
  c: TestCert,
): { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; type: string; data: Record<string, string> } {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(c.cert), 'tls.key': b64(c.key) },
  };
}
