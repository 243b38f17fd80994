/**
 * The test server's etcd: objects per resource type, one global monotonically
 * increasing revision (the resourceVersion), and a bounded history of change
 * events that watches replay from.
 */
import { clone, jsonEqual, without } from './json.js';
import { objectKey, timestamp, type KubeObject } from './objects.js';
import type { ResourceType } from './resources.js';
import type { Selector } from './selectors.js';
import { alreadyExists, badRequest, conflict, notFound } from './status.js';
import { assertNamespace, checkUpdatePreconditions, hasFinalizers, isTerminating, prepareCreate, prepareUpdate, type WriteScope } from './strategy.js';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ChangeEvent {
  readonly type: ChangeType;
  readonly resource: ResourceType;
  readonly revision: number;
  /** The object after the change; for DELETED, the final object stamped with the deletion revision. */
  readonly object: KubeObject;
  /** The object before the change (MODIFIED and DELETED). */
  readonly previous?: KubeObject;
}

export interface StoreOptions {
  /** Change events kept for watch replay; older ones are compacted away. */
  readonly historyLimit: number;
  readonly now: () => Date;
}

export interface DeletePreconditions {
  uid?: string;
  resourceVersion?: string;
}

export interface DeleteResult {
  object: KubeObject;
  /** False when finalizers only marked the object for deletion. */
  deleted: boolean;
}

export interface UpdateResult {
  object: KubeObject;
  created: boolean;
}

type Listener = (event: ChangeEvent) => void;

export class ObjectStore {
  private readonly objects = new Map<ResourceType, Map<string, KubeObject>>();
  private readonly listeners = new Set<Listener>();
  private history: ChangeEvent[] = [];
  private revision = 1;
  /** Every change with a revision above this one is still in `history`. */
  private compacted = 1;

  constructor(private readonly options: StoreOptions) {}

  get currentRevision(): number {
    return this.revision;
  }

  get compactedRevision(): number {
    return this.compacted;
  }

  get historySize(): number {
    return this.history.length;
  }

  objectCount(): number {
    let count = 0;
    for (const bucket of this.objects.values()) count += bucket.size;
    return count;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(rt: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const found = this.bucket(rt).get(objectKey(namespace, name));
    return found && clone(found);
  }

  /** Objects in key order (namespace, then name), like an etcd range read. */
  list(rt: ResourceType, namespace: string | undefined, selector: Selector): KubeObject[] {
    const prefix = namespace === undefined ? '' : `${namespace}/`;
    return [...this.bucket(rt).entries()]
      .filter(([key, obj]) => key.startsWith(prefix) && selector(obj))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, obj]) => clone(obj));
  }

  /** The changes after `revision`, or undefined when that part of history was compacted. */
  changesSince(revision: number): ChangeEvent[] | undefined {
    if (revision < this.compacted) return undefined;
    return this.history.filter((event) => event.revision > revision);
  }

  /** Forgets all history, as an etcd compaction at the current revision. */
  compact(): void {
    this.history = [];
    this.compacted = this.revision;
  }

  create(rt: ResourceType, namespace: string | undefined, body: KubeObject, scope: WriteScope = 'main'): KubeObject {
    const obj = prepareCreate(rt, namespace, body, this.options.now(), scope);
    const name = obj.metadata.name ?? '';
    if (this.bucket(rt).has(objectKey(namespace, name))) throw alreadyExists(rt, name);
    return this.commit(rt, 'ADDED', obj);
  }

  update(rt: ResourceType, namespace: string | undefined, name: string, body: KubeObject, scope: WriteScope): UpdateResult {
    if (body.metadata.name && body.metadata.name !== name) {
      throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    assertNamespace(body, namespace);
    const existing = this.bucket(rt).get(objectKey(namespace, name));
    if (!existing) {
      if (scope === 'status' || !(rt.createOnUpdate || scope === 'all')) throw notFound(rt, name);
      const metadata = { ...without(body.metadata, 'resourceVersion'), name };
      return { object: this.create(rt, namespace, { ...body, metadata }, scope), created: true };
    }
    if (scope !== 'all') checkUpdatePreconditions(rt, existing, body);
    const next = prepareUpdate(rt, existing, body, scope);
    if (isTerminating(next) && !hasFinalizers(next)) {
      return { object: this.commit(rt, 'DELETED', next, existing), created: false };
    }
    if (jsonEqual(next, existing)) return { object: clone(existing), created: false };
    return { object: this.commit(rt, 'MODIFIED', next, existing), created: false };
  }

  /**
   * Deletes an object, or with finalizers present only stamps deletionTimestamp
   * (the object goes once an update empties its finalizers).
   */
  delete(rt: ResourceType, namespace: string | undefined, name: string, preconditions: DeletePreconditions = {}, ignoreFinalizers = false): DeleteResult {
    const existing = this.bucket(rt).get(objectKey(namespace, name));
    if (!existing) throw notFound(rt, name);
    checkDeletePreconditions(rt, existing, preconditions);
    if (ignoreFinalizers || !hasFinalizers(existing)) {
      return { object: this.commit(rt, 'DELETED', clone(existing), existing), deleted: true };
    }
    if (isTerminating(existing)) return { object: clone(existing), deleted: false };
    const marked = clone(existing);
    marked.metadata.deletionTimestamp = timestamp(this.options.now());
    marked.metadata.deletionGracePeriodSeconds = 0;
    return { object: this.commit(rt, 'MODIFIED', marked, existing), deleted: false };
  }

  private bucket(rt: ResourceType): Map<string, KubeObject> {
    let bucket = this.objects.get(rt);
    if (!bucket) {
      bucket = new Map();
      this.objects.set(rt, bucket);
    }
    return bucket;
  }

  private commit(rt: ResourceType, type: ChangeType, obj: KubeObject, previous?: KubeObject): KubeObject {
    this.revision++;
    obj.metadata.resourceVersion = String(this.revision);
    const key = objectKey(obj.metadata.namespace, obj.metadata.name ?? '');
    if (type === 'DELETED') this.bucket(rt).delete(key);
    else this.bucket(rt).set(key, obj);
    const event: ChangeEvent = { type, resource: rt, revision: this.revision, object: clone(obj), previous };
    this.record(event);
    for (const listener of [...this.listeners]) listener(event);
    return clone(obj);
  }

  private record(event: ChangeEvent): void {
    this.history.push(event);
    const excess = this.history.length - this.options.historyLimit;
    if (excess > 0) {
      this.compacted = this.history[excess - 1].revision;
      this.history = this.history.slice(excess);
    }
  }
}

function checkDeletePreconditions(rt: ResourceType, existing: KubeObject, preconditions: DeletePreconditions): void {
  const { uid, resourceVersion } = existing.metadata;
  const name = existing.metadata.name ?? '';
  if (preconditions.uid && preconditions.uid !== uid) {
    throw conflict(rt, name, `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${uid}`);
  }
  if (preconditions.resourceVersion && preconditions.resourceVersion !== resourceVersion) {
    throw conflict(
      rt,
      name,
      `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${resourceVersion}`,
    );
  }
}
