// The certificate planner (running and desired auxiliary files → runtime
// operations or a reload with reasons), payload checks and `show ssl cert` parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeCertOp, parseCrtList, planCertificates, type CertOp, type CertPlan } from '../../src/reconcile/cert-plan.js';
import { CertUpdateError, CertUpdater } from '../../src/reconcile/cert-updater.js';
import { assertPemPayload, parseShowSslCert } from '../../src/haproxy/ssl-runtime.js';
import { assertPayload, commandText, sendCommand } from '../../src/haproxy/socket.js';

const DIR = '/var/lib/nh';
const pem = (tag: string, size = 2): string =>
  `-----BEGIN CERTIFICATE-----\n${Array.from({ length: size }, () => Buffer.from(tag.padEnd(48, tag)).toString('base64')).join('\n')}\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n`;
const A = 'certs/default/secret-a.pem';
const B = 'certs/default/secret-b.pem';
const C = 'certs/default/secret-c.pem';
const LIST = 'certs/web.0.crtlist';
const abs = (rel: string) => `${DIR}/${rel}`;
const crtlist = (...lines: [string, ...string[]][]) => lines.map(([p, ...f]) => [abs(p), ...f].join(' ')).join('\n') + '\n';
const files = (entries: Record<string, string>) => new Map(Object.entries(entries));

const running = files({ [A]: pem('a1'), [B]: pem('b1'), [LIST]: crtlist([A, 'a.example'], [B, 'b.example']) });
const plan = (desired: Map<string, string>, from = running, options = {}): CertPlan => planCertificates(from, desired, { stateDir: DIR, ...options });
const ops = (p: CertPlan): CertOp[] => {
  assert.equal(p.kind, 'runtime', JSON.stringify(p));
  return p.kind === 'runtime' ? p.ops : [];
};
const reasons = (p: CertPlan): string[] => {
  assert.equal(p.kind, 'reload', JSON.stringify(p));
  return p.kind === 'reload' ? p.reasons : [];
};

test('identical files: noop', () => {
  assert.deepEqual(plan(new Map(running)), { kind: 'noop' });
});

test("a .pem's content changed: update it (the default certificate's too)", () => {
  const p = plan(files({ [A]: pem('a2'), [B]: pem('b2'), [LIST]: running.get(LIST)! }));
  assert.deepEqual(ops(p), [
    { op: 'update-cert', path: abs(A), pem: pem('a2') },
    { op: 'update-cert', path: abs(B), pem: pem('b2') },
  ]);
  assert.equal(p.kind === 'runtime' && p.summary, '2 update-cert');
});

test('a line for a new .pem: load it, then add it to the crt-list', () => {
  const p = plan(
    files({ [A]: pem('a1'), [B]: pem('b1'), [C]: pem('c1'), [LIST]: crtlist([A, 'a.example'], [B, 'b.example'], [C, 'c.example', '*.c.example']) }),
  );
  assert.deepEqual(ops(p), [
    { op: 'new-cert', path: abs(C), pem: pem('c1') },
    { op: 'add-crtlist-line', crtList: abs(LIST), path: abs(C), filters: ['c.example', '*.c.example'] },
  ]);
});

test('a new line for a .pem another crt-list already loaded: add only', () => {
  const other = 'certs/api.0.crtlist';
  const from = files({ ...Object.fromEntries(running), [C]: pem('c1'), [other]: crtlist([C, 'c.example']) });
  const p = plan(files({ ...Object.fromEntries(from), [LIST]: crtlist([A, 'a.example'], [B, 'b.example'], [C, 'c.example']) }), from);
  assert.deepEqual(ops(p), [{ op: 'add-crtlist-line', crtList: abs(LIST), path: abs(C), filters: ['c.example'] }]);
});

test('a line removed: delete it from the crt-list, then unload the .pem nothing uses', () => {
  const p = plan(files({ [A]: pem('a1'), [LIST]: crtlist([A, 'a.example']) }));
  assert.deepEqual(ops(p), [
    { op: 'del-crtlist-line', crtList: abs(LIST), path: abs(B) },
    { op: 'del-cert', path: abs(B) },
  ]);
});

test('a line removed whose .pem another crt-list still uses: the .pem stays loaded', () => {
  const other = 'certs/api.0.crtlist';
  const from = files({ ...Object.fromEntries(running), [other]: crtlist([B, 'b.example']) });
  const p = plan(files({ [A]: pem('a1'), [B]: pem('b1'), [other]: crtlist([B, 'b.example']), [LIST]: crtlist([A, 'a.example']) }), from);
  assert.deepEqual(ops(p), [{ op: 'del-crtlist-line', crtList: abs(LIST), path: abs(B) }]);
});

test('a line removed whose .pem haproxy.cfg names elsewhere: the .pem stays loaded', () => {
  const p = plan(files({ [A]: pem('a1'), [B]: pem('b1'), [LIST]: crtlist([A, 'a.example']) }), running, {
    runningConfig: `server s1 127.0.0.1:1 ssl crt ${abs(B)}\n`,
  });
  assert.deepEqual(ops(p), [{ op: 'del-crtlist-line', crtList: abs(LIST), path: abs(B) }]);
  // Another file whose name starts with the same path is not the .pem.
  const q = plan(files({ [A]: pem('a1'), [B]: pem('b1'), [LIST]: crtlist([A, 'a.example']) }), running, { runningConfig: `  ca-file ${abs(B)}.bak\n` });
  assert.deepEqual(
    ops(q).map((o) => o.op),
    ['del-crtlist-line', 'del-cert'],
  );
});

test('swap: one line out, one in, in one runtime plan (adds before deletes)', () => {
  const p = plan(files({ [A]: pem('a1'), [C]: pem('c1'), [LIST]: crtlist([A, 'a.example'], [C, 'c.example']) }));
  assert.deepEqual(
    ops(p).map((o) => o.op),
    ['new-cert', 'add-crtlist-line', 'del-crtlist-line', 'del-cert'],
  );
});

test('the default certificate (first line) changes: reload, saying why', () => {
  const r = reasons(plan(files({ [A]: pem('a1'), [B]: pem('b1'), [LIST]: crtlist([B, 'b.example'], [A, 'a.example']) })));
  assert.match(r[0]!, /default certificate of crt-list certs\/web\.0\.crtlist changed \(certs\/default\/secret-a\.pem → certs\/default\/secret-b\.pem\)/);
  const names = reasons(plan(files({ [A]: pem('a1'), [B]: pem('b1'), [LIST]: crtlist([A, 'a.example', 'www.a.example'], [B, 'b.example']) })));
  assert.match(names[0]!, /default certificate .* changed its SNI names \(a\.example → a\.example www\.a\.example\)/);
});

test('a new crt-list (a new TLS bind) or a removed one: reload', () => {
  const list2 = 'certs/web.1.crtlist';
  assert.match(
    reasons(plan(files({ ...Object.fromEntries(running), [list2]: crtlist([A, 'a.example']) })))[0]!,
    /crt-list certs\/web\.1\.crtlist added \(a new TLS bind\)/,
  );
  assert.match(reasons(plan(files({ [A]: pem('a1') })))[0]!, /crt-list certs\/web\.0\.crtlist removed/);
});

test("a line's SNI filters changed: reload (a line cannot be edited in place)", () => {
  const r = reasons(plan(files({ [A]: pem('a1'), [B]: pem('b2'), [LIST]: crtlist([A, 'a.example'], [B, 'b.example', 'new.b.example']) })));
  assert.match(r[0]!, /secret-b\.pem in crt-list .* changed its SNI names \(b\.example → b\.example new\.b\.example\)/);
});

test('an added line that would lose an SNI name to an earlier runtime line: reload', () => {
  // Desired: C (new) before B, both naming shared.example: after a reload C serves it; at run time C would come last.
  const from = files({ [A]: pem('a1'), [B]: pem('b1'), [LIST]: crtlist([A, 'a.example'], [B, 'shared.example']) });
  const r = reasons(
    plan(files({ [A]: pem('a1'), [B]: pem('b1'), [C]: pem('c1'), [LIST]: crtlist([A, 'a.example'], [C, 'shared.example'], [B, 'shared.example']) }), from),
  );
  assert.match(r[0]!, /SNI name shared\.example .* served by certs\/default\/secret-c\.pem after a reload but would stay on certs\/default\/secret-b\.pem/);
  // Reordering lines with distinct names changes nothing HAProxy serves: noop at run time.
  const from3 = files({ [A]: pem('a1'), [B]: pem('b1'), [C]: pem('c1'), [LIST]: crtlist([A, 'a.example'], [B, 'b.example'], [C, 'c.example']) });
  assert.deepEqual(plan(files({ ...Object.fromEntries(from3), [LIST]: crtlist([A, 'a.example'], [C, 'c.example'], [B, 'b.example']) }), from3), {
    kind: 'noop',
  });
});

test('a certificate listed twice in one crt-list: reload', () => {
  const r = reasons(plan(files({ [A]: pem('a1'), [B]: pem('b1'), [LIST]: crtlist([A, 'a.example'], [B, 'b.example'], [B, 'c.example']) })));
  assert.match(r[0]!, /lists certs\/default\/secret-b\.pem more than once/);
});

test('a CA bundle changed: runtime update, or a reload when the version cannot', () => {
  const CA = 'certs/default/configmap-client-ca.ca.pem';
  const from = files({ ...Object.fromEntries(running), [CA]: pem('ca1') });
  const desired = files({ ...Object.fromEntries(running), [CA]: pem('ca2') });
  assert.deepEqual(ops(plan(desired, from)), [{ op: 'update-ca-file', path: abs(CA), pem: pem('ca2') }]);
  assert.match(
    reasons(plan(desired, from, { caFileRuntime: false }))[0]!,
    /CA bundle .*configmap-client-ca\.ca\.pem changed, and this HAProxy cannot replace a CA file at run time/,
  );
  // Added with a bind's new ca-file: haproxy.cfg changes too (and reloads); nothing to do at run time.
  assert.deepEqual(plan(from), { kind: 'noop' });
});

test('any other auxiliary file changed: reload', () => {
  const r = reasons(plan(files({ ...Object.fromEntries(running), 'maps/hosts.map': 'a b\n' })));
  assert.match(r[0]!, /auxiliary file maps\/hosts\.map added, and only certificates, CA bundles and crt-lists change at run time/);
});

test('a certificate larger than the CLI buffer: reload', () => {
  const r = reasons(plan(files({ [A]: pem('a1'), [B]: pem('b', 400), [LIST]: running.get(LIST)! })));
  assert.match(r[0]!, /certificate certs\/default\/secret-b\.pem is \d+ bytes with its command, more than HAProxy's CLI buffer \(tune\.bufsize 16384\)/);
  assert.equal(plan(files({ [A]: pem('a1'), [B]: pem('b', 400), [LIST]: running.get(LIST)! }), running, { bufsizeBytes: 65536 }).kind, 'runtime');
});

test('a removed .pem that no crt-list used is only a file removal; a changed unused one too', () => {
  const from = files({ ...Object.fromEntries(running), [C]: pem('c1') });
  assert.deepEqual(plan(new Map(running), from), { kind: 'noop' });
  assert.deepEqual(plan(files({ ...Object.fromEntries(running), [C]: pem('c2') }), from), { kind: 'noop' });
});

test('parseCrtList skips blanks and comments', () => {
  assert.deepEqual(parseCrtList('# x\n\n/a.pem a b\n/b.pem\n'), [
    { path: '/a.pem', filters: ['a', 'b'] },
    { path: '/b.pem', filters: [] },
  ]);
});

test('describeCertOp never shows the PEM', () => {
  const o: CertOp = { op: 'update-cert', path: '/x.pem', pem: pem('secret') };
  assert.equal(describeCertOp(o), 'update certificate /x.pem');
});

test('CertUpdater applies in order and names the failed operation and how many went before', async () => {
  const calls: string[] = [];
  const ssl = {
    updateCert: async (p: string) => void calls.push(`update ${p}`),
    newCert: async (p: string) => void calls.push(`new ${p}`),
    addCrtListLine: async () => {
      throw new Error('HAProxy refused "add ssl crt-list /l <<": certificate \'/c.pem\' does not exist!');
    },
    delCrtListLine: async () => void calls.push('del line'),
    delCert: async () => void calls.push('del cert'),
    updateCaFile: async () => void calls.push('ca'),
  };
  const list: CertOp[] = [
    { op: 'update-cert', path: '/a.pem', pem: 'x' },
    { op: 'add-crtlist-line', crtList: '/l', path: '/c.pem', filters: ['c'] },
    { op: 'del-cert', path: '/b.pem' },
  ];
  await assert.rejects(new CertUpdater(ssl).execute(list), (err: unknown) => {
    assert.ok(err instanceof CertUpdateError);
    assert.equal(err.applied, 1);
    assert.match(err.message, /serve \/c\.pem in crt-list \/l for c failed \(1 of 3 .*\): .*does not exist!/);
    return true;
  });
  assert.deepEqual(calls, ['update /a.pem']);
});

test('payloads: no empty line, no NUL or lone CR; CRLF accepted; sent with "<<" and an empty line', async () => {
  assert.throws(() => assertPayload('a\n\nb'), /line 2 is empty \(HAProxy ends a payload at an empty line\)/);
  assert.throws(() => assertPayload('a\n  \nb'), /line 2 is empty/);
  assert.throws(() => assertPayload(''), /empty/);
  assert.throws(() => assertPayload('a\0b'), /line 1 holds a NUL/);
  assert.throws(() => assertPayload('a\rb'), /carriage return/);
  assertPayload('a\r\nb\r\n');
  assert.equal(commandText('set ssl cert /a.pem', 'x\r\ny\n\n'), 'set ssl cert /a.pem <<\nx\ny\n\n');
  assert.equal(commandText('show info'), 'show info\n');
  // Refused before connecting (the socket does not exist: a connection attempt would fail differently).
  await assert.rejects(sendCommand('/nonexistent.sock', 'set ssl cert /a.pem', { payload: 'a\n\nshutdown sessions server be/a' }), /line 2 is empty/);
  await assert.rejects(sendCommand('/nonexistent.sock', 'set ssl cert /a.pem <<'), /ends with "<<"; pass the payload as options.payload/);
});

test('PEM payloads: PEM blocks only, named by line, content never echoed', () => {
  assertPemPayload('certificate /a.pem', pem('a1'));
  assert.throws(() => assertPemPayload('certificate /a.pem', 'garbage'), /certificate \/a\.pem: PEM line 1 is outside a BEGIN\/END block/);
  assert.throws(() => assertPemPayload('c', 'Bag Attributes\n' + pem('a')), /PEM line 1 is not PEM/);
  assert.throws(() => assertPemPayload('c', pem('a').replace('QUJD', 'QUJD\n')), /PEM line \d+ is empty/);
  assert.throws(() => assertPemPayload('c', '-----BEGIN CERTIFICATE-----\nQUJD\n'), /"CERTIFICATE" has no END line/);
  assert.throws(() => assertPemPayload('c', '-----BEGIN CERTIFICATE-----\nQUJD\n-----END PRIVATE KEY-----'), /ends "PRIVATE KEY" but "CERTIFICATE" is open/);
  assert.throws(() => assertPemPayload('c', ''), /empty/);
  try {
    assertPemPayload('c', pem('a').replace('QUJD', 'secret key material!'));
  } catch (err) {
    assert.doesNotMatch((err as Error).message, /secret key material/);
  }
});

test('parseShowSslCert reads serial, dates and names', () => {
  const c = parseShowSslCert(
    'Filename: /s/a.pem\nStatus: Used\nSerial: 3CD7F559\nnotBefore: Nov 26 00:53:10 2026 GMT\nnotAfter: Nov 28 00:53:10 2026 GMT\nSubject Alternative Name: DNS:a.example, DNS:www.a.example, IP Address:127.0.0.1\nAlgorithm: EC256\nSHA1 FingerPrint: 4478\nSubject: /CN=a.example\nIssuer: /CN=a.example\nOCSP Response Key: \n',
  );
  assert.equal(c.filename, '/s/a.pem');
  assert.equal(c.status, 'Used');
  assert.equal(c.serial, '3CD7F559');
  assert.equal(c.notAfter?.toISOString(), '2026-11-28T00:53:10.000Z');
  assert.deepEqual(c.dnsNames, ['a.example', 'www.a.example']);
  assert.equal(c.subject, '/CN=a.example');
  assert.throws(() => parseShowSslCert("Can't display the certificate"), /expected "Filename:" and "Serial:"/);
});
