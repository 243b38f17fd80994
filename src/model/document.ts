/**
 * The one parser for documents that come from outside (manifest files, etcd
 * values, REST request bodies): JSON or YAML, bounded so that a small hostile
 * input cannot expand into something that stalls or crashes the controller.
 * Pure: text in, values or a DocumentError out.
 *
 * Bounds (DocumentLimits): the text's size in bytes, nesting depth, the number
 * of YAML aliases (`*name`), the size the documents expand to once every alias
 * is followed (a "billion laughs" alias bomb is a few hundred bytes and expands
 * to gigabytes), and the length of any one string. YAML aliases share the
 * node they point at, so parsing itself stays cheap; the expansion is measured
 * by one walk that stops as soon as it goes over the budget.
 */
import yaml from 'js-yaml';

export interface DocumentLimits {
  /** Largest text (a file, an etcd value, a request body), in bytes. */
  maxBytes: number;
  /** Deepest nesting of objects and arrays. */
  maxDepth: number;
  /** Most YAML aliases (`*name`) in one text. */
  maxAliases: number;
  /** Largest size the documents may expand to, aliases followed (about their size as JSON), in bytes. */
  maxExpandedBytes: number;
  /** Longest string (a value or a key), in bytes of UTF-16 code units. */
  maxValueBytes: number;
}

export const DEFAULT_DOCUMENT_LIMITS: Readonly<DocumentLimits> = Object.freeze({
  maxBytes: 4 * 1024 * 1024,
  maxDepth: 64,
  maxAliases: 100,
  maxExpandedBytes: 16 * 1024 * 1024,
  maxValueBytes: 256 * 1024,
});

/** Why a text was refused; `line`/`column` (1-based) when the parser knows where. */
export class DocumentError extends Error {
  override readonly name = 'DocumentError';
  constructor(
    message: string,
    readonly kind: 'syntax' | 'limit',
    readonly line?: number,
    readonly column?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface ParseOptions {
  /**
   * `json`: JSON only. `yaml`: YAML (JSON is YAML too). `json-or-yaml`: JSON
   * when it parses as JSON, else YAML (etcd values).
   */
  format: 'json' | 'yaml' | 'json-or-yaml';
  /** YAML schema: `json` keeps only JSON's types (REST bodies); default YAML 1.2 core. */
  schema?: 'json' | 'default';
  limits?: Partial<DocumentLimits>;
}

const KIB = 1024;
const fmtBytes = (n: number) =>
  n >= KIB * KIB ? `${(n / KIB / KIB).toFixed(n % (KIB * KIB) === 0 ? 0 : 1)} MiB` : n >= KIB ? `${Math.round(n / KIB)} KiB` : `${n} bytes`;

export function limitsOf(partial: Partial<DocumentLimits> = {}): DocumentLimits {
  return { ...DEFAULT_DOCUMENT_LIMITS, ...partial };
}

/**
 * A refusal in words: `subject` starts a limit's sentence ("the file", "the
 * value of etcd key K"); `syntax` starts a syntax error's ("YAML does not parse").
 */
export function explainDocumentError(err: DocumentError, subject: string, syntax: string): string {
  if (err.kind === 'limit') return `${subject} ${err.message}`;
  const where = err.line !== undefined ? ` at line ${err.line}, column ${err.column}` : '';
  return `${syntax}${where}: ${err.message}`;
}

/**
 * What a text is, for messages: a manifest file (YAML), an etcd value (JSON
 * or YAML), a REST request body (JSON, or YAML when its Content-Type says so).
 */
export type DocumentSubject = 'file' | 'value' | 'request body';

/**
 * The one wording of a refused text, for every source: a limit starts with
 * its subject ("the file is 5 MiB ..."); a syntax error says what the text is
 * not, and where ("YAML does not parse at line 2, column 1: ..."). `redact`
 * leaves out the parser's message, which may quote the text (a Secret's value).
 */
export function describeDocumentError(err: DocumentError, subject: DocumentSubject, format: ParseOptions['format'], o: { redact?: boolean } = {}): string {
  const language = format === 'json' ? 'JSON' : format === 'yaml' ? 'YAML' : 'JSON or YAML';
  const syntax =
    subject === 'file'
      ? `${language} does not parse`
      : format === 'json-or-yaml'
        ? `the ${subject} is neither JSON nor YAML`
        : `the ${subject} is not valid ${language}`;
  if (o.redact && err.kind === 'syntax') return `${syntax}${err.line !== undefined ? ` at line ${err.line}, column ${err.column}` : ''}`;
  return explainDocumentError(err, `the ${subject}`, syntax);
}

/**
 * Parses a text within the limits; a refusal comes back as its message
 * (describeDocumentError) instead of an exception. `one`: the text holds one
 * document (parseDocument), else every document (parseDocuments).
 */
export function parseFor(
  text: string,
  subject: DocumentSubject,
  options: ParseOptions & { redact?: boolean; one?: boolean },
): { documents: unknown[]; problem?: undefined } | { documents?: undefined; problem: string } {
  try {
    return { documents: options.one ? [parseDocument(text, options)] : parseDocuments(text, options) };
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    return { problem: describeDocumentError(err, subject, options.format, options) };
  }
}

/** Checks the size of a text before it is parsed (also for callers that can check before reading). */
export function checkSize(bytes: number, limits: Partial<DocumentLimits> = {}): void {
  const max = limitsOf(limits).maxBytes;
  if (bytes > max)
    throw new DocumentError(`is ${fmtBytes(bytes)} (${bytes} bytes), more than the limit of ${fmtBytes(max)}; split it into smaller documents`, 'limit');
}

/** Parses every document of a text (YAML `---` separated; JSON is one document). */
export function parseDocuments(text: string, options: ParseOptions): unknown[] {
  const limits = limitsOf(options.limits);
  checkSize(Buffer.byteLength(text, 'utf8'), limits);
  let docs: unknown[] | undefined;
  if (options.format !== 'yaml') {
    try {
      docs = [JSON.parse(text)];
    } catch (err) {
      if (err instanceof RangeError) throw tooDeep(limits, err);
      if (options.format === 'json') throw new DocumentError((err as Error).message, 'syntax', undefined, undefined, { cause: err });
    }
  }
  if (!docs) docs = loadYaml(text, options.schema ?? 'default', limits);
  measure(docs, limits);
  return docs;
}

/** Parses a text that holds one document (an empty text gives `undefined`). */
export function parseDocument(text: string, options: ParseOptions): unknown {
  const docs = parseDocuments(text, options);
  const present = docs.filter((d) => d !== null && d !== undefined);
  if (present.length > 1) throw new DocumentError(`holds ${present.length} documents; one is expected`, 'limit');
  return present[0] ?? docs[0];
}

function tooDeep(limits: DocumentLimits, cause?: unknown): DocumentError {
  return new DocumentError(`nests deeper than ${limits.maxDepth} levels; flatten it`, 'limit', undefined, undefined, cause ? { cause } : undefined);
}

function loadYaml(text: string, schema: 'json' | 'default', limits: DocumentLimits): unknown[] {
  let aliases = 0;
  const listener = (event: 'open' | 'close', state: { kind: string | null; result: unknown; line: number; position: number; lineStart: number }) => {
    // js-yaml closes an alias node with no kind and the node it points at as its result.
    if (event !== 'close' || state.kind !== null || state.result === null || state.result === undefined) return;
    if (++aliases > limits.maxAliases) {
      throw new DocumentError(
        `uses more than ${limits.maxAliases} YAML aliases (*name), at line ${state.line + 1}; write the values out, or use fewer aliases`,
        'limit',
        state.line + 1,
        state.position - state.lineStart + 1,
      );
    }
  };
  try {
    return yaml.loadAll(text, undefined, {
      schema: schema === 'json' ? yaml.JSON_SCHEMA : yaml.DEFAULT_SCHEMA,
      // js-yaml counts every node (a scalar too) as a level: one more than our nesting.
      maxDepth: limits.maxDepth + 1,
      listener,
    } as yaml.LoadOptions);
  } catch (err) {
    if (err instanceof DocumentError) throw err;
    if (err instanceof RangeError) throw tooDeep(limits, err);
    const e = err as { reason?: string; mark?: { line: number; column: number }; message?: string };
    if (e.reason?.startsWith('nesting exceeded maxDepth')) throw tooDeep(limits, err);
    throw new DocumentError(e.reason ?? e.message ?? String(err), 'syntax', e.mark ? e.mark.line + 1 : undefined, e.mark ? e.mark.column + 1 : undefined, {
      cause: err,
    });
  }
}

/**
 * Measures the parsed values as a consumer would see them (every alias
 * followed) and stops at the first bound crossed. A node that aliases share is
 * measured once and its size counted at every place it appears, so an alias
 * bomb is found in the time it takes to read it. Recursion stops at the depth
 * limit, so a deep value cannot overflow the stack here.
 */
function measure(docs: unknown[], limits: DocumentLimits): void {
  interface Size {
    bytes: number;
    /** Levels of objects and arrays from this node down (0 for a scalar). */
    height: number;
  }
  const memo = new Map<object, Size | 'open'>();
  const trail: (string | number)[] = [];
  const where = () => {
    const parts = trail.map((k, i) => (typeof k === 'number' ? (i === 0 ? '' : `[${k}]`) : `${i === 1 ? '' : '.'}${k.length > 40 ? k.slice(0, 40) + '…' : k}`));
    const path = parts.join('');
    const doc = docs.length > 1 ? `document ${(trail[0] as number) + 1}` : '';
    const all = [doc, path].filter(Boolean).join(': ');
    return all ? ` at ${all}` : '';
  };
  const bomb = () =>
    new DocumentError(
      `expands to more than ${fmtBytes(limits.maxExpandedBytes)} once its YAML aliases (*name) are followed, an alias bomb; write the values out, or use fewer aliases`,
      'limit',
    );
  const str = (s: string): Size => {
    if (s.length > limits.maxValueBytes) {
      throw new DocumentError(
        `holds a string of ${fmtBytes(s.length)}${where()}, more than the limit of ${fmtBytes(limits.maxValueBytes)} for one value`,
        'limit',
      );
    }
    return { bytes: s.length + 2, height: 0 };
  };
  const visit = (v: unknown, depth: number): Size => {
    if (typeof v === 'string') return str(v);
    if (v === null || typeof v !== 'object') return { bytes: 8, height: 0 };
    if (v instanceof Date) return { bytes: 26, height: 0 };
    if (depth >= limits.maxDepth) throw tooDeep(limits);
    const known = memo.get(v);
    if (known === 'open') throw new DocumentError(`refers to itself${where()}`, 'limit');
    if (known) {
      if (depth + known.height > limits.maxDepth) throw tooDeep(limits);
      return known;
    }
    memo.set(v, 'open');
    const size: Size = { bytes: 2, height: 1 };
    const add = (r: Size, extra: number) => {
      size.bytes += r.bytes + extra;
      if (r.height + 1 > size.height) size.height = r.height + 1;
      if (size.bytes > limits.maxExpandedBytes) throw bomb();
    };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        trail.push(i);
        add(visit(v[i], depth + 1), 1);
        trail.pop();
      }
    } else {
      for (const k of Object.keys(v)) {
        trail.push(k);
        add(str(k), 1);
        add(visit((v as Record<string, unknown>)[k], depth + 1), 0);
        trail.pop();
      }
    }
    memo.set(v, size);
    return size;
  };
  let total = 0;
  docs.forEach((doc, i) => {
    trail.push(i);
    total += visit(doc, 0).bytes;
    trail.pop();
    if (total > limits.maxExpandedBytes) throw bomb();
  });
}
