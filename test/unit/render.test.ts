import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { resolve } from '../../src/model/resolve.js';
import { loadDirectory } from '../../src/sources/files/load.js';
import { buildConfigModel, type GlobalSettings } from '../../src/render/model.js';
import { loadRenderer } from '../../src/render/render.js';
import type { Declared } from '../../src/model/resolve.js';

const root = packageRoot();
const golden = join(root, 'test', 'golden', 'examples.cfg');
const global: GlobalSettings = {
  adminSocket: '/run/node-haproxy/admin.sock',
  serverStateFile: '/run/node-haproxy/server-state',
  hardStopAfter: '30s',
  closeSpreadTime: '5s',
};
const render = loadRenderer();

function renderDeclared(declared: Declared[]): string {
  const r = resolve({ declared, lastAccepted: new Map() });
  return render(buildConfigModel({ frontends: r.frontends, backends: r.backends, global }));
}

test('the examples render to the golden configuration', async () => {
  const { declared, issues } = await loadDirectory(join(root, 'examples'));
  assert.deepEqual(issues, []);
  const text = renderDeclared(declared);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, text);
  assert.equal(text, readFileSync(golden, 'utf8'), 'rendered text differs from test/golden/examples.cfg (UPDATE_GOLDEN=1 rewrites it after review)');
});

test('the same resources in any order give byte-identical text', async () => {
  const { declared } = await loadDirectory(join(root, 'examples'));
  const base = renderDeclared(declared);
  // Shuffle resources and each backend's members deterministically, many times.
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 20; i++) {
    const shuffled = [...declared]
      .sort(() => rand() - 0.5)
      .map((d) => {
        if (d.resource?.kind !== 'Backend') return d;
        const members = [...d.resource.spec.members].sort(() => rand() - 0.5);
        return { ...d, resource: { ...d.resource, spec: { ...d.resource.spec, members } } };
      });
    assert.equal(renderDeclared(shuffled), base);
  }
});

test('routing rules render to the documented HAProxy conditions', async () => {
  const { declared } = await loadDirectory(join(root, 'examples'));
  const text = renderDeclared(declared);
  // host rule: Host header without port, case-insensitive
  assert.match(text, /acl r0_host req\.hdr\(host\),field\(1,:\),lower -m str api\.localhost\n/);
  // path prefix /api: /api itself or below it, never /apix
  assert.match(text, /acl r1_path path -m str \/api\n\s+acl r1_path path_beg \/api\/\n/);
  // header rule: the whole value of a header sent once (no comma splitting), never read as a flag
  assert.match(text, /acl r2_hdr_once req\.fhdr_cnt\(X-Canary\) eq 1\n\s+acl r2_hdr req\.fhdr\(X-Canary\) -m str -- 'yes'\n/);
  // Precedence (docs/decisions/0011-http-routing.md): the header rule first, then host over path.
  assert.match(
    text,
    /use_backend default_canary if r2_hdr_once r2_hdr\n\s+use_backend default_api if r0_host\n\s+use_backend default_api if r1_path\n\s+default_backend default_app\n/,
  );
});

test('the global section keeps reloads hitless and the sockets in the state directory', async () => {
  const text = renderDeclared([]);
  for (const line of [
    'master-worker',
    'stats socket /run/node-haproxy/admin.sock mode 600 level admin expose-fd listeners',
    'server-state-file /run/node-haproxy/server-state',
    'hard-stop-after 30s',
    'load-server-state-from-file global',
    'option idle-close-on-response',
  ]) {
    assert.ok(text.includes(`    ${line}\n`), `missing: ${line}`);
  }
});
