/**
 * Where `plan` reads what runs: a state directory (controller-state.json, as
 * the controller saves it after each applied pass) or a running controller's
 * HTTP server (`GET /api/v1/running-state`).
 */
import { readFile } from 'node:fs/promises';
import { fileStatePersistence } from '../reconcile/persist.js';
import type { PersistedState } from '../reconcile/reconciler.js';
import { digestsProblem, type RunningFileDigest } from './file-digests.js';

export const RUNNING_STATE_PATH = '/api/v1/running-state';

export class RunningStateError extends Error {}

/**
 * What `GET /api/v1/running-state` serves: the saved state, and the running
 * files under certs/ by digest (plan/file-digests.ts), never their content
 * where it holds a private key. A state directory's controller-state.json has
 * no `auxFiles`: `plan --state-dir` reads the files themselves.
 */
export interface RunningState extends PersistedState {
  auxFiles?: Record<string, RunningFileDigest>;
}

function checkShape(v: unknown, where: string): RunningState {
  const s = v as Partial<RunningState> | null;
  if (!s || typeof s.text !== 'string' || !s.model || !Array.isArray(s.model.frontends) || !Array.isArray(s.model.backends) || !Array.isArray(s.accepted)) {
    throw new RunningStateError(`${where} is not a node-haproxy running state`);
  }
  const problem = digestsProblem(s.auxFiles);
  if (problem) throw new RunningStateError(`${where} is not a node-haproxy running state: ${problem}`);
  return s as RunningState;
}

export async function readRunningState(o: { stateDir?: string; from?: string; tokenFile?: string; timeoutMs?: number }): Promise<RunningState> {
  if (o.from !== undefined) {
    let base: URL;
    try {
      base = new URL(o.from);
    } catch (err) {
      throw new RunningStateError(`--from ${o.from} is not a URL; give the controller's HTTP address, like http://127.0.0.1:9101`, { cause: err });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new RunningStateError(`--from ${o.from}: only http:// and https:// are supported`);
    const headers: Record<string, string> = {};
    if (o.tokenFile) headers.authorization = `Bearer ${(await readFile(o.tokenFile, 'utf8')).split(/\r?\n/)[0]!.trim()}`;
    const url = new URL(RUNNING_STATE_PATH, base);
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.timeout(o.timeoutMs ?? 10_000) });
    } catch (err) {
      throw new RunningStateError(`cannot reach the controller at ${url.origin}: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.text();
    if (res.status === 401 || res.status === 403) throw new RunningStateError(`${url} answered ${res.status}: pass the API token with --token-file FILE`);
    if (res.status === 503) throw new RunningStateError(`${url} answered 503: the controller has not applied a configuration yet; try again once it is ready`);
    if (res.status !== 200) throw new RunningStateError(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
    try {
      return checkShape(JSON.parse(text), url.toString());
    } catch (err) {
      if (err instanceof RunningStateError) throw err;
      throw new RunningStateError(`${url} did not answer JSON`, { cause: err });
    }
  }
  const dir = o.stateDir ?? '.node-haproxy';
  const saved = await fileStatePersistence(dir)
    .load()
    .catch((err: unknown) => {
      throw new RunningStateError(`cannot read the running state in ${dir}: ${(err as Error).message}`, { cause: err });
    });
  if (!saved)
    throw new RunningStateError(
      `${dir} holds no controller-state.json: no controller has applied a configuration there; pass the state directory of a running controller (--state-dir) or its address (--from http://HOST:PORT)`,
    );
  return checkShape(saved, `${dir}/controller-state.json`);
}
