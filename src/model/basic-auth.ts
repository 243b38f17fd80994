/**
 * Basic-auth users from a Secret (spec.basicAuth, issue 12). Pure.
 *
 * The Secret (model/secrets.ts, discovered data of kind SECRETS) holds a
 * `users` key in htpasswd style: one `name:hash` a line; blank lines and lines
 * starting with `#` are skipped. HAProxy checks a password with libc's
 * crypt(3) (`user NAME password HASH`); on Debian 12 that is libxcrypt, which
 * reads the hashes allowed below. Anything else (MD5-crypt `$1$`, Apache's
 * `$apr1$`, `{SHA}`, DES, plain text) is refused with the Secret, the line and
 * the fix, never with the hash itself.
 *
 * Revocation must work, so the Secret is authoritative and a user list never
 * falls back to a last good one (unlike certificates and CA bundles,
 * model/last-good.ts: serving an old user list keeps a removed user's access;
 * docs/decisions/0009, "Basic-auth users: the Secret is authoritative"):
 * - a `users` value is read line by line: a bad line is skipped, with a
 *   warning naming the Secret and the line (never the hash), and the other
 *   users serve, so removing a user always takes effect;
 * - a user listed twice is skipped on every line (ambiguous: an old password
 *   must not keep working beside a new one);
 * - no user left (an empty value, only comments, only bad lines): every
 *   request gets 401, with a warning;
 * - the Secret deleted or its `users` key gone: a Frontend that never served
 *   is refused (SecretNotFound / InvalidSpec); one that served keeps serving
 *   its last accepted version with no users: every request gets 401 (fail
 *   closed), its condition saying why.
 */
import type { Discovered } from './discovered.js';
import type { ReferenceProblem } from './last-good.js';
import { INVALID_SECRETS, invalidSecretMessage, SECRETS, secretKey, secretNote, type InvalidSecret, type SecretData } from './secrets.js';
import type { Frontend } from './types.js';

/** One user as HAProxy's `userlist` takes it. */
export interface AuthUser {
  name: string;
  /** A crypt(3) hash matching one of HASH_FORMATS. */
  hash: string;
}

/** A Frontend with its basic-auth users read from the Secret (set by resolve). */
export type FrontendWithUsers = Frontend & { readonly basicAuthUsers?: readonly AuthUser[] };

/** The key of the Secret that holds the users. */
export const USERS_KEY = 'users';

/** User names: letters, digits, `_ . @ -` (HAProxy reads the name as one word; nothing to quote). */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

const B64 = '[./A-Za-z0-9]';
/** crypt(3) hashes libxcrypt verifies, by name; matched whole. */
export const HASH_FORMATS: readonly { name: string; pattern: RegExp }[] = [
  { name: 'SHA-512 ($6$)', pattern: new RegExp(`^\\$6\\$(rounds=[0-9]{1,9}\\$)?${B64}{1,16}\\$${B64}{86}$`) },
  { name: 'SHA-256 ($5$)', pattern: new RegExp(`^\\$5\\$(rounds=[0-9]{1,9}\\$)?${B64}{1,16}\\$${B64}{43}$`) },
  { name: 'bcrypt ($2b$, $2y$, $2a$)', pattern: new RegExp(`^\\$2[aby]\\$[0-9]{2}\\$${B64}{53}$`) },
  { name: 'yescrypt ($y$)', pattern: new RegExp(`^\\$y\\$${B64}+\\$${B64}{1,86}\\$${B64}{43}$`) },
];

const FIX = 'use a SHA-512 ($6$), SHA-256 ($5$), bcrypt ($2b$/$2y$) or yescrypt ($y$) hash, e.g. from `openssl passwd -6` or `mkpasswd -m yescrypt`';

/** What is wrong with a hash, without repeating it. */
function hashProblem(hash: string): string | undefined {
  if (HASH_FORMATS.some((f) => f.pattern.test(hash))) return undefined;
  if (hash.startsWith('$apr1$')) return `is an Apache MD5 ($apr1$) hash, which HAProxy cannot check; ${FIX}`;
  if (hash.startsWith('$1$')) return `is an MD5-crypt ($1$) hash, which is too weak; ${FIX}`;
  if (hash.startsWith('{SHA}')) return `is an unsalted {SHA} hash, which HAProxy cannot check; ${FIX}`;
  if (hash === '') return `has no password hash after ":"; ${FIX}`;
  if (!hash.startsWith('$')) return `does not hold a crypt hash (plain text or DES passwords are refused); ${FIX}`;
  return `holds a password hash that is not well-formed or not supported; ${FIX}`;
}

export interface UsersResult {
  /** The users of the good lines (a user listed twice is on none). */
  users: AuthUser[];
  /** One per skipped line, naming the line; never the hash. */
  problems: string[];
}

/** Reads a `users` value: `name:hash` lines. */
export function parseUsers(text: string): UsersResult {
  const users: AuthUser[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const twice = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    const n = i + 1;
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon < 0) {
      problems.push(`line ${n} is not "name:hash"`);
      return;
    }
    const name = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!USER_NAME.test(name)) {
      problems.push(`line ${n}: the user name is not allowed: use 1-64 letters, digits, "_", ".", "@" and "-", starting with a letter or digit`);
      return;
    }
    const bad = hashProblem(hash);
    if (bad) {
      problems.push(`line ${n} (user ${JSON.stringify(name)}) ${bad}`);
      return;
    }
    const first = seen.get(name);
    if (first !== undefined) {
      problems.push(`line ${n}: user ${JSON.stringify(name)} is also on line ${first}; list each user once (neither line is used)`);
      twice.add(name);
      return;
    }
    seen.set(name, n);
    users.push({ name, hash });
  });
  if (users.length === 0 && problems.length === 0) problems.push('has no users: add "name:hash" lines');
  return { users: twice.size > 0 ? users.filter((u) => !twice.has(u.name)) : users, problems };
}

/**
 * The users of a Frontend's basic auth, with a warning when lines were skipped
 * or no user is left (every request gets 401); or why there are none.
 */
export type BasicAuthResolution = { users: readonly AuthUser[]; warning?: string } | { problem: ReferenceProblem };

const FIELD = 'spec.basicAuth.secretRef.name';

const parsed = new WeakMap<SecretData, BasicAuthResolution>();

/** The key of the Secret that holds `f`'s basic-auth users (`Secret/ns/name`), if it has basic auth. */
export function basicAuthSecretKey(f: Frontend): string | undefined {
  const auth = f.spec.basicAuth;
  return auth && secretKey('Secret', f.metadata.namespace, auth.secretRef.name);
}

/**
 * The users of `f`'s basic auth from the discovered Secrets, or why there are
 * none to use (the Secret missing, or without a `users` key). With `served`
 * (this is the last accepted version of a Frontend, serving on), such a
 * problem fails closed instead: no users, every request 401, and a warning.
 */
export function resolveBasicAuth(f: Frontend, discovered: Discovered | undefined, served = false): BasicAuthResolution | undefined {
  const key = basicAuthSecretKey(f);
  if (!key) return undefined;
  const refused = discovered?.get(INVALID_SECRETS)?.get(key) as InvalidSecret | undefined;
  const fresh = readUsers(f, discovered?.get(SECRETS)?.get(key) as SecretData | undefined, refused);
  // The source hands its last good data while it refuses the current one: serve it, and say so.
  if ('users' in fresh && refused)
    return { ...fresh, warning: secretNote(FIELD, `Secret ${f.metadata.namespace}/${f.spec.basicAuth!.secretRef.name}`, refused) };
  if (!served || 'users' in fresh) return fresh;
  return { users: [], warning: `${fresh.problem.field}: ${fresh.problem.message}; until then no user can log in: every request gets 401` };
}

function readUsers(f: Frontend, secret: SecretData | undefined, invalid: InvalidSecret | undefined): BasicAuthResolution {
  const ns = f.metadata.namespace;
  const field = FIELD;
  if (!secret && invalid) {
    return { problem: { field, reason: 'InvalidSpec', message: `Secret ${ns}/${f.spec.basicAuth!.secretRef.name} ${invalidSecretMessage(invalid)}` } };
  }
  if (!secret) {
    return {
      problem: {
        field,
        reason: 'SecretNotFound',
        message: `Secret ${ns}/${f.spec.basicAuth!.secretRef.name} does not exist; create it with a "${USERS_KEY}" key of "name:hash" lines, or fix the name`,
      },
    };
  }
  const hit = parsed.get(secret);
  if (hit) return hit;
  let out: BasicAuthResolution;
  const text = secret.data[USERS_KEY];
  if (text === undefined) {
    out = { problem: { field, reason: 'InvalidSpec', message: `Secret ${ns}/${secret.name} has no "${USERS_KEY}" key; add one with "name:hash" lines` } };
  } else {
    // Authoritative line by line: the good lines serve, bad ones are skipped with a warning.
    const r = parseUsers(text);
    const then = r.users.length === 0 ? 'no user can log in: every request gets 401' : 'those lines are skipped, the other users serve';
    out =
      r.problems.length > 0
        ? { users: r.users, warning: `${field}: Secret ${ns}/${secret.name}, key "${USERS_KEY}": ${r.problems.join('; ')}; ${then}` }
        : { users: r.users };
  }
  parsed.set(secret, out);
  return out;
}

const withUsersCache = new WeakMap<Frontend, { users: readonly AuthUser[]; out: FrontendWithUsers }>();

/** `f` with its users attached (the same object for the same inputs, so caches keyed by resource hit). */
export function withBasicAuthUsers(f: Frontend, users: readonly AuthUser[]): FrontendWithUsers {
  const hit = withUsersCache.get(f);
  if (hit && hit.users === users) return hit.out;
  const out: FrontendWithUsers = { ...f, basicAuthUsers: users };
  withUsersCache.set(f, { users, out });
  return out;
}
