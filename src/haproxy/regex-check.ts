/**
 * Regular expressions checked by HAProxy's own engine (issue 12: `validate`
 * catches what HAProxy would refuse). One `haproxy -c` of a small generated
 * configuration, each expression in its own ACL line, in a temporary
 * directory; HAProxy's words for each line it refuses are mapped back to the
 * expression on that line. Verdicts are cached by expression text.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfigFile } from './check.js';
import { haproxyQuote } from '../render/model.js';

/** Per expression: undefined when HAProxy accepts it, else HAProxy's words for why not. */
export type RegexVerdicts = Map<string, string | undefined>;

/** The verdicts found so far, by expression text (the same binary answers the same way). */
const cache = new Map<string, RegexVerdicts>();

/** `parsing [file.cfg:N] : error detected while parsing ACL 'rK' : <words>` */
const REFUSED = /parsing \[[^\]]*:(\d+)\]\s*:\s*(?:error detected while parsing ACL '[^']*'\s*:\s*)?(.*)$/;

/** The generated configuration: line `first + k` holds expression k. */
function configText(values: readonly string[]): { text: string; first: number } {
  // A listener, or `haproxy -c` says "will not start (no listener)"; -c binds nothing.
  const head = ['defaults', '  mode http', 'frontend nh_regex_check', '  bind unix@regex-check.sock'];
  const lines = values.map((v, k) => `  acl r${k} path -m reg -- ${haproxyQuote(v)}`);
  return { text: [...head, ...lines, ''].join('\n'), first: head.length + 1 };
}

/**
 * HAProxy's verdict on each of `values`. Rejects when HAProxy cannot be run
 * (an Error whose cause has code ENOENT or EACCES), or when it refuses the
 * generated configuration for a reason no expression explains.
 */
export async function checkRegexes(values: readonly string[], o: { haproxyBin: string; timeoutMs?: number }): Promise<RegexVerdicts> {
  const known = cache.get(o.haproxyBin) ?? new Map<string, string | undefined>();
  cache.set(o.haproxyBin, known);
  const todo = [...new Set(values)].filter((v) => !known.has(v));
  if (todo.length > 0) {
    const dir = await mkdtemp(join(tmpdir(), 'node-haproxy-regex-'));
    try {
      const file = join(dir, 'regex-check.cfg');
      const { text, first } = configText(todo);
      await writeFile(file, text);
      const result = await checkConfigFile(file, { haproxyBin: o.haproxyBin, cwd: dir, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) });
      const refused = new Map<string, string>();
      for (const line of result.output.split('\n')) {
        const m = REFUSED.exec(line);
        const value = m ? todo[Number(m[1]) - first] : undefined;
        if (m && value !== undefined) refused.set(value, m[2]!.trim());
      }
      if (!result.ok && refused.size === 0) {
        throw new Error(`HAProxy refused the regular-expression check for a reason no expression explains: ${result.output}`);
      }
      for (const v of todo) known.set(v, refused.get(v));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return new Map(values.map((v) => [v, known.get(v)] as const));
}

/** Whether `err` (from checkRegexes) means no HAProxy binary could be run. */
export function isMissingBinary(err: unknown): boolean {
  const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'EACCES';
}
