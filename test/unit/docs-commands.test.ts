/**
 * The kubectl lines in the README and docs/ work as written: every `kubectl
 * apply -f` names files that exist and hold only Kubernetes objects (a
 * directory with a kustomization.yaml would fail), and every `kubectl apply -k`
 * names a directory with a kustomization.yaml whose resources exist.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { packageRoot } from '../../src/paths.js';

const root = packageRoot();
const docs = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f)),
];

function kubectlLines(): { doc: string; line: string }[] {
  const out: { doc: string; line: string }[] = [];
  for (const doc of docs) {
    for (const m of readFileSync(join(root, doc), 'utf8').matchAll(/kubectl apply [^\n`#]*/g)) out.push({ doc, line: m[0].trim() });
  }
  return out;
}

function objectsIn(file: string): unknown[] {
  return loadAll(readFileSync(file, 'utf8')).filter((d) => d !== null && d !== undefined);
}

test('every kubectl apply -f in the docs names Kubernetes objects only', () => {
  const lines = kubectlLines().filter((l) => / -f /.test(l.line));
  assert.ok(lines.length > 0, 'the docs show kubectl apply -f');
  for (const { doc, line } of lines) {
    for (const m of line.matchAll(/-f\s+(\S+)/g)) {
      const target = join(root, m[1]!);
      assert.ok(existsSync(target), `${doc}: "${line}": ${m[1]} does not exist`);
      const files = statSync(target).isDirectory()
        ? readdirSync(target)
            .filter((f) => /\.ya?ml$/.test(f))
            .map((f) => join(target, f))
        : [target];
      for (const f of files) {
        for (const o of objectsIn(f)) {
          const obj = o as { apiVersion?: string; kind?: string };
          assert.ok(
            obj.apiVersion && obj.kind && obj.kind !== 'Kustomization',
            `${doc}: "${line}": ${f} holds a ${obj.kind ?? 'document'} that kubectl apply -f refuses`,
          );
        }
      }
    }
  }
});

test('every kubectl apply -k in the docs names a kustomization whose resources exist', () => {
  const lines = kubectlLines().filter((l) => / -k /.test(l.line));
  assert.ok(lines.length > 0, 'the docs show kubectl apply -k');
  for (const { doc, line } of lines) {
    const dir = join(root, /-k\s+(\S+)/.exec(line)![1]!);
    const k = join(dir, 'kustomization.yaml');
    assert.ok(existsSync(k), `${doc}: "${line}": no kustomization.yaml in ${dir}`);
    const resources = (objectsIn(k)[0] as { resources?: string[] }).resources ?? [];
    for (const r of resources) assert.ok(existsSync(join(dir, r)), `${doc}: "${line}": resource ${r} of ${k} does not exist`);
  }
});
