/** Child processes of a benchmark: upstreams and the load generator (wrk), each stopped by its owner. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Upstreams {
  ports: number[];
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

/** Starts `count` HTTP upstreams in one child process (not in the controller's event loop). */
export async function startUpstreams(count: number): Promise<Upstreams> {
  const script = fileURLToPath(new URL('./upstream-child.js', import.meta.url));
  const child = spawn(process.execPath, [script, String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ports = await new Promise<number[]>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('upstream child did not report its ports within 10 s')), 10_000);
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve((JSON.parse(buf.slice(0, nl)) as { ports: number[] }).ports);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`upstream child exited (code ${code}) before reporting its ports`));
    });
  }).catch(async (err: unknown) => {
    await stopChild(child);
    throw err;
  });
  return { ports, stop: () => stopChild(child) };
}

export interface WrkReport {
  requests: number;
  durationS: number;
  connectErrors: number;
  readErrors: number;
  writeErrors: number;
  timeouts: number;
  non2xx: number;
  /** Everything that did not get a 2xx/3xx answer. */
  failed: number;
  latencyAvg: string;
  output: string;
}

const UNIT_S: Record<string, number> = { us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
const wrkSeconds = (m: RegExpExecArray | null): number => (m ? Number(m[1]) * (UNIT_S[m[2]!] ?? 1) : 0);

/** Parses wrk's summary. */
export function parseWrk(output: string): WrkReport {
  const num = (re: RegExp): number => Number(re.exec(output)?.[1] ?? '0');
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const r = {
    requests: num(/(\d+) requests in/),
    durationS: wrkSeconds(/requests in ([\d.]+)(us|ms|s|m|h)\b/.exec(output)),
    connectErrors: Number(sock?.[1] ?? 0),
    readErrors: Number(sock?.[2] ?? 0),
    writeErrors: Number(sock?.[3] ?? 0),
    timeouts: Number(sock?.[4] ?? 0),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    latencyAvg: /Latency\s+(\S+)/.exec(output)?.[1] ?? '',
    output,
  };
  return { ...r, failed: r.connectErrors + r.readErrors + r.writeErrors + r.timeouts + r.non2xx };
}

export interface WrkRun {
  /** Stops wrk (SIGINT: it prints its summary) and parses the summary. */
  stop(): Promise<WrkReport>;
}

/**
 * Starts wrk against `url` in its own process. `maxSeconds` bounds the run
 * even if stop() is never called.
 */
export function startWrk(url: string, o: { connections: number; threads?: number; maxSeconds: number; headers?: string[] }): WrkRun {
  const args = ['-t', String(o.threads ?? 1), '-c', String(o.connections), '-d', `${o.maxSeconds}s`, '--timeout', '5s'];
  for (const h of o.headers ?? []) args.push('-H', h);
  args.push(url);
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  return {
    async stop() {
      const err = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10))]);
      if (err) throw new Error(`cannot run wrk (${err.message}); install it: apt-get install wrk`, { cause: err });
      await stopChild(child, 'SIGINT', 10_000);
      return parseWrk(out);
    },
  };
}
