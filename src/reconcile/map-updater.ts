/**
 * Applies routing map operations (reconcile/map-plan.ts) through HAProxy's
 * runtime API, in order: a single entry with `add map`, `set map` or `del map`
 * (one command each; the planner orders them so that no request sees a mix);
 * a whole map with `prepare map` (a new, empty version), `add map @<ver>`
 * per entry, `commit map @<ver>` (the whole version swapped atomically;
 * HAProxy 2.4+; the entries go as payloads, a few hundred a command). Stops at the first refusal: a map not committed keeps its
 * old version, so requests never see half a map. The files on disk are written
 * after (ReconcilePass.applyRuntimeOrReload), so a later reload serves the same.
 */
import type { RuntimeApi } from '../haproxy/runtime.js';
import { describeMapOp, type MapOp } from './map-plan.js';

/** A map operation HAProxy refused: the maps before it were replaced, the rest were not; reload to converge. */
export class MapUpdateError extends Error {
  override readonly name = 'MapUpdateError';
  constructor(
    message: string,
    readonly op: MapOp,
    /** How many map operations were applied before this one. */
    readonly applied: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What the pass needs to apply map operations. */
export interface MapExecutor {
  execute(ops: readonly MapOp[]): Promise<void>;
}

export class MapUpdater implements MapExecutor {
  constructor(private readonly api: Pick<RuntimeApi, 'execute'>) {}

  async execute(ops: readonly MapOp[]): Promise<void> {
    for (const [i, o] of ops.entries()) {
      try {
        await this.apply(o);
      } catch (cause) {
        const why = cause instanceof Error ? cause.message : String(cause);
        throw new MapUpdateError(`${describeMapOp(o)} failed (${i} of ${ops.length} map operation(s) applied before it): ${why}`, o, i, { cause });
      }
    }
  }

  private async apply(o: MapOp): Promise<void> {
    if (o.op !== 'replace-map') {
      // One entry of the live version: HAProxy answers nothing when it did it ("Key not found.", "entry not found." otherwise).
      const command = o.op === 'del-map' ? `del map ${o.path} ${o.key}` : `${o.op === 'add-map' ? 'add' : 'set'} map ${o.path} ${o.key} ${o.value}`;
      const reply = (await this.api.execute(command)).trim();
      if (reply !== '') throw new Error(`"${command}": HAProxy answered ${JSON.stringify(reply.slice(0, 300))}`);
      return;
    }
    const expectEmpty = async (command: string, payload?: string): Promise<void> => {
      const reply = (await this.api.execute(command, payload)).trim();
      if (reply !== '') throw new Error(`"${command}": HAProxy answered ${JSON.stringify(reply.slice(0, 300))}`);
    };
    const reply = (await this.api.execute(`prepare map ${o.path}`)).trim();
    const version = /New version created:\s*(\d+)/.exec(reply)?.[1];
    if (version === undefined) throw new Error(`prepare map ${o.path}: HAProxy answered ${JSON.stringify(reply)}`);
    // The entries as payloads (`add map @<ver> <map> <<`, one `key value` a line), each well inside tune.bufsize.
    for (const chunk of payloadChunks(o.entries, PAYLOAD_BYTES)) await expectEmpty(`add map @${version} ${o.path}`, chunk);
    await expectEmpty(`commit map @${version} ${o.path}`);
  }
}

/** Bytes of entries per `add map` payload: HAProxy reads a command and its payload into one buffer (tune.bufsize, 16384 by default). */
export const PAYLOAD_BYTES = 8192;

/** `key value` lines joined into payloads of at most `maxBytes` (an entry longer than that is a payload alone). */
export function payloadChunks(entries: readonly [string, string][], maxBytes: number): string[] {
  const out: string[] = [];
  let cur: string[] = [];
  let size = 0;
  for (const [k, v] of entries) {
    const line = `${k} ${v}`;
    if (cur.length > 0 && size + line.length + 1 > maxBytes) {
      out.push(cur.join('\n'));
      cur = [];
      size = 0;
    }
    cur.push(line);
    size += line.length + 1;
  }
  if (cur.length > 0) out.push(cur.join('\n'));
  return out;
}
