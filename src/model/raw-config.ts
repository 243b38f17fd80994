/**
 * Raw configuration lines: HAProxy directives a resource carries verbatim in
 * its frontend or backend section (thalassa-aqueduct's `natives`). Pure.
 *
 * They travel in one annotation, a JSON array of strings, so the schema and
 * every other field stay as they are. Sources accept the annotation only when
 * the operator enabled raw configuration (validateResource's
 * `allowRawConfig`); everywhere else it is refused with an issue.
 *
 * Each line is read as HAProxy reads it (haproxy-words.ts: quotes, escapes,
 * environment variables) and then checked against an allow-list: its keyword
 * (and, for `http-request`, `option`, `timeout`... the words after it) must be
 * one a section of its kind may hold and that reaches no file, program,
 * environment variable or other namespace's proxy. The operator can narrow
 * the list (`--raw-config-keywords`). Threat model and the reasons for each
 * entry: docs/decisions/0005-raw-config-policy.md. What a line then means is
 * HAProxy's business: `haproxy -c` is the final word.
 */
import { HASH_FORMATS } from './basic-auth.js';
import { isPlain, splitHaproxyWords, type HaproxyWord } from './haproxy-words.js';

export const RAW_CONFIG_ANNOTATION = 'haproxy.node-haproxy.io/raw-config';
export const RAW_CONFIG_FIELD = `metadata.annotations["${RAW_CONFIG_ANNOTATION}"]`;

export const RAW_LIMITS = { lines: 100, lineLength: 1024 } as const;

export type RawSection = 'frontend' | 'backend';

/** Where the policy for raw lines comes from: the operator's options. */
export interface RawConfigPolicy {
  /**
   * Narrow the default allow-list to these entries (`--raw-config-keywords`):
   * each an entry of the list (`http-request set-header`) or the first word of
   * some (`timeout`). Undefined: the whole default list.
   */
  rawConfigKeywords?: readonly string[];
}

/** Actions of http-request, http-response and http-after-response that touch only the message at hand. */
const HTTP_MESSAGE_ACTIONS = [
  'add-header',
  'set-header',
  'del-header',
  'replace-header',
  'replace-value',
  'set-var',
  'set-var-fmt',
  'unset-var',
  'set-log-level',
  'allow',
  'deny',
  'return',
  'redirect',
  'capture',
];
const HTTP_REQUEST_ACTIONS = [
  ...HTTP_MESSAGE_ACTIONS,
  'set-path',
  'set-pathq',
  'set-query',
  'set-uri',
  'set-method',
  'replace-path',
  'replace-pathq',
  'replace-uri',
  'normalize-uri',
  'tarpit',
  'auth',
  'early-hint',
  'wait-for-body',
  'disable-l7-retry',
  'set-nice',
  'set-priority-class',
  'set-priority-offset',
];
const HTTP_RESPONSE_ACTIONS = [...HTTP_MESSAGE_ACTIONS, 'set-status', 'wait-for-body', 'set-nice'];
const HTTP_AFTER_RESPONSE_ACTIONS = [
  'add-header',
  'set-header',
  'del-header',
  'replace-header',
  'replace-value',
  'set-status',
  'set-var',
  'set-var-fmt',
  'unset-var',
  'allow',
  'capture',
];
const TCP_CONTENT_ACTIONS = ['accept', 'reject', 'set-var', 'set-var-fmt', 'unset-var', 'set-log-level', 'set-nice', 'switch-mode'];

/** `option` values a proxy may set for itself (no external check, no transparent or open proxying). */
const OPTIONS_BOTH = [
  // HAProxy ignores these two in a backend (with a warning); kept for aqueduct natives that set them.
  'httplog',
  'tcplog',
  'forwardfor',
  'originalto',
  'http-server-close',
  'http-keep-alive',
  'httpclose',
  'http-buffer-request',
  'http-no-delay',
  'http-restrict-req-hdr-names',
  'nolinger',
  'splice-auto',
  'splice-request',
  'splice-response',
  'independent-streams',
  'tcpka',
];
const OPTIONS_FRONTEND = [
  'dontlognull',
  'dontlog-normal',
  'log-separate-errors',
  'logasap',
  'idle-close-on-response',
  'contstats',
  'socket-stats',
  'accept-invalid-http-request',
  'disable-h2-upgrade',
  'h1-case-adjust-bogus-client',
  'http-ignore-probes',
  'clitcpka',
  'tcp-smart-accept',
];
const OPTIONS_BACKEND = [
  'http-pretend-keepalive',
  'accept-invalid-http-response',
  'h1-case-adjust-bogus-server',
  'srvtcpka',
  'tcp-smart-connect',
  'redispatch',
  'abortonclose',
  'allbackups',
  'persist',
  'prefer-last-server',
  'checkcache',
  'httpchk',
  'tcp-check',
  'log-health-checks',
  'ssl-hello-chk',
  'smtpchk',
  'pgsql-check',
  'mysql-check',
  'redis-check',
  'ldap-check',
];

const TIMEOUTS_FRONTEND = ['client', 'client-fin', 'http-request', 'http-keep-alive', 'tarpit'];
const TIMEOUTS_BACKEND = ['server', 'server-fin', 'connect', 'queue', 'check', 'tunnel', 'http-request', 'http-keep-alive', 'tarpit'];

const prefixed = (head: string, tails: readonly string[]) => tails.map((t) => `${head} ${t}`);

const BOTH = [
  'acl',
  ...prefixed('http-request', HTTP_REQUEST_ACTIONS),
  ...prefixed('http-response', HTTP_RESPONSE_ACTIONS),
  ...prefixed('http-after-response', HTTP_AFTER_RESPONSE_ACTIONS),
  'http-error',
  ...prefixed('option', OPTIONS_BOTH),
  'tcp-request inspect-delay',
  ...prefixed('tcp-request content', TCP_CONTENT_ACTIONS),
  'compression algo',
  'compression type',
  'compression offload',
  'redirect',
  'errorloc',
  'errorloc302',
  'errorloc303',
  'log global',
  'log-format',
  'log-format-sd',
  'log-tag',
  'description',
  'unique-id-format',
  'unique-id-header',
];

/**
 * The default allow-list, by section: keyword paths (the keyword and the
 * words that select what it does). Reasons: docs/decisions/0005.
 */
export const DEFAULT_RAW_KEYWORDS: Readonly<Record<RawSection, readonly string[]>> = {
  frontend: [
    ...BOTH,
    ...prefixed('option', OPTIONS_FRONTEND),
    ...prefixed('timeout', TIMEOUTS_FRONTEND),
    'tcp-request content capture',
    'tcp-request connection accept',
    'tcp-request connection reject',
    'tcp-request connection expect-proxy',
    'tcp-request session accept',
    'tcp-request session reject',
    'tcp-request session set-var',
    'tcp-request session unset-var',
    'capture request',
    'capture response',
    'capture cookie',
    'declare capture',
    'monitor-uri',
    'monitor fail',
    'rate-limit sessions',
  ],
  backend: [
    ...BOTH,
    ...prefixed('option', OPTIONS_BACKEND),
    ...prefixed('timeout', TIMEOUTS_BACKEND),
    'tcp-response inspect-delay',
    'tcp-response content accept',
    'tcp-response content reject',
    'tcp-response content close',
    'tcp-response content set-var',
    'tcp-response content unset-var',
    'http-check send',
    'http-check expect',
    'http-check comment',
    'http-check disable-on-404',
    'http-check send-state',
    'tcp-check send',
    'tcp-check send-binary',
    'tcp-check expect',
    'tcp-check comment',
    'retries',
    'retry-on',
    'fullconn',
    'cookie',
    'dynamic-cookie-key',
    'hash-type',
    'hash-balance-factor',
    'http-reuse',
    'http-send-name-header',
    'max-keep-alive-queue',
    'persist rdp-cookie',
    'force-persist',
    'ignore-persist',
  ],
};

/** Every entry of the default list, in either section. */
const ALL_ENTRIES = new Set([...DEFAULT_RAW_KEYWORDS.frontend, ...DEFAULT_RAW_KEYWORDS.backend]);
const SECTION_ENTRIES: Record<RawSection, ReadonlySet<string>> = {
  frontend: new Set(DEFAULT_RAW_KEYWORDS.frontend),
  backend: new Set(DEFAULT_RAW_KEYWORDS.backend),
};
const MAX_PATH = 3;

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
const MANAGED_KEYWORDS = new Set(['bind', 'server', 'default-server', 'server-template', 'mode', 'balance', 'default_backend', 'use_backend']);

/**
 * Entries of an operator's `--raw-config-keywords` that name nothing in the
 * default list (the flag can only narrow it). Empty when all are known.
 */
export function unknownRawConfigKeywords(entries: readonly string[]): string[] {
  return entries.filter((e) => !ALL_ENTRIES.has(e) && ![...ALL_ENTRIES].some((a) => a.startsWith(`${e} `)));
}

/** Parses `--raw-config-keywords` (comma-separated); throws naming the unknown entries. */
export function parseRawConfigKeywords(list: string): string[] {
  const entries = list
    .split(',')
    .map((e) => e.trim().replace(/\s+/g, ' '))
    .filter((e) => e !== '');
  const unknown = unknownRawConfigKeywords(entries);
  if (unknown.length > 0) {
    throw new Error(
      `--raw-config-keywords: ${unknown.map((u) => JSON.stringify(u)).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not in the default allow-list; the flag can only narrow it (entries like "http-request set-header" or a first word like "timeout"; see docs/decisions/0005-raw-config-policy.md)`,
    );
  }
  return entries;
}

/** The action word without its argument: `set-var(txn.x)` reads `set-var`. */
const bare = (w: string): string => w.replace(/\(.*$/s, '');

/** The default-list entry the line's first words select in `section`, with how many words it spans. */
function entryOf(words: readonly HaproxyWord[], section: RawSection): { entry: string; span: number } | undefined {
  const entries = SECTION_ENTRIES[section];
  // `no option X` unsets what `option X` sets.
  const offset = words[0]?.text === 'no' && words[1]?.text === 'option' ? 1 : 0;
  for (let n = Math.min(MAX_PATH, words.length - offset); n >= 1; n--) {
    const path = words
      .slice(offset, offset + n)
      .map((w, i) => (i === 0 ? w.text : bare(w.text)))
      .join(' ');
    if (entries.has(path)) return { entry: path, span: offset + n };
  }
  return undefined;
}

/** Words whose meaning reaches outside the section, in any argument (read unquoted, case-insensitively). */
const WORD_RULES: ReadonlyArray<[RegExp, string]> = [
  [/^-[fM]$/, 'loads patterns from a file (-f, -M); list the patterns in the line instead'],
  [/^(file|lf-file|errorfile|errorfiles)$/i, 'reads a local file; give the content with "string" or "lf-string" instead'],
  [/(^|[^a-z0-9_])env\s*\(/i, "reads the controller's environment (env())"],
  [/(^|[^a-z0-9_])map(_[a-z0-9_]+)?\s*\(/i, 'reads a map file (map converters)'],
  [/lua\./i, 'runs Lua code'],
  [/var(-fmt)?\s*\(\s*proc\./i, 'uses a process-wide variable (proc.*), shared with every other namespace; use txn.* or sess.*'],
  [
    /(^|[^a-z0-9_.-])(table_[a-z0-9_]+|sc\d*_[a-z0-9_]+|src_(?!port\b|is_local\b)[a-z0-9_]+|sc-[a-z0-9-]+|track-sc\d*)/i,
    "reads or writes stick-table counters, which may belong to another namespace's proxy",
  ],
];

/**
 * The first word a rule refuses. Each word is tested as HAProxy reads it and
 * again without quotes and backslashes, which the parsers of sample
 * expressions and log formats may remove in their turn.
 */
function wordProblem(words: readonly HaproxyWord[]): string | undefined {
  for (const w of words) {
    const stripped = w.text.replace(/[\\'"]/g, '');
    for (const [re, why] of WORD_RULES) if (re.test(w.text) || re.test(stripped)) return `${JSON.stringify(w.text)} ${why}`;
  }
  return undefined;
}

/**
 * Why `line` may not go into a `section`, or undefined when it may. `policy`
 * narrows the default allow-list.
 */
export function checkRawLine(line: unknown, section: RawSection = 'backend', policy: RawConfigPolicy = {}): string | undefined {
  if (typeof line !== 'string') return `${JSON.stringify(line) ?? String(line)} must be a string`;
  if (line.length === 0) return 'is empty';
  if (line.length > RAW_LIMITS.lineLength) return `is longer than ${RAW_LIMITS.lineLength} characters`;
  if (/[\n\r]/.test(line)) return 'contains a newline; give one directive per line';
  if (line !== line.trim()) return 'starts or ends with a space';
  const split = splitHaproxyWords(line);
  if (split.problem) return split.problem;
  return checkWords(split.words, section, policy);
}

function checkWords(words: readonly HaproxyWord[], section: RawSection, policy: RawConfigPolicy): string | undefined {
  const first = words[0];
  if (!first) return 'has no words';
  const keyword = first.text;
  if (SECTION_KEYWORDS.has(keyword.toLowerCase())) return `starts with "${keyword}", which opens a new section`;
  if (MANAGED_KEYWORDS.has(keyword.toLowerCase())) return `"${keyword}" is managed by node-haproxy; set it through the resource's fields`;
  const found = entryOf(words, section);
  if (!found) {
    // The keyword, and the word after it when that reads like a keyword too (`stats socket`).
    const second = words[1] ? bare(words[1].text) : '';
    const shown = /^[a-z][a-z0-9_.-]*$/.test(second) ? `${keyword} ${second}` : keyword;
    return `"${shown}" is not a directive raw configuration may use in a ${section}; see the allowed ones in docs/decisions/0005-raw-config-policy.md`;
  }
  const notPlain = words.slice(0, found.span).find((w) => !isPlain(w) || !/^[a-z0-9_.-]+(\(.*\))?$/.test(w.raw));
  if (notPlain) return `writes its keyword ${JSON.stringify(notPlain.raw)} with quotes or escapes; write keywords plainly`;
  const narrowed = policy.rawConfigKeywords;
  if (narrowed && !narrowed.some((k) => k === found.entry || found.entry.startsWith(`${k} `))) {
    return `"${found.entry}" is not allowed by this controller's --raw-config-keywords; ask the operator, or use the resource's fields`;
  }
  return wordProblem(words);
}

export interface RawConfigProblem {
  /** Index of the offending line, or undefined for the annotation as a whole. */
  index?: number;
  message: string;
}

/** Parses and checks the annotation's value for a section of the resource's kind. */
export function parseRawConfig(
  value: string,
  section: RawSection = 'backend',
  policy: RawConfigPolicy = {},
): { lines: string[]; problems: RawConfigProblem[] } {
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
    const why = checkRawLine(line, section, policy);
    if (why) problems.push({ index, message: why });
  });
  return { lines: problems.length === 0 ? (parsed as string[]) : [], problems };
}

export const sectionOfKind = (kind: string): RawSection => (kind === 'Frontend' ? 'frontend' : 'backend');

/**
 * The raw lines a (validated) resource carries; none when absent or invalid.
 * Checked again here against the default list, so a line reaches haproxy.cfg
 * only if it passes, whatever path the resource took.
 */
export function rawConfigLines(r: { kind?: string; metadata: { annotations?: Record<string, string> } }): string[] {
  const value = r.metadata.annotations?.[RAW_CONFIG_ANNOTATION];
  return value === undefined ? [] : parseRawConfig(value, sectionOfKind(r.kind ?? 'Backend')).lines;
}

export interface RenderedProblem {
  /** 1-based line number in the file. */
  line: number;
  text: string;
  message: string;
}

/** Keywords (with the shape of their line) the controller renders itself, by section. */
const RENDERED: Record<RawSection, Record<string, (w: readonly string[]) => boolean>> = {
  frontend: {
    mode: (w) => w.length === 2 && (w[1] === 'http' || w[1] === 'tcp'),
    bind: (w) => w.length === 2 || (w.length === 3 && w[2] === 'accept-proxy'),
    maxconn: (w) => w.length === 2 && /^\d+$/.test(w[1]!),
    use_backend: (w) =>
      w.length === 2 ||
      (w.length === 4 && w[2] === 'if' && /^sni\d+$/.test(w[3]!)) ||
      (w.length > 3 && w[2] === 'if' && w.slice(3).every((x) => /^r\d+_(host|path|hdr\d*|hdr\d*_once|query\d+|method)$/.test(x))) ||
      // By rule id (src/render/routing.ts): `if { var(txn.nh_rule) -m int N }`, and a weighted split's `{ var(txn.nh_slot) -m int A:B }`.
      / if \{ var\(txn\.nh_rule\) -m int \d+ \}( \{ var\(txn\.nh_slot\) -m int \d+:\d+ \})?$/.test(` ${w.slice(2).join(' ')}`),
    default_backend: (w) => w.length === 2,
  },
  backend: {
    mode: (w) => w.length === 2 && (w[1] === 'http' || w[1] === 'tcp'),
    balance: (w) => w.length === 2 || (w.length === 3 && w[1] === 'url_param' && /^[A-Za-z0-9._~-]+$/.test(w[2]!)),
    server: (w) => w.length >= 5 && w[3] === 'weight' && serverParamsOk(w.slice(5)),
  },
};

/** Server parameters backend TLS, h2 and the PROXY protocol render, with the shape of their value. */
const TLS_SERVER_PARAMS: Record<string, RegExp> = {
  verify: /^(none|required)$/,
  'ca-file': /^(@system-ca|\/[A-Za-z0-9._\/-]+\.ca\.pem)$/,
  sni: /^str\([A-Za-z0-9.-]+\)$/,
  'check-sni': /^[A-Za-z0-9.-]+$/,
  alpn: /^h2$/,
  'check-alpn': /^h2$/,
  proto: /^h2$/,
};

function serverParamsOk(rest: readonly string[]): boolean {
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i]!;
    if (['check', 'disabled', 'ssl', 'send-proxy', 'send-proxy-v2'].includes(w)) continue;
    const next = rest[i + 1];
    // sessionAffinity: the member's cookie value is its (schema-checked) name.
    if ((next !== undefined && TLS_SERVER_PARAMS[w]?.test(next)) || (w === 'cookie' && next !== undefined && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(next))) {
      i++;
      continue;
    }
    if (['maxconn', 'inter', 'rise', 'fall'].includes(w) && rest[i + 1] !== undefined && /^\d+(us|ms|s|m|h|d)?$/.test(rest[i + 1]!)) {
      i++;
      continue;
    }
    return false;
  }
  return true;
}

const DURATION = '[0-9]{1,9}(us|ms|s|m|h|d)?';
/** Lines of the HTTP policy (render/policy.ts) that the raw allow-list does not take, in the exact shape the controller renders. */
const RENDERED_POLICY: readonly RegExp[] = [
  new RegExp(`^stick-table type (ipv6|string len 128) size 100k expire ${DURATION} store http_req_rate\\(${DURATION}\\)$`),
  /^http-request track-sc0 (src|req\.fhdr\([A-Za-z0-9][A-Za-z0-9_.-]*\))$/,
  /^http-request deny deny_status [45][0-9]{2} if \{ sc_http_req_rate\(0\) gt [0-9]+ \}$/,
];

/** A rule's request timeout, read by the Backends the rule targets (render/routing.ts REQUEST_TIMEOUT_LINE), exactly. */
const RENDERED_REQUEST_TIMEOUT = /^http-request set-timeout server var\(txn\.nh_timeout\) if \{ var\(txn\.nh_timeout\) -m found \}$/;

const NOT_FOUND = String.raw`if !\{ var\(txn\.nh_rule\) -m found \}`;
const SUFFIX = String.raw`( \{ var\(txn\.nh_host\) -m beg \. \})?`;
const MAP_PATH = String.raw`/[A-Za-z0-9._/-]+/maps/[A-Za-z0-9_.:-]+`;
/** Lines of routing by maps (render/routing-maps.ts), in the exact shape the controller renders. */
const RENDERED_MAP_ROUTING: readonly RegExp[] = [
  new RegExp(String.raw`^http-request set-var\(txn\.nh_host\) req\.hdr\(host\),field\(1,:\),lower ${NOT_FOUND}$`),
  new RegExp(String.raw`^http-request set-var\(txn\.nh_host\) var\(txn\.nh_host\),regsub\(\^\[\.\]\?\[\^\.\]\*,\) ${NOT_FOUND}$`),
  new RegExp(String.raw`^http-request set-var-fmt\(txn\.nh_key\) (%\[var\(txn\.nh_host\)\])?%\[path\]/? ${NOT_FOUND}${SUFFIX}$`),
  new RegExp(String.raw`^http-request set-var\(txn\.nh_rule\) var\(txn\.nh_key\),map_(str|beg)_int\(${MAP_PATH}\.(exact|routes)\.map\) ${NOT_FOUND}${SUFFIX}$`),
  /^http-request set-var\(txn\.nh_slot\) rand\(1000\) if \{ var\(txn\.nh_rule\) -m found \}$/,
  new RegExp(
    String.raw`^http-request set-var\(txn\.nh_backend\) var\(txn\.nh_rule\),mul\(1000\),add\(txn\.nh_slot\),map_int\(${MAP_PATH}\.backends\.map\) if \{ var\(txn\.nh_rule\) -m found \}$`,
  ),
  /^use_backend %\[var\(txn\.nh_backend\)\] if \{ var\(txn\.nh_backend\) -m found \}$/,
];

/** A `userlist` line as render/policy.ts writes it: a user and a crypt hash, single-quoted. */
function userLineOk(words: readonly HaproxyWord[]): boolean {
  const t = words.map((w) => w.text);
  return (
    words.length === 4 &&
    words.slice(0, 3).every(isPlain) &&
    t[0] === 'user' &&
    /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/.test(t[1]!) &&
    t[2] === 'password' &&
    words[3]!.raw === `'${t[3]}'` &&
    HASH_FORMATS.some((f) => f.pattern.test(t[3]!))
  );
}

/** The controller's own frontend for the stats page, its lines fixed by the template. */
const STATS_FRONTEND = 'node-haproxy-stats';

/**
 * Reads a rendered haproxy.cfg back as HAProxy would and checks that only
 * the controller's sections exist and that every line of a frontend or
 * backend section is one such a section may hold: a line the controller
 * renders (in its shape), or one the raw-config default allow-list accepts.
 * A property for tests and fuzzing: whatever the resources said, nothing
 * leaves its section or reaches a file, program or the environment.
 */
export function checkRenderedConfig(text: string): RenderedProblem[] {
  const problems: RenderedProblem[] = [];
  let section: RawSection | 'global' | 'defaults' | 'stats' | 'userlist' | undefined;
  text.split('\n').forEach((raw, i) => {
    const add = (message: string) => problems.push({ line: i + 1, text: raw, message });
    if (raw.trim() === '') return;
    if (/^[^ ]/.test(raw)) {
      if (raw.startsWith('#')) {
        if (i === 0) return;
        return add('a comment other than the header');
      }
      const { words, problem } = splitHaproxyWords(raw);
      if (problem) return add(problem);
      const [head, name, ...more] = words.map((w) => w.text);
      // global first, then defaults, then proxies: as the template writes them, each once.
      if (head === 'global' && name === undefined && section === undefined) section = head;
      else if (head === 'defaults' && name === undefined && section === 'global') section = head;
      else if ((head === 'frontend' || head === 'backend') && name !== undefined && more.length === 0 && /^[A-Za-z0-9_.:-]+$/.test(name)) {
        section = head === 'frontend' && name === STATS_FRONTEND ? 'stats' : head;
      } else if (head === 'userlist' && name !== undefined && more.length === 0 && /^[A-Za-z0-9_.:-]+$/.test(name) && section !== 'global') {
        section = head;
      } else add('not a section the controller writes');
      return;
    }
    if (section === undefined) return add('a line outside any section');
    if (section === 'userlist') {
      const { words, problem } = splitHaproxyWords(raw.replace(/^ +/, ''));
      if (problem) return add(problem);
      if (!userLineOk(words)) add('not a user line the controller writes');
      return;
    }
    if (section !== 'frontend' && section !== 'backend') return; // The template's own sections.
    const { words, problem } = splitHaproxyWords(raw.replace(/^ +/, ''));
    if (problem) return add(problem);
    const texts = words.map((w) => w.text);
    // A header rule's exact-value ACL: the one place the controller quotes a value, always after `--`, so it is never a flag.
    if (
      section === 'frontend' &&
      texts.length === 7 &&
      texts[0] === 'acl' &&
      /^[ra]\d+_hdr$/.test(texts[1]!) &&
      /^req\.fhdr\([A-Za-z0-9][A-Za-z0-9_.-]*\)$/.test(texts[2]!) &&
      texts[3] === '-m' &&
      texts[4] === 'str' &&
      texts[5] === '--' &&
      words.slice(0, 5).every(isPlain)
    ) {
      return;
    }
    if (section === 'frontend' && words.every(isPlain) && RENDERED_POLICY.some((re) => re.test(texts.join(' ')))) return;
    if (section === 'frontend' && words.every(isPlain) && RENDERED_MAP_ROUTING.some((re) => re.test(texts.join(' ')))) return;
    if (section === 'backend' && words.every(isPlain) && RENDERED_REQUEST_TIMEOUT.test(texts.join(' '))) return;
    const shape = RENDERED[section][texts[0] ?? ''];
    if (shape) {
      if (!words.every(isPlain) || !shape(texts)) add(`"${texts[0]}" is not in the shape the controller renders`);
      return;
    }
    const why = checkWords(words, section, {});
    if (why) add(why);
  });
  return problems;
}

/**
 * Allow-list entries grouped by first word, one group a line
 * (`timeout: client, http-request`): the appendix of docs/decisions/0005.
 */
export function formatRawKeywords(entries: readonly string[]): string {
  const groups = new Map<string, string[]>();
  for (const e of entries) {
    const [head, ...tail] = e.split(' ');
    const g = groups.get(head!) ?? [];
    if (tail.length > 0) g.push(tail.join(' '));
    groups.set(head!, g);
  }
  return [...groups].map(([head, tails]) => (tails.length === 0 ? head : `${head}: ${tails.join(', ')}`)).join('\n');
}
