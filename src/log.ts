/**
 * Structured logging: JSON lines by default, a readable form for terminals.
 *
 * Backed by pino (and pino-pretty for `--log-format pretty`); the rest of the
 * code sees only the `Logger` interface below, so the library stays a detail
 * of this file. The JSON line keeps the shape it had before pino:
 * `{"level":"info","time":"<ISO 8601>","msg":"...", ...fields}`, one line
 * per event, written synchronously to stderr (a line logged before a crash or
 * `process.exit` is not lost). Errors in any field are written as
 * `{message, cause}` (causes followed), never as `{}`.
 * The measurement and the reasons: docs/decisions/0007-openapi-logging-routing.md.
 */
import { createRequire } from 'node:module';
import { pino, stdTimeFunctions, type DestinationStream, type Logger as PinoLogger, type LoggerOptions as PinoOptions } from 'pino';
import type { PrettyOptions } from 'pino-pretty';

/** pino-pretty is loaded only for `--log-format pretty` (synchronously: it is CommonJS), so JSON logging does not carry it. */
const prettyFactory = (o: PrettyOptions): ((line: string) => string) =>
  (createRequire(import.meta.url)('pino-pretty') as { prettyFactory: (o: PrettyOptions) => (line: string) => string }).prettyFactory(o);

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel | 'silent';
  format?: 'json' | 'pretty';
  /** Receives each line, without its newline (tests, embedding); default: stderr. */
  write?: (line: string) => void;
  now?: () => Date;
}

function errorFields(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { message: value.message };
    if (value.cause !== undefined) out.cause = errorFields(value.cause);
    return out;
  }
  return value;
}

/** Errors anywhere at the top level of `fields` become `{message, cause}`; other values are passed as they are (no copy when there is no error). */
function withErrors(fields: LogFields): LogFields {
  let out: LogFields | undefined;
  for (const k in fields) {
    const v = fields[k];
    if (v instanceof Error) {
      out ??= { ...fields };
      out[k] = errorFields(v);
    }
  }
  return out ?? fields;
}

/** Where lines go: `options.write` (without the newline), or stderr, synchronously. */
function output(options: LoggerOptions): (line: string) => void {
  if (options.write) return options.write;
  const stderr = pino.destination({ dest: 2, sync: true });
  return (line) => stderr.write(`${line}\n`);
}

/** Our own error shape ({message, cause}), not pino's default `err` serializer (type, message, stack). */
const SERIALIZERS = { err: (v: unknown) => v };

function pinoLogger(options: LoggerOptions): PinoLogger {
  const level = options.level ?? 'info';
  const now = options.now;
  if (options.format === 'pretty') {
    const out = output(options);
    // One line per event, as before: `[HH:MM:ss.l] INFO: msg {fields}`, formatted synchronously.
    const prettify = prettyFactory({ colorize: false, singleLine: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', errorLikeObjectKeys: [] });
    const stream: DestinationStream = { write: (s: string) => out(prettify(s).replace(/\n$/, '')) };
    return pino({ level, base: undefined, serializers: SERIALIZERS, timestamp: now ? () => `,"time":${now().getTime()}` : stdTimeFunctions.epochTime }, stream);
  }
  const o: PinoOptions = {
    level,
    base: undefined,
    serializers: SERIALIZERS,
    timestamp: now ? () => `,"time":"${now().toISOString()}"` : stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  const write = options.write;
  if (!write) return pino(o, pino.destination({ dest: 2, sync: true }));
  return pino(o, { write: (s: string) => write(s.endsWith('\n') ? s.slice(0, -1) : s) });
}

const noop = (): void => undefined;

/**
 * Our interface over a pino logger; a disabled level is a no-op decided once, so it costs nothing per call.
 * The message goes first in the object pino writes, then the bound fields, then the call's fields: the
 * order the lines had before pino (`"msg":"stopping","signal":"SIGTERM"`), which readers and tests rely on.
 */
function wrap(p: PinoLogger, bound: LogFields | undefined): Logger {
  const at = (level: LogLevel): ((msg: string, fields?: LogFields) => void) =>
    p.isLevelEnabled(level) ? (msg, fields) => p[level](bound || fields ? withErrors({ msg, ...bound, ...fields }) : { msg }) : noop;
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (fields) => wrap(p, withErrors({ ...bound, ...fields })) };
}

export function createLogger(options: LoggerOptions = {}, bound: LogFields = {}): Logger {
  return wrap(pinoLogger(options), Object.keys(bound).length > 0 ? withErrors(bound) : undefined);
}

const SILENT: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => SILENT };

/** A logger that drops everything (tests, library use); no pino instance behind it. */
export const silentLogger = (): Logger => SILENT;
