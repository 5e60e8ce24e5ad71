/**
 * The blob seam: immutable byte strings under keys the caller chooses (new random ones, never
 * reused), for backends that keep the tree elsewhere (src/storage/catalog/). A blob is written
 * once, read by ranges, and deleted; it is never changed in place.
 *
 * Errors: DavError with the status the failure becomes — 400 body shorter than announced, 413
 * body larger than allowed, 503 (with Retry-After) for an unreachable or failing store, 507 for
 * a store that refuses for lack of space; ClientGoneError when the body's connection broke off.
 */
import type { Readable } from 'node:stream';

export interface BlobPutOptions {
  /** Bytes the body announced (Content-Length or X-Expected-Entity-Length); fewer is an error (400). */
  readonly expectedLength?: number | undefined;
  /** Refuse (413) a body larger than this. */
  readonly maxBytes?: number | undefined;
}

export interface BlobInfo {
  readonly key: string;
  readonly lastModified: Date;
}

export interface BlobStore {
  /**
   * Streams `body` into a new blob at `key` and resolves with its size. On any failure nothing
   * is left at `key` (a multipart upload is aborted); the body stream is left to its owner.
   */
  put(key: string, body: Readable, options: BlobPutOptions): Promise<number>;
  /** Bytes `start`..`end` (inclusive) of a blob, streamed. */
  get(key: string, start: number, end: number): Promise<Readable>;
  /** The whole blob in memory (small blobs only). */
  getAll(key: string): Promise<Buffer>;
  /** Deletes the blobs (missing ones are not an error). */
  deleteMany(keys: readonly string[]): Promise<void>;
  /** Every blob the store holds, in pages. */
  list(): AsyncIterable<readonly BlobInfo[]>;
  /** Aborts uploads in parts begun before `cutoff` and never completed (a process died mid-upload); resolves with their count. */
  abortUnfinished(cutoff: Date): Promise<number>;
  /** Throws (with one line for the operator) when the store cannot be used: missing bucket, bad credentials, unreachable. */
  check(): Promise<void>;
  close(): void;
}
