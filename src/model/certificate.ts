/**
 * Certificates from Secrets, validated before anything reaches HAProxy. Pure
 * (node:crypto parses; the time is a parameter).
 *
 * A `kubernetes.io/tls` Secret gives a certificate when:
 * - `tls.crt` holds one or more PEM certificates and nothing else but
 *   whitespace, and `tls.key` one unencrypted PEM private key;
 * - the key matches the first certificate (the leaf);
 * - the chain is in order: each certificate is issued (and signed) by the next;
 * - the leaf is valid now (not before notBefore, not after notAfter).
 *
 * A leaf that expires within EXPIRY_WARNING_DAYS is valid, with a warning.
 * The PEM handed to HAProxy is rebuilt from the parsed blocks (chain, then
 * key), so nothing else in the Secret's text reaches the state directory.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { PATTERNS } from './schema.js';
import type { SecretData } from './secrets.js';

/** A certificate that expires within this many days is served with a warning. */
export const EXPIRY_WARNING_DAYS = 14;

/** A validated certificate and its key, ready for HAProxy. */
export interface Certificate {
  /** `namespace/name` of the Secret. */
  secret: string;
  /** The leaf's serial number, upper-case hex. */
  serial: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** DNS names for SNI: the subjectAltName DNS entries, else the CN (lower-case, `*.` wildcards kept). */
  dnsNames: string[];
  /** Chain (leaf first) then private key, as HAProxy's `crt` reads it. */
  pem: string;
}

export type CertificateResult = { ok: true; certificate: Certificate; warning?: string } | { ok: false; problem: string };

export interface CaBundle {
  /** `namespace/name` of the Secret or ConfigMap. */
  source: string;
  /** The certificates, rebuilt from the parsed blocks. */
  pem: string;
  count: number;
}

export type CaBundleResult = { ok: true; bundle: CaBundle } | { ok: false; problem: string };

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;

interface Block {
  label: string;
  text: string;
}

/** The PEM blocks of `text`, or the problem when anything but whitespace lies outside them. */
function pemBlocks(text: string, what: string, secret = false): { blocks: Block[] } | { problem: string } {
  const blocks: Block[] = [];
  let rest = '';
  let last = 0;
  for (const m of text.matchAll(BLOCK)) {
    rest += text.slice(last, m.index);
    last = m.index + m[0].length;
    blocks.push({ label: m[1]!, text: `-----BEGIN ${m[1]}-----\n${m[2]!.replace(/\r/g, '')}-----END ${m[1]}-----\n` });
  }
  rest += text.slice(last);
  if (rest.trim() !== '') {
    // Never quote key material: a malformed key's text must not reach a log or a status.
    const sample = secret ? 'text that is not shown' : JSON.stringify(rest.trim().slice(0, 40));
    return {
      problem:
        blocks.length === 0
          ? `${what} is not PEM: no "-----BEGIN ...-----" block found (starts with ${sample})`
          : `${what} holds text outside its PEM blocks (${sample}); keep only the PEM blocks`,
    };
  }
  return { blocks };
}

const cn = (subject: string): string | undefined => /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1];
const describe = (c: X509Certificate): string => (cn(c.subject) ? `CN=${cn(c.subject)}` : c.subject.replace(/\n/g, ', ') || `serial ${c.serialNumber}`);

/** The certificates in `text` (tls.crt or ca.crt), each parsed. */
function parseCertificates(text: string, what: string): { certs: X509Certificate[]; pems: string[] } | { problem: string } {
  const parsed = pemBlocks(text, what);
  if ('problem' in parsed) return parsed;
  if (parsed.blocks.length === 0) return { problem: `${what} is empty; it needs at least one PEM certificate` };
  const certs: X509Certificate[] = [];
  const pems: string[] = [];
  for (const [i, b] of parsed.blocks.entries()) {
    if (b.label !== 'CERTIFICATE') return { problem: `${what} block ${i + 1} is a "${b.label}", not a "CERTIFICATE"; keep keys in tls.key` };
    try {
      certs.push(new X509Certificate(b.text));
    } catch (err) {
      return { problem: `${what} certificate ${i + 1} does not parse (${err instanceof Error ? err.message : String(err)})` };
    }
    pems.push(b.text);
  }
  return { certs, pems };
}

/** DNS names a certificate answers to: SAN DNS entries, else the CN; only names HAProxy can take as SNI filters. */
export function certificateDnsNames(c: X509Certificate): string[] {
  const san = c.subjectAltName;
  const names = san
    ? san
        .split(/,\s*/)
        .filter((e) => e.startsWith('DNS:'))
        .map((e) => e.slice(4))
    : [];
  if (names.length === 0) {
    const name = cn(c.subject);
    if (name) names.push(name);
  }
  const host = new RegExp(PATTERNS.host);
  return [...new Set(names.map((n) => n.toLowerCase()).filter((n) => host.test(n)))];
}

const day = 86_400_000;
const iso = (d: Date): string => d.toISOString().replace(/\.000Z$/, 'Z');

/** Parsing costs ~1 ms; a Secret's data object is immutable, so it is parsed once. Weak: no leak. */
const parsedSecrets = new WeakMap<object, { ok: true; leaf: X509Certificate; chain: X509Certificate[]; pem: string } | { ok: false; problem: string }>();

function parseTls(
  data: Readonly<Record<string, string>>,
): { ok: true; leaf: X509Certificate; chain: X509Certificate[]; pem: string } | { ok: false; problem: string } {
  const crt = data['tls.crt'];
  const keyText = data['tls.key'];
  if (crt === undefined || crt.trim() === '') return { ok: false, problem: 'tls.crt is missing; a TLS Secret needs tls.crt (the PEM chain) and tls.key' };
  if (keyText === undefined || keyText.trim() === '')
    return { ok: false, problem: 'tls.key is missing; a TLS Secret needs tls.crt and tls.key (the PEM private key)' };
  const certs = parseCertificates(crt, 'tls.crt');
  if ('problem' in certs) return { ok: false, problem: certs.problem };
  const keyBlocks = pemBlocks(keyText, 'tls.key', true);
  if ('problem' in keyBlocks) return { ok: false, problem: keyBlocks.problem };
  const keys = keyBlocks.blocks;
  if (keys.length !== 1) return { ok: false, problem: `tls.key holds ${keys.length} PEM blocks; it needs exactly one private key` };
  const kb = keys[0]!;
  if (kb.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: 4,ENCRYPTED/.test(keyText))
    return { ok: false, problem: 'tls.key is encrypted; HAProxy needs an unencrypted private key (openssl pkey -in key.pem -out plain.pem)' };
  if (!/PRIVATE KEY$/.test(kb.label)) return { ok: false, problem: `tls.key is a "${kb.label}", not a private key` };
  let key: KeyObject;
  try {
    key = createPrivateKey(kb.text);
  } catch (err) {
    return { ok: false, problem: `tls.key does not parse as a private key (${err instanceof Error ? err.message : String(err)})` };
  }
  const chain = certs.certs;
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) {
    const match = chain.findIndex((c) => c.checkPrivateKey(key));
    return {
      ok: false,
      problem:
        match > 0
          ? `the chain is out of order: tls.key belongs to certificate ${match + 1} (${describe(chain[match]!)}), but the first certificate must be the leaf; put the leaf first, then each issuer`
          : `tls.key does not match the certificate (${describe(leaf)}); put the private key of this certificate in tls.key`,
    };
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    const c = chain[i]!;
    const next = chain[i + 1]!;
    if (!c.checkIssued(next) || !c.verify(next.publicKey)) {
      return {
        ok: false,
        problem: `the chain is out of order: certificate ${i + 1} (${describe(c)}) is not issued by certificate ${i + 2} (${describe(next)}); list the leaf first, then each certificate's issuer`,
      };
    }
  }
  return { ok: true, leaf, chain, pem: certs.pems.join('') + kb.text };
}

/**
 * Validates a `kubernetes.io/tls` Secret at time `now`. The problem text
 * starts with what is wrong (the caller prefixes the reference).
 */
export function parseTlsSecret(secret: SecretData, now: Date): CertificateResult {
  const ref = `${secret.namespace}/${secret.name}`;
  if (secret.kind !== 'Secret') return { ok: false, problem: `${secret.kind} ${ref} cannot hold a certificate and key; use a Secret` };
  let parsed = parsedSecrets.get(secret.data);
  if (!parsed) parsedSecrets.set(secret.data, (parsed = parseTls(secret.data)));
  if (!parsed.ok) return { ok: false, problem: `Secret ${ref}: ${parsed.problem}` };
  const leaf = parsed.leaf;
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (now.getTime() > notAfter.getTime())
    return { ok: false, problem: `Secret ${ref}: the certificate (${describe(leaf)}, serial ${leaf.serialNumber}) expired at ${iso(notAfter)}; renew it` };
  if (now.getTime() < notBefore.getTime())
    return { ok: false, problem: `Secret ${ref}: the certificate (${describe(leaf)}, serial ${leaf.serialNumber}) is not valid before ${iso(notBefore)}` };
  const certificate: Certificate = {
    secret: ref,
    serial: leaf.serialNumber.toUpperCase(),
    subject: describe(leaf),
    notBefore,
    notAfter,
    dnsNames: certificateDnsNames(leaf),
    pem: parsed.pem,
  };
  const left = notAfter.getTime() - now.getTime();
  const warning =
    left < EXPIRY_WARNING_DAYS * day
      ? `Secret ${ref}: the certificate (serial ${certificate.serial}) expires at ${iso(notAfter)}, in ${Math.floor(left / day)} day(s); renew it`
      : undefined;
  return warning ? { ok: true, certificate, warning } : { ok: true, certificate };
}

const parsedBundles = new WeakMap<object, CaBundleResult>();

/** Parses the `ca.crt` of a Secret or ConfigMap: one or more PEM certificates. */
export function parseCaBundle(source: SecretData): CaBundleResult {
  const hit = parsedBundles.get(source.data);
  if (hit) return hit;
  const ref = `${source.kind} ${source.namespace}/${source.name}`;
  const text = source.data['ca.crt'];
  let out: CaBundleResult;
  if (text === undefined || text.trim() === '') out = { ok: false, problem: `${ref}: ca.crt is missing; put the PEM CA certificates under the key ca.crt` };
  else {
    const certs = parseCertificates(text, 'ca.crt');
    out =
      'problem' in certs
        ? { ok: false, problem: `${ref}: ${certs.problem}` }
        : { ok: true, bundle: { source: `${source.namespace}/${source.name}`, pem: certs.pems.join(''), count: certs.certs.length } };
  }
  parsedBundles.set(source.data, out);
  return out;
}

/** `serial 1A2B, notAfter 2027-01-01T00:00:00Z`: how status names a certificate. */
export function describeCertificate(c: Certificate): string {
  return `Secret ${c.secret} (serial ${c.serial}, notAfter ${iso(c.notAfter)})`;
}
