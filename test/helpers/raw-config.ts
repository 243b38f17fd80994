/** Helpers for tests of raw configuration lines (the raw-config annotation) from each source. */
import { RAW_CONFIG_ANNOTATION, RAW_CONFIG_FIELD } from '../../src/model/raw-config.js';

export { RAW_CONFIG_ANNOTATION, RAW_CONFIG_FIELD };

/** The annotation map carrying `lines`. */
export const rawAnnotation = (lines: string[]): Record<string, string> => ({ [RAW_CONFIG_ANNOTATION]: JSON.stringify(lines) });

/** What the refusal without --allow-raw-config says: the field, and how to enable it. */
export const DISABLED = /raw configuration is disabled on this controller; .*--allow-raw-config/;

/**
 * Lines that pass no check even with --allow-raw-config, each with what the
 * refusal says: a newline, a comment, a section keyword (plain and quoted), a
 * managed keyword.
 */
export const BAD_LINES: ReadonlyArray<[string, RegExp]> = [
  ['http-response set-header X-A a\nbackend evil', /newline/],
  ['http-request deny # evil', /comment/],
  ['backend evil', /opens a new section/],
  // HAProxy unquotes before it reads: this is `backend evil` too.
  ['"back"end evil', /opens a new section/],
  ['server evil 10.0.0.1:80', /managed by node-haproxy/],
];

/** The lines of one section of a rendered haproxy.cfg (`backend default_app`), up to the next section. */
export function sectionOf(cfg: string, header: string): string[] {
  const lines = cfg.split('\n');
  const start = lines.indexOf(header);
  if (start < 0) throw new Error(`no section "${header}" in:\n${cfg}`);
  const end = lines.findIndex((l, i) => i > start && /^\S/.test(l));
  return lines
    .slice(start + 1, end < 0 ? undefined : end)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** YAML for a Backend with the raw-config annotation and one static member on 127.0.0.1. */
export function rawBackendYaml(name: string, lines: string[], port: number): string {
  return `apiVersion: haproxy.node-haproxy.io/v1alpha1
kind: Backend
metadata:
  name: ${name}
  annotations:
    ${RAW_CONFIG_ANNOTATION}: ${JSON.stringify(JSON.stringify(lines))}
spec:
  members:
    - { name: a, address: 127.0.0.1, port: ${port} }
`;
}
