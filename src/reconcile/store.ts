/**
 * The store: what every source currently declares. Sources only write here
 * and the store signals that something changed; the reconcile loop reads the
 * whole store (level-triggered) and never looks at event payloads.
 */
import { MEMBERS } from '../model/discovered.js';
import type { Declared } from '../model/resolve.js';
import type { Issue, Member, ResourceKey } from '../model/types.js';

export interface StoreSnapshot {
  version: number;
  declared: Declared[];
  /**
   * Discovered data by kind (`members`, ...), then by resource key
   * (model/discovered.ts). A value keeps its object until a source writes a
   * new one, so resolve's and the render caches hit for unchanged resources.
   */
  discovered: Map<string, Map<ResourceKey, unknown>>;
  /** The `members` kind of `discovered`. */
  discoveredMembers: Map<ResourceKey, Member[]>;
  /** Problems that belong to no single resource (a file that does not parse). */
  sourceIssues: Issue[];
}

export class Store {
  private readonly bySource = new Map<string, Map<string, Declared>>();
  /** source → kind → resource key → value. */
  private readonly discovered = new Map<string, Map<string, Map<ResourceKey, unknown>>>();
  private readonly issues = new Map<string, Issue[]>();
  private readonly synced = new Set<string>();
  private readonly expected = new Set<string>();
  private readonly syncProblems = new Map<string, string>();
  private readonly listeners = new Set<() => void>();
  private versionCounter = 0;

  /** Sources register before they start, so readiness can wait for all of them. */
  register(source: string): void {
    this.expected.add(source);
  }

  get version(): number {
    return this.versionCounter;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    this.versionCounter++;
    for (const l of this.listeners) l();
  }

  private static entryId(d: Declared): string {
    return `${d.key}\u0000${d.origin}`;
  }

  /** Replaces everything one source declares (a full list, as after a relist). */
  replaceAll(source: string, declared: readonly Declared[]): void {
    const next = new Map(declared.map((d) => [Store.entryId(d), d]));
    this.bySource.set(source, next);
    this.changed();
  }

  upsert(d: Declared): void {
    let m = this.bySource.get(d.source);
    if (!m) this.bySource.set(d.source, (m = new Map()));
    m.set(Store.entryId(d), d);
    this.changed();
  }

  /** Removes one resource of a source (every origin of it unless `origin` is given). */
  remove(source: string, key: ResourceKey, origin?: string): void {
    const m = this.bySource.get(source);
    if (!m) return;
    let removed = false;
    for (const [id, d] of m) {
      if (d.key === key && (origin === undefined || d.origin === origin)) {
        m.delete(id);
        removed = true;
      }
    }
    if (removed) this.changed();
  }

  /**
   * Data of one kind a source discovered for a resource (model/discovered.ts:
   * `members` from Kubernetes endpoints, ...); undefined clears it. Values are
   * not copied or mutated: write a new object for a new value.
   */
  setDiscovered(source: string, kind: string, key: ResourceKey, value: unknown): void {
    let bySource = this.discovered.get(source);
    if (!bySource) this.discovered.set(source, (bySource = new Map()));
    let m = bySource.get(kind);
    if (!m) bySource.set(kind, (m = new Map()));
    if (value === undefined) {
      if (!m.delete(key)) return;
    } else {
      if (m.get(key) === value) return;
      m.set(key, value);
    }
    this.changed();
  }

  /** The values of one kind one source discovered (do not modify). */
  discoveredOf(source: string, kind: string): ReadonlyMap<ResourceKey, unknown> {
    return this.discovered.get(source)?.get(kind) ?? new Map();
  }

  /** Every source's values of one kind, by source (do not modify). */
  discoveredBySource(kind: string): Map<string, ReadonlyMap<ResourceKey, unknown>> {
    const out = new Map<string, ReadonlyMap<ResourceKey, unknown>>();
    for (const [source, byKind] of this.discovered) {
      const m = byKind.get(kind);
      if (m && m.size > 0) out.set(source, m);
    }
    return out;
  }

  /** The sources that discovered a value of `kind` for `key`. */
  discoveredSources(kind: string, key: ResourceKey): string[] {
    return [...this.discovered].filter(([, byKind]) => byKind.get(kind)?.has(key)).map(([source]) => source);
  }

  /** Members a source discovered for a backend (Kubernetes endpoints); undefined clears them. */
  setDiscoveredMembers(source: string, backendKey: ResourceKey, list: Member[] | undefined): void {
    this.setDiscovered(source, MEMBERS.name, backendKey, list);
  }

  setSourceIssues(source: string, issues: Issue[]): void {
    const before = this.issues.get(source) ?? [];
    if (before.length === 0 && issues.length === 0) return;
    this.issues.set(source, issues);
    this.changed();
  }

  /**
   * Every source's problems that belong to no single resource (a file that
   * does not parse, an etcd key that holds no manifest), with the source;
   * every registered source is listed, with none when it has none.
   */
  sourceIssuesBySource(): Map<string, readonly Issue[]> {
    const out = new Map<string, readonly Issue[]>();
    for (const s of this.expected) out.set(s, []);
    for (const [s, list] of this.issues) out.set(s, list);
    return out;
  }

  markSynced(source: string): void {
    if (this.synced.has(source)) return;
    this.synced.add(source);
    this.changed();
  }

  /** True once every registered source has completed its first full load. */
  allSynced(): boolean {
    for (const s of this.expected) if (!this.synced.has(s)) return false;
    return true;
  }

  unsyncedSources(): string[] {
    return [...this.expected].filter((s) => !this.synced.has(s));
  }

  /** Why a source cannot finish its first load (a setting its server cannot honour); readiness shows it. */
  setSyncProblem(source: string, problem: string | undefined): void {
    if (problem === undefined) this.syncProblems.delete(source);
    else this.syncProblems.set(source, problem);
  }

  syncProblem(source: string): string | undefined {
    return this.syncProblems.get(source);
  }

  get(key: ResourceKey): Declared[] {
    const out: Declared[] = [];
    for (const m of this.bySource.values()) for (const d of m.values()) if (d.key === key) out.push(d);
    return out;
  }

  snapshot(): StoreSnapshot {
    const declared: Declared[] = [];
    for (const m of this.bySource.values()) declared.push(...m.values());
    const discovered = new Map<string, Map<ResourceKey, unknown>>();
    for (const bySource of this.discovered.values()) {
      for (const [kind, m] of bySource) {
        let all = discovered.get(kind);
        if (!all) discovered.set(kind, (all = new Map()));
        for (const [k, v] of m) all.set(k, v);
      }
    }
    if (!discovered.has(MEMBERS.name)) discovered.set(MEMBERS.name, new Map());
    const discoveredMembers = discovered.get(MEMBERS.name) as Map<ResourceKey, Member[]>;
    const sourceIssues = [...this.issues.values()].flat();
    return { version: this.versionCounter, declared, discovered, discoveredMembers, sourceIssues };
  }
}
