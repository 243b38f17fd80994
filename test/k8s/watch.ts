/**
 * Watch streams: a chunked HTTP response of newline-delimited JSON events,
 * fed synchronously from the store so events arrive in revision order.
 */
import type { ServerResponse } from 'node:http';
import { sendStatus } from './http-io.js';
import type { KubeObject, WatchEvent, WatchEventType } from './objects.js';
import { apiVersionOf, type ResourceType } from './resources.js';
import type { Selector } from './selectors.js';
import { expired, type Status } from './status.js';
import type { ChangeEvent, ObjectStore } from './store.js';

export interface WatchSpec {
  readonly resource: ResourceType;
  /** Undefined watches every namespace. */
  readonly namespace: string | undefined;
  readonly selector: Selector;
  readonly allowBookmarks: boolean;
  /** From `timeoutSeconds`: the server ends the stream cleanly after this long. */
  readonly timeoutMs: number | undefined;
}

/**
 * Where a watch starts: after a revision (replaying history), or from the
 * current state (a synthetic ADDED for every matching object, as the apiserver
 * does for an absent resourceVersion or "0").
 */
export type WatchStart = { readonly afterRevision: number } | 'current-state';

/** How a watch from a compacted revision is refused. */
export type ExpiredWatchResponse = 'event' | 'http';

/** What a change looks like through a selector: objects entering or leaving the selection are ADDED or DELETED. */
function visibleType(change: ChangeEvent, selector: Selector): WatchEventType | undefined {
  const matchesNow = selector(change.object);
  if (change.type !== 'MODIFIED') return matchesNow ? change.type : undefined;
  const matchedBefore = change.previous !== undefined && selector(change.previous);
  if (matchedBefore && matchesNow) return 'MODIFIED';
  if (matchesNow) return 'ADDED';
  return matchedBefore ? 'DELETED' : undefined;
}

export class WatchConnection {
  private lastRevision: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private stalled = false;

  constructor(
    private readonly res: ServerResponse,
    readonly spec: WatchSpec,
    startRevision: number,
  ) {
    this.lastRevision = startRevision;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    if (spec.timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.end(), spec.timeoutMs);
      this.timer.unref();
    }
    res.on('close', () => clearTimeout(this.timer));
  }

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  onClose(listener: () => void): void {
    this.res.on('close', listener);
  }

  deliver(change: ChangeEvent): void {
    if (change.revision <= this.lastRevision || change.resource !== this.spec.resource) return;
    this.lastRevision = change.revision;
    if (this.spec.namespace !== undefined && change.object.metadata.namespace !== this.spec.namespace) return;
    const type = visibleType(change, this.spec.selector);
    if (type) this.send({ type, object: change.object });
  }

  added(obj: KubeObject): void {
    this.send({ type: 'ADDED', object: obj });
  }

  /** A BOOKMARK carrying the revision up to which this stream is complete. Returns whether one was sent. */
  bookmark(currentRevision: number): boolean {
    if (!this.spec.allowBookmarks || !this.open) return false;
    const rt = this.spec.resource;
    const revision = Math.max(currentRevision, this.lastRevision);
    this.send({ type: 'BOOKMARK', object: { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(revision) } } });
    return true;
  }

  /** An in-stream ERROR event, after which the server closes the stream. */
  fail(status: Status): void {
    this.send({ type: 'ERROR', object: status });
    this.end();
  }

  /** Ends the chunked response cleanly, as the apiserver does at a watch timeout. */
  end(): void {
    if (this.open) this.res.end();
  }

  /** Keeps the connection open but writes nothing more to it: a hung stream. */
  stall(): void {
    this.stalled = true;
  }

  /** Cuts the connection mid-stream: the client sees a premature close. */
  destroy(): void {
    this.res.socket?.destroy();
    this.res.destroy();
  }

  private send(event: WatchEvent): void {
    if (this.open && !this.stalled) this.res.write(`${JSON.stringify(event)}\n`);
  }
}

export interface WatchHubStats {
  openWatches: number;
  watchesStarted: number;
  watchesDropped: number;
  watchesExpired: number;
  bookmarksSent: number;
}

/** Every open watch, fed from the store; periodic and on-demand bookmarks; fault injection on streams. */
export class WatchHub {
  private readonly connections = new Set<WatchConnection>();
  private readonly unsubscribe: () => void;
  private bookmarkTimer: NodeJS.Timeout | undefined;
  private readonly counters = { watchesStarted: 0, watchesDropped: 0, watchesExpired: 0, bookmarksSent: 0 };

  constructor(
    private readonly store: ObjectStore,
    bookmarkIntervalMs: number,
  ) {
    this.unsubscribe = store.subscribe((change) => {
      for (const connection of this.connections) connection.deliver(change);
    });
    this.setBookmarkInterval(bookmarkIntervalMs);
  }

  /**
   * Opens a watch on `res`. Initial events (replayed history or the current
   * state) are written before this returns, so no change can slip in between.
   */
  start(res: ServerResponse, spec: WatchSpec, from: WatchStart, expiredResponse: ExpiredWatchResponse): void {
    const current = this.store.currentRevision;
    if (from === 'current-state') {
      const connection = this.register(res, spec, current);
      for (const obj of this.store.list(spec.resource, spec.namespace, spec.selector)) connection.added(obj);
      return;
    }
    const changes = this.store.changesSince(from.afterRevision);
    if (changes === undefined) {
      this.refuseExpired(res, spec, expired(from.afterRevision, this.store.compactedRevision), expiredResponse);
      return;
    }
    const connection = this.register(res, spec, from.afterRevision);
    for (const change of changes) connection.deliver(change);
  }

  /** Sends a bookmark on every watch that asked for them; returns how many were sent. */
  sendBookmarks(): number {
    let sent = 0;
    for (const connection of this.connections) {
      if (connection.bookmark(this.store.currentRevision)) sent++;
    }
    this.counters.bookmarksSent += sent;
    return sent;
  }

  /** 0 (or less) stops periodic bookmarks. */
  setBookmarkInterval(ms: number): void {
    clearInterval(this.bookmarkTimer);
    this.bookmarkTimer = undefined;
    if (ms > 0) {
      this.bookmarkTimer = setInterval(() => this.sendBookmarks(), ms);
      this.bookmarkTimer.unref();
    }
  }

  /** Drops every open watch: abruptly (socket destroyed) or gracefully (stream ended). Returns how many. */
  dropAll(graceful: boolean): number {
    const dropped = [...this.connections];
    for (const connection of dropped) {
      this.connections.delete(connection);
      if (graceful) connection.end();
      else connection.destroy();
    }
    this.counters.watchesDropped += dropped.length;
    return dropped.length;
  }

  /** Stalls every open watch (see WatchConnection.stall); watches opened later are unaffected. Returns how many. */
  stallAll(): number {
    for (const connection of this.connections) connection.stall();
    return this.connections.size;
  }

  count(filter: (spec: WatchSpec) => boolean = () => true): number {
    return [...this.connections].filter((c) => c.open && filter(c.spec)).length;
  }

  stats(): WatchHubStats {
    return { openWatches: this.count(), ...this.counters };
  }

  close(): void {
    this.setBookmarkInterval(0);
    this.unsubscribe();
    for (const connection of this.connections) connection.end();
    this.connections.clear();
  }

  private register(res: ServerResponse, spec: WatchSpec, startRevision: number): WatchConnection {
    const connection = new WatchConnection(res, spec, startRevision);
    this.connections.add(connection);
    connection.onClose(() => this.connections.delete(connection));
    this.counters.watchesStarted++;
    return connection;
  }

  private refuseExpired(res: ServerResponse, spec: WatchSpec, status: Status, mode: ExpiredWatchResponse): void {
    this.counters.watchesExpired++;
    if (mode === 'http') {
      sendStatus(res, status);
      return;
    }
    new WatchConnection(res, spec, this.store.currentRevision).fail(status);
  }
}
