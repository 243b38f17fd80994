/**
 * Everything the controller runs for `--source kubernetes`: the source that
 * fills the store, the leader election, and the status and event writer
 * that only the leader runs. startController creates one and starts and
 * stops it like any source.
 */
import type { Logger } from '../../log.js';
import type { Store } from '../../reconcile/store.js';
import type { BackoffOptions } from '../../util/backoff.js';
import { contextNamespace, KubeClient, loadKubeConfig, type ClusterAccess } from './client.js';
import { EventRecorder } from './events.js';
import { KubernetesSource } from './kubernetes-source.js';
import type { MembersFromSetting } from './server-version.js';
import { LeaderElector } from './leader-election.js';
import type { WatchRestart } from './reflector.js';
import { StatusWriter, type PassSource } from './status-writer.js';

export interface LeaderElectionSettings {
  /** Namespace of the Lease. Default: the namespace of the kubeconfig context (in a pod: its own), else 'default'. */
  namespace?: string;
  /** Lease name. Default 'node-haproxy'. */
  name?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface KubernetesOptions extends ClusterAccess {
  /** Watch only this namespace (default: all). */
  namespace?: string;
  /** `auto` (default): EndpointSlices where the server serves them (1.21+), else Endpoints. */
  membersFrom?: MembersFromSetting;
  /** Caches failing to list or watch for this long stop this replica from leading (default 10 s). */
  staleAfterMs?: number;
  /** This replica's name in the Lease and in Events (the pod name). */
  identity: string;
  /** false: this replica always writes status (a single replica). Default: elect a leader. */
  leaderElection?: LeaderElectionSettings | false;
  resyncPeriodMs?: number;
  stallTimeoutMs?: number;
  watchTimeoutSeconds?: number;
  backoff?: BackoffOptions;
  onWatchRestart?: (restart: WatchRestart) => void;
}

export const DEFAULT_LEASE_NAME = 'node-haproxy';

export class KubernetesIntegration {
  readonly name: string;
  readonly client: KubeClient;
  readonly source: KubernetesSource;
  readonly elector: LeaderElector | undefined;
  readonly events: EventRecorder;
  readonly status: StatusWriter;

  /** `allowRawConfig` and `rawConfigKeywords` are the controller's `--allow-raw-config` and `--raw-config-keywords`, the same for every source. */
  constructor(
    o: KubernetesOptions & { store: Store; reconciler: PassSource; logger: Logger; allowRawConfig?: boolean; rawConfigKeywords?: readonly string[] },
  ) {
    const kc = loadKubeConfig(o);
    this.client = new KubeClient(kc);
    const logger = o.logger.child({ source: 'kubernetes' });
    this.source = new KubernetesSource({
      client: this.client,
      store: o.store,
      logger,
      namespace: o.namespace,
      membersFrom: o.membersFrom,
      staleAfterMs: o.staleAfterMs,
      resyncPeriodMs: o.resyncPeriodMs,
      stallTimeoutMs: o.stallTimeoutMs,
      watchTimeoutSeconds: o.watchTimeoutSeconds,
      backoff: o.backoff,
      onWatchRestart: o.onWatchRestart,
      allowRawConfig: o.allowRawConfig,
      rawConfigKeywords: o.rawConfigKeywords,
    });
    this.name = this.source.name;
    if (o.leaderElection !== false) {
      const le = o.leaderElection ?? {};
      this.elector = new LeaderElector({
        client: this.client,
        namespace: le.namespace ?? contextNamespace(kc) ?? 'default',
        name: le.name ?? DEFAULT_LEASE_NAME,
        identity: o.identity,
        logger: logger.child({ component: 'leader-election' }),
        leaseDurationMs: le.leaseDurationMs,
        renewDeadlineMs: le.renewDeadlineMs,
        retryPeriodMs: le.retryPeriodMs,
        // Only a replica whose caches synced and are current campaigns and keeps the Lease.
        canLead: () => this.source.inSync(),
        cannotLeadReason: () => this.source.notInSyncReason(),
      });
    }
    this.events = new EventRecorder({ client: this.client, instance: o.identity, logger });
    this.status = new StatusWriter({
      source: this.source,
      client: this.client,
      reconciler: o.reconciler,
      store: o.store,
      events: this.events,
      isLeader: () => this.isLeader(),
      logger: logger.child({ component: 'status' }),
    });
    this.elector?.on('started', () => this.status.resync());
  }

  /** True when this replica writes status and events: it leads (or runs alone) and its caches are in sync. */
  isLeader(): boolean {
    if (!this.source.inSync()) {
      this.elector?.isLeader(); // a leader steps down at once
      return false;
    }
    return this.elector ? this.elector.isLeader() : true;
  }

  async start(): Promise<void> {
    await this.source.start();
    this.elector?.start();
  }

  async stop(options: { releaseLease?: boolean } = {}): Promise<void> {
    await this.elector?.stop({ release: options.releaseLease ?? true });
    await this.status.stop();
    await this.source.stop();
  }
}
