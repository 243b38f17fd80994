/** Locations inside the installed package (templates, examples, CRDs). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this file with a templates/ folder. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'templates', 'haproxy.cfg.hbs'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the node-haproxy package root (templates/haproxy.cfg.hbs)');
    dir = up;
  }
}

export const templatesDir = (): string => join(packageRoot(), 'templates');
export const examplesDir = (): string => join(packageRoot(), 'examples');
