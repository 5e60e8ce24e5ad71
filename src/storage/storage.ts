/**
 * The storage seam: what the protocol layer needs from a backend, shaped after the resources of
 * RFC 4918 rather than after node:fs. Protocol code never touches the filesystem itself.
 *
 * Errors: every method throws DavError with the status the failure becomes:
 * 404 missing resource, 409 missing or non-collection parent, 405 existing target where a new one
 * is required, 403 permission denied / reserved name / symlink leaving the root, 507 no space,
 * 413 upload larger than allowed, 400 upload shorter than announced.
 * Tree operations (delete, copy, move) do not throw for single members: they return the members
 * that failed, each with its status, for a 207 (RFC 4918 §9.6.1, §9.8.8).
 */
import type { Readable } from 'node:stream';
import type { DavPath } from '../core/paths.js';
import type { DeadProperty, Lock, LockGuard } from '../metadata/store.js';

export interface Entry {
  readonly path: DavPath;
  readonly isCollection: boolean;
  /** Bytes; 0 for collections. */
  readonly size: number;
  readonly mtimeMs: number;
  readonly birthtimeMs: number;
  /** Strong entity tag, quoted (RFC 9110 §8.8.3). */
  readonly etag: string;
}

/** A listing; its entries are read when iterated, once (see Storage.members). */
export interface Listing {
  /** The entries, a few hundred at a time. */
  batches(): AsyncIterable<readonly Entry[]>;
}

/** A listing counted before its entries are read (Depth infinity: PROPFIND refuses past a limit first). */
export interface CountedListing extends Listing {
  /** Members counted (those that vanish before their turn are then left out); past `max`, max + 1. */
  readonly count: number;
}

export interface MemberFailure {
  readonly path: DavPath;
  readonly isCollection: boolean;
  readonly status: number;
  /** Why, for the log (an errno code such as EACCES); never sent to the client. */
  readonly reason?: string;
}

/** An opened file, stat'ed through its descriptor so that the entry and the bytes agree. */
export interface OpenFile {
  readonly entry: Entry;
  /** Whole content in one buffer; only for small files (`entry.size <= smallFileBytes`). */
  readAll(): Promise<Buffer>;
  /** Reads up to `length` bytes at `position` into the start of `buffer`; resolves with the count (0 at the end). */
  read(buffer: Buffer, length: number, position: number): Promise<number>;
  /**
   * Bytes `start`..`end` (inclusive) as one stream, for a backend whose reads come from the
   * network (object storage): sent on as they arrive, with no copy into the reader's buffers.
   */
  stream?(start: number, end: number): Promise<Readable>;
  close(): Promise<void>;
}

export interface WriteOptions {
  /** Bytes the client announced (Content-Length or X-Expected-Entity-Length); fewer is an error. */
  readonly expectedLength?: number | undefined;
  /** Bytes the body should carry (Content-Length), to size uploads; not enforced (the HTTP layer does). */
  readonly sizeHint?: number | undefined;
  /** Refuse (413) a body larger than this. */
  readonly maxBytes?: number | undefined;
  /** Modification time to give the file (X-OC-Mtime), seconds since the epoch. */
  readonly mtime?: number | undefined;
  /** Checked once more where the new content replaces the old (see CommitCheck). */
  readonly commitCheck?: CommitCheck | undefined;
}

/**
 * What a write must still satisfy at the moment it commits, after a body that may have taken
 * minutes: the protocol layer's rules, asked by the backend against the resource as it is then.
 * Each throws a DavError (412, 423) to refuse; the old content then stays and the upload is dropped.
 */
export interface CommitCheck {
  /** RFC 9110 §13.2: the conditional headers, against the resource as it is now (null: none). */
  readonly resource?: (current: Entry | null) => void;
  /**
   * RFC 4918 §7.5: the locks rooted at the resource or at any ancestor, unexpired now; `created`
   * when the write adds a member to the parent. Asked only by a backend that reads the locks in
   * the transaction that commits the write, serialized with lock grants (object storage); the
   * others rely on the check made before the upload.
   */
  readonly locks?: (current: readonly Lock[], created: boolean) => void;
  /**
   * RFC 4918 §7.5, for a backend that cannot read the locks where it commits (the filesystem):
   * the lock check made before the upload, made again just before the commit, so that a LOCK
   * granted during a long upload counts. `created()` tells whether the write adds a member to the
   * parent (asked only when the check is made: it costs the backend a look at the target).
   */
  readonly locksBeforeCommit?: (created: () => Promise<boolean>) => Promise<void>;
}

export interface WriteResult {
  readonly created: boolean;
  readonly entry: Entry;
}

/** RFC 4331 quota figures of a collection; a null figure is absent (404). */
export interface SpaceInfo {
  /** Bytes that can still be written (the filesystem's free space for this server's user; object storage: what --quota-bytes leaves, null without it). */
  readonly availableBytes: number | null;
  /** Bytes of the files in the collection and below it; null when too many to count (object storage without --quota-bytes). */
  readonly usedBytes: number | null;
}

/** A COPY or MOVE for AtomicTreeOps.transfer. */
export interface TransferRequest {
  readonly op: 'copy' | 'move';
  readonly from: DavPath;
  readonly to: DavPath;
  /** COPY's depth (a MOVE is always infinity). */
  readonly depth: 0 | 'infinity';
  /** RFC 4918 §9.8.4/§9.9.3: true deletes what is at `to` first; false refuses it (412). */
  readonly overwrite: boolean;
  /** The source URL ended with '/': a file there is not found (RFC 4918 §5.2). */
  readonly collectionOnly: boolean;
  /** Modification time to give `to` (X-OC-Mtime), seconds since the epoch. */
  readonly mtime?: number | undefined;
  /** The lock check (RFC 4918 §7.5) against the locks as they are at the change; absent with locking off. */
  readonly guard?: LockGuard | undefined;
}

/** A DELETE for AtomicTreeOps.delete. */
export interface DeleteRequest {
  readonly path: DavPath;
  /** The URL ended with '/': a file there is not found. */
  readonly collectionOnly: boolean;
  readonly guard?: LockGuard | undefined;
  /** The members to leave in place (locked ones), asked each time the guard has accepted the locks. */
  readonly keep: () => readonly DavPath[];
}

/**
 * COPY, MOVE and DELETE as one atomic step each, lock check and metadata (dead properties, locks)
 * included: for a backend that keeps all of them in one database (object storage). Errors are
 * DavErrors: 404, 409, 412 (Overwrite: F or a collection in the way), 423 from the guard.
 */
export interface AtomicTreeOps {
  /** Resolves with true when something at `to` was replaced (204), false when `to` is new (201). */
  transfer(request: TransferRequest): Promise<boolean>;
  /** Deletes all but the kept members, their ancestors and the locks on what stays. */
  delete(request: DeleteRequest): Promise<void>;
}

export interface Storage {
  /** Files at or below this size are read into memory in one call instead of streamed. */
  readonly smallFileBytes: number;
  /** True for paths that belong to the server itself (metadata, partial uploads): never served. */
  isReserved(path: DavPath): boolean;
  /** The resource, or null when nothing is mapped there. */
  stat(path: DavPath): Promise<Entry | null>;
  /** Members of a collection (reserved names and symlinks leaving the root left out). */
  list(path: DavPath): Promise<Entry[]>;
  /**
   * The members (depth 1) or all descendants (infinity) of a collection, parents before
   * children, in the order of their names' bytes, read batch by batch while the caller writes
   * them out. Depth infinity is counted first; with `max`, counting (and listing) stops past
   * `max` members. Depth 1 may still be arriving while the first batches are handed out.
   */
  members(path: DavPath, depth: 'infinity', max?: number): Promise<CountedListing>;
  members(path: DavPath, depth: 1 | 'infinity', max?: number): Promise<Listing>;
  openFile(path: DavPath): Promise<OpenFile>;
  /** Streams `body` into the file atomically: the old content stays until the new one is complete. */
  writeFile(path: DavPath, body: Readable, options: WriteOptions): Promise<WriteResult>;
  /** Creates an empty file if nothing is there (LOCK on an unmapped URL); false when it existed. */
  createEmptyFile(path: DavPath): Promise<boolean>;
  createCollection(path: DavPath): Promise<void>;
  /** Deletes a resource and its members, leaving `keep` (and their ancestors) in place. */
  deleteTree(path: DavPath, keep: readonly DavPath[]): Promise<MemberFailure[]>;
  /**
   * Copies `from` to `to`; depth 0 copies a collection without members. `to` must not exist,
   * except that a file may replace a file (in one step: the old content stays until then).
   */
  copyTree(from: DavPath, to: DavPath, depth: 0 | 'infinity'): Promise<MemberFailure[]>;
  /** Moves `from` to `to`; as for copyTree, only a file may already be at `to`. */
  moveTree(from: DavPath, to: DavPath): Promise<MemberFailure[]>;
  setModifiedTime(path: DavPath, seconds: number): Promise<void>;
  /** Quota figures of a collection (RFC 4331); cheap to ask again, as a backend keeps them a while. */
  space(path: DavPath): Promise<SpaceInfo>;
  /** Present when COPY, MOVE and DELETE can each be one atomic step (see AtomicTreeOps). */
  readonly atomicTree?: AtomicTreeOps;
  /** Present when the database can tell that a listing is unchanged (see ListingFingerprints). */
  readonly listingFingerprints?: ListingFingerprints;
}

/**
 * Telling a Depth 1 listing unchanged without reading it (object storage): a fingerprint of the
 * members of a collection and, when asked, of the dead properties of the collection and its
 * members, taken by the database in the very statement that reads them. Equal fingerprints mean
 * equal rows (a 64-bit hash of every row, combined), so an answer rendered from one read may be
 * sent again for as long as the fingerprint stays the same (PROPFIND's listing cache).
 */
export interface ListingFingerprints {
  /** The fingerprint of the members (and dead properties) of the collection at `path` now. */
  current(path: DavPath, withDeadProps: boolean): Promise<string>;
  /** members(path, 1) and, when asked, deadProps.getListing(path), with the fingerprint of exactly what they read. */
  read(path: DavPath, withDeadProps: boolean): Promise<FingerprintedListing>;
}

export interface FingerprintedListing {
  readonly listing: Listing;
  /** By path key, as DeadPropertyStore.getListing gives them; empty when not asked. */
  readonly deadProps: Map<string, DeadProperty[]>;
  /** The fingerprint of what was read: known once the listing has been read to its end. */
  fingerprint(): string | undefined;
}
