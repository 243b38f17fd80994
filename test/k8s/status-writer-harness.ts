/**
 * A StatusWriter on its own against a KubeApiTestServer: the real
 * KubernetesSource fills a store from the server, and `pass()` hands the
 * writer a reconcile pass computed from that store (what the reconciler
 * would report after HAProxy took it), without HAProxy. For tests and
 * benchmarks of status writing.
 */
import { EventEmitter } from 'node:events';
import type { KubeConfig } from '@kubernetes/client-node';
import { resolve } from '../../src/model/resolve.js';
import type { PassKind, PassResult } from '../../src/reconcile/reconciler.js';
import { Store } from '../../src/reconcile/store.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { EventRecorder, KubeClient, KubernetesSource, StatusWriter, type StatusWriterOptions } from '../../src/sources/kubernetes/index.js';
import type { KubeApiTestServer } from './api-server.js';
import { backendObject } from './fixtures.js';
import type { KubeObject } from './objects.js';

export interface StatusWriterFixture {
  writer: StatusWriter;
  source: KubernetesSource;
  store: Store;
  /** Emits a pass of `kind` computed from the store as it is now. */
  pass(kind?: PassKind): PassResult;
  /** Stops the writer, then the source. */
  stop(): Promise<void>;
}

export interface StatusWriterFixtureOptions extends Partial<Pick<StatusWriterOptions, 'concurrency' | 'backoff' | 'isLeader'>> {
  logger?: Logger;
}

/** Starts the source and the writer and waits until the source's caches have synced. */
export async function startStatusWriter(server: { kubeConfig(): KubeConfig }, o: StatusWriterFixtureOptions = {}): Promise<StatusWriterFixture> {
  const logger = o.logger ?? silentLogger();
  const client = new KubeClient(server.kubeConfig());
  const store = new Store();
  const source = new KubernetesSource({ client, store, logger });
  const reconciler = new EventEmitter();
  const writer = new StatusWriter({
    source,
    client,
    reconciler,
    store,
    events: new EventRecorder({ client, instance: 'status-writer-test', logger }),
    isLeader: o.isLeader ?? (() => true),
    logger,
    backoff: o.backoff,
    concurrency: o.concurrency,
  });
  await source.start();
  await source.whenSynced();
  return {
    writer,
    source,
    store,
    pass(kind = 'start') {
      const snapshot = store.snapshot();
      const resolution = resolve({ declared: snapshot.declared, lastAccepted: new Map(), discovered: snapshot.discovered });
      const p: PassResult = { kind, reasons: [], durationMs: 0, renderMs: 0, coalesced: 0, resolution, storeVersion: snapshot.version };
      reconciler.emit('pass', p);
      return p;
    },
    async stop() {
      await writer.stop();
      await source.stop();
    },
  };
}

/** `count` Backends named `${prefix}-0000` … with `members` static members each, created on the server. */
export function applyBackends(server: KubeApiTestServer, count: number, prefix = 'app', members = 2): KubeObject[] {
  return Array.from({ length: count }, (_, i) =>
    server.apply(
      backendObject(`${prefix}-${String(i).padStart(4, '0')}`, {
        members: Array.from({ length: members }, (_, m) => ({ name: `m${m}`, address: '127.0.0.1', port: 10_000 + m })),
      }),
    ),
  );
}
