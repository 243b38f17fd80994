// The spec types are generated from the one schema (src/model/gen-types.ts):
// the committed file is what the generator writes, the mapping follows what
// validation hands the code, and a field is written once, in the schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TYPES_GENERATED_FILE, typesFromSchema, typesSource } from '../../src/model/gen-types.js';
import { backendSpecSchema, frontendSpecSchema, type JsonSchema } from '../../src/model/schema.js';
import { validateResource } from '../../src/model/validate.js';
import { API_VERSION } from '../../src/model/types.js';

const root = new URL('../../../', import.meta.url).pathname;

test('committed src/model/types.generated.ts equals what scripts/gen-types.mjs generates from the schema', async () => {
  const committed = await readFile(join(root, TYPES_GENERATED_FILE), 'utf8').catch(() => '(missing)');
  assert.equal(committed, typesSource(), `${TYPES_GENERATED_FILE} is stale: run "npm run gen" and commit the result`);
});

test('the mapping: titles name declarations, defaults make a property required, enums and anyOf become unions', () => {
  const color: JsonSchema = { title: 'Color', type: 'string', enum: ['red', "it's"], description: 'A colour.' };
  const text = typesFromSchema([
    {
      title: 'Thing',
      type: 'object',
      properties: {
        name: { type: 'string' },
        size: { type: 'integer', default: 1 },
        color,
        again: color,
        port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
        tags: { type: 'array', items: { type: 'string', enum: ['a', 'b'] } },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        inner: { type: 'object', properties: { on: { type: 'boolean' } }, required: ['on'] },
      },
      required: ['name'],
    },
  ]);
  assert.equal(
    text,
    [
      'export interface Thing {',
      '  name: string;',
      '  size: number;',
      '  /** A colour. */',
      '  color?: Color;',
      '  /** A colour. */',
      '  again?: Color;',
      '  port?: number | string;',
      "  tags?: ('a' | 'b')[];",
      '  labels?: Record<string, string>;',
      '  inner?: {',
      '    on: boolean;',
      '  };',
      '}',
      '',
      '/** A colour. */',
      "export type Color = 'red' | 'it\\'s';",
      '',
    ].join('\n'),
  );
});

test('two different schema nodes with one title, or a title that is not a type name, are refused with the fix', () => {
  const twice = (): string =>
    typesFromSchema([{ title: 'A', type: 'object', properties: { x: { title: 'Same', type: 'string' }, y: { title: 'Same', type: 'integer' } } }]);
  assert.throws(twice, /two different schema nodes have the title Same: give one of them another title/);
  assert.throws(() => typesFromSchema([{ title: 'not-a-name', type: 'string' }]), /is not a TypeScript type name/);
  assert.throws(() => typesFromSchema([{ type: 'string' }]), /needs a title/);
});

/** Every property the generated types call required (in `required` or with a default), as dotted paths with [] for array items. */
function requiredInType(s: JsonSchema, path: string): string[] {
  const out: string[] = [];
  const required = new Set(s.required ?? []);
  for (const [name, p] of Object.entries(s.properties ?? {})) {
    if (required.has(name) || p.default !== undefined) out.push(`${path}.${name}`);
    out.push(...requiredInType(p, `${path}.${name}`));
  }
  if (s.items) out.push(...requiredInType(s.items, `${path}[]`));
  return out;
}

/** Whether `path` is present in `value` wherever its parents are. */
function present(value: unknown, path: string[]): boolean {
  if (path.length === 0) return value !== undefined;
  if (value === undefined) return true; // the parent is absent (optional): nothing to check
  const [head, ...rest] = path;
  if (head === '[]') return (value as unknown[]).every((v) => present(v, rest));
  const v = (value as Record<string, unknown>)[head!];
  return rest.length === 0 ? v !== undefined : present(v, rest);
}

test('what the types call required is there in every spec validation returns (defaults filled in)', () => {
  const specs: [kind: 'Frontend' | 'Backend', schema: JsonSchema, spec: unknown][] = [
    ['Frontend', frontendSpecSchema, { binds: [{ port: 80 }], rules: [{ host: 'a.example', backend: 'app' }] }],
    ['Backend', backendSpecSchema, { members: [{ name: 'a', address: '127.0.0.1', port: 8080 }], healthCheck: {} }],
  ];
  for (const [kind, schema, spec] of specs) {
    const r = validateResource({ apiVersion: API_VERSION, kind, metadata: { name: 'x' }, spec });
    assert.deepEqual(r.issues, []);
    const paths = requiredInType(schema, 'spec');
    assert.ok(paths.length > 5, paths.join(' '));
    for (const p of paths) {
      const parts = p
        .replace(/\[\]/g, '.[]')
        .split('.')
        .filter((x) => x !== '');
      assert.ok(present(r.resource, parts), `${kind} ${p} is required in the generated type but absent after validation`);
    }
  }
});
