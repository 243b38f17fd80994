/**
 * Renders haproxy.cfg from the render model with handlebars. Pure given the
 * templates: the same model gives byte-identical text.
 */
import Handlebars from 'handlebars';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { templatesDir } from '../paths.js';
import type { ConfigModel } from './model.js';

export type ConfigRenderer = (model: ConfigModel) => string;

/** Loads templates/haproxy.cfg.hbs and its partials from `dir`. */
export function loadRenderer(dir: string = templatesDir()): ConfigRenderer {
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  const partials = join(dir, 'partials');
  for (const file of readdirSync(partials).filter((f) => f.endsWith('.hbs')).sort()) {
    hb.registerPartial(basename(file, '.hbs'), readFileSync(join(partials, file), 'utf8'));
  }
  const main = hb.compile(readFileSync(join(dir, 'haproxy.cfg.hbs'), 'utf8'), {
    noEscape: true,
    strict: true,
    preventIndent: true,
  });
  return (model) => main(model);
}
