/**
 * A store source that can be written to: where the REST API keeps what it is
 * told, the state directory (RestSource) or etcd (EtcdSource) when an etcd
 * source is configured. Either way the writer owns one store source, and a
 * write reaches the store before the call returns, so the API's answers and
 * the reconciler see it at once. At the store's level, so that a source that
 * writes (etcd) needs nothing from the REST API's code.
 */
import type { SecretData, SecretIdentity } from '../model/secrets.js';
import type { Resource, ResourceKey } from '../model/types.js';

export interface ResourceWriter {
  /** The store source whose entries this writer owns. */
  readonly source: string;
  /** For messages: "the state directory", "etcd at 127.0.0.1:2379". */
  readonly where: string;
  /** Creates or replaces one resource (already validated). */
  put(resource: Resource): Promise<{ created: boolean }>;
  /** Deletes one resource; false when it did not exist. */
  delete(key: ResourceKey): Promise<boolean>;
  /**
   * Read-modify-write of one resource, safe against concurrent writers.
   * `mutate` gets a private copy of the current version and may throw to
   * refuse. Resolves with the new version, or undefined when there is none.
   */
  update(key: ResourceKey, mutate: (current: Resource) => Resource): Promise<Resource | undefined>;
  /**
   * Creates or replaces one Secret or ConfigMap (already validated); it
   * reaches the store as discovered data (model/secrets.ts) under this
   * writer's source before the call returns.
   */
  putSecret(secret: SecretData): Promise<{ created: boolean }>;
  /** Deletes one Secret or ConfigMap; false when it did not exist. */
  deleteSecret(id: SecretIdentity): Promise<boolean>;
}

/** The writer cannot reach its storage (etcd down, disk full): a 503 for the client. */
export class StorageUnavailableError extends Error {
  override readonly name = 'StorageUnavailableError';
}

/** The write would take the storage over its size limit (`--api-max-stored-bytes`): a 507 for the client. */
export class StorageFullError extends Error {
  override readonly name = 'StorageFullError';
}
