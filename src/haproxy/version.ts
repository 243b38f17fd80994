/**
 * Which HAProxy runs: `haproxy -v`, parsed. node-haproxy supports 2.6 and
 * newer and is tested on 2.6 and 3.0 LTS; where the two behave differently
 * (the built-in exporter's families, some runtime API answers and error
 * messages) the code adapts to the version found here (see
 * docs/decisions/0008-haproxy-versions.md).
 */
import { execFile } from 'node:child_process';

export interface HaproxyVersion {
  major: number;
  minor: number;
  patch: number;
  /** As HAProxy prints it, e.g. "2.6.12-1+deb12u4" or "3.0.11-9e587df". */
  text: string;
}

/** The oldest HAProxy node-haproxy runs on. */
export const MIN_HAPROXY_VERSION = { major: 2, minor: 6 } as const;

const VERSION_LINE = /^(?:HAProxy|HA-Proxy) version (\d+)\.(\d+)(?:\.(\d+))?(\S*)/m;

/** Parses the output of `haproxy -v`; undefined when it holds no version line. Pure. */
export function parseHaproxyVersion(output: string): HaproxyVersion | undefined {
  const m = VERSION_LINE.exec(output);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  return { major, minor, patch, text: `${m[1]}.${m[2]}${m[3] !== undefined ? `.${m[3]}` : ''}${m[4] ?? ''}` };
}

/** a >= major.minor */
export function versionAtLeast(v: Pick<HaproxyVersion, 'major' | 'minor'>, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

/** Why this version cannot be used, or undefined. Pure. */
export function unsupportedVersionProblem(v: HaproxyVersion, bin: string): string | undefined {
  if (versionAtLeast(v, MIN_HAPROXY_VERSION.major, MIN_HAPROXY_VERSION.minor)) return undefined;
  const min = `${MIN_HAPROXY_VERSION.major}.${MIN_HAPROXY_VERSION.minor}`;
  return `HAProxy ${v.text} (${bin}) is older than ${min}, the oldest version node-haproxy supports (it needs "add server"/"del server" on the runtime API and the master CLI of ${min}); install HAProxy ${min} or newer (Debian 12 ships 2.6, Debian 13 ships 3.0) and point --haproxy-bin at it`;
}

/**
 * Runs `<bin> -v` and returns the version. Rejects with a message naming the
 * binary and the fix when it cannot run or prints no version, or when the
 * version is older than 2.6.
 */
export function detectHaproxyVersion(bin: string, options: { timeoutMs?: number } = {}): Promise<HaproxyVersion> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['-v'], { timeout: options.timeoutMs ?? 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`;
      if (err && (err as NodeJS.ErrnoException).code !== undefined && typeof (err as NodeJS.ErrnoException).code === 'string') {
        const code = (err as NodeJS.ErrnoException).code;
        return reject(
          new Error(`Cannot run HAProxy binary "${bin}" (${code}): install HAProxy 2.6 or newer, or pass its path with --haproxy-bin (haproxyBin)`, {
            cause: err,
          }),
        );
      }
      const version = parseHaproxyVersion(out);
      if (!version) {
        const first = out.split('\n').find((l) => l.trim() !== '') ?? '(no output)';
        return reject(
          new Error(
            `"${bin} -v" printed no HAProxy version (first line: ${first}); check that --haproxy-bin (haproxyBin) names an HAProxy executable`,
            err ? { cause: err } : undefined,
          ),
        );
      }
      const problem = unsupportedVersionProblem(version, bin);
      if (problem) return reject(new Error(problem));
      resolve(version);
    });
  });
}
