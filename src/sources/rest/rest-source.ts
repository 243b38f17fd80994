/**
 * The REST source's storage when no etcd source is configured: resources
 * declared through the API, kept in one JSON file in the state directory
 * (written atomically: a crash leaves the old or the new file, never half of
 * one) and loaded again at start, so a controller restart keeps them.
 * Secrets and ConfigMaps are kept in the same file (mode 0600), as their
 * v1 manifests (Secret values base64), and handed to the store as
 * discovered data (model/secrets.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { Logger } from '../../log.js';
import type { Declared } from '../../model/resolve.js';
import { keyOf, type Resource, type ResourceKey } from '../../model/types.js';
import { rawConfigOptions } from '../../model/validate.js';
import { declare } from '../../model/declare.js';
import { signatureOf } from '../../model/signature.js';
import type { Store } from '../../reconcile/store.js';
import { SECRETS, type SecretData, type SecretIdentity } from '../../model/secrets.js';
import { keyOfSecret, secretFromManifest, storedManifest } from '../secret-manifest.js';
import { StorageFullError, StorageUnavailableError, type ResourceWriter } from '../../reconcile/resource-writer.js';

export const REST_SOURCE = 'rest';
export const REST_STATE_FILE = 'rest-resources.json';

/** Default of `--api-max-stored-bytes`: every resource the REST API keeps, as JSON, together. */
export const DEFAULT_MAX_STORED_BYTES = 32 * 1024 * 1024;

export interface RestSourceOptions {
  stateDir: string;
  store: Store;
  logger: Logger;
  allowRawConfig?: boolean;
  /** Narrow the raw-config allow-list (`--raw-config-keywords`); undefined: the default list. */
  rawConfigKeywords?: readonly string[];
  /** Most bytes all stored resources may take together, as JSON (`--api-max-stored-bytes`). */
  maxStoredBytes?: number;
}

interface StateFile {
  version: 1;
  resources: unknown[];
  /** Secret and ConfigMap manifests (absent in files written before them). */
  secrets?: unknown[];
}

export class RestSource implements ResourceWriter {
  readonly name = REST_SOURCE;
  readonly source = REST_SOURCE;
  readonly where = 'the state directory';
  readonly path: string;
  /** What was declared, as stored (raw objects, validated again on load). */
  private readonly stored = new Map<ResourceKey, unknown>();
  /** Secrets and ConfigMaps, by store key (`Secret/ns/name`). */
  private readonly secrets = new Map<string, SecretData>();
  /** Size of each stored resource as JSON, and their sum. */
  private readonly sizes = new Map<ResourceKey, number>();
  private total = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: RestSourceOptions) {
    this.path = join(o.stateDir, REST_STATE_FILE);
    o.store.register(this.name);
  }

  async start(): Promise<void> {
    let text: string | undefined;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${this.path}`, { cause: err });
    }
    if (text !== undefined) {
      let parsed: StateFile;
      try {
        parsed = JSON.parse(text) as StateFile;
        if (parsed.version !== 1 || !Array.isArray(parsed.resources)) throw new Error('not a version 1 file');
      } catch (err) {
        // Starting without them would delete every route the API declared: refuse instead.
        throw new Error(`${this.path} is damaged (${(err as Error).message}); restore it from a backup, or delete it to drop what the REST API declared`, {
          cause: err,
        });
      }
      for (const raw of parsed.resources) {
        const d = this.declare(raw);
        if (d) this.remember(d.key, raw);
      }
      for (const raw of parsed.secrets ?? []) {
        const r = raw as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
        const kind = r.kind === 'Secret' || r.kind === 'ConfigMap' ? r.kind : undefined;
        const name = r.metadata?.name;
        const namespace = r.metadata?.namespace;
        if (!kind || typeof name !== 'string' || typeof namespace !== 'string') continue;
        const v = secretFromManifest(raw, { kind, namespace, name }, 'rest').value;
        if (v) this.rememberSecret(v);
        else this.o.logger.warn('a stored Secret no longer reads; dropped', { file: this.path, secret: `${kind}/${namespace}/${name}` });
      }
    }
    for (const [key, v] of this.secrets) this.o.store.setDiscovered(this.name, SECRETS, key, v);
    this.o.store.replaceAll(
      this.name,
      [...this.stored.values()].flatMap((raw) => this.declare(raw) ?? []),
    );
    this.o.store.markSynced(this.name);
    this.o.logger.info('REST API resources loaded', { file: this.path, resources: this.stored.size });
  }

  async stop(): Promise<void> {
    await this.queue.catch(() => undefined);
  }

  /** A stored resource as the store holds it (model/declare.ts); undefined when it names none. */
  private declare(raw: unknown): Declared | undefined {
    return declare(raw, { origin: 'rest', source: this.source }, rawConfigOptions(this.o)).declared;
  }

  private remember(key: ResourceKey, raw: unknown): void {
    const size = Buffer.byteLength(JSON.stringify(raw));
    this.total += size - (this.sizes.get(key) ?? 0);
    this.sizes.set(key, size);
    this.stored.set(key, raw);
  }

  private rememberSecret(v: SecretData): void {
    const key = keyOfSecret(v);
    const size = Buffer.byteLength(JSON.stringify(storedManifest(v)));
    this.total += size - (this.sizes.get(key) ?? 0);
    this.sizes.set(key, size);
    this.secrets.set(key, v);
  }

  private forget(key: ResourceKey): void {
    this.secrets.delete(key);
    this.total -= this.sizes.get(key) ?? 0;
    this.sizes.delete(key);
    this.stored.delete(key);
  }

  /** Refuses a write that would take the stored resources over `maxStoredBytes`. */
  private checkRoom(key: ResourceKey, resource: unknown): void {
    const max = this.o.maxStoredBytes ?? DEFAULT_MAX_STORED_BYTES;
    const size = Buffer.byteLength(JSON.stringify(resource));
    const after = this.total - (this.sizes.get(key) ?? 0) + size;
    if (after > max) {
      throw new StorageFullError(
        `${key.replace('/', ' ')} takes ${size} bytes; with it the REST API would store ${after} bytes, more than --api-max-stored-bytes (${max}); delete resources you no longer need, make this one smaller, or raise --api-max-stored-bytes`,
      );
    }
  }

  /** Runs writes one at a time, so the file always holds one consistent set. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async persist(next: Map<ResourceKey, unknown>, secrets: Map<string, SecretData> = this.secrets): Promise<void> {
    const body: StateFile = { version: 1, resources: [...next.values()], secrets: [...secrets.values()].map(storedManifest) };
    try {
      await writeFileAtomic(this.path, JSON.stringify(body, null, 1) + '\n', 0o600);
    } catch (err) {
      throw new StorageUnavailableError(`could not save to ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  put(resource: Resource): Promise<{ created: boolean }> {
    return this.exclusive(async () => {
      const key = keyOf(resource);
      const created = !this.stored.has(key);
      // The same resource again: nothing to write (the file can be large).
      if (!created && signatureOf(this.stored.get(key)) === signatureOf(resource)) return { created };
      this.checkRoom(key, resource);
      const next = new Map(this.stored).set(key, resource);
      await this.persist(next);
      this.remember(key, resource);
      this.o.store.upsert(this.declare(resource)!);
      return { created };
    });
  }

  putSecret(secret: SecretData): Promise<{ created: boolean }> {
    return this.exclusive(async () => {
      const key = keyOfSecret(secret);
      const before = this.secrets.get(key);
      const created = !before;
      if (before && before.type === secret.type && signatureOf(before.data) === signatureOf(secret.data)) return { created };
      this.checkRoom(key, storedManifest(secret));
      await this.persist(this.stored, new Map(this.secrets).set(key, secret));
      this.rememberSecret(secret);
      this.o.store.setDiscovered(this.name, SECRETS, key, secret);
      return { created };
    });
  }

  deleteSecret(id: SecretIdentity): Promise<boolean> {
    return this.exclusive(async () => {
      const key = keyOfSecret(id);
      if (!this.secrets.has(key)) return false;
      const next = new Map(this.secrets);
      next.delete(key);
      await this.persist(this.stored, next);
      this.forget(key);
      this.o.store.setDiscovered(this.name, SECRETS, key, undefined);
      return true;
    });
  }

  delete(key: ResourceKey): Promise<boolean> {
    return this.exclusive(async () => {
      if (!this.stored.has(key)) return false;
      const next = new Map(this.stored);
      next.delete(key);
      await this.persist(next);
      this.forget(key);
      this.o.store.remove(this.source, key);
      return true;
    });
  }

  update(key: ResourceKey, mutate: (current: Resource) => Resource): Promise<Resource | undefined> {
    return this.exclusive(async () => {
      const raw = this.stored.get(key);
      if (raw === undefined) return undefined;
      const current = this.declare(raw)?.resource;
      if (!current) return undefined;
      const updated = mutate(structuredClone(current));
      this.checkRoom(key, updated);
      const next = new Map(this.stored).set(key, updated);
      await this.persist(next);
      this.remember(key, updated);
      this.o.store.upsert(this.declare(updated)!);
      return updated;
    });
  }
}
