/**
 * Bearer-token authentication for mutating routes (with --api-auth-reads, for
 * every REST API route). The token is read from a file (re-read when the file
 * changes, so it can be rotated without a restart) and compared in constant
 * time.
 *
 * 401: no usable credentials (no Authorization header, not a Bearer token).
 * 403: a token was given and it is wrong, or the API has no token configured
 *      (it is then read-only).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../log.js';
import { ApiError } from './http-io.js';

const signature = (st: { mtimeMs: number; size: number; ino: number }): string => `${st.mtimeMs}:${st.size}:${st.ino}`;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Compares two secrets without leaking, through timing, where they differ or how long they are. */
export function tokensEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** Reads a token file: the first line, without surrounding whitespace; refuses an empty one. */
export async function readTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the API token file ${path}; check the path given to --api-token-file`, { cause: err });
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (token.length < 16) {
    throw new Error(
      `the API token in ${path} is ${token.length === 0 ? 'empty' : 'shorter than 16 characters'}; write a long random token (e.g. openssl rand -hex 32) on its first line`,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new Error(`the API token in ${path} contains spaces or non-ASCII characters; use a token like "openssl rand -hex 32" prints`);
  return token;
}

export interface Authenticator {
  /** Throws an ApiError (401 or 403) unless the request carries the token. */
  check(req: IncomingMessage): Promise<void>;
  readonly configured: boolean;
}

const CHALLENGE = { 'www-authenticate': 'Bearer realm="node-haproxy"' };

export class TokenFileAuthenticator implements Authenticator {
  readonly configured: boolean;
  private token: string | undefined;
  /** What the file looked like when last read (mtime, size, inode): a change of any means read it again. */
  private seen = '';
  /** Why the token is revoked (the file is gone, empty, too short…), logged once per change. */
  private revoked: string | undefined;

  /** `path` undefined: no token configured, every mutating request is refused. */
  constructor(
    private readonly path: string | undefined,
    private readonly logger?: Logger,
  ) {
    this.configured = path !== undefined;
  }

  /** Reads the token once; call at startup so a bad file stops the controller from starting. */
  async load(): Promise<void> {
    if (!this.path) return;
    const st = await stat(this.path).catch((err: unknown) => {
      throw new Error(`cannot read the API token file ${this.path}; check the path given to --api-token-file`, { cause: err });
    });
    this.token = await readTokenFile(this.path);
    this.seen = signature(st);
  }

  /**
   * The token in force. The file is looked at on every request: a rotated
   * token takes over at once, and a file that is deleted, emptied or no
   * longer holds a usable token revokes the old one (changes are refused
   * until a usable token is written), logged once.
   */
  private async current(): Promise<string | undefined> {
    if (!this.path) return undefined;
    const st = await stat(this.path).catch(() => undefined);
    const now = st ? signature(st) : 'missing';
    if (now === this.seen) return this.token;
    this.seen = now;
    if (!st) return this.revoke(`the API token file ${this.path} is gone`);
    try {
      this.token = await readTokenFile(this.path);
    } catch (err) {
      return this.revoke((err as Error).message);
    }
    if (this.revoked !== undefined) this.logger?.info('API token file holds a usable token again; changes are accepted with it', { file: this.path });
    this.revoked = undefined;
    return this.token;
  }

  private revoke(why: string): undefined {
    this.token = undefined;
    if (this.revoked !== why)
      this.logger?.warn(`API token revoked: ${why}; every request that needs the token is refused until a usable token is written`, { file: this.path });
    this.revoked = why;
    return undefined;
  }

  async check(req: IncomingMessage): Promise<void> {
    const expected = await this.current();
    if (expected === undefined && this.revoked !== undefined) {
      throw new ApiError(
        403,
        'Forbidden',
        `the API token is revoked (${this.revoked}); the operator must write a usable token to the file given to --api-token-file`,
        'authorization',
      );
    }
    if (expected === undefined) {
      throw new ApiError(
        403,
        'Forbidden',
        'this API is read-only: no token is configured; the operator can enable changes with --api-token-file FILE',
        'authorization',
      );
    }
    const header = req.headers.authorization;
    if (header === undefined || header.trim() === '') {
      const what = req.method === 'GET' || req.method === 'HEAD' ? 'reading this API (--api-auth-reads)' : 'this route changes the configuration and';
      throw new ApiError(401, 'Unauthorized', `${what} needs "Authorization: Bearer <token>"`, 'authorization', undefined, CHALLENGE);
    }
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!m) {
      throw new ApiError(401, 'Unauthorized', 'the Authorization header must be "Bearer <token>"', 'authorization', undefined, CHALLENGE);
    }
    if (!tokensEqual(m[1]!, expected)) {
      throw new ApiError(403, 'Forbidden', 'the bearer token is not valid for this controller', 'authorization', undefined, {
        'www-authenticate': 'Bearer realm="node-haproxy", error="invalid_token"',
      });
    }
  }
}
