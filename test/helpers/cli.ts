/** The built CLI run in its own process, without blocking this one (a controller under test may answer it, e.g. `plan --from`). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

export const CLI = join(packageRoot(), 'dist', 'src', 'cli.js');

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node-haproxy ARGS`; killed after `timeoutMs` (default 20 s). */
export function runCli(args: readonly string[], options: { timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
