/** `haproxy -c`: HAProxy's own verdict on a configuration file. */
import { execFile } from 'node:child_process';

export interface CheckResult {
  ok: boolean;
  /** HAProxy's alerts and warnings: what a user needs to fix a rejected config. */
  output: string;
}

export interface CheckOptions {
  haproxyBin: string;
  /** Relative paths in the config resolve against this directory. */
  cwd?: string;
  timeoutMs?: number;
}

export function checkConfigFile(file: string, options: CheckOptions): Promise<CheckResult> {
  return new Promise((resolve, reject) => {
    execFile(
      options.haproxyBin,
      ['-c', '-f', file],
      { cwd: options.cwd, timeout: options.timeoutMs ?? 30_000, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim();
        if (!err) return resolve({ ok: true, output });
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES') {
          return reject(
            new Error(
              `Cannot run HAProxy binary "${options.haproxyBin}" (${code}): install HAProxy (Debian: apt-get install haproxy) or pass its path with --haproxy-bin`,
              { cause: err },
            ),
          );
        }
        if (err.killed) {
          return reject(new Error(`"${options.haproxyBin} -c -f ${file}" did not finish in time`, { cause: err }));
        }
        resolve({ ok: false, output: output || err.message });
      },
    );
  });
}
