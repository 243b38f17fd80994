/**
 * Saves the controller's view of what runs, in the state directory,
 * atomically, as one JSON document (read back by `load`, by the restart that
 * adopts HAProxy, and by `node-haproxy plan`). At 100,000 servers that JSON is
 * ~70 ms of work: it is written in pieces of about 32 Ki characters, and
 * between pieces the save waits for whatever `yieldTo` returns (the reconcile
 * loop returns its running pass), so a change never waits for a save.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { PersistedState, SaveOptions, StatePersistence } from './pass.js';

/**
 * Text written to the file at a time; between two, the save yields. Small
 * enough (≤ 64 KiB, even as two-byte text) that a piece and its copies are
 * young-generation garbage, freed by the next scavenge: pieces of 1 Mi
 * characters went to V8's large-object space, freed only by a full
 * collection, and a save after each pass at 100,000 servers (the JSON of the
 * whole model and text) added ~20 MiB to the controller's peak RSS
 * (bench/k8s-path).
 */
const PIECE_CHARS = 1 << 15;

export function fileStatePersistence(stateDir: string): StatePersistence {
  const path = join(stateDir, 'controller-state.json');
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new Error(`cannot read ${path}`, { cause: err });
      }
      const parsed = JSON.parse(text) as PersistedState;
      if (typeof parsed.text !== 'string' || !parsed.model || !Array.isArray(parsed.accepted)) {
        throw new Error(`${path} is not a node-haproxy state file; delete it to start fresh`);
      }
      return parsed;
    },
    async save(state, options: SaveOptions = {}) {
      await writeFileAtomic(path, jsonPieces(state, options));
    },
  };
}

/**
 * `JSON.stringify(value)`, as pieces of about PIECE_CHARS: objects and arrays
 * down to `depth` levels are taken apart (the model's backends, the accepted
 * resources), long strings are cut, the rest is stringified whole.
 */
export async function* jsonPieces(value: unknown, options: SaveOptions = {}, depth = 3): AsyncGenerator<string> {
  let buffered: string[] = [];
  let size = 0;
  for (const part of parts(value, depth)) {
    buffered.push(part);
    size += part.length;
    if (size < PIECE_CHARS) continue;
    yield buffered.join('');
    buffered = [];
    size = 0;
    const wait = options.yieldTo?.();
    if (wait) await wait.catch(() => undefined);
  }
  if (buffered.length > 0) yield buffered.join('');
}

function* parts(value: unknown, depth: number): Generator<string> {
  if (typeof value === 'string' && value.length > PIECE_CHARS) {
    yield* stringParts(value);
    return;
  }
  const plain = depth > 0 && value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
  if (!plain) {
    yield JSON.stringify(value) ?? 'null';
    return;
  }
  if (Array.isArray(value)) {
    yield '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) yield ',';
      const v: unknown = value[i];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') yield 'null';
      else yield* parts(v, depth - 1);
    }
    yield ']';
    return;
  }
  yield '{';
  let first = true;
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    yield `${first ? '' : ','}${JSON.stringify(k)}:`;
    first = false;
    yield* parts(v, depth - 1);
  }
  yield '}';
}

/** A long string as JSON, in pieces; a cut never splits a surrogate pair. */
function* stringParts(s: string): Generator<string> {
  yield '"';
  for (let i = 0; i < s.length;) {
    let end = Math.min(s.length, i + PIECE_CHARS);
    const last = s.charCodeAt(end - 1);
    if (end < s.length && last >= 0xd800 && last <= 0xdbff) end--;
    yield JSON.stringify(s.slice(i, end)).slice(1, -1);
    i = end;
  }
  yield '"';
}
