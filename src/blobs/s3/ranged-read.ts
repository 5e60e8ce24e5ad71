/**
 * A big read as consecutive ranged requests, a few in flight, emitted strictly in order. One
 * GetObject delivers less than the store can: radosgw reads RADOS in 4 MiB chunks with a small
 * window per request, and stalls whenever the reader pauses; the next ranges, already asked for,
 * are read from RADOS meanwhile (test/bench/get-pieces.ts measures it).
 *
 * Memory: the range being emitted reads up to 1 MiB ahead of the consumer; the ranges after it
 * up to `aheadBytes` each (0: their requests are sent, their bodies wait in the sockets).
 * `rangedReadBuffered()` counts the bytes held, for the tests and for whoever tunes the window.
 *
 * Failure: a range that fails, or ends short of its length, after it delivered bytes is asked
 * for again from where it stopped (the blob is immutable), a range ahead when its turn comes; one
 * that fails again without delivering a byte destroys the stream with that error (a body whose
 * length was promised can only be cut off, never completed short). So a store that closes a
 * connection left waiting (radosgw after 65 s), or the store timeout while a slow client held the
 * read back, costs one more request, not the download. Destroying the stream (the client left)
 * aborts every request in flight.
 */
import { Readable } from 'node:stream';

/** Opens bytes `start`..`end` (inclusive); aborting `signal` ends the request and its body. */
export type OpenRange = (start: number, end: number, signal: AbortSignal) => Promise<Readable>;

export interface RangedReadOptions {
  readonly rangeSize: number;
  /** Ranges in flight at once, the one being emitted included. */
  readonly window: number;
  /** Bytes a range after the one being emitted reads into memory before it waits its turn. */
  readonly aheadBytes: number;
}

/** Bytes the range being emitted may hold before its body is paused. */
const HEAD_AHEAD = 1024 * 1024;

/** Bytes read ahead and not yet emitted, over every ranged read of this process. */
let bufferedTotal = 0;
export const rangedReadBuffered = (): number => bufferedTotal;

class Range {
  readonly controller = new AbortController();
  readonly chunks: Buffer[] = [];
  body: Readable | undefined;
  /** Bytes received so far. */
  received = 0;
  /** `received` when the range was last asked for: no more since then is no progress. */
  receivedAtRequest = 0;
  /** Bytes in `chunks`. */
  held = 0;
  /** Failed, to be asked for again (from `received` on) when its bytes are needed. */
  lost = false;
  ended = false;

  constructor(
    readonly start: number,
    readonly end: number,
  ) {}

  get length(): number {
    return this.end - this.start + 1;
  }
}

export class RangedRead extends Readable {
  private readonly ranges: Range[] = [];
  private next: number;
  private waiting = false;
  /** Bytes held in the ranges' chunk lists. */
  private held = 0;

  constructor(
    private readonly open: OpenRange,
    start: number,
    private readonly last: number,
    private readonly options: RangedReadOptions,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.next = start;
    this.fill();
  }

  /** Resolves once the first range answered (its status known), rejects with its failure. */
  async ready(): Promise<void> {
    const first = this.ranges[0];
    await new Promise<void>((resolve, reject) => {
      if (this.destroyed) return reject(this.errored ?? new Error('the ranged read was closed'));
      if (!first || first.body) return resolve();
      const onError = (err: Error) => reject(err);
      this.once('error', onError);
      this.once('first', () => {
        this.off('error', onError);
        resolve();
      });
    });
  }

  /** Asks for further ranges until `window` are in flight. */
  private fill(): void {
    while (this.ranges.length < this.options.window && this.next <= this.last) {
      const range = new Range(this.next, Math.min(this.last, this.next + this.options.rangeSize - 1));
      this.next = range.end + 1;
      this.ranges.push(range);
      this.request(range);
    }
  }

  /** Asks for the bytes of `range` not received yet. */
  private request(range: Range): void {
    range.receivedAtRequest = range.received;
    this.open(range.start + range.received, range.end, range.controller.signal).then(
      (body) => this.attach(range, body),
      (err: Error) => this.failed(range, err),
    );
  }

  private attach(range: Range, body: Readable): void {
    if (this.destroyed) {
      body.destroy();
      return;
    }
    range.body = body;
    if (range === this.ranges[0]) this.emit('first');
    body.on('data', (chunk: Buffer) => {
      range.chunks.push(chunk);
      range.received += chunk.length;
      range.held += chunk.length;
      this.hold(chunk.length);
      // The range being emitted waits for the consumer once it holds HEAD_AHEAD bytes (pausing
      // the socket at every chunk costs system calls); the others read ahead up to aheadBytes.
      if (range === this.ranges[0] && this.waiting) this.emitAvailable();
      else if (range.held > (range === this.ranges[0] ? HEAD_AHEAD : this.options.aheadBytes)) body.pause();
    });
    body.on('end', () => {
      if (range.body !== body) return;
      if (range.received !== range.length) return this.failed(range, new Error(`range ${range.start}-${range.end} of the blob ended after ${range.received} of ${range.length} bytes`));
      range.ended = true;
      if (range === this.ranges[0] && this.waiting) this.emitAvailable();
    });
    body.on('error', (err) => range.body === body && this.failed(range, err));
  }

  /**
   * A range failed. Being emitted without a byte since it was asked for, it ends the read.
   * Otherwise it is asked for again from where it stopped, at once if it is being emitted and
   * the consumer waits, else when its bytes are needed: a store may close a connection that
   * waits too long unread (radosgw's beast frontend after 65 s without progress), and the
   * store timeout (--s3-timeout) cuts one that a slow client held back.
   */
  private failed(range: Range, err: Error): void {
    if (this.destroyed) return;
    const head = range === this.ranges[0];
    if (head && range.received === range.receivedAtRequest) return this.fail(err);
    range.lost = true;
    range.body?.destroy();
    range.body = undefined;
    if (head && this.waiting) this.emitAvailable();
  }

  private hold(bytes: number): void {
    this.held += bytes;
    bufferedTotal += bytes;
  }

  private fail(err: Error): void {
    if (!this.destroyed) this.destroy(err);
  }

  override _read(): void {
    this.waiting = true;
    this.emitAvailable();
  }

  /** Pushes what the head range has, moving on to the next range when it is done. */
  private emitAvailable(): void {
    while (this.waiting) {
      const head = this.ranges[0];
      if (!head) {
        this.waiting = false;
        this.push(null);
        return;
      }
      const chunk = head.chunks.shift();
      if (chunk) {
        head.held -= chunk.length;
        this.hold(-chunk.length);
        this.waiting = this.push(chunk);
        continue;
      }
      if (!head.ended) {
        // A range whose wait failed is asked for again now that its turn has come.
        if (head.lost) {
          head.lost = false;
          this.request(head);
        }
        head.body?.resume();
        return;
      }
      this.ranges.shift();
      this.fill();
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    for (const range of this.ranges) {
      range.controller.abort();
      range.body?.destroy();
    }
    this.ranges.length = 0;
    bufferedTotal -= this.held;
    this.held = 0;
    callback(err);
  }
}
