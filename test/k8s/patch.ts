/**
 * PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).
 * Errors are ApiErrors with the codes the apiserver uses (400 for an
 * undecodable patch, 422 for one that cannot be applied).
 */
import { clone, isJsonObject, jsonEqual, type JsonObject } from './json.js';
import { ApiError, badRequest, failure } from './status.js';

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return clone(patch);
  const result: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

function unprocessable(message: string): ApiError {
  return new ApiError(failure(422, 'Invalid', message));
}

function parseOps(patch: unknown): JsonPatchOp[] {
  if (!Array.isArray(patch)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  return patch.map((op: unknown) => {
    if (!isJsonObject(op) || typeof op.op !== 'string' || !OPS.has(op.op) || typeof op.path !== 'string') {
      throw badRequest(`invalid JSON patch operation: ${JSON.stringify(op)}`);
    }
    return op as unknown as JsonPatchOp;
  });
}

function pointerTokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw unprocessable(`invalid JSON pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = JsonObject | unknown[];

/** The parent container of `pointer` and the last token; the document itself is wrapped in a root box. */
function locate(root: { doc: unknown }, pointer: string): { parent: Container; key: string } {
  const tokens = pointerTokens(pointer);
  let parent: Container = root as unknown as JsonObject;
  let key = 'doc';
  for (const token of tokens) {
    const next: unknown = Array.isArray(parent) ? parent[Number(key)] : parent[key];
    if (!Array.isArray(next) && !isJsonObject(next)) throw unprocessable(`doc is missing path: "${pointer}"`);
    parent = next;
    key = token;
  }
  return { parent, key };
}

function arrayIndex(arr: unknown[], key: string, forInsert: boolean): number {
  if (forInsert && key === '-') return arr.length;
  const index = Number(key);
  const limit = forInsert ? arr.length : arr.length - 1;
  if (!/^\d+$/.test(key) || index > limit) throw unprocessable(`index out of bounds: ${key}`);
  return index;
}

function read(root: { doc: unknown }, pointer: string): unknown {
  const { parent, key } = locate(root, pointer);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, key, false)];
  if (!(key in parent)) throw unprocessable(`doc is missing key: ${pointer}`);
  return parent[key];
}

function add(root: { doc: unknown }, pointer: string, value: unknown): void {
  const { parent, key } = locate(root, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true), 0, value);
  else parent[key] = value;
}

function remove(root: { doc: unknown }, pointer: string): unknown {
  const value = read(root, pointer);
  const { parent, key } = locate(root, pointer);
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete parent[key];
  return value;
}

function applyOp(root: { doc: unknown }, op: JsonPatchOp): void {
  switch (op.op) {
    case 'add':
      return add(root, op.path, clone(op.value));
    case 'remove':
      remove(root, op.path);
      return;
    case 'replace':
      remove(root, op.path);
      return add(root, op.path, clone(op.value));
    case 'move':
      return add(root, op.path, remove(root, op.from ?? ''));
    case 'copy':
      return add(root, op.path, clone(read(root, op.from ?? '')));
    case 'test':
      if (!jsonEqual(read(root, op.path), op.value)) throw unprocessable(`testing value ${op.path} failed: test failed`);
  }
}

export function jsonPatch(target: unknown, patch: unknown): unknown {
  const root = { doc: clone(target) };
  for (const op of parseOps(patch)) applyOp(root, op);
  return root.doc;
}
