/**
 * Applies certificate operations (reconcile/cert-plan.ts) through HAProxy's
 * runtime API, in the plan's order, stopping at the first refusal. The
 * files on disk are the renderer's business: they are written before this
 * runs, so that a reload after a refusal serves the same certificates.
 */
import type { SslRuntime } from '../haproxy/ssl-runtime.js';
import { describeCertOp, type CertOp } from './cert-plan.js';

/** A certificate operation HAProxy refused: the ones before it were applied, the rest were not; reload to converge. */
export class CertUpdateError extends Error {
  override readonly name = 'CertUpdateError';
  constructor(
    message: string,
    readonly op: CertOp,
    /** How many operations were applied before this one. */
    readonly applied: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class CertUpdater {
  constructor(private readonly ssl: Pick<SslRuntime, 'updateCert' | 'newCert' | 'addCrtListLine' | 'delCrtListLine' | 'delCert' | 'updateCaFile'>) {}

  async execute(ops: readonly CertOp[]): Promise<void> {
    for (const [i, o] of ops.entries()) {
      try {
        await this.apply(o);
      } catch (cause) {
        const why = cause instanceof Error ? cause.message : String(cause);
        throw new CertUpdateError(`${describeCertOp(o)} failed (${i} of ${ops.length} certificate operation(s) applied before it): ${why}`, o, i, { cause });
      }
    }
  }

  private apply(o: CertOp): Promise<void> {
    switch (o.op) {
      case 'update-cert':
        return this.ssl.updateCert(o.path, o.pem);
      case 'new-cert':
        return this.ssl.newCert(o.path, o.pem);
      case 'add-crtlist-line':
        return this.ssl.addCrtListLine(o.crtList, o.path, o.filters);
      case 'del-crtlist-line':
        return this.ssl.delCrtListLine(o.crtList, o.path);
      case 'del-cert':
        return this.ssl.delCert(o.path);
      case 'update-ca-file':
        return this.ssl.updateCaFile(o.path, o.pem);
    }
  }
}
