/**
 * A listing handed out while PostgreSQL still sends its rows (catalog-storage.ts MEMBERS through
 * CatalogSql.stream).
 */
import type { Entry, Listing } from '../storage.js';

/**
 * The rows of a statement still arriving (CatalogSql.stream), handed out as they come: a 207
 * starts with the first rows of a 10,000-row listing while PostgreSQL is still sending the rest
 * (rendering and the statement overlap instead of adding up). The statement always runs to its
 * end whatever the reader does, so its connection goes back to the pool in milliseconds.
 */
export class ArrivingRows<R> {
  private rows: R[] = [];
  /** Rows of `rows` already handed out. */
  private taken = 0;
  private done = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  constructor(run: (onRow: (row: R) => void) => Promise<void>) {
    const woken = () => {
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    };
    run((row) => {
      this.rows.push(row);
      if (this.wake) woken();
    }).then(
      () => {
        this.done = true;
        woken();
      },
      (err: unknown) => {
        this.failure = err;
        this.done = true;
        woken();
      },
    );
  }

  /** The next row or the end; one waiter at a time (ready() is awaited before the listing is read). */
  private arrival(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  /** Resolves when the first row has come (true) or the statement ended without one (false); rejects when it failed first. */
  async ready(): Promise<boolean> {
    if (this.rows.length === 0 && !this.done) await this.arrival();
    if (this.rows.length > 0) return true;
    if (this.failure !== undefined) throw this.failure;
    return false;
  }

  /** The entries, at most `batchSize` at a time, as the rows arrive (to be iterated once). */
  listing(entryOf: (row: R) => Entry, batchSize: number): Listing {
    return { batches: () => this.entries(entryOf, batchSize) };
  }

  private async *entries(entryOf: (row: R) => Entry, batchSize: number): AsyncGenerator<Entry[]> {
    for (;;) {
      const end = Math.min(this.rows.length, this.taken + batchSize);
      if (end > this.taken) {
        const batch = new Array<Entry>(end - this.taken);
        for (let k = this.taken; k < end; k++) batch[k - this.taken] = entryOf(this.rows[k]!);
        // Rows handed out are let go of.
        if (end === this.rows.length) {
          this.rows = [];
          this.taken = 0;
        } else {
          this.taken = end;
        }
        yield batch;
      } else if (this.done) {
        if (this.failure !== undefined) throw this.failure;
        return;
      } else {
        await this.arrival();
      }
    }
  }
}
