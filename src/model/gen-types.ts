/**
 * The TypeScript types of the one schema (schema.ts), generated. Pure.
 *
 * `scripts/gen-types.mjs` writes src/model/types.generated.ts from
 * typesSource(); a unit test fails when the committed file differs from what
 * it would write (as for the CRDs). types.ts re-exports every generated type.
 *
 * The mapping, which is what Ajv hands the code after validation:
 *
 * - a schema node with a `title` becomes a declaration of that name
 *   (`interface` for an object, `type` otherwise) and is referred to by it;
 *   a node without one is written inline. Two different nodes may not share
 *   a title;
 * - a property is required in the type when the schema requires it or gives
 *   it a `default` (validation fills defaults in, `useDefaults`);
 * - `enum` becomes a union of its literals, `anyOf` a union of its branches
 *   (so `x-kubernetes-int-or-string` is `number | string`);
 * - integer and number are `number`; an object with only
 *   `additionalProperties` is a `Record<string, …>`;
 * - `description` becomes the JSDoc comment.
 */
import { backendSpecSchema, frontendSpecSchema, type JsonSchema } from './schema.js';

export const TYPES_GENERATED_FILE = 'src/model/types.generated.ts';

export const TYPES_HEADER =
  '// Generated from src/model/schema.ts by scripts/gen-types.mjs. Do not edit: change the schema, then run `npm run gen`.\n' +
  '// The resource types people declare; src/model/types.ts re-exports them.\n';

const IDENTIFIER = /^[A-Z][A-Za-z0-9]*$/;

function literal(v: string | number): string {
  return typeof v === 'number' ? String(v) : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function doc(description: string | undefined, indent: string): string {
  if (!description) return '';
  return `${indent}/** ${description.replace(/\*\//g, '*\\/')} */\n`;
}

function propertyKey(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : literal(name);
}

/** A schema node without its descriptions: what the type depends on. */
const shape = (s: JsonSchema): string => JSON.stringify(s, (k, v: unknown) => (k === 'description' ? undefined : v));

/** The declarations for `roots` (each must have a title), in the order they are first met. */
export function typesFromSchema(roots: readonly JsonSchema[]): string {
  const declared = new Map<string, { schema: JsonSchema; text: string }>();
  const order: string[] = [];

  function union(types: string[]): string {
    return [...new Set(types)].join(' | ');
  }

  function reference(s: JsonSchema, indent: string): string {
    if (s.title === undefined) return inline(s, indent);
    const name = s.title;
    if (!IDENTIFIER.test(name)) throw new Error(`schema title ${JSON.stringify(name)} is not a TypeScript type name: use PascalCase letters and digits`);
    const seen = declared.get(name);
    if (seen) {
      // The same shape with other descriptions is the same type.
      if (seen.schema !== s && shape(seen.schema) !== shape(s)) {
        throw new Error(`two different schema nodes have the title ${name}: give one of them another title`);
      }
      return name;
    }
    declared.set(name, { schema: s, text: '' });
    order.push(name);
    const body = s.type === 'object' && s.properties ? `export interface ${name} ${objectBody(s, '')}` : `export type ${name} = ${inline(s, '')};`;
    declared.set(name, { schema: s, text: doc(s.description, '') + body + '\n' });
    return name;
  }

  function objectBody(s: JsonSchema, indent: string): string {
    const required = new Set(s.required ?? []);
    const inner = indent + '  ';
    const lines = Object.entries(s.properties ?? {}).map(([name, p]) => {
      const optional = !required.has(name) && p.default === undefined;
      return `${doc(p.description, inner)}${inner}${propertyKey(name)}${optional ? '?' : ''}: ${reference(p, inner)};\n`;
    });
    return `{\n${lines.join('')}${indent}}`;
  }

  function inline(s: JsonSchema, indent: string): string {
    if (s.enum) return union(s.enum.map(literal));
    if (s.anyOf) return union(s.anyOf.map((b) => reference(b, indent)));
    switch (s.type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'array': {
        const item = s.items ? reference(s.items, indent) : 'unknown';
        return /^[A-Za-z0-9_]+$/.test(item) ? `${item}[]` : `(${item})[]`;
      }
      case 'object':
        if (s.properties) return objectBody(s, indent);
        if (s.additionalProperties && typeof s.additionalProperties === 'object') return `Record<string, ${reference(s.additionalProperties, indent)}>`;
        return 'Record<string, unknown>';
      default:
        return 'unknown';
    }
  }

  for (const root of roots) {
    if (root.title === undefined) throw new Error('every root schema of the generated types needs a title');
    reference(root, '');
  }
  return order.map((name) => declared.get(name)!.text).join('\n');
}

/** The text of src/model/types.generated.ts, exactly as committed. */
export function typesSource(): string {
  return TYPES_HEADER + '\n' + typesFromSchema([frontendSpecSchema, backendSpecSchema]);
}
