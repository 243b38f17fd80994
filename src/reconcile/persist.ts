/** Saves the controller's view of what runs, in the state directory, atomically. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { PersistedState, StatePersistence } from './reconciler.js';

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
    async save(state) {
      await writeFileAtomic(path, JSON.stringify(state));
    },
  };
}
