/**
 * Resources for benchmarks and hitless tests, validated by the one schema and
 * written straight into a controller's store (no file watcher in the way).
 */
import type { Declared } from '../../src/model/resolve.js';
import { API_VERSION, formatProblem, type Resource } from '../../src/model/types.js';
import { validateResource } from '../../src/model/validate.js';
import type { Store } from '../../src/reconcile/store.js';

export interface MemberSpec {
  name: string;
  address?: string;
  port: number;
  weight?: number;
  state?: 'ready' | 'drain' | 'maint';
}

export interface BackendSpecInput {
  members: MemberSpec[];
  balance?: 'roundrobin' | 'leastconn' | 'source' | 'first' | 'random';
  timeouts?: { connect?: string; server?: string; queue?: string };
  healthCheck?: Record<string, unknown>;
  maxconn?: number;
}

export function backendResource(name: string, spec: BackendSpecInput): unknown {
  return {
    apiVersion: API_VERSION,
    kind: 'Backend',
    metadata: { name },
    spec: {
      ...spec,
      members: spec.members.map((m) => ({ address: '127.0.0.1', ...m })),
    },
  };
}

export function frontendResource(name: string, port: number, defaultBackend: string, extra: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: API_VERSION,
    kind: 'Frontend',
    metadata: { name },
    spec: { binds: [{ address: '127.0.0.1', port }], defaultBackend, ...extra },
  };
}

/** Validates `raw` (throws on any issue) and wraps it as a store entry of `source`. */
export function declared(raw: unknown, source: string): Declared {
  const v = validateResource(raw, source);
  if (!v.resource || v.issues.length > 0) {
    throw new Error(`invalid test resource: ${v.issues.map(formatProblem).join('; ')}`);
  }
  const r: Resource = v.resource;
  return { key: `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, origin: source, source, resource: r, issues: [] };
}

/** Writes resources into a store under one source name. */
export class StoreWriter {
  constructor(
    readonly store: Store,
    readonly source = 'bench',
  ) {}

  put(raw: unknown): void {
    this.store.upsert(declared(raw, this.source));
  }

  backend(name: string, spec: BackendSpecInput): void {
    this.put(backendResource(name, spec));
  }

  /** Replaces everything this source declares in one store change. */
  replaceAll(raws: readonly unknown[]): void {
    this.store.replaceAll(
      this.source,
      raws.map((r) => declared(r, this.source)),
    );
  }
}
