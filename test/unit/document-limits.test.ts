/**
 * The one bounded document parser (src/model/document.ts) and the file walk:
 * hostile or unlucky inputs are refused quickly with a message that says why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DocumentError, explainDocumentError, parseDocument, parseDocuments } from '../../src/model/document.js';
import { listManifests, loadDirectory, parseManifests } from '../../src/sources/files/load.js';
import { parseValue } from '../../src/sources/etcd/keys.js';
import { parseBody } from '../../src/sources/rest/http-io.js';
import { API_VERSION, backendYaml } from '../helpers/controller.js';
import { aliasBomb } from '../helpers/hostile.js';

/** Not a speed target (benchmarks hold those): a bound that only a stall, the defect this guards against, can exceed. */
const STALL_MS = 10_000;

function refusal(fn: () => unknown): DocumentError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DocumentError, `a DocumentError, not ${String(err)}`);
    return err;
  }
  assert.fail('refused');
}

test('an alias bomb is refused in well under a second; normal aliases still work', () => {
  const bomb = aliasBomb();
  assert.ok(bomb.length < 600, `${bomb.length} bytes`);
  const started = Date.now();
  const err = refusal(() => parseDocuments(bomb, { format: 'yaml' }));
  assert.ok(Date.now() - started < STALL_MS, `stalled: ${Date.now() - started} ms (the defect was a stall of 35 s or more)`);
  assert.equal(err.kind, 'limit');
  assert.match(err.message, /expands to more than 16 MiB once its YAML aliases \(\*name\) are followed/);
  // JSON in YAML's clothes or in etcd: the same bound.
  assert.match(parseValue(bomb).problem ?? '', /^the value expands to more than 16 MiB/);
  const ok = parseDocument('base: &m { port: 80 }\nothers: [*m, *m]\n', { format: 'yaml' });
  assert.deepEqual(ok, { base: { port: 80 }, others: [{ port: 80 }, { port: 80 }] });
});

test('more than 100 aliases, a huge string, deep nesting and a large text are refused', () => {
  const many = `a: &a x\nb: [${Array(101).fill('*a').join(', ')}]\n`;
  assert.match(refusal(() => parseDocuments(many, { format: 'yaml' })).message, /uses more than 100 YAML aliases \(\*name\), at line 2/);
  const long = refusal(() => parseDocument(JSON.stringify({ metadata: { annotations: { x: 'y'.repeat(300 * 1024) } } }), { format: 'json' }));
  assert.match(long.message, /holds a string of 300 KiB at metadata\.annotations\.x, more than the limit of 256 KiB/);
  const deepJson = '['.repeat(100_000) + ']'.repeat(100_000);
  assert.match(refusal(() => parseDocument(deepJson, { format: 'json' })).message, /nests deeper than 64 levels/);
  const deepYaml = 'a:\n' + Array.from({ length: 80 }, (_, i) => `${'  '.repeat(i + 1)}a:`).join('\n') + ' 1\n';
  assert.match(refusal(() => parseDocument(deepYaml, { format: 'yaml' })).message, /nests deeper than 64 levels/);
  assert.match(refusal(() => parseDocument('[' + '['.repeat(5000), { format: 'yaml' })).message, /nests deeper than 64 levels/);
  const big = refusal(() => parseDocument(`x: "${'a'.repeat(10)}"\n`, { format: 'yaml', limits: { maxBytes: 8 } }));
  assert.match(explainDocumentError(big, 'the file', 'YAML does not parse'), /^the file is 16 bytes \(16 bytes\), more than the limit of 8 bytes; split it/);
  // Syntax errors keep their words.
  const bad = refusal(() => parseDocuments('kind: [unclosed', { format: 'yaml' }));
  assert.equal(bad.kind, 'syntax');
  assert.match(
    explainDocumentError(bad, 'the file', 'YAML does not parse'),
    /^YAML does not parse at line 2, column 1: unexpected end of the stream within a flow collection/,
  );
});

test('REST bodies: deep JSON and alias bombs are a 400 with a clear message, not a crash', () => {
  const deep = Buffer.from('{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000));
  assert.throws(
    () => parseBody(deep, 'json'),
    (e: { status: number; message: string }) => e.status === 400 && /the request body nests deeper than 64 levels/.test(e.message),
  );
  assert.throws(
    () => parseBody(Buffer.from(aliasBomb()), 'yaml'),
    (e: { status: number; message: string }) => e.status === 400 && /the request body expands to more than 16 MiB/.test(e.message),
  );
  assert.throws(
    () => parseBody(Buffer.from('{"spec": {'), 'json'),
    (e: { status: number; message: string }) => e.status === 400 && /not valid JSON/.test(e.message),
  );
});

test('files: plain text, a scalar or a list make the file broken; an empty file is empty', () => {
  const good = backendYaml('app', [{ name: 'a', port: 9001 }]);
  assert.equal(parseManifests(good, 'app.yaml').declared?.length, 1);
  for (const text of ['hello world\n', 'the quick brown fox', `${good}---\njust text\n`, '- a\n- b\n', '42\n']) {
    const r = parseManifests(text, 'app.yaml');
    assert.equal(r.declared, undefined, JSON.stringify(text));
    assert.equal(r.issues[0]?.reason, 'ParseError');
    assert.match(r.issues[0]!.message, /not a Frontend or Backend object; is this file a manifest, or was it cut short\?/);
  }
  for (const text of ['', '\n\n', '# only a comment\n', '---\n---\n']) {
    const r = parseManifests(text, 'app.yaml');
    assert.deepEqual(r.declared, [], JSON.stringify(text));
    assert.equal(r.empty, true);
  }
  const bomb = parseManifests(aliasBomb(), 'bomb.yaml');
  assert.equal(bomb.declared, undefined);
  assert.match(bomb.issues[0]!.message, /^the file expands to more than 16 MiB/);
});

test('the walk follows each real directory once: link loops end, a linked sibling adds no duplicate, problems are reported', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nh-walk-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'apps'));
  await writeFile(join(dir, 'apps', 'app.yaml'), backendYaml('app', [{ name: 'a', port: 9001 }]));
  await writeFile(
    join(dir, 'web.yaml'),
    `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata: { name: web }\nspec:\n  binds: [{ port: 8080 }]\n  defaultBackend: app\n`,
  );
  await symlink('.', join(dir, 'loop1'));
  await symlink('.', join(dir, 'loop2'));
  await symlink('..', join(dir, 'apps', 'up'));
  await symlink('apps', join(dir, 'also-apps')); // sorts before apps: the real path still wins
  await symlink('web.yaml', join(dir, 'web-link.yaml'));
  await symlink('missing.yaml', join(dir, 'dangling.yaml'));
  execFileSync('mkfifo', [join(dir, 'pipe.yaml')]);

  const started = Date.now();
  const listing = await listManifests(dir);
  assert.ok(Date.now() - started < STALL_MS, `stalled: ${Date.now() - started} ms (the defect was a stall of 35 s or more)`);
  assert.deepEqual(listing.paths, [join(dir, 'apps', 'app.yaml'), join(dir, 'web.yaml')]);
  assert.deepEqual(
    listing.problems.map((p) => [p.path.slice(dir.length + 1), p.message]),
    [
      ['dangling.yaml', 'is a symbolic link to missing.yaml, which does not exist; fix or remove the link'],
      ['pipe.yaml', 'is a FIFO, not a file; it is skipped: remove it or give it another name'],
    ],
  );
  // validate reports them, and finds no Duplicate.
  const loaded = await loadDirectory(dir);
  assert.equal(loaded.declared.length, 2);
  assert.deepEqual(
    loaded.issues.map((i) => `${i.origin}: ${i.message}`),
    [
      'dangling.yaml: is a symbolic link to missing.yaml, which does not exist; fix or remove the link',
      'pipe.yaml: is a FIFO, not a file; it is skipped: remove it or give it another name',
    ],
  );
});
