/**
 * The controller's saved state (controller-state.json): written in pieces
 * that read back as the same JSON, and saved by the loop after a pass, off
 * the path of the next change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.js';
import { validateResource } from '../../src/model/validate.js';
import type { Declared } from '../../src/model/resolve.js';
import { loadRenderer } from '../../src/render/render.js';
import { fileStatePersistence, jsonPieces } from '../../src/reconcile/persist.js';
import { Reconciler, type HaproxyControl, type PersistedState, type StatePersistence } from '../../src/reconcile/reconciler.js';
import { Store } from '../../src/reconcile/store.js';

const API = 'haproxy.node-haproxy.io/v1alpha1';
const global = { adminSocket: '/s/admin.sock', serverStateFile: '/s/state', hardStopAfter: '30s', closeSpreadTime: '5s' };

async function tempDir(t: import('node:test').TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nh-persist-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A state of a few megabytes: a long text with surrogate pairs, many backends, fields left undefined. */
function bigState(): PersistedState {
  const line = 'server s1 127.0.0.1:8080 weight 1 # café 😀\n';
  const text = line.repeat(Math.ceil(3_000_000 / line.length));
  const backends = Array.from({ length: 2000 }, (_, i) => ({
    name: `default_b${i}`,
    balance: undefined,
    servers: Array.from({ length: 20 }, (_, j) => ({ name: `s${j}`, address: '127.0.0.1', port: 8000 + j, weight: 1, extra: undefined })),
  }));
  return { text, model: { global, frontends: [], backends } as unknown as PersistedState['model'], accepted: [] };
}

test('a saved state reads back as JSON.stringify of it, written in pieces that yield between them', async (t) => {
  const state = bigState();
  let pieces = 0;
  let yields = 0;
  let text = '';
  let longest = 0;
  for await (const piece of jsonPieces(state, { yieldTo: () => (yields++, undefined) })) {
    pieces++;
    text += piece;
    longest = Math.max(longest, piece.length);
  }
  // Young-generation garbage: a piece of 1 Mi characters lands in V8's large-object space, freed only by a full GC.
  assert.ok(longest <= 64 * 1024, `the longest piece has ${longest} characters`);
  assert.equal(text, JSON.stringify(state));
  assert.ok(pieces > 3, `${pieces} pieces`);
  assert.equal(yields, pieces - 1, 'the save yields between every two pieces');
  assert.equal(text.includes('\\ud83d'), false, 'no surrogate pair is cut in two');

  const dir = await tempDir(t);
  const persistence = fileStatePersistence(dir);
  await persistence.save(state);
  assert.deepEqual(await persistence.load(), JSON.parse(JSON.stringify(state)));
});

test('the loop saves the running state after the pass, never making a change wait for a save, and the latest state lands', async (t) => {
  const haproxy: HaproxyControl = {
    start: async () => ({ adopted: false }),
    apply: async () => ({ ok: true }),
    writeRunningConfig: async () => undefined,
  };
  const dir = await tempDir(t);
  const file = fileStatePersistence(dir);
  // The first save hangs until released: passes must go on meanwhile.
  let release!: () => void;
  const hang = new Promise<void>((r) => (release = r));
  const saves: string[] = [];
  const persistence: StatePersistence = {
    load: () => file.load(),
    save: async (state, o) => {
      saves.push(state.text);
      if (saves.length === 1) await hang;
      await file.save(state, o);
    },
  };
  const store = new Store();
  store.register('test');
  const r = new Reconciler({ store, haproxy, render: loadRenderer(), global, logger: silentLogger(), debounceMs: 5, minReloadIntervalMs: 0, persistence });
  t.after(() => r.stop());
  const frontendOn = (port: number): Declared => {
    const v = validateResource({ apiVersion: API, kind: 'Frontend', metadata: { name: 'web' }, spec: { binds: [{ address: '127.0.0.1', port }] } });
    return { key: 'Frontend/default/web', origin: 'web.yaml', source: 'test', resource: v.resource, issues: v.issues };
  };
  store.replaceAll('test', [frontendOn(8000)]);
  store.markSynced('test');
  await r.start();
  await r.settled();
  for (const port of [8001, 8002, 8003]) {
    store.replaceAll('test', [frontendOn(port)]);
    await r.settled();
    assert.match(r.runningText ?? '', new RegExp(`:${port}\\b`), 'the pass applied the change while the first save hangs');
  }
  assert.equal(saves.length, 1, 'one save at a time');
  release();
  await r.stop();
  assert.equal(saves.length, 2, 'the passes during the first save are saved once, as the latest state');
  const saved = JSON.parse(await readFile(join(dir, 'controller-state.json'), 'utf8')) as PersistedState;
  assert.match(saved.text, /:8003\b/);
  assert.deepEqual(saved, r.runningState() && JSON.parse(JSON.stringify(r.runningState())));
});
