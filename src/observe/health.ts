/**
 * /healthz (the process answers) and /readyz (sources synced, HAProxy running
 * the desired configuration), for Kubernetes probes and load balancers.
 *
 * Readiness does not flap during ordinary reconcile passes: a change waiting
 * for its pass (debounce, minimum reload interval) keeps the controller ready;
 * it turns not ready when an apply fails, HAProxy is down, or a source has not
 * finished its first load.
 */
import type { Handler } from '../http/server.js';
import { sendJson } from '../http/server.js';
import type { ApplyState } from './apply-state.js';

export interface ReadinessInputs {
  store: { allSynced(): boolean; unsyncedSources(): string[]; syncProblem?(source: string): string | undefined };
  reconciler: { readonly haproxyStarted: boolean };
  supervisor: { isRunning(): boolean };
  apply: ApplyState;
}

export interface Readiness {
  ready: boolean;
  checks: {
    sourcesSynced: boolean;
    haproxyStarted: boolean;
    haproxyRunning: boolean;
    configurationApplied: boolean;
  };
  /** One sentence per failing check, saying what is wrong. */
  reasons: string[];
}

export function evaluateReadiness(i: ReadinessInputs): Readiness {
  const checks = {
    sourcesSynced: i.store.allSynced(),
    haproxyStarted: i.reconciler.haproxyStarted,
    haproxyRunning: i.supervisor.isRunning(),
    configurationApplied: i.apply.lastOk === true,
  };
  const reasons: string[] = [];
  if (!checks.sourcesSynced) {
    const unsynced = i.store.unsyncedSources();
    const problems = unsynced.flatMap((s) => {
      const p = i.store.syncProblem?.(s);
      return p ? [`${s}: ${p}`] : [];
    });
    reasons.push(`sources still loading: ${unsynced.join(', ')}`, ...problems);
  }
  if (!checks.haproxyStarted) {
    reasons.push(
      i.apply.lastOk === false
        ? `HAProxy could not be started: ${i.apply.lastError ?? 'unknown error'}`
        : 'HAProxy has not been started yet (no configuration applied)',
    );
  } else if (!checks.haproxyRunning) reasons.push('HAProxy is not running (the supervisor restarts it)');
  if (checks.haproxyStarted && !checks.configurationApplied) {
    reasons.push(
      i.apply.lastOk === false
        ? `the desired configuration could not be applied: ${i.apply.lastError ?? 'unknown error'}`
        : 'the desired configuration has not been applied yet',
    );
  }
  return { ready: reasons.length === 0, checks, reasons };
}

const NO_STORE = { 'cache-control': 'no-store' };

function getOnly(req: { method?: string }, res: Parameters<Handler>[1]): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  sendJson(res, 405, { error: 'MethodNotAllowed', message: 'use GET' }, { allow: 'GET, HEAD' });
  return false;
}

/** Serves /healthz and /readyz. `onReadiness` sees each evaluation (metrics). */
export function healthHandler(inputs: () => ReadinessInputs, onReadiness?: (r: Readiness) => void): Handler {
  return (req, res, url) => {
    if (url.pathname === '/healthz') {
      if (getOnly(req, res)) sendJson(res, 200, { status: 'ok' }, NO_STORE);
      return true;
    }
    if (url.pathname === '/readyz') {
      if (!getOnly(req, res)) return true;
      const r = evaluateReadiness(inputs());
      onReadiness?.(r);
      sendJson(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', ...r }, NO_STORE);
      return true;
    }
    return false;
  };
}
