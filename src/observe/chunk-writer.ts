/**
 * Writes bytes into fixed-size chunks and hands each full chunk to an output
 * (an HTTP response), reusing a small set of chunk buffers: a chunk is reused
 * only once the output released it (for a response: once the socket took it).
 * Memory per writer is bounded by maxChunks * chunkSize whatever the body size,
 * and the first bytes leave while the rest is still being produced.
 */

/** Receives a filled chunk; must call release() once the bytes are no longer needed. */
export type ChunkOutput = (chunk: Uint8Array, release: () => void) => void;

/** Where the metric writers put bytes: a current buffer and a position in it. */
export interface ByteSink {
  buf: Uint8Array;
  pos: number;
  readonly aborted: boolean;
  room(n: number): boolean;
  bytes(b: Uint8Array): void;
  ascii(s: string): void;
}

export interface ChunkWriterOptions {
  chunkSize?: number;
  maxChunks?: number;
}

export class ChunkWriter implements ByteSink {
  buf: Uint8Array;
  pos = 0;
  private isAborted = false;
  private allocated = 1;
  private readonly free: Uint8Array[] = [];
  private readonly waiters: (() => void)[] = [];
  private readonly chunkSize: number;
  private readonly maxChunks: number;

  constructor(
    private readonly out: ChunkOutput,
    options: ChunkWriterOptions = {},
  ) {
    this.chunkSize = options.chunkSize ?? 256 * 1024;
    this.maxChunks = Math.max(1, options.maxChunks ?? 4);
    this.buf = new Uint8Array(this.chunkSize);
  }

  get aborted(): boolean {
    return this.isAborted;
  }

  /** Stops the writer: pending and later flushes return at once (the client went away). */
  abort(): void {
    this.isAborted = true;
    for (const w of this.waiters.splice(0)) w();
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
    if (this.isAborted) {
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
        this.release(full);
      });
    } else {
      this.release(full);
    }
    this.pos = 0;
    this.buf = await this.acquire(minFree);
  }

  /**
   * Hands over chunks written elsewhere, after what this writer holds. `done`
   * runs once the output has released every one of them (their owner may
   * then reuse them), or at once when nothing was handed over.
   */
  async passThrough(chunks: readonly Uint8Array[], done: () => void): Promise<void> {
    let handed = 0;
    let released = 0;
    let finished = false;
    const check = (): void => {
      if (finished && released === handed) done();
    };
    try {
      if (this.isAborted) return;
      if (this.pos > 0) await this.flush();
      for (const c of chunks) {
        if (this.isAborted) break;
        handed++;
        let once = false;
        this.out(c, () => {
          if (once) return;
          once = true;
          released++;
          check();
        });
      }
    } finally {
      finished = true;
      check();
    }
  }

  /** Flushes what is left. */
  async end(): Promise<void> {
    if (this.pos > 0 && !this.isAborted) await this.flush();
  }

  private release(b: Uint8Array): void {
    if (b.length === this.chunkSize) this.free.push(b);
    else this.allocated--;
    this.waiters.shift()?.();
  }

  private async acquire(minFree: number): Promise<Uint8Array> {
    if (minFree > this.chunkSize) {
      this.allocated++;
      return new Uint8Array(minFree);
    }
    for (;;) {
      const b = this.free.pop();
      if (b) return b;
      if (this.allocated < this.maxChunks) {
        this.allocated++;
        return new Uint8Array(this.chunkSize);
      }
      if (this.isAborted) return new Uint8Array(this.chunkSize);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

/**
 * Fixed-size buffers reused between renders: at 10,000 servers a scrape is
 * ~54 MB, and fresh memory for each would cost more page faults than the
 * render itself.
 */
export class ChunkPool {
  private readonly idleChunks: Uint8Array[] = [];
  constructor(
    readonly chunkSize = 32 * 1024,
    /** Idle chunks kept at most; the rest is left to the GC. Follows the size of the renders (fit()). */
    public maxIdle = 64,
  ) {}

  /** Keeps enough idle chunks for a render of `chunks` chunks (plus a margin), no more. */
  fit(chunks: number): void {
    this.maxIdle = chunks + 16;
    if (this.idleChunks.length > this.maxIdle) this.idleChunks.length = this.maxIdle;
  }

  take(): Uint8Array {
    return this.idleChunks.pop() ?? new Uint8Array(this.chunkSize);
  }

  give(chunks: readonly Uint8Array[]): void {
    for (const c of chunks) {
      if (c.length !== this.chunkSize || this.idleChunks.length >= this.maxIdle) continue;
      this.idleChunks.push(c);
    }
  }

  get idle(): number {
    return this.idleChunks.length;
  }
}

/** A sink that fills pooled chunks one after the other, synchronously (rendering ahead of any output). */
export class ChunkList implements ByteSink {
  buf: Uint8Array;
  pos = 0;
  readonly aborted = false;
  /** Every buffer taken, for release() (the last one included). */
  private readonly taken: Uint8Array[] = [];
  private readonly filled: Uint8Array[] = [];

  constructor(private readonly pool: ChunkPool) {
    this.buf = pool.take();
    this.taken.push(this.buf);
  }

  room(n: number): boolean {
    return this.pos + n <= this.buf.length;
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  ascii(s: string): void {
    const buf = this.buf;
    let o = this.pos;
    for (let i = 0; i < s.length; i++) buf[o++] = s.charCodeAt(i);
    this.pos = o;
  }

  /** Closes the current chunk and continues in a fresh one with at least `minFree` bytes. */
  next(minFree = 0): void {
    if (this.pos > 0) this.filled.push(this.buf.subarray(0, this.pos));
    this.buf = minFree > this.pool.chunkSize ? new Uint8Array(minFree) : this.pool.take();
    this.taken.push(this.buf);
    this.pos = 0;
  }

  /** The filled parts, in order (the current chunk included). */
  chunks(): Uint8Array[] {
    return this.pos > 0 ? [...this.filled, this.buf.subarray(0, this.pos)] : [...this.filled];
  }

  /** Buffers in use (the current one included). */
  get buffers(): number {
    return this.taken.length;
  }

  /** Gives every buffer back to the pool; the list must not be used afterwards. */
  release(): void {
    this.pool.give(this.taken.splice(0));
    this.filled.length = 0;
    this.pos = 0;
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
