/**
 * Object storage: the tree in PostgreSQL (schema.ts), file contents as immutable blobs in an
 * object store (src/blobs). What this buys over a bucket listing used as the tree:
 * - PROPFIND and every stat read only the catalog: no object store call at all.
 * - MOVE is one UPDATE of the moved node's parent and name, whatever the size of the tree.
 * - COPY makes nodes that share the blobs (reference counted): no object is copied.
 * - PUT streams to a new random key, then one statement re-checks the locks and preconditions
 *   (fastdav_catalog_put, schema.ts) and points the node at it: a failed, cut or refused upload leaves nothing
 *   visible, and a live object is never overwritten.
 * - DELETE drops the nodes and releases their blobs in one transaction; the sweep (gc.ts)
 *   deletes released objects after a grace period.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DavError } from '../../core/errors.js';
import { crashPoint } from '../../core/crash-points.js';
import { DavPath } from '../../core/paths.js';
import type { BlobStore } from '../../blobs/blob-store.js';
import type { AtomicTreeOps, CommitCheck, CountedListing, Entry, FingerprintedListing, Listing, ListingFingerprints, MemberFailure, OpenFile, SpaceInfo, Storage, WriteOptions, WriteResult } from '../storage.js';
import { ArrivingRows } from './arriving-rows.js';
import { openBlobFile } from './blob-file.js';
import { WALK, TARGET, walkCte, walkTarget } from './walk.js';
import { ancestorKeys, lockKeys, type LockRow } from '../../metadata/postgres/locks.js';
import type { Lock, LockGuard } from '../../metadata/store.js';
import type { PostgresMetadataStore } from '../../metadata/postgres/store.js';
import { CatalogSql, type Sql, isMissingParent, isUniqueViolation } from './sql.js';
import { CLEANUP_WAIT_MS, waitAtMost } from '../../core/wait.js';
import { CURRENT, FINGERPRINT_MARK, NO_PROPS_FINGERPRINT, PROPS_FINGERPRINT_COLUMN, combined, withMembersFingerprint } from './listing-fingerprints.js';
import { LISTING_PROPS_COLUMNS, LISTING_PROPS_FROM, byKey, type PropRow } from './dead-props.js';

export interface NodeRow {
  id: string;
  parent: string | null;
  name: string;
  is_collection: boolean;
  blob: string | null;
  size: string;
  etag: string;
  mtime_ms: string;
  created_ms: string;
}

/** Entries handed out per listing batch. */
const LISTING_BATCH = 500;

const NODE_COLUMNS = 'id, parent, name, is_collection, blob, size, etag, mtime_ms, created_ms';

const RESOLVE = `${WALK}
SELECT ${NODE_COLUMNS.split(', ').map((c) => `n.${c}`).join(', ')} FROM walk w JOIN catalog_nodes n ON n.id = w.id
WHERE w.depth = cardinality($1::text[])`;

/** The tree functions (schema.ts, migration 110): the last four parameters are the lock check's. */
const TRANSFER = 'SELECT fastdav_catalog_transfer($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) AS result';
const DELETE = 'SELECT fastdav_catalog_delete($1, $2, $3, $4::jsonb, $5, $6, $7, $8) AS result';

/** What a tree function answers: a status, or the relevant locks when they are not those expected. */
interface TreeStep {
  status?: number;
  locks?: LockRow[];
}

/** The refusals of the tree functions (RFC 4918 §9.6, §9.8.5, §9.9.4). */
const REFUSED: Record<number, string> = { 404: 'Not Found', 409: 'the parent collection does not exist', 412: 'destination exists' };

/** PUT, before the upload: the new blob recorded as pending ($2) if the parent ($1, segments) is a collection. */
const RECORD_PENDING = `${WALK}
INSERT INTO catalog_blobs (key, state) SELECT $2, 'pending'
WHERE EXISTS (SELECT 1 FROM catalog_nodes WHERE id = ${TARGET} AND is_collection) RETURNING key`;

/** PUT's commit in one statement (schema.ts, migration 120). */
const PUT_COMMIT = 'SELECT fastdav_catalog_put($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) AS result';
/** fastdav_catalog_put's p_old_etag that no entity tag is: the first try of a conditional PUT only reads. */
const READ_FIRST = '?';

/** What fastdav_catalog_put answers. */
interface PutCommit {
  created?: boolean;
  /** 405, 409, 503 or 507: refused, nothing written. */
  status?: number;
  /** The locks or the resource were not those expected: nothing written, here they are. */
  changed?: boolean;
  locks?: LockRow[];
  old?: NodeRow | null;
}

/** 507 with RFC 4331's precondition: the quota (--quota-bytes) would be passed. */
const quotaUsedUp = (): DavError => new DavError(507, 'the quota is used up', { condition: 'quota-not-exceeded' });

/** The refusals of PUT's commit. */
function commitRefused(status: number): DavError {
  if (status === 405) return new DavError(405, 'cannot PUT to a collection');
  if (status === 409) return new DavError(409, 'the parent collection does not exist');
  if (status === 507) return quotaUsedUp();
  // The sweep took the pending blob for abandoned (an upload longer than the grace period).
  return new DavError(503, 'the upload outlived the garbage collection grace period', { headers: { 'retry-after': '5' } });
}

/** The new content a PUT commits. */
interface NewContent {
  blob: string | null;
  size: number;
  etag: string;
  mtimeMs: number;
  now: number;
}

/**
 * A collection's tag names the collection, not its members: no row to update on every change
 * below it (a hot root row), and RFC 4918 asks nothing more of a collection's etag.
 */
const collectionEtag = (id: string, birthtimeMs: number): string => `"c${Number(id).toString(16)}-${birthtimeMs.toString(16)}"`;

/**
 * The members of the collection at $1 (segments; at most $2, null: all), found in the same
 * statement, in the order of their names' bytes, with only what an Entry needs, each row as ONE
 * text: `size/mtime_ms/created_ms/id/name/etag` (the id only for a collection, whose tag it
 * makes; empty for a file). A name never holds a '/' (DavPath), the numbers neither, so the first
 * five '/' are the separators and the etag is the rest, whatever it holds. One column instead of
 * seven: node-postgres decodes a string per column and allocates per row, and for a 10,000-file
 * folder that decoding cost more CPU than rendering the 207 (CatalogSql.raw already spares the
 * row objects and the int8 parser). `name` is C-collated and the (parent, name) index covers the
 * row (migration 130): an index-only scan in order, its first rows sent at once.
 */
const MEMBERS_IN_ORDER = `SELECT concat(size, '/', mtime_ms, '/', created_ms, '/', CASE WHEN is_collection THEN id END, '/', name, '/', etag)
FROM catalog_nodes WHERE parent = ${TARGET} ORDER BY name`;
const MEMBERS = `${WALK}
${MEMBERS_IN_ORDER} LIMIT $2`;
/** All the members as MEMBERS gives them, then their fingerprint (listing-fingerprints.ts). */
const FINGERPRINTED_MEMBERS = withMembersFingerprint(MEMBERS_IN_ORDER);
/** getListing's rows (dead-props.ts), each with the fingerprint of them all. */
const FINGERPRINTED_PROPS = `${WALK} SELECT ${LISTING_PROPS_COLUMNS}, ${PROPS_FINGERPRINT_COLUMN} ${LISTING_PROPS_FROM} ORDER BY rel, p.ns, p.name`;

/** Where the '/' after size, mtime_ms, created_ms and id are in a listing row (MEMBERS, TREE). */
function leadingSlashes(row: string): [number, number, number, number] {
  const a = row.indexOf('/');
  const b = row.indexOf('/', a + 1);
  const c = row.indexOf('/', b + 1);
  return [a, b, c, row.indexOf('/', c + 1)];
}

/** The Entry at `path` of a listing row: `slashes` from leadingSlashes, the etag from `etagFrom` on. */
function rowEntry(path: DavPath, row: string, [a, b, c, d]: readonly [number, number, number, number], etagFrom: number): Entry {
  const collection = d > c + 1;
  const birthtimeMs = Number(row.slice(b + 1, c));
  return {
    path,
    isCollection: collection,
    size: Number(row.slice(0, a)),
    mtimeMs: Number(row.slice(a + 1, b)),
    birthtimeMs,
    etag: collection ? collectionEtag(row.slice(c + 1, d), birthtimeMs) : row.slice(etagFrom),
  };
}

/** The Entry of a MEMBERS row below `parent` (its one column, see MEMBERS). */
export function memberEntry(parent: DavPath, row: string): Entry {
  const slashes = leadingSlashes(row);
  const nameEnd = row.indexOf('/', slashes[3] + 1);
  return rowEntry(parent.child(row.slice(slashes[3] + 1, nameEnd)), row, slashes, nameEnd + 1);
}

/**
 * The tree below the node $1 (at most $2 rows, null: all), ordered by the path below it (every
 * collection before its members), each row one text as in MEMBERS but for the name:
 * `size/mtime_ms/created_ms/id/n/seg1/…/segn/etag`, the n names of the path below the top.
 */
const TREE = `WITH RECURSIVE tree AS (
  SELECT id, is_collection, size, etag, mtime_ms, created_ms, ARRAY[name COLLATE "C"] AS rel FROM catalog_nodes WHERE parent = $1
  UNION ALL
  SELECT n.id, n.is_collection, n.size, n.etag, n.mtime_ms, n.created_ms, t.rel || (n.name COLLATE "C")
  FROM tree t JOIN catalog_nodes n ON n.parent = t.id
) SELECT concat(size, '/', mtime_ms, '/', created_ms, '/', CASE WHEN is_collection THEN id END, '/', cardinality(rel), '/', array_to_string(rel, '/'), '/', etag)
FROM tree ORDER BY rel LIMIT $2`;

/** The Entry of a TREE row below `top` (its one column, see TREE). */
export function treeEntry(top: DavPath, row: string): Entry {
  const slashes = leadingSlashes(row);
  let e = row.indexOf('/', slashes[3] + 1);
  const n = Number(row.slice(slashes[3] + 1, e));
  const rel: string[] = [];
  for (let i = 0; i < n; i++) {
    const next = row.indexOf('/', e + 1);
    rel.push(row.slice(e + 1, next));
    e = next;
  }
  return rowEntry(top.concat(DavPath.of(rel)), row, slashes, e + 1);
}

/**
 * Rows already read, handed out as entries LISTING_BATCH at a time: made batch by batch, the
 * entries of a 10,000-row listing do not all live through the collections of the rendering.
 */
function batched<R>(rows: readonly R[], entryOf: (row: R) => Entry): CountedListing {
  return {
    count: rows.length,
    async *batches() {
      for (let i = 0; i < rows.length; i += LISTING_BATCH) {
        const end = Math.min(rows.length, i + LISTING_BATCH);
        const batch = new Array<Entry>(end - i);
        for (let k = i; k < end; k++) batch[k - i] = entryOf(rows[k]!);
        yield batch;
      }
    },
  };
}

/** A new random blob key: 128 bits, hex, spread over 256 key prefixes ("ab/abcdef…"). */
export function newBlobKey(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 2)}/${hex}`;
}

export interface CatalogOptions {
  /** --quota-bytes: the space offered (quota properties); 0 or absent: no quota. */
  readonly quotaBytes?: number | undefined;
  /** False when PostgreSQL cannot fingerprint listings (before 14: no hash_record_extended): no listing cache. */
  readonly fingerprints?: boolean;
}

export class CatalogStorage implements Storage {
  readonly smallFileBytes = 64 * 1024;
  readonly sql: CatalogSql;

  constructor(
    private readonly store: PostgresMetadataStore,
    readonly blobs: BlobStore,
    private readonly options: CatalogOptions = {},
  ) {
    this.sql = new CatalogSql(store);
    this.listingFingerprints =
      options.fingerprints === false
        ? undefined
        : {
            current: async (path, withDeadProps) => {
              const [row] = await this.sql.run<{ members: string; props: string | null }>(CURRENT, [path.segments, withDeadProps]);
              return combined(row!.members, row!.props);
            },
            read: (path, withDeadProps) => this.fingerprintedListing(path, withDeadProps),
          };
  }

  isReserved(): boolean {
    return false;
  }

  private entry(path: DavPath, row: NodeRow): Entry {
    const mtimeMs = Number(row.mtime_ms);
    const birthtimeMs = Number(row.created_ms);
    const etag = row.is_collection ? collectionEtag(row.id, birthtimeMs) : row.etag;
    return { path, isCollection: row.is_collection, size: Number(row.size), mtimeMs, birthtimeMs, etag };
  }

  /** The node at `path`, or null. */
  async node(path: DavPath, run: Sql = this.sql.run): Promise<NodeRow | null> {
    return (await run<NodeRow>(RESOLVE, [path.segments]))[0] ?? null;
  }

  /** The collection `path` must be, for something to be created in it (409 otherwise, RFC 4918 §9.7.1). */
  private async parentOf(path: DavPath, run: Sql = this.sql.run): Promise<NodeRow> {
    const parent = await this.node(path.parent(), run);
    if (!parent || !parent.is_collection) throw new DavError(409, 'the parent collection does not exist');
    return parent;
  }

  private async existing(path: DavPath): Promise<NodeRow> {
    const row = await this.node(path);
    if (!row) throw new DavError(404, 'Not Found');
    return row;
  }

  async stat(path: DavPath): Promise<Entry | null> {
    const row = await this.node(path);
    return row ? this.entry(path, row) : null;
  }

  async list(path: DavPath): Promise<Entry[]> {
    const listing = await this.members(path, 1);
    const out: Entry[] = [];
    for await (const batch of listing.batches()) out.push(...batch);
    return out;
  }

  members(path: DavPath, depth: 'infinity', max?: number): Promise<CountedListing>;
  members(path: DavPath, depth: 1 | 'infinity', max?: number): Promise<Listing>;
  async members(path: DavPath, depth: 1 | 'infinity', max = Infinity): Promise<Listing | CountedListing> {
    const limit = Number.isFinite(max) ? max + 1 : null;
    if (depth === 1) {
      const rows = new ArrivingRows<(string | null)[]>((onRow) => this.sql.stream(MEMBERS, [path.segments, limit], onRow));
      // No member: an empty collection, or nothing at `path` (404).
      if (!(await rows.ready())) await this.existing(path);
      return rows.listing((r) => memberEntry(path, r[0]!), LISTING_BATCH);
    }
    const top = await this.existing(path);
    const rows = await this.sql.raw(TREE, [top.id, limit]);
    return batched(rows, (r) => treeEntry(path, r[0]!));
  }

  /** Fingerprints of members and dead properties (listing-fingerprints.ts); absent on PostgreSQL before 14. */
  readonly listingFingerprints: ListingFingerprints | undefined;

  /** members(path, 1) and the dead properties' getListing, each statement with its fingerprint. */
  private async fingerprintedListing(path: DavPath, withDeadProps: boolean): Promise<FingerprintedListing> {
    let membersFingerprint: string | undefined;
    const rows = new ArrivingRows<(string | null)[]>((onRow) =>
      this.sql.stream(FINGERPRINTED_MEMBERS, [path.segments], (row) => {
        if (row[0]!.startsWith(FINGERPRINT_MARK)) membersFingerprint = row[0]!.slice(FINGERPRINT_MARK.length);
        else onRow(row);
      }),
    );
    const props = withDeadProps ? this.sql.run<PropRow & { fingerprint: string }>(FINGERPRINTED_PROPS, [path.segments]) : undefined;
    // No member: an empty collection, or nothing at `path` (404).
    const [found, propRows] = await Promise.all([rows.ready(), props]);
    if (!found) await this.existing(path);
    const propsFingerprint = propRows === undefined ? null : (propRows[0]?.fingerprint ?? NO_PROPS_FINGERPRINT);
    return {
      listing: rows.listing((r) => memberEntry(path, r[0]!), LISTING_BATCH),
      deadProps: propRows === undefined ? new Map() : byKey(path, propRows),
      fingerprint: () => (membersFingerprint === undefined ? undefined : combined(membersFingerprint, propsFingerprint)),
    };
  }

  async openFile(path: DavPath): Promise<OpenFile> {
    const row = await this.existing(path);
    return openBlobFile(this.entry(path, row), this.blobs, row.is_collection ? null : row.blob);
  }

  async writeFile(path: DavPath, body: Readable, options: WriteOptions): Promise<WriteResult> {
    const key = newBlobKey();
    let size = 0;
    const announced = options.expectedLength ?? options.sizeHint;
    if (announced === 0) await this.parentOf(path);
    if (announced === 0) {
      // Nothing to store: an empty file has no blob. The body is still read to its end.
      for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) size += chunk.length;
      if (size > 0) throw new DavError(400, `body has ${size} bytes, 0 were announced`);
    } else {
      // Recorded first: should this process die during the upload, the sweep finds the object.
      // Only under an existing collection (409 before a byte is read), in the same statement.
      const pending = await this.sql.run(RECORD_PENDING, [path.parent().segments, key]);
      if (pending.length !== 1) throw new DavError(409, 'the parent collection does not exist');
      try {
        // Refused before a byte is read when the announced size cannot fit (a missing parent is a 409 first).
        if (announced !== undefined) await this.assertRoom(announced);
        size = await this.blobs.put(key, body, { expectedLength: announced, maxBytes: options.maxBytes });
      } catch (err) {
        await this.forget(key);
        throw err;
      }
    }
    const blob = announced === 0 ? null : key;
    const now = Date.now();
    const mtimeMs = options.mtime !== undefined ? Math.round(options.mtime * 1000) : now;
    const etag = `"${key.slice(3)}"`;
    crashPoint('put-before-commit');
    try {
      const created = await this.retryOnRace(() => this.commitPut(path, { blob, size, etag, mtimeMs, now }, options.commitCheck));
      return { created, entry: { path, isCollection: false, size, mtimeMs, birthtimeMs: now, etag } };
    } catch (err) {
      if (blob !== null) await this.forget(blob);
      throw err;
    }
  }

  /**
   * PUT's commit: the node at `path` pointed at the new blob, created if need be, the old blob
   * released, in one statement (fastdav_catalog_put, migration 120) that writes only when the
   * locks that can cover the resource and, for a conditional request, the resource itself are as
   * expected: none and anything at first, then what the last try handed back once `check` accepted
   * it (CommitCheck: 423, 412). PostgresLocks.untilAccepted runs the tries, and holds the advisory
   * locks across the decisions if they keep changing. Resolves with whether the node was created.
   */
  private async commitPut(path: DavPath, put: NewContent, check: CommitCheck | undefined): Promise<boolean> {
    let created = false;
    /** What the last try found, when it wrote nothing. */
    let found: PutCommit | undefined;
    let oldEtag: string | null = check?.resource ? READ_FIRST : null;
    const decide = (locks: readonly Lock[]): void => {
      if (!found) return; // the first try expects no lock and reads the resource
      check?.resource?.(found.old ? this.entry(path, found.old) : null);
      check?.locks?.(locks, found.created!);
      if (check?.resource) oldEtag = found.old?.etag ?? '';
    };
    await this.store.lockRows.untilAccepted(this.sql.run, decide, async (run, expected) => {
      const [row] = await run<{ result: PutCommit }>(PUT_COMMIT, [
        path.parent().segments, path.name, put.blob, put.size, put.etag, put.mtimeMs, put.now,
        this.options.quotaBytes ?? 0, oldEtag, path.key, ancestorKeys(path.key), check?.locks ? expected : null,
      ]);
      const result = row!.result;
      if (result.status !== undefined) throw commitRefused(result.status);
      if (result.changed) {
        found = result;
        return { done: false, locks: result.locks! };
      }
      created = result.created!;
      return { done: true, locks: [] };
    });
    return created;
  }

  /** RFC 4331 §6: with --quota-bytes, an upload whose announced size would pass it fails with 507 quota-not-exceeded before its body is read (the commit checks again). */
  private async assertRoom(size: number): Promise<void> {
    const quota = this.options.quotaBytes ?? 0;
    if (quota > 0 && (await this.usedBytes()) + size > quota) throw quotaUsedUp();
  }

  /** An upload that will never be pointed at: its object and row go now, or the sweep takes them. */
  private async forget(key: string): Promise<void> {
    // Should this fail or hang, the blob is still pending: gc.ts deletes it after the grace period.
    await waitAtMost(
      (async () => {
        await this.blobs.deleteMany([key]);
        await this.sql.run(`DELETE FROM catalog_blobs WHERE key = $1 AND state = 'pending'`, [key]);
      })(),
      CLEANUP_WAIT_MS,
    );
  }

  /**
   * Runs a write transaction again once when a concurrent request created the same name first
   * (it then finds that node); a parent deleted meanwhile is a 409.
   */
  private async retryOnRace<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (isMissingParent(err)) throw new DavError(409, 'the parent collection does not exist');
        if (!isUniqueViolation(err) || attempt > 0) throw err;
      }
    }
  }

  async createEmptyFile(path: DavPath): Promise<boolean> {
    const parent = await this.parentOf(path);
    const now = Date.now();
    try {
      const r = await this.sql.run(
        `INSERT INTO catalog_nodes (parent, name, is_collection, size, etag, mtime_ms, created_ms) VALUES ($1, $2, false, 0, $3, $4, $4)
         ON CONFLICT (parent, name) DO NOTHING RETURNING id`,
        [parent.id, path.name, `"${newBlobKey().slice(3)}"`, now],
      );
      return r.length === 1;
    } catch (err) {
      if (isMissingParent(err)) throw new DavError(409, 'the parent collection does not exist');
      throw err;
    }
  }

  async createCollection(path: DavPath): Promise<void> {
    const parent = await this.parentOf(path);
    const now = Date.now();
    try {
      await this.sql.run(
        `INSERT INTO catalog_nodes (parent, name, is_collection, size, etag, mtime_ms, created_ms) VALUES ($1, $2, true, 0, '', $3, $3)`,
        [parent.id, path.name, now],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new DavError(405, 'resource already exists');
      if (isMissingParent(err)) throw new DavError(409, 'the parent collection does not exist');
      throw err;
    }
  }

  /** COPY, MOVE and DELETE in one statement each, with their lock check and the locks they drop (AtomicTreeOps). */
  readonly atomicTree: AtomicTreeOps = {
    transfer: async (r) =>
      (await this.transfer(r.op, r.from, r.to, r.depth, r.overwrite ? 'any' : 'none', r.collectionOnly, r.mtime, r.guard)) === 204,
    delete: async (r) => {
      await this.treeStep([r.path], r.guard, DELETE, () => [r.path.segments, r.path.key, r.collectionOnly, JSON.stringify(r.keep().filter((k) => r.path.contains(k)).map((k) => k.segments))]);
    },
  };

  async deleteTree(path: DavPath, keep: readonly DavPath[]): Promise<MemberFailure[]> {
    await this.atomicTree.delete({ path, collectionOnly: false, keep: () => keep });
    return [];
  }

  async copyTree(from: DavPath, to: DavPath, depth: 0 | 'infinity'): Promise<MemberFailure[]> {
    await this.transfer('copy', from, to, depth, 'file', false);
    return [];
  }

  async moveTree(from: DavPath, to: DavPath): Promise<MemberFailure[]> {
    await this.transfer('move', from, to, 'infinity', 'file', false);
    return [];
  }

  /**
   * COPY or MOVE in one statement (fastdav_catalog_transfer): MOVE gives the top node its new
   * parent and name, whatever the size of the tree; COPY makes nodes sharing the blobs. `replace`:
   * what may be at `to` already (the Storage seam's moveTree/copyTree: a file; HTTP with
   * Overwrite: T, anything). Resolves with 201 (created) or 204 (replaced).
   */
  private transfer(op: 'copy' | 'move', from: DavPath, to: DavPath, depth: 0 | 'infinity', replace: 'none' | 'file' | 'any', collectionOnly: boolean, mtime?: number, guard?: LockGuard): Promise<number> {
    const mtimeMs = mtime === undefined ? null : Math.round(mtime * 1000);
    return this.treeStep(op === 'move' ? [from, to] : [to], guard, TRANSFER, () => [op === 'move', from.segments, to.segments, from.key, to.key, replace, collectionOnly, depth === 'infinity', Date.now(), mtimeMs]);
  }

  /**
   * Runs a tree function that changes `written` until its lock check accepts
   * (PostgresLocks.untilAccepted: `guard.decide` judges the locks it hands back, throwing 423, and
   * the function runs again expecting them); once more when a concurrent request created the
   * destination first. Without a guard it still queues behind lock grants on `written` (and so
   * behind related tree changes), but reads no locks. Resolves with the function's status.
   */
  private async treeStep(written: readonly DavPath[], guard: LockGuard | undefined, statement: string, params: () => unknown[]): Promise<number> {
    const { keys, ancestors, roots } = lockKeys(written, guard?.roots);
    let status = 0;
    await this.retryOnRace(() =>
      this.store.lockRows.untilAccepted(this.sql.run, guard?.decide ?? (() => undefined), async (run, expected) => {
        const result = (await run<{ result: TreeStep }>(statement, [...params(), keys, ancestors, roots, guard ? expected : null]))[0]!.result;
        if (result.locks) return { done: false, locks: result.locks };
        status = result.status!;
        if (status >= 400) throw new DavError(status, REFUSED[status] ?? 'refused');
        return { done: true, locks: [] };
      }),
    );
    return status;
  }

  async setModifiedTime(path: DavPath, seconds: number): Promise<void> {
    const row = await this.existing(path);
    await this.sql.run(`UPDATE catalog_nodes SET mtime_ms = $2 WHERE id = $1`, [row.id, Math.round(seconds * 1000)]);
  }

  /** Bytes of every file, each counted with its own size (also when COPY shares its blob). */
  private async usedBytes(): Promise<number> {
    return Number((await this.sql.run<{ used: string | null }>(`SELECT sum(size) AS used FROM catalog_nodes`))[0]?.used ?? 0);
  }

  /** RFC 4331 figures for the whole store, from --quota-bytes; none without it (an object store has no "free space"). */
  async space(): Promise<SpaceInfo> {
    const quota = this.options.quotaBytes ?? 0;
    if (quota <= 0) return { usedBytes: null, availableBytes: null };
    const usedBytes = await this.usedBytes();
    return { usedBytes, availableBytes: Math.max(0, quota - usedBytes) };
  }
}
