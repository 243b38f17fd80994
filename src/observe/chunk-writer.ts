/**
 * Writes bytes into fixed-size chunks and hands each full chunk to an output
 * (an HTTP response), reusing a small set of chunk buffers: a chunk is reused
 * only once the output released it (for a response: once the socket took it).
 * Memory per writer is bounded by maxChunks * chunkSize whatever the body size,
 * and the first bytes leave while the rest is still being produced.
 */

/** Receives a filled chunk; must call release() once the bytes are no longer needed. */
export type ChunkOutput = (chunk: Uint8Array, release: () => void) => void;

export interface ChunkWriterOptions {
  chunkSize?: number;
  maxChunks?: number;
}

export class ChunkWriter {
  buf: Uint8Array;
  pos = 0;
  #aborted = false;
  #allocated = 1;
  readonly #free: Uint8Array[] = [];
  readonly #waiters: (() => void)[] = [];
  readonly #chunkSize: number;
  readonly #maxChunks: number;

  constructor(
    private readonly out: ChunkOutput,
    options: ChunkWriterOptions = {},
  ) {
    this.#chunkSize = options.chunkSize ?? 256 * 1024;
    this.#maxChunks = Math.max(1, options.maxChunks ?? 4);
    this.buf = new Uint8Array(this.#chunkSize);
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  /** Stops the writer: pending and later flushes return at once (the client went away). */
  abort(): void {
    this.#aborted = true;
    for (const w of this.#waiters.splice(0)) w();
  }

  /** True when `n` more bytes fit in the current chunk. */
  room(n: number): boolean {
    return this.pos + n <= this.buf.length;
  }

  /** Writes an ASCII string (no room check: call room() or flush() first). */
  ascii(s: string): void {
    const buf = this.buf;
    let o = this.pos;
    for (let i = 0; i < s.length; i++) buf[o++] = s.charCodeAt(i);
    this.pos = o;
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Hands the current chunk over and continues in a free one with at least `minFree` bytes. */
  async flush(minFree = 0): Promise<void> {
    if (this.#aborted) {
      this.pos = 0;
      if (this.buf.length < minFree) this.buf = new Uint8Array(minFree);
      return;
    }
    const full = this.buf;
    if (this.pos > 0) {
      const chunk = full.subarray(0, this.pos);
      let released = false;
      this.out(chunk, () => {
        if (released) return;
        released = true;
        this.#release(full);
      });
    } else {
      this.#release(full);
    }
    this.pos = 0;
    this.buf = await this.#acquire(minFree);
  }

  /** Flushes what is left. */
  async end(): Promise<void> {
    if (this.pos > 0 && !this.#aborted) await this.flush();
  }

  #release(b: Uint8Array): void {
    if (b.length === this.#chunkSize) this.#free.push(b);
    else this.#allocated--;
    this.#waiters.shift()?.();
  }

  async #acquire(minFree: number): Promise<Uint8Array> {
    if (minFree > this.#chunkSize) {
      this.#allocated++;
      return new Uint8Array(minFree);
    }
    for (;;) {
      const b = this.#free.pop();
      if (b) return b;
      if (this.#allocated < this.#maxChunks) {
        this.#allocated++;
        return new Uint8Array(this.#chunkSize);
      }
      if (this.#aborted) return new Uint8Array(this.#chunkSize);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

/** A writer that collects everything into one Buffer (tests, tools). */
export function collectingWriter(options?: ChunkWriterOptions): { writer: ChunkWriter; result(): Buffer } {
  const parts: Buffer[] = [];
  const writer = new ChunkWriter((chunk, release) => {
    parts.push(Buffer.from(chunk));
    release();
  }, options);
  return { writer, result: () => Buffer.concat(parts) };
}
