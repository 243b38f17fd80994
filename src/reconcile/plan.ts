/**
 * The planner: desired model + running model → plan. Pure.
 *
 * - noop: the rendered text is identical (identical text never reloads);
 * - runtime: only servers differ (added, removed, address/port, weight,
 *   ready/drain/maint) and certificates, CA bundles or crt-list lines
 *   (reconcile/cert-plan.ts, with `certificates`), and the runtime API can
 *   apply each difference;
 * - reload: anything structural, with the reasons listed for the log.
 *
 * Member changes the runtime API cannot make also reload, with the reason:
 * a server added to or re-weighted in a backend with a static algorithm
 * (HAProxy 2.6 refuses both), a DNS name where an address is set (`set
 * server addr` takes IP literals only), and more operations than
 * `maxRuntimeOps` (the runtime budget of one pass: beyond it a reload is
 * cheaper than the commands).
 */
import type { BackendModel, ConfigModel, ServerModel } from '../render/model.js';
import { changedFiles } from '../render/tls-files.js';
import { planCertificates, type CertOp, type CertPlanOptions } from './cert-plan.js';
import { isMapFile } from '../render/routing-maps.js';
import { aclRuleReasons, planMaps, summarizeMaps, type MapOp } from './map-plan.js';
import { stateDirOf } from '../render/model.js';
import { REQUEST_TIMEOUT_LINE } from '../render/routing.js';

export type ServerOp =
  | { op: 'add'; backend: string; server: ServerModel }
  | { op: 'del'; backend: string; server: ServerModel }
  | { op: 'addr'; backend: string; server: ServerModel }
  | { op: 'weight'; backend: string; server: ServerModel }
  | { op: 'state'; backend: string; server: ServerModel };

/**
 * A runtime plan: certificate operations (`certOps`, reconcile/cert-plan.ts,
 * applied first), server operations, and routing maps to replace (`maps`,
 * reconcile/map-plan.ts, applied after the servers they may route to). Its
 * auxiliary files are written before any of them runs.
 */
export type Plan =
  { kind: 'noop' } | { kind: 'runtime'; ops: ServerOp[]; certOps?: CertOp[]; maps?: MapOp[]; summary: string } | { kind: 'reload'; reasons: string[] };

export interface Rendered {
  model: ConfigModel;
  text: string;
  /**
   * Auxiliary files HAProxy reads (certificates, CA bundles, crt-lists:
   * render/tls-files.ts), by path relative to the state directory. A change
   * to one is a change even when `text` is the same.
   */
  files?: ReadonlyMap<string, string>;
}

export interface PlanOptions {
  /** Apply member changes through the runtime API (default true). */
  runtimeUpdates: boolean;
  /** Most reasons to list in a reload plan (the rest are counted). */
  maxReasons?: number;
  /** Most server operations one runtime plan may hold; more reload instead. Default 10,000. */
  maxRuntimeOps?: number;
  /**
   * `add server` takes `cookie` (session affinity): HAProxy 3.0 does, 2.6 refuses it
   * ("'cookie' option is not accepted for dynamic server"). Default false: such a member is added by a reload.
   */
  dynamicServerCookies?: boolean;
  /**
   * Change certificates, CA bundles and crt-list lines through the runtime
   * API (reconcile/cert-plan.ts) when the running auxiliary files are known.
   * Without it, any changed auxiliary file reloads (leave it out when
   * runtime updates are off).
   */
  certificates?: Omit<CertPlanOptions, 'runningConfig'>;
}

export const DEFAULT_MAX_RUNTIME_OPS = 10_000;

/** Algorithms HAProxy 2.6 calls static: no `add server`, weights only 0% or 100%. */
const STATIC_BALANCE = /^(source|uri|url_param|hdr|rdp-cookie|static-rr)\b/;

/** True when the backend's algorithm accepts dynamic servers and weights (2.6: not static-rr, not map-based hashing). */
export function dynamicBalance(b: Pick<BackendModel, 'balance' | 'lines'>): boolean {
  if (!STATIC_BALANCE.test(b.balance)) return true;
  if (b.balance.startsWith('static-rr')) return false;
  // The last hash-type line wins in HAProxy (raw configuration may follow the rendered one).
  const hashType = b.lines.filter((l) => /^hash-type\s/.test(l.trim())).at(-1);
  return hashType !== undefined && /^hash-type\s+consistent\b/.test(hashType.trim());
}

/** An IPv4 or IPv6 literal (the only addresses `set server addr` and `add server` take without resolvers). */
export function isIpLiteral(address: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(address) || (address.includes(':') && /^[0-9a-fA-F:.]+$/.test(address));
}

function stableJson(v: unknown): string {
  return JSON.stringify(v);
}

function withoutServers(b: BackendModel): Omit<BackendModel, 'servers'> {
  const { servers: _servers, ...rest } = b;
  return rest;
}

function diffNamed<T extends { name: string }>(
  kind: string,
  desired: readonly T[],
  running: readonly T[],
  same: (a: T, b: T) => boolean,
  reasons: string[],
): void {
  const run = new Map(running.map((x) => [x.name, x]));
  const want = new Set(desired.map((x) => x.name));
  for (const d of desired) {
    const r = run.get(d.name);
    if (!r) reasons.push(`${kind} ${d.name} added`);
    else if (!same(d, r)) reasons.push(`${kind} ${d.name} changed`);
  }
  for (const r of running) if (!want.has(r.name)) reasons.push(`${kind} ${r.name} removed`);
}

/** Both lists (sorted by name) hold the same servers with the same settings: the common case, checked without allocating. */
function sameServers(a: readonly ServerModel[], b: readonly ServerModel[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.endpoint !== y.endpoint || x.weight !== y.weight || x.state !== y.state || x.params !== y.params) return false;
  }
  return true;
}

/** Server-level operations for one backend whose structure did not change. */
function serverOps(desired: BackendModel, running: BackendModel, reasons: string[], options: PlanOptions): ServerOp[] {
  const ops: ServerOp[] = [];
  const dynamic = dynamicBalance(desired);
  const run = new Map(running.servers.map((s) => [s.name, s]));
  const want = new Set(desired.servers.map((s) => s.name));
  for (const r of running.servers) {
    if (!want.has(r.name)) ops.push({ op: 'del', backend: desired.name, server: r });
  }
  const where = (d: ServerModel) => `backend ${desired.name} server ${d.name}`;
  for (const d of desired.servers) {
    const r = run.get(d.name);
    if (!r) {
      if (!dynamic) reasons.push(`${where(d)} added, and balance ${desired.balance} takes no server at run time`);
      else if (!isIpLiteral(d.address)) reasons.push(`${where(d)} added with the DNS name ${d.address}`);
      else if (!options.dynamicServerCookies && /(^| )cookie /.test(d.params))
        reasons.push(`${where(d)} added with an affinity cookie (sessionAffinity), which this HAProxy takes on no \`add server\` (2.6)`);
      else ops.push({ op: 'add', backend: desired.name, server: d });
      continue;
    }
    if (r.params !== d.params) {
      reasons.push(`${where(d)} parameters changed (${r.params || 'none'} → ${d.params || 'none'})`);
      continue;
    }
    if (r.endpoint !== d.endpoint) {
      if (isIpLiteral(d.address)) ops.push({ op: 'addr', backend: desired.name, server: d });
      else reasons.push(`${where(d)} address changed to the DNS name ${d.address}`);
    }
    if (r.weight !== d.weight) {
      if (dynamic) ops.push({ op: 'weight', backend: desired.name, server: d });
      else reasons.push(`${where(d)} weight changed, and balance ${desired.balance} takes no weight change at run time`);
    }
    // Drain is expressed as weight 0 (see render/model.ts); only maint is an admin state.
    if ((r.state === 'maint') !== (d.state === 'maint')) ops.push({ op: 'state', backend: desired.name, server: d });
  }
  return ops;
}

/**
 * Backends that start or stop reading a rule's request timeout (REQUEST_TIMEOUT_LINE,
 * render/model.ts timedBackends): their text changed though their Backend did not, so say why.
 */
function requestTimeoutReasons(desired: readonly BackendModel[], running: readonly BackendModel[]): string[] {
  const out: string[] = [];
  const run = new Map(running.map((b) => [b.name, b]));
  for (const d of desired) {
    const r = run.get(d.name);
    if (!r || r === d) continue;
    const now = d.lines.includes(REQUEST_TIMEOUT_LINE);
    if (now !== r.lines.includes(REQUEST_TIMEOUT_LINE)) {
      out.push(
        now
          ? `backend ${d.name} now applies a request timeout: a rule with timeouts.request targets it`
          : `backend ${d.name} no longer applies request timeouts: no rule with timeouts.request targets it`,
      );
    }
  }
  return out;
}

export function plan(desired: Rendered, running: Rendered | undefined, options: PlanOptions): Plan {
  if (!running) return { kind: 'reload', reasons: ['no configuration is running yet'] };
  const files = changedFiles(desired.files, running.files);
  if (desired.text === running.text && files.length === 0) return { kind: 'noop' };

  const reasons: string[] = [];
  let certOps: CertOp[] = [];
  // Certificate files (everything but the routing maps): at run time when the running files are known
  // (not for an adopted HAProxy whose files were not read).
  const certFiles = files.filter((f) => !isMapFile(f));
  if (certFiles.length > 0) {
    if (options.certificates && running.files) {
      const withoutMaps = (m: ReadonlyMap<string, string> | undefined) => new Map([...(m ?? new Map<string, string>())].filter(([f]) => !isMapFile(f)));
      const cert = planCertificates(withoutMaps(running.files), withoutMaps(desired.files), { ...options.certificates, runningConfig: running.text });
      if (cert.kind === 'reload') reasons.push(...cert.reasons);
      else if (cert.kind === 'runtime') certOps = cert.ops;
    } else {
      reasons.push(...certFiles.map((f) => `file ${f} ${!running.files?.has(f) ? 'added' : !desired.files?.has(f) ? 'removed' : 'changed'}`));
    }
  }
  // Routing maps: replaced at run time when HAProxy has them loaded (reconcile/map-plan.ts).
  const maps = planMaps({
    changed: files,
    desired: desired.files,
    running: running.files,
    runningModel: running.model,
    stateDir: desired.model.global.stateDir ?? stateDirOf(desired.model.global),
  });
  reasons.push(...maps.reasons);
  if (stableJson(desired.model.global) !== stableJson(running.model.global)) reasons.push('global settings changed');
  diffNamed('frontend', desired.model.frontends, running.model.frontends, (a, b) => stableJson(a) === stableJson(b), reasons);
  reasons.push(...aclRuleReasons(desired.model, running.model));
  // Each backend's structure serialized once (100,000 servers: this loop is the planner's cost).
  const structure = new Map<BackendModel, string>();
  const structureOf = (b: BackendModel): string => {
    let json = structure.get(b);
    if (json === undefined) structure.set(b, (json = stableJson(withoutServers(b))));
    return json;
  };
  diffNamed('backend', desired.model.backends, running.model.backends, (a, b) => a === b || structureOf(a) === structureOf(b), reasons);
  reasons.push(...requestTimeoutReasons(desired.model.backends, running.model.backends));

  const ops: ServerOp[] = [];
  const runningBackends = new Map(running.model.backends.map((b) => [b.name, b]));
  for (const d of desired.model.backends) {
    const r = runningBackends.get(d.name);
    if (!r || d === r || structureOf(d) !== structureOf(r) || sameServers(d.servers, r.servers)) continue;
    for (const op of serverOps(d, r, reasons, options)) ops.push(op);
  }

  if (reasons.length === 0 && ops.length === 0 && maps.ops.length === 0 && desired.text !== running.text) {
    // The text differs but no modelled field does: only a template change can do that.
    reasons.push('configuration text changed');
  }
  if (reasons.length === 0 && (ops.length > 0 || maps.ops.length > 0) && !options.runtimeUpdates) {
    reasons.push(
      maps.ops.length > 0 && ops.length === 0
        ? `${summarizeMaps(maps.ops)} and runtime updates are disabled`
        : `${ops.length} server change(s) and runtime updates are disabled`,
    );
  }
  const budget = options.maxRuntimeOps ?? DEFAULT_MAX_RUNTIME_OPS;
  if (reasons.length === 0 && ops.length > budget) {
    reasons.push(`${ops.length} server changes exceed the runtime budget of ${budget} per pass`);
  }
  if (reasons.length > 0) {
    const max = options.maxReasons ?? 20;
    const shown = reasons.slice(0, max);
    if (reasons.length > max) shown.push(`and ${reasons.length - max} more`);
    return { kind: 'reload', reasons: shown };
  }
  // Only auxiliary files HAProxy does not use any more (or uses unchanged) differ: a runtime plan with no operation writes them.
  const summary = [
    certOps.length > 0 ? certificateSummary(certOps.length) : '',
    ops.length > 0 ? summarize(ops) : '',
    maps.ops.length > 0 ? summarizeMaps(maps.ops) : '',
  ]
    .filter(Boolean)
    .join(', ');
  return {
    kind: 'runtime',
    ops,
    ...(certOps.length > 0 ? { certOps } : {}),
    ...(maps.ops.length > 0 ? { maps: maps.ops } : {}),
    summary: summary || 'auxiliary files rewritten, nothing to change in HAProxy',
  };
}

/** How plans, logs and dry runs name the certificate part of a runtime plan. */
export const certificateSummary = (n: number): string => `certificate update (${n})`;

export function summarize(ops: readonly ServerOp[]): string {
  const counts = new Map<string, number>();
  for (const o of ops) counts.set(o.op, (counts.get(o.op) ?? 0) + 1);
  return [...counts].map(([op, n]) => `${n} ${op}`).join(', ');
}
