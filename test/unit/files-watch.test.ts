/**
 * The files source notices every edit, however it is written: in place, or by
 * rename (`sed -i`, `mv`, an editor's atomic save), again and again, in the top
 * directory and in subdirectories created after start, with the periodic
 * rescan off, so only the watch can have seen it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from '../../src/sources/files/file-source.js';
import { Store } from '../../src/reconcile/store.js';
import { silentLogger } from '../../src/log.js';

const backend = (name: string, port: number) =>
  `apiVersion: haproxy.node-haproxy.io/v1alpha1\nkind: Backend\nmetadata:\n  name: ${name}\nspec:\n  members:\n    - { name: m, address: 127.0.0.1, port: ${port} }\n`;

/** The member port of Backend `name` in the store, once it is `port` (stall bound 10 s: the periodic rescan is off). */
async function portBecomes(store: Store, name: string, port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let seen: unknown;
  while (Date.now() < deadline) {
    const d = store.snapshot().declared.find((x) => x.resource?.metadata.name === name);
    seen = (d?.resource?.spec as { members?: { port: number }[] } | undefined)?.members?.[0]?.port;
    if (seen === port) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`Backend ${name} still has port ${String(seen)}, not ${port}: the edit was not noticed`);
}

test('edits by rename, repeated, in the top directory and a new subdirectory, all reach the store without a rescan', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nh-watch-'));
  const store = new Store();
  const source = new FileSource({ dir, store, logger: silentLogger(), debounceMs: 20, rescanIntervalMs: 0 });
  try {
    const top = join(dir, 'app.yaml');
    await writeFile(top, backend('app', 9000));
    await source.start();
    await portBecomes(store, 'app', 9000);
    const atomicWrite = async (file: string, text: string) => {
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
    };
    for (let i = 1; i <= 4; i++) {
      await atomicWrite(top, backend('app', 9000 + i));
      await portBecomes(store, 'app', 9000 + i);
    }
    await writeFile(top, backend('app', 9100)); // in place, after renames
    await portBecomes(store, 'app', 9100);

    const sub = join(dir, 'team', 'deep');
    await mkdir(sub, { recursive: true });
    const nested = join(sub, 'api.yaml');
    await atomicWrite(nested, backend('api', 8000));
    await portBecomes(store, 'api', 8000);
    for (let i = 1; i <= 3; i++) {
      await atomicWrite(nested, backend('api', 8000 + i));
      await portBecomes(store, 'api', 8000 + i);
    }
  } finally {
    await source.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
