/**
 * HTTP plumbing for the REST API: JSON errors that name the field, bounded
 * body reading, content types.
 */
import { formatProblem } from '../../model/types.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../../http/server.js';
import { parseFor } from '../../model/document.js';
import type { Issue } from '../../model/types.js';

export interface ApiIssue {
  field: string;
  message: string;
  reason?: string;
}

/** An error answer: status, a machine-readable code, and a message naming the field. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly issues?: ApiIssue[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  static invalid(issues: ApiIssue[], what: string): ApiError {
    const first = issues[0]!;
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''}, listed in "issues")` : '';
    return new ApiError(422, 'InvalidSpec', `${what}: ${formatProblem(first)}${more}`, first.field, issues);
  }
}

export function issuesOf(issues: readonly Issue[], mapField: (field: string) => string = (f) => f): ApiIssue[] {
  return issues.map((i) => ({ field: mapField(i.field), message: i.message, reason: i.reason }));
}

export function sendError(res: ServerResponse, err: ApiError): void {
  const body: Record<string, unknown> = { statusCode: err.status, error: err.code, message: err.message };
  if (err.field !== undefined) body.field = err.field;
  if (err.issues) body.issues = err.issues;
  sendJson(res, err.status, body, err.headers);
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export type BodyFormat = 'json' | 'yaml';

/** Which parser a request's Content-Type asks for; no Content-Type means JSON. */
export function bodyFormat(req: IncomingMessage, allowYaml: boolean): BodyFormat {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === '' || type === 'application/json' || type.endsWith('+json')) return 'json';
  if (allowYaml && (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml')) return 'yaml';
  const accepted = allowYaml ? 'application/json or application/yaml' : 'application/json';
  throw new ApiError(415, 'UnsupportedMediaType', `Content-Type ${JSON.stringify(type)} is not supported; send ${accepted}`, 'content-type');
}

/**
 * Reads the body, refusing more than `maxBytes` (by Content-Length up front,
 * or while reading). On refusal the connection is closed after the answer, so
 * the client cannot keep streaming.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = () =>
    new ApiError(413, 'PayloadTooLarge', `the request body is larger than ${maxBytes} bytes; send a smaller resource`, 'body', undefined, {
      connection: 'close',
    });
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', (err) => reject(new ApiError(400, 'BadRequest', `the request body could not be read: ${err.message}`, 'body')));
  });
}

/**
 * Parses a JSON (or YAML) body that must hold one object, within the document
 * limits (src/model/document.ts): too deep, an alias bomb, a huge string are a
 * 400 like any malformed body.
 */
export function parseBody(buf: Buffer, format: BodyFormat): Record<string, unknown> {
  const text = buf.toString('utf8');
  if (text.trim() === '') throw new ApiError(400, 'MalformedBody', 'the request body is empty; send a JSON object', 'body');
  const parsed = parseFor(text, 'request body', format === 'json' ? { format: 'json', one: true } : { format: 'yaml', schema: 'json', one: true });
  if (parsed.problem !== undefined) throw new ApiError(400, 'MalformedBody', parsed.problem, 'body');
  const value = parsed.documents[0];
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError(
      400,
      'MalformedBody',
      `the request body must be a JSON object, not ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`,
      'body',
    );
  }
  return value as Record<string, unknown>;
}
