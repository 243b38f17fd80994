/**
 * Generators for the hostile-input property suite: a seeded PRNG (so a run is
 * reproducible from its seed), hostile strings and values, and mutations of
 * valid Frontend and Backend specs.
 */

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Fuzz {
  readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Pieces that have broken parsers before: quoting, escapes, expansion, flags, separators, sections, unicode. */
  static readonly ATOMS: readonly string[] = [
    '"',
    "'",
    '\\',
    '\\"',
    '\\x67',
    '\\x0a',
    '${HOME}',
    '"${HOME}"',
    '$(id)',
    '`id`',
    '#',
    '\n',
    '\r\n',
    '\t',
    '\u0000',
    ' ',
    '  ',
    '-i',
    '-f',
    '-m',
    '-M',
    '--',
    '-',
    ',',
    ';',
    '|',
    '&',
    '%[src]',
    '%{+Q}o',
    '{',
    '}',
    '[',
    ']',
    '*',
    '?',
    '..',
    '../../',
    '/etc/passwd',
    '/etc/shadow',
    '\u202e',
    '\u200b',
    '\u2028',
    '\ufeff',
    '😀',
    'é',
    'ǅ',
    'global',
    '"global"',
    "'global'",
    'gl\\obal',
    'stats socket ipv4@127.0.0.1:1 level admin',
    'lua-load /tmp/x.lua',
    'backend x',
    'frontend y',
    'if',
    'TRUE',
    '!',
    '127.000.000.001',
    '127.1',
    '0x7f.0.0.1',
    '::1',
    '0:0::1',
    '::ffff:127.0.0.1',
    '[::1]',
    'fe80::1%lo',
    '0.0.0.0',
    '*',
    'A',
    'a-b',
    'web',
    'default',
    'kube-system',
    '%00',
    '%0a',
    '%2e%2e',
    'http://x',
    'file:///etc/passwd',
    '<script>',
    '1e999',
    'NaN',
    '-1',
    '0',
    '99999',
    'null',
    'true',
    '{}',
    '[]',
    ':',
    '::',
    '=',
    '@',
    '~',
    '^',
  ];

  hostileString(): string {
    if (this.chance(0.05)) return this.pick(['', ' ', '\n']);
    if (this.chance(0.04)) return this.pick(Fuzz.ATOMS).repeat(2 + this.int(20_000));
    const parts: string[] = [];
    const n = 1 + this.int(5);
    for (let i = 0; i < n; i++) parts.push(this.chance(0.25) ? this.pick(['a', 'web', 'x1', '127.0.0.1', '/api', 'yes']) : this.pick(Fuzz.ATOMS));
    return parts.join(this.chance(0.3) ? ' ' : '');
  }

  /** A value of any JSON type, mostly hostile. */
  hostileValue(depth = 0): unknown {
    const r = this.int(12);
    if (r < 6) return this.hostileString();
    if (r === 6) return this.pick([-1, 0, 65536, 2 ** 53, 1.5, -0.5, 1e308, 70000, 256, 257]);
    if (r === 7) return this.pick([null, true, false]);
    if (r === 8) return depth > 2 ? [] : [this.hostileValue(depth + 1), this.hostileValue(depth + 1)];
    if (r === 9) return depth > 2 ? {} : { [this.hostileString()]: this.hostileValue(depth + 1), kind: this.hostileString() };
    if (r === 10) return nested(this.pick([50, 500, 1500]), this.chance(0.5));
    return { __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } };
  }
}

/** A short description of any value (never throws, whatever its depth). */
export function describe(v: unknown, max = 160): string {
  try {
    return String(JSON.stringify(v)).slice(0, max);
  } catch {
    return '(too deep to print)';
  }
}

/** `[[[…]]]` or `{"a":{"a":…}}`, `depth` deep. */
export function nested(depth: number, asObject: boolean): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = asObject ? { a: v } : [v];
  return v;
}

/** Every leaf path of a plain JSON value (arrays by index). */
export function leafPaths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(v)) return v.flatMap((x, i) => leafPaths(x, [...prefix, i]));
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => leafPaths(x, [...prefix, k]));
  return [prefix];
}

/** A deep copy of `v` with the value at `path` replaced. */
export function withValue<T>(v: T, path: (string | number)[], value: unknown): T {
  const copy = structuredClone(v) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1]!] = value;
  return copy as T;
}

/** Raw YAML documents that once stalled or crashed a source: alias bombs, depth, size, tags. */
export function hostileYamlDocuments(): { name: string; text: string }[] {
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i <= 8; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    bomb.push(`${cur}: &${cur} [*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev}]`);
  }
  return [
    { name: 'alias bomb', text: `apiVersion: haproxy.node-haproxy.io/v1alpha1\nkind: Backend\nmetadata: {name: bomb}\n${bomb.join('\n')}\n` },
    { name: 'deep flow nesting', text: `kind: Backend\nspec: ${'['.repeat(5000)}${']'.repeat(5000)}\n` },
    { name: 'deep block nesting', text: `kind: Backend\nspec:\n${Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i + 1)}a${i}:`).join('\n')} 1\n` },
    { name: 'huge scalar', text: `kind: Backend\nmetadata: {name: huge}\nspec: {balance: "${'x'.repeat(3_000_000)}"}\n` },
    { name: 'js tag', text: `kind: !!js/function 'function () { process.exit(1) }'\n` },
    { name: 'binary tag', text: `kind: Backend\nmetadata: {name: !!binary aGVsbG8=}\n` },
    { name: 'merge keys', text: `base: &b {name: m}\nkind: Backend\nmetadata:\n  <<: *b\n  <<: *b\n` },
    { name: 'duplicate keys', text: `kind: Backend\nkind: Frontend\nmetadata: {name: dup}\n` },
    { name: 'plain text', text: 'this is not YAML: [ at all\n\t\u0000' },
    { name: 'many documents', text: Array.from({ length: 3000 }, () => '---\n{}').join('\n') },
  ];
}
