/**
 * Buffers lent out as views and taken back once every view came home: how a relayed body reads
 * the store's bytes into memory that is used again instead of new Buffers (a 1 GiB GET read into
 * fresh 1 MiB buffers spent over half its CPU in V8's collector, test/bench/NOTES.md).
 *
 * The producer (src/blobs/s3/direct-get.ts) takes a buffer, hands out views of it (`lent` for
 * each), and `seal`s it once it will write no more into it. A consumer that is done with a view
 * (src/http/reply-body.ts relayInBatches, once the socket took it) gives it back. The buffer
 * goes back to its pool when it is sealed and every view came back. A view that is never given
 * back (any other consumer: copied, concatenated, dropped) only keeps its buffer out of the pool,
 * for the collector to free as before — so giving back is an optimisation, and giving back a view
 * still in use is the one thing a consumer must never do.
 */

interface Lease {
  readonly pool: RecycledBuffers;
  readonly buffer: Buffer;
  /** Views handed out and not given back (each counts once, however often it is given back). */
  readonly out: Set<Buffer>;
  sealed: boolean;
}

/** Leases by the memory they cover (a view's `.buffer`). */
const leases = new WeakMap<ArrayBufferLike, Lease>();

export class RecycledBuffers {
  private readonly free: Buffer[] = [];
  /** Buffers taken, returned to the pool, and allocated (for tests and benchmarks). */
  readonly stats = { taken: 0, returned: 0, allocated: 0 };

  constructor(
    readonly size: number,
    /** Free buffers kept at most: the memory the pool holds while nothing is relayed. */
    private readonly keep: number,
  ) {}

  /** A buffer of `size` bytes, from the pool when one is free. */
  take(): Buffer {
    this.stats.taken++;
    let buffer = this.free.pop();
    if (!buffer) {
      this.stats.allocated++;
      buffer = Buffer.allocUnsafeSlow(this.size);
    }
    leases.set(buffer.buffer, { pool: this, buffer, out: new Set(), sealed: false });
    return buffer;
  }

  /** Free buffers held now. */
  get held(): number {
    return this.free.length;
  }

  /** @internal */
  put(buffer: Buffer): void {
    leases.delete(buffer.buffer);
    this.stats.returned++;
    if (this.free.length < this.keep) this.free.push(buffer);
  }
}

/** One more view of a buffer from take() is out. */
export function lent(view: Buffer): void {
  leases.get(view.buffer)?.out.add(view);
}

/** Nothing more will be written into `buffer` (from take()): it returns once its views are back. */
export function seal(buffer: Buffer): void {
  const lease = leases.get(buffer.buffer);
  if (!lease || lease.sealed) return;
  lease.sealed = true;
  if (lease.out.size === 0) lease.pool.put(lease.buffer);
}

/** The caller is done with `view` and holds no reference to its bytes any more; views of other memory are ignored. */
export function giveBack(view: Buffer): void {
  const lease = leases.get(view.buffer);
  if (!lease?.out.delete(view)) return;
  if (lease.out.size === 0 && lease.sealed) lease.pool.put(lease.buffer);
}
