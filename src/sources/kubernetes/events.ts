/**
 * Kubernetes Events (events.k8s.io/v1) on Frontends and Backends: reloads,
 * rejections, recoveries. `kubectl describe` and `kubectl events` show them.
 *
 * The same event (object, reason, note) repeated within `seriesWindowMs`
 * updates the first one's `series` instead of creating another. Failures
 * are logged and dropped: an event is never worth blocking or retrying for.
 */
import type { Logger } from '../../log.js';
import type { KubeClient } from './client.js';
import { RESOURCES } from './client.js';
import { describeApiError, microTime, withDefaults, type KubeObject } from './objects.js';

export const REPORTING_CONTROLLER = 'haproxy.node-haproxy.io/controller';

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
    const note = e.note.length > 1024 ? `${e.note.slice(0, 1021)}...` : e.note;
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
        metadata: { generateName: `${target.name}.`, namespace: target.namespace },
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
      const made = await this.o.client.create(RESOURCES.events, target.namespace, body);
      this.created++;
      if (made.metadata.name) this.recent.set(id, { namespace: target.namespace, name: made.metadata.name, count: 1, first: now.getTime() });
    } catch (err) {
      if (seen) this.recent.delete(id);
      this.o.logger.warn('could not record a Kubernetes event', { reason: e.reason, object: `${target.kind} ${target.namespace}/${target.name}`, err: describeApiError(err) });
    }
  }

  private prune(now: number): void {
    for (const [id, s] of this.recent) if (now - s.first > this.o.seriesWindowMs) this.recent.delete(id);
  }
}
