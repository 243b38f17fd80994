/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection does it:
 *
 * - every `retryPeriodMs` (with jitter) a replica reads the Lease; it takes
 *   it when nobody holds it or when the holder has not renewed it for
 *   `leaseDurationMs` *as observed locally* (no trust in other clocks);
 * - the holder renews every `retryPeriodMs`; a holder that could not renew
 *   for `renewDeadlineMs` stops acting as leader at once, before anybody
 *   else may take over (renewDeadline < leaseDuration);
 * - writes are PUTs with the read resourceVersion: two replicas cannot both
 *   win (409 Conflict for the slower one);
 * - a clean stop releases the Lease (holder cleared) so another replica
 *   takes over at its next retry instead of after a full lease duration;
 * - every takeover (of a released, expired or missing holder) counts one
 *   more `leaseTransitions`, as client-go counts them;
 * - a replica campaigns only while `canLead()` (its caches have synced and
 *   are current): one that never synced never takes the Lease, and a leader
 *   whose caches stop being current steps down at once and releases it, so
 *   status is never written from stale caches.
 *
 * Leadership only decides who writes status and events. HAProxy runs and
 * serves on every replica whatever happens here.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../log.js';
import { jittered, sleep } from '../../util/backoff.js';
import { RESOURCES, type KubeClient } from './client.js';
import { describeApiError, errorStatus, microTime, withDefaults, type KubeObject } from './objects.js';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  /** Lease name. */
  name: string;
  /** This replica's identity (the pod name, by default). */
  identity: string;
  logger: Logger;
  /** How long a lease is valid after its last renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** How long the holder keeps trying to renew before it steps down. Default 10 s. */
  renewDeadlineMs?: number;
  /** Time between attempts to acquire or renew. Default 2 s. */
  retryPeriodMs?: number;
  /** Monotonic clock in ms. */
  now?: () => number;
  /** Whether this replica may lead now (its caches are synced). Default: always. */
  canLead?: () => boolean;
  /** Why it may not (for the log), when `canLead()` is false. */
  cannotLeadReason?: () => string;
}

export interface LeaderElectorEvents {
  /** This replica became the leader. */
  started: [];
  /** This replica stopped being the leader. */
  stopped: [];
  /** The holder changed (or was first seen). */
  leader: [string];
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export class LeaderElector extends EventEmitter<LeaderElectorEvents> {
  private readonly o: Required<LeaderElectionOptions>;
  private leading = false;
  private lastRenew = -Infinity;
  private observed: { record: string; at: number; holder: string } | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private currentHolder = '';

  constructor(options: LeaderElectionOptions) {
    super();
    this.o = withDefaults(
      {
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2_000,
        now: () => performance.now(),
        canLead: () => true,
        cannotLeadReason: () => 'the caches are not synced',
      },
      options,
    );
    if (this.o.renewDeadlineMs >= this.o.leaseDurationMs) {
      throw new Error(
        `leader election: the renew deadline (${this.o.renewDeadlineMs} ms) must be shorter than the lease duration (${this.o.leaseDurationMs} ms)`,
      );
    }
    if (this.o.retryPeriodMs >= this.o.renewDeadlineMs) {
      throw new Error(`leader election: the retry period (${this.o.retryPeriodMs} ms) must be shorter than the renew deadline (${this.o.renewDeadlineMs} ms)`);
    }
  }

  get identity(): string {
    return this.o.identity;
  }

  /** The holder last seen on the Lease ('' when none). */
  get leader(): string {
    return this.currentHolder;
  }

  /** True while this replica holds a lease it renewed within the renew deadline. */
  isLeader(): boolean {
    if (this.leading && this.o.now() - this.lastRenew > this.o.renewDeadlineMs) this.stepDown('the lease could not be renewed in time');
    if (this.leading && !this.o.canLead()) this.stepDown(`${this.o.cannotLeadReason()}; releasing the lease`);
    return this.leading;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Stops; with `release` (default) a held lease is given up so another replica takes over at once. */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.leading && (options.release ?? true)) await this.release();
    if (this.leading) this.stepDown('stopping');
  }

  private async run(): Promise<void> {
    let waitingLogged = false;
    while (!this.abort.signal.aborted) {
      if (!this.o.canLead()) {
        // Not a candidate: a leader steps down (isLeader) and gives the Lease up, so another replica takes over at once.
        const wasLeading = this.leading;
        this.isLeader();
        if (wasLeading || this.currentHolder === this.o.identity) await this.release();
        else if (!waitingLogged) this.o.logger.info(`leader election: not campaigning yet (${this.o.cannotLeadReason()})`, { identity: this.o.identity });
        waitingLogged = true;
        await sleep(jittered(this.o.retryPeriodMs, 0.2), this.abort.signal);
        continue;
      }
      if (waitingLogged) this.o.logger.info('leader election: caches synced; campaigning', { identity: this.o.identity });
      waitingLogged = false;
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.o.logger.warn('leader election: lease request failed', { lease: `${this.o.namespace}/${this.o.name}`, err: describeApiError(err) });
      }
      if (ok) {
        this.lastRenew = this.o.now();
        if (!this.leading) {
          this.leading = true;
          this.o.logger.info('leader election: became the leader; writing status and events', { identity: this.o.identity });
          this.emit('started');
        }
      } else {
        this.isLeader(); // steps down once the renew deadline has passed
      }
      if (this.abort.signal.aborted) break;
      await sleep(jittered(this.o.retryPeriodMs, 0.2), this.abort.signal);
    }
  }

  private stepDown(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.o.logger.warn(`leader election: no longer the leader (${why}); HAProxy keeps serving`, { identity: this.o.identity });
    this.emit('stopped');
  }

  private observe(spec: LeaseSpec): void {
    const holder = spec.holderIdentity ?? '';
    const record = JSON.stringify([holder, spec.renewTime, spec.acquireTime, spec.leaseDurationSeconds]);
    if (this.observed?.record !== record) this.observed = { record, at: this.o.now(), holder };
    if (holder !== this.currentHolder) {
      this.currentHolder = holder;
      if (holder) this.emit('leader', holder);
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const durationSeconds = Math.max(1, Math.ceil(this.o.leaseDurationMs / 1000));
    let lease: KubeObject;
    try {
      lease = await this.o.client.get(RESOURCES.leases, this.o.namespace, this.o.name);
    } catch (err) {
      if (errorStatus(err) !== 404) throw err;
      const spec: LeaseSpec = {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      };
      try {
        await this.o.client.create(RESOURCES.leases, this.o.namespace, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec,
        });
      } catch (createErr) {
        if (errorStatus(createErr) === 409) return false; // another replica created it first
        throw createErr;
      }
      this.observe(spec);
      return true;
    }
    const spec = (lease.spec ?? {}) as LeaseSpec;
    this.observe(spec);
    const holder = spec.holderIdentity ?? '';
    const mine = holder === this.o.identity;
    if (holder && !mine) {
      const validMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
      if (this.o.now() - this.observed!.at < validMs) return false; // held by a live leader
    }
    // As client-go: the holder renewing keeps acquireTime and leaseTransitions;
    // anyone else taking the Lease (released, expired, or never held) counts a transition.
    const next: LeaseSpec = {
      ...spec,
      holderIdentity: this.o.identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: microTime(now),
      ...(mine ? {} : { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
    };
    try {
      await this.o.client.replace(RESOURCES.leases, this.o.namespace, this.o.name, { ...lease, spec: next });
    } catch (err) {
      if (errorStatus(err) === 409) return false; // someone else wrote first: read again next time
      throw err;
    }
    if (!mine) this.o.logger.info('leader election: took over the lease', { from: holder || '(nobody)', identity: this.o.identity });
    this.observe(next);
    return true;
  }

  private async release(): Promise<void> {
    try {
      const lease = await this.o.client.get(RESOURCES.leases, this.o.namespace, this.o.name);
      const spec = (lease.spec ?? {}) as LeaseSpec;
      if (spec.holderIdentity !== this.o.identity) {
        this.observe(spec);
        return;
      }
      const released: LeaseSpec = { ...spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(new Date()) };
      await this.o.client.replace(RESOURCES.leases, this.o.namespace, this.o.name, { ...lease, spec: released });
      this.observe(released);
      this.o.logger.info('leader election: released the lease', { identity: this.o.identity });
    } catch (err) {
      this.o.logger.warn('leader election: could not release the lease; another replica takes over when it expires', { err: describeApiError(err) });
    }
  }
}
