import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { parseCaBundle, parseTlsSecret } from '../../src/model/certificate.js';
import type { SecretData } from '../../src/model/secrets.js';
import { TestPki, type Issued } from '../helpers/certs.js';

let pki: TestPki;
let root: Issued;
let inter: Issued;
let leaf: Issued;

before(() => {
  pki = new TestPki();
  root = pki.issue({ cn: 'Test Root', ca: true, endDays: 3650 });
  inter = pki.issue({ cn: 'Test Intermediate', ca: true, issuer: root, endDays: 3000 });
  leaf = pki.issue({ cn: 'www.example.com', dns: ['www.example.com', 'Example.com', '*.api.example.com'], issuer: inter, endDays: 90 });
});
after(() => pki.cleanup());

const secret = (data: Record<string, string>, over: Partial<SecretData> = {}): SecretData => ({
  kind: 'Secret',
  namespace: 'shop',
  name: 'site',
  type: 'kubernetes.io/tls',
  data,
  origin: 'test',
  ...over,
});
const now = () => new Date();
const problem = (r: ReturnType<typeof parseTlsSecret>): string => {
  assert.equal(r.ok, false, 'expected a rejection');
  return (r as { problem: string }).problem;
};

test('a leaf with its chain and key is accepted with its serial, notAfter and DNS names', () => {
  const r = parseTlsSecret(secret({ 'tls.crt': leaf.cert + inter.cert, 'tls.key': leaf.key }), now());
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.certificate.serial, leaf.serial);
  assert.equal(r.certificate.secret, 'shop/site');
  assert.deepEqual(r.certificate.dnsNames, ['www.example.com', 'example.com', '*.api.example.com']);
  assert.equal(r.certificate.notAfter.getTime(), new Date(new X509Certificate(leaf.cert).validTo).getTime());
  assert.equal(r.warning, undefined);
  // HAProxy's file: the chain in order, then the key.
  const blocks = r.certificate.pem.match(/-----BEGIN [A-Z ]+-----/g);
  assert.deepEqual(blocks, ['-----BEGIN CERTIFICATE-----', '-----BEGIN CERTIFICATE-----', '-----BEGIN PRIVATE KEY-----']);
  assert.ok(r.certificate.pem.startsWith(leaf.cert.trim().split('\n')[0]!));
});

test('without subjectAltName the CN names the certificate', () => {
  const c = pki.issue({ cn: 'plain.example.com' });
  const r = parseTlsSecret(secret({ 'tls.crt': c.cert, 'tls.key': c.key }), now());
  assert.ok(r.ok);
  assert.deepEqual(r.certificate.dnsNames, ['plain.example.com']);
});

test('a key that belongs to another certificate is refused, naming the Secret', () => {
  const other = pki.issue({ cn: 'other.example.com' });
  const p = problem(parseTlsSecret(secret({ 'tls.crt': leaf.cert, 'tls.key': other.key }), now()));
  assert.match(p, /^Secret shop\/site: tls\.key does not match the certificate \(CN=www\.example\.com\)/);
});

test('a reversed chain is refused and says how to order it', () => {
  const p = problem(parseTlsSecret(secret({ 'tls.crt': inter.cert + leaf.cert, 'tls.key': leaf.key }), now()));
  assert.match(p, /chain is out of order: tls\.key belongs to certificate 2 \(CN=www\.example\.com\).*leaf first/);
  const p2 = problem(parseTlsSecret(secret({ 'tls.crt': leaf.cert + root.cert, 'tls.key': leaf.key }), now()));
  assert.match(p2, /certificate 1 \(CN=www\.example\.com\) is not issued by certificate 2 \(CN=Test Root\)/);
});

test('expired and not-yet-valid certificates are refused; one expiring within 14 days is a warning', () => {
  const old = pki.issue({ cn: 'old.example.com', startDays: -60, endDays: -1 });
  assert.match(problem(parseTlsSecret(secret({ 'tls.crt': old.cert, 'tls.key': old.key }), now())), /expired at 20\d\d-.*renew it/);
  const future = pki.issue({ cn: 'new.example.com', startDays: 2, endDays: 30 });
  assert.match(problem(parseTlsSecret(secret({ 'tls.crt': future.cert, 'tls.key': future.key }), now())), /is not valid before/);
  const soon = pki.issue({ cn: 'soon.example.com', endDays: 5 });
  const r = parseTlsSecret(secret({ 'tls.crt': soon.cert, 'tls.key': soon.key }), now());
  assert.ok(r.ok);
  assert.match(r.warning ?? '', /Secret shop\/site: the certificate \(serial [0-9A-F]+\) expires at .*, in 4 day\(s\)/);
  // `now` is a parameter: the same Secret is expired 6 days later.
  assert.equal(parseTlsSecret(secret({ 'tls.crt': soon.cert, 'tls.key': soon.key }), new Date(Date.now() + 6 * 86_400_000)).ok, false);
});

test('garbage, missing keys, extra text and encrypted keys are refused with clear messages', () => {
  assert.match(problem(parseTlsSecret(secret({ 'tls.crt': 'hello', 'tls.key': leaf.key }), now())), /tls\.crt is not PEM: no "-----BEGIN/);
  assert.match(problem(parseTlsSecret(secret({ 'tls.key': leaf.key }), now())), /tls\.crt is missing/);
  assert.match(problem(parseTlsSecret(secret({ 'tls.crt': leaf.cert }), now())), /tls\.key is missing/);
  assert.match(problem(parseTlsSecret(secret({ 'tls.crt': leaf.cert + 'junk', 'tls.key': leaf.key }), now())), /text outside its PEM blocks/);
  const broken = leaf.cert.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');
  assert.match(problem(parseTlsSecret(secret({ 'tls.crt': broken, 'tls.key': leaf.key }), now())), /tls\.crt certificate 1 does not parse/);
  assert.match(problem(parseTlsSecret(secret({ 'tls.crt': leaf.key, 'tls.key': leaf.key }), now())), /not a "CERTIFICATE"/);
  const enc = '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n';
  assert.match(problem(parseTlsSecret(secret({ 'tls.crt': leaf.cert, 'tls.key': enc }), now())), /tls\.key is encrypted/);
  assert.match(problem(parseTlsSecret(secret({ 'ca.crt': root.cert }, { kind: 'ConfigMap' }), now())), /ConfigMap shop\/site cannot hold a certificate/);
});

test('CA bundles from a Secret or a ConfigMap', () => {
  const r = parseCaBundle(secret({ 'ca.crt': root.cert + inter.cert }, { kind: 'ConfigMap' }));
  assert.ok(r.ok);
  assert.equal(r.bundle.count, 2);
  assert.equal(r.bundle.source, 'shop/site');
  const bad = parseCaBundle(secret({ 'ca.crt': 'nope' }));
  assert.ok(!bad.ok);
  assert.match(bad.problem, /^Secret shop\/site: ca\.crt is not PEM/);
  const missing = parseCaBundle(secret({ 'tls.crt': root.cert }));
  assert.ok(!missing.ok);
  assert.match(missing.problem, /ca\.crt is missing/);
});
