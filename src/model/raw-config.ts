/**
 * Raw configuration lines: HAProxy directives a resource carries verbatim in
 * its frontend or backend section (thalassa-aqueduct's `natives`). Pure.
 *
 * They travel in one annotation, a JSON array of strings, so the schema and
 * every other field stay as they are. Sources accept the annotation only when
 * the operator enabled raw configuration (validateResource's
 * `allowRawConfig`); everywhere else it is refused with an issue.
 *
 * Each line is checked so it cannot leave the section it belongs to: one line
 * of printable ASCII, no comment (`#`), no section keyword, and none of the
 * keywords the controller manages itself (binds, servers, mode). What a line
 * means is HAProxy's business: `haproxy -c` is the final word.
 */

export const RAW_CONFIG_ANNOTATION = 'haproxy.node-haproxy.io/raw-config';
export const RAW_CONFIG_FIELD = `metadata.annotations["${RAW_CONFIG_ANNOTATION}"]`;

export const RAW_LIMITS = { lines: 100, lineLength: 1024 } as const;

/** Keywords that open a section: a line starting with one would end ours. */
const SECTION_KEYWORDS = new Set([
  'global',
  'defaults',
  'frontend',
  'backend',
  'listen',
  'userlist',
  'peers',
  'resolvers',
  'mailers',
  'program',
  'http-errors',
  'ring',
  'cache',
  'log-forward',
  'crt-store',
  'traces',
]);

/** Keywords the controller renders from the resource; a raw copy would contradict it. */
const MANAGED_KEYWORDS = new Set(['bind', 'server', 'default-server', 'server-template', 'mode', 'balance', 'default_backend']);

/** Why `line` is refused, or undefined when it is acceptable. */
export function checkRawLine(line: unknown): string | undefined {
  if (typeof line !== 'string') return `${JSON.stringify(line) ?? String(line)} must be a string`;
  if (line.length === 0) return 'is empty';
  if (line.length > RAW_LIMITS.lineLength) return `is longer than ${RAW_LIMITS.lineLength} characters`;
  if (/[^\x20-\x7e]/.test(line)) return 'contains a newline, a control or a non-ASCII character; give one directive per line';
  if (line.includes('#')) return 'contains "#", which starts a comment in haproxy.cfg';
  if (line !== line.trim()) return 'starts or ends with a space';
  const keyword = line.split(' ')[0]!.toLowerCase();
  if (SECTION_KEYWORDS.has(keyword)) return `starts with "${keyword}", which opens a new section`;
  if (MANAGED_KEYWORDS.has(keyword)) return `"${keyword}" is managed by node-haproxy; set it through the resource's fields`;
  return undefined;
}

export interface RawConfigProblem {
  /** Index of the offending line, or undefined for the annotation as a whole. */
  index?: number;
  message: string;
}

/** Parses and checks the annotation's value. */
export function parseRawConfig(value: string): { lines: string[]; problems: RawConfigProblem[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { lines: [], problems: [{ message: 'must be a JSON array of strings, one HAProxy directive each' }] };
  }
  if (!Array.isArray(parsed)) return { lines: [], problems: [{ message: 'must be a JSON array of strings, one HAProxy directive each' }] };
  if (parsed.length > RAW_LIMITS.lines) return { lines: [], problems: [{ message: `has ${parsed.length} lines; at most ${RAW_LIMITS.lines} are allowed` }] };
  const problems: RawConfigProblem[] = [];
  parsed.forEach((line, index) => {
    const why = checkRawLine(line);
    if (why) problems.push({ index, message: why });
  });
  return { lines: problems.length === 0 ? (parsed as string[]) : [], problems };
}

/** The raw lines a (validated) resource carries; none when absent or invalid. */
export function rawConfigLines(r: { metadata: { annotations?: Record<string, string> } }): string[] {
  const value = r.metadata.annotations?.[RAW_CONFIG_ANNOTATION];
  return value === undefined ? [] : parseRawConfig(value).lines;
}
