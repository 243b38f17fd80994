/**
 * What applying a set of manifests would do to a running HAProxy, as a report
 * with a stable shape (`node-haproxy plan --output json`). Pure: the planner's
 * verdict plus, for a reload, which resources and which of their fields
 * differ.
 */
import type { Frontend, Issue } from '../model/types.js';
import { routedBy } from '../model/routing.js';
import { aclReason } from '../render/routing-maps.js';
import { certificateSummary, type Plan, type ServerOp } from '../reconcile/plan.js';
import { describeCertOp, type CertOp } from '../reconcile/cert-plan.js';
import { describeMapOp, mapOpEntries, type MapOp } from '../reconcile/map-plan.js';
import type { BackendModel, ConfigModel, FrontendModel } from '../render/model.js';

export const PLAN_REPORT_VERSION = 'node-haproxy.io/plan/v1';

export type PlanResult = 'noop' | 'runtime' | 'reload' | 'invalid';

/** Exit codes of `node-haproxy plan`, so CI can gate on them. */
export const PLAN_EXIT_CODES: Record<PlanResult, number> = { noop: 0, invalid: 1, runtime: 4, reload: 5 };
/** Usage errors exit 2 (as every command); a running state that cannot be read exits 3. */
export const PLAN_EXIT_NO_STATE = 3;

export interface PlanProblem {
  /** `FILE#DOC` where the problem was found. */
  origin?: string;
  /** `Kind namespace/name`. */
  resource?: string;
  field: string;
  message: string;
  reason: string;
}

export interface RuntimeOperation {
  /** A server operation, `replace-map` (a routing map swapped whole: reconcile/map-plan.ts; backend, server and address are then empty), or `add-map`/`set-map`/`del-map` (one entry). */
  op: ServerOp['op'] | MapOp['op'];
  /** Map operations: the map file (relative to the state directory) and how many entries it writes (the new version's, or 1). */
  map?: string;
  entries?: number;
  /** HAProxy backend (proxy) name, `namespace_name`. */
  backend: string;
  server: string;
  address: string;
  weight: number;
  state: string;
  /** The operation in words, as the text output prints it. */
  description: string;
}

/** A certificate operation through the runtime API, by path only (never the PEM: it holds the key). */
export interface CertificateOperation {
  op: CertOp['op'];
  description: string;
}

export interface ResourceChange {
  kind: 'Frontend' | 'Backend' | 'Global';
  /** `namespace/name`, or `global`. */
  resource: string;
  change: 'added' | 'removed' | 'changed';
  /** Resource fields that differ (for `changed`). */
  fields: string[];
}

export interface PlanReport {
  apiVersion: typeof PLAN_REPORT_VERSION;
  /** `invalid` when any manifest has a problem (the rest is still planned: invalid resources keep their running version). */
  result: PlanResult;
  /** What the planner decided for the valid resources. */
  plan: 'noop' | 'runtime' | 'reload';
  problems: PlanProblem[];
  /** Runtime API operations (plan `runtime`). */
  operations: RuntimeOperation[];
  /** Certificate operations through the runtime API (plan `runtime`): `certificate update (N)` in the text output. */
  certificateOperations: CertificateOperation[];
  /** Why it reloads (plan `reload`), as the controller logs it. */
  reasons: string[];
  /** Resources that differ from what runs, and their fields. */
  changes: ResourceChange[];
  /**
   * How each rule of each http Frontend that would serve is routed (plan
   * `runtime` or `reload`): by the routing maps (a change to it applies at run
   * time) or by ACL lines in haproxy.cfg (a change to it reloads), with why.
   */
  routing?: FrontendRouting[];
  /**
   * What the plan assumed about the controller's sources (plan/plan-sources.ts):
   * which directory source DIR replaces, that other sources' resources are
   * kept as they run, or that the running state cannot say (an older controller).
   */
  sources?: PlanSourcesReport;
}

export interface PlanSourcesReport {
  /** The controller's directory source DIR replaces (`files:/path`), when one does. */
  replaces?: string;
  notes: string[];
}

export interface FrontendRouting {
  /** `namespace/name`. */
  frontend: string;
  /** Rule indexes routed by map. */
  map: number[];
  /** Rules routed by ACL, and why. */
  acl: { rule: number; why: string }[];
}

/** How the rules of `frontends` are routed (see PlanReport.routing). */
export function routingOf(frontends: readonly Frontend[]): FrontendRouting[] {
  return frontends
    .filter((f) => f.spec.mode === 'http' && f.spec.rules.length > 0)
    .map((f) => {
      const map: number[] = [];
      const acl: { rule: number; why: string }[] = [];
      f.spec.rules.forEach((r, i) => (routedBy(r) === 'map' ? map.push(i) : acl.push({ rule: i, why: aclReason(r) ?? 'is routed by ACL' })));
      return { frontend: `${f.metadata.namespace}/${f.metadata.name}`, map, acl };
    });
}

const FRONTEND_FIELDS: Record<keyof Omit<FrontendModel, 'key' | 'name'>, string> = {
  mode: 'spec.mode',
  binds: 'spec.binds',
  lines: 'spec (timeouts, maxconn, forwardFor, keepAlive, sniRoutes, ipAllowList, ipDenyList or rateLimit)',
  acls: 'spec.rules',
  lookup: 'spec.rules',
  afterLookup: 'spec (httpsRedirect, hsts, basicAuth, cors or raw config)',
  routes: 'spec.rules',
  defaultBackend: 'spec.defaultBackend',
  userlist: 'spec.basicAuth (the users in its Secret)',
};

const BACKEND_FIELDS: Record<keyof Omit<BackendModel, 'key' | 'name'>, string> = {
  mode: 'spec.mode',
  balance: 'spec.balance',
  lines: 'spec (healthCheck, timeouts, sessionAffinity, retries, requestBodyMaxBytes or raw config)',
  servers: 'spec.members',
  files: 'spec.tls.caRef (the CA bundle)',
};

/** `Kind/namespace/name` → `namespace/name`. */
function resourceName(key: string): string {
  return key.split('/').slice(1).join('/');
}

function differingFields<T extends object>(a: T, b: T, names: Record<string, string>): string[] {
  const fields = new Set<string>();
  for (const [k, field] of Object.entries(names)) {
    if (JSON.stringify((a as Record<string, unknown>)[k]) !== JSON.stringify((b as Record<string, unknown>)[k])) fields.add(field);
  }
  return [...fields];
}

function changesOf<T extends { key: string; name: string }>(
  kind: 'Frontend' | 'Backend',
  desired: readonly T[],
  running: readonly T[],
  names: Record<string, string>,
): ResourceChange[] {
  const out: ResourceChange[] = [];
  const run = new Map(running.map((x) => [x.name, x]));
  const want = new Set(desired.map((x) => x.name));
  for (const d of desired) {
    const r = run.get(d.name);
    if (!r) out.push({ kind, resource: resourceName(d.key), change: 'added', fields: [] });
    else {
      const fields = differingFields(d, r, names);
      if (fields.length > 0) out.push({ kind, resource: resourceName(d.key), change: 'changed', fields });
    }
  }
  for (const r of running) if (!want.has(r.name)) out.push({ kind, resource: resourceName(r.key), change: 'removed', fields: [] });
  return out;
}

function describeOp(o: ServerOp): string {
  const where = `${o.backend}/${o.server.name}`;
  switch (o.op) {
    case 'add':
      return `add server ${where} ${o.server.endpoint} weight ${o.server.weight}${o.server.state === 'ready' ? '' : ` (${o.server.state})`}`;
    case 'del':
      return `delete server ${where} (${o.server.endpoint})`;
    case 'addr':
      return `set server ${where} address ${o.server.endpoint}`;
    case 'weight':
      return `set server ${where} weight ${o.server.weight}`;
    case 'state':
      return `set server ${where} state ${o.server.state === 'maint' ? 'maint' : 'ready'}`;
  }
}

export { certificateSummary };

export function explainPlan(input: {
  plan: Plan;
  desired: ConfigModel;
  running: ConfigModel;
  problems: readonly Issue[];
  /** The Frontends that would serve: their rules' routing goes into the report (plan runtime or reload). */
  frontends?: readonly Frontend[];
  sources?: PlanSourcesReport;
}): PlanReport {
  const { plan, desired, running } = input;
  const changes: ResourceChange[] = [];
  if (plan.kind !== 'noop') {
    if (JSON.stringify(desired.global) !== JSON.stringify(running.global))
      changes.push({ kind: 'Global', resource: 'global', change: 'changed', fields: ['controller settings (run options)'] });
    changes.push(...changesOf('Frontend', desired.frontends, running.frontends, FRONTEND_FIELDS));
    changes.push(...changesOf('Backend', desired.backends, running.backends, BACKEND_FIELDS));
  }
  const problems: PlanProblem[] = input.problems.map((i) => ({
    ...(i.origin ? { origin: i.origin } : {}),
    ...(i.resource ? { resource: i.resource } : {}),
    field: i.field,
    message: i.message,
    reason: i.reason,
  }));
  return {
    apiVersion: PLAN_REPORT_VERSION,
    result: problems.length > 0 ? 'invalid' : plan.kind,
    plan: plan.kind,
    problems,
    operations:
      plan.kind === 'runtime'
        ? [
            ...plan.ops.map((o) => ({
              op: o.op,
              backend: o.backend,
              server: o.server.name,
              address: o.server.endpoint,
              weight: o.server.weight,
              state: o.server.state,
              description: describeOp(o),
            })),
            ...(plan.maps ?? []).map((m) => ({
              op: m.op,
              backend: '',
              server: '',
              address: '',
              weight: 0,
              state: '',
              map: m.file,
              entries: mapOpEntries(m),
              description: m.op === 'replace-map' ? `map update (${m.entries.length} entries): replace ${m.file}` : `map update: ${describeMapOp(m)}`,
            })),
          ]
        : [],
    certificateOperations: plan.kind === 'runtime' ? (plan.certOps ?? []).map((o) => ({ op: o.op, description: describeCertOp(o) })) : [],
    reasons: plan.kind === 'reload' ? plan.reasons : [],
    changes,
    ...(plan.kind !== 'noop' && input.frontends ? { routing: routingOf(input.frontends) } : {}),
    ...(input.sources ? { sources: input.sources } : {}),
  };
}
