/**
 * Kubernetes Events (events.k8s.io/v1) on Frontends and Backends: reloads,
 * rejections, recoveries. `kubectl describe` and `kubectl events` show them.
 *
 * The same event (object, reason, note) repeated within `seriesWindowMs`
 * updates the first one's `series` instead of creating another. Failures
 * are logged and dropped: an event is never worth blocking or retrying for
 * (a name already taken is the one exception: tried once more with a new name).
 *
 * Names are chosen here, as client-go's recorder does (`<object>.<hex time>`),
 * not left to `generateName`: the API server validates a generateName as the
 * prefix of a DNS subdomain, so the old `<object>.` was refused (HTTP 422)
 * and no Event was ever recorded on a real cluster.
 */
import type { Logger } from '../../log.js';
import type { KubeClient } from './client.js';
import { RESOURCES } from './client.js';
import { describeApiError, errorStatus, microTime, withDefaults, type KubeObject } from './objects.js';

export const REPORTING_CONTROLLER = 'haproxy.node-haproxy.io/controller';

/** Longest object name (a DNS subdomain). */
const MAX_NAME = 253;
/** The API server's limit on `note`, in bytes. */
const MAX_NOTE_BYTES = 1024;

let lastNanos = 0n;

/**
 * A valid, unique Event name for an object: `<object name>.<hex nanoseconds>`
 * as client-go makes them (strictly increasing within this process). The
 * object name is cut so the whole stays within 253 characters. Pure apart
 * from the clock.
 */
export function eventName(objectName: string, now: Date = new Date()): string {
  let nanos = BigInt(now.getTime()) * 1_000_000n;
  if (nanos <= lastNanos) nanos = lastNanos + 1n;
  lastNanos = nanos;
  const suffix = `.${nanos.toString(16)}`;
  // A DNS subdomain ends with an alphanumeric character: the suffix does; a cut prefix must not end in '.' or '-'.
  const prefix = objectName.slice(0, MAX_NAME - suffix.length).replace(/[.-]+$/, '');
  return `${prefix || 'event'}${suffix}`;
}

/** `note` cut to the API server's 1,024 bytes (UTF-8), on a character boundary, marked with '...'. */
export function trimNote(note: string): string {
  if (Buffer.byteLength(note) <= MAX_NOTE_BYTES) return note;
  let out = '';
  let bytes = 0;
  for (const ch of note) {
    const b = Buffer.byteLength(ch);
    if (bytes + b > MAX_NOTE_BYTES - 3) break;
    out += ch;
    bytes += b;
  }
  return `${out}...`;
}

export interface EventTarget {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export interface RecordedEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  /** What happened, for people (trimmed to 1 kB). */
  note: string;
  /** Machine-readable action: Reload, Validate, Program, ResolveRefs, Update. */
  action: string;
}

export interface EventRecorderOptions {
  client: KubeClient;
  /** reportingInstance: this replica's identity. */
  instance: string;
  logger: Logger;
  seriesWindowMs?: number;
  now?: () => Date;
}

interface Sent {
  namespace: string;
  name: string;
  count: number;
  first: number;
}

export class EventRecorder {
  private readonly recent = new Map<string, Sent>();
  private created = 0;
  private readonly o: Required<EventRecorderOptions>;

  constructor(options: EventRecorderOptions) {
    this.o = withDefaults({ seriesWindowMs: 10 * 60_000, now: () => new Date() }, options);
  }

  get createdCount(): number {
    return this.created;
  }

  async record(target: EventTarget, e: RecordedEvent): Promise<void> {
    const now = this.o.now();
    const note = trimNote(e.note);
    const id = JSON.stringify([target.namespace, target.name, target.uid, e.type, e.reason, note]);
    this.prune(now.getTime());
    const seen = this.recent.get(id);
    try {
      if (seen) {
        seen.count++;
        await this.o.client.mergePatch(RESOURCES.events, seen.namespace, seen.name, {
          series: { count: seen.count, lastObservedTime: microTime(now) },
        });
        return;
      }
      const body: KubeObject = {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: eventName(target.name, now), namespace: target.namespace },
        eventTime: microTime(now),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: this.o.instance.slice(0, 128),
        action: e.action,
        reason: e.reason,
        note,
        type: e.type,
        regarding: {
          apiVersion: target.apiVersion,
          kind: target.kind,
          namespace: target.namespace,
          name: target.name,
          ...(target.uid ? { uid: target.uid } : {}),
        },
      };
      let made: KubeObject;
      try {
        made = await this.o.client.create(RESOURCES.events, target.namespace, body);
      } catch (err) {
        if (errorStatus(err) !== 409) throw err;
        // The name is taken (another replica's event in the same nanosecond): once more with a new one.
        body.metadata = { ...body.metadata, name: eventName(target.name) };
        made = await this.o.client.create(RESOURCES.events, target.namespace, body);
      }
      this.created++;
      if (made.metadata.name) this.recent.set(id, { namespace: target.namespace, name: made.metadata.name, count: 1, first: now.getTime() });
    } catch (err) {
      if (seen) this.recent.delete(id);
      this.o.logger.warn('could not record a Kubernetes event', {
        reason: e.reason,
        object: `${target.kind} ${target.namespace}/${target.name}`,
        err: describeApiError(err),
      });
    }
  }

  private prune(now: number): void {
    for (const [id, s] of this.recent) if (now - s.first > this.o.seriesWindowMs) this.recent.delete(id);
  }
}
