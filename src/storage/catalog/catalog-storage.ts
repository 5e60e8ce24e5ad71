/**
 * Object storage: the tree in PostgreSQL (schema.ts), file contents as immutable blobs in an
 * object store (src/blobs). What this buys over a bucket listing used as the tree:
 * - PROPFIND and every stat read only the catalog: no object store call at all.
 * - MOVE is one UPDATE of the moved node's parent and name, whatever the size of the tree.
 * - COPY makes nodes that share the blobs (reference counted): no object is copied.
 * - PUT streams to a new random key, then one transaction re-checks the locks and preconditions
 *   (commit-check.ts) and points the node at it: a failed, cut or refused upload leaves nothing
 *   visible, and a live object is never overwritten.
 * - DELETE drops the nodes and releases their blobs in one transaction; the sweep (gc.ts)
 *   deletes released objects after a grace period.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DavError } from '../../core/errors.js';
import { DavPath } from '../../core/paths.js';
import type { BlobStore } from '../../blobs/blob-store.js';
import type { Entry, Listing, MemberFailure, OpenFile, SpaceInfo, Storage, WriteOptions, WriteResult } from '../storage.js';
import { openBlobFile } from './blob-file.js';
import { WALK, TARGET, walkCte, walkTarget } from './walk.js';
import { locksAboveJson, locksOf, serializeWithLockGrants } from './commit-check.js';
import { ancestorKeys, type LockRow } from '../../metadata/postgres/locks.js';
import type { PostgresMetadataStore } from '../../metadata/postgres/store.js';
import { CatalogSql, type Sql, isMissingParent, isUniqueViolation } from './sql.js';

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

/** Gives the blobs of the deleted rows (a data-modifying CTE `gone (blob)`) back: released at 0 references. */
const RELEASE_GONE = `
UPDATE catalog_blobs b SET refs = b.refs - g.n,
  state = CASE WHEN b.refs - g.n <= 0 THEN 'released' ELSE b.state END,
  released = CASE WHEN b.refs - g.n <= 0 THEN now() ELSE b.released END
FROM (SELECT blob, count(*) AS n FROM gone WHERE blob IS NOT NULL GROUP BY blob) g WHERE b.key = g.blob`;

/** RELEASE_GONE as a CTE `released`, for a statement whose main query reports something else. */
const RELEASED = `released AS (${RELEASE_GONE} RETURNING b.key)`;

/**
 * Where a MOVE or COPY goes, resolved in the statement that does it ($1: the source's segments,
 * $2: the destination parent's, $3: the destination's name): `source (id)`, `parent (id,
 * is_collection)` and `taken (is_collection)`, whatever is at the destination already.
 */
const ENDPOINTS = `WITH RECURSIVE ${walkCte('src', 1)}, ${walkCte('dst', 2)},
source AS (SELECT ${walkTarget('src', 1)} AS id),
parent AS (SELECT id, is_collection FROM catalog_nodes WHERE id = ${walkTarget('dst', 2)}),
taken AS (SELECT n.is_collection FROM catalog_nodes n JOIN parent p ON n.parent = p.id WHERE n.name = $3)`;

/** What a MOVE or COPY statement found, and how many nodes it moved or made. */
interface TreeStep {
  source: string | null;
  parent: boolean | null;
  taken: boolean | null;
  done: number;
}
const STEP_REPORT = `SELECT (SELECT id FROM source) AS source, (SELECT is_collection FROM parent) AS parent, (SELECT is_collection FROM taken) AS taken`;

/**
 * MOVE in one statement, when nothing is at the destination (RFC 4918 §9.9): the top node gets
 * its new parent and name, and the whole tree moves with it; nothing below it is touched.
 */
const MOVE_NODE = `${ENDPOINTS},
moved AS (
  UPDATE catalog_nodes n SET parent = p.id, name = $3 FROM source s, parent p
  WHERE n.id = s.id AND p.is_collection AND NOT EXISTS (SELECT 1 FROM taken)
  RETURNING n.id
) ${STEP_REPORT}, (SELECT count(*) FROM moved)::int AS done`;

/**
 * COPY in one statement, when nothing is at the destination ($4: depth infinity, $5: now): the
 * copies get fresh ids (mapped once: MATERIALIZED), the top one the new parent and name, and the
 * dead properties of their originals; their blobs gain one reference per copy. No object is copied.
 */
const COPY_TREE = `${ENDPOINTS},
sub AS (
  SELECT n.id, n.parent, 0 AS depth FROM catalog_nodes n JOIN source s ON n.id = s.id
  WHERE (SELECT is_collection FROM parent) AND NOT EXISTS (SELECT 1 FROM taken)
  UNION ALL
  SELECT n.id, n.parent, s.depth + 1 FROM catalog_nodes n JOIN sub s ON n.parent = s.id WHERE $4::boolean
), mapped AS MATERIALIZED (
  SELECT id AS old, nextval('catalog_nodes_id_seq') AS new, parent, depth FROM sub
), ins AS (
  INSERT INTO catalog_nodes (id, parent, name, is_collection, blob, size, etag, mtime_ms, created_ms)
  SELECT m.new, CASE WHEN m.depth = 0 THEN (SELECT id FROM parent) ELSE p.new END, CASE WHEN m.depth = 0 THEN $3 ELSE n.name END,
         n.is_collection, n.blob, n.size, n.etag, $5, $5
  FROM mapped m JOIN catalog_nodes n ON n.id = m.old LEFT JOIN mapped p ON p.old = m.parent
  RETURNING blob
), props AS (
  INSERT INTO catalog_props (node, ns, name, xml) SELECT m.new, p.ns, p.name, p.xml FROM mapped m JOIN catalog_props p ON p.node = m.old
), shared AS (
  UPDATE catalog_blobs b SET refs = b.refs + c.n
  FROM (SELECT blob, count(*) AS n FROM ins WHERE blob IS NOT NULL GROUP BY blob) c WHERE b.key = c.blob
  RETURNING b.key
) ${STEP_REPORT}, (SELECT count(*) FROM ins)::int AS done`;

/** Deletes the file (not a collection) named $2 in the collection at $1, releasing its blob. */
const DELETE_FILE_AT = `WITH RECURSIVE ${walkCte('dst', 1)},
gone AS (DELETE FROM catalog_nodes WHERE parent = ${walkTarget('dst', 1)} AND name = $2 AND NOT is_collection RETURNING blob),
${RELEASED} SELECT count(*)::int AS n FROM gone`;

/**
 * DELETE of the tree at $1 in one statement, except the nodes in $2 (ids), their members and
 * their ancestors; the parent references are checked at its end. `found` is 0 when nothing is at $1.
 */
const DELETE_TREE = `${WALK}, sub AS (
  SELECT id FROM catalog_nodes WHERE id = ${TARGET}
  UNION ALL
  SELECT n.id FROM catalog_nodes n JOIN sub s ON n.parent = s.id WHERE NOT (n.id = ANY($2::bigint[]))
), up AS (
  SELECT parent AS id FROM catalog_nodes WHERE id = ANY($2::bigint[])
  UNION
  SELECT n.parent FROM catalog_nodes n JOIN up ON n.id = up.id WHERE n.parent IS NOT NULL
), gone AS (
  DELETE FROM catalog_nodes WHERE id IN (SELECT id FROM sub) AND NOT (id = ANY($2::bigint[]))
    AND id NOT IN (SELECT id FROM up WHERE id IS NOT NULL)
  RETURNING blob
), ${RELEASED} SELECT count(*)::int AS found FROM sub`;

/**
 * Judges a MOVE or COPY statement: true when it did the work, false when a file is in the way
 * (the caller replaces it in a transaction); throws for what RFC 4918 §9.8.5/§9.9.4 answer.
 */
function stepDone(step: TreeStep): boolean {
  if (step.source === null) throw new DavError(404, 'Not Found');
  if (step.parent !== true) throw new DavError(409, 'the parent collection does not exist');
  // Only a file replacing a file reaches storage with an existing target (storage.ts); a
  // collection there now was made meanwhile.
  if (step.taken === true) throw new DavError(412, 'destination exists');
  if (step.taken === false) return false;
  if (step.done === 0) throw new DavError(404, 'Not Found'); // the source went meanwhile
  return true;
}

/** PUT, before the upload: the new blob recorded as pending ($2) if the parent ($1, segments) is a collection. */
const RECORD_PENDING = `${WALK}
INSERT INTO catalog_blobs (key, state) SELECT $2, 'pending'
WHERE EXISTS (SELECT 1 FROM catalog_nodes WHERE id = ${TARGET} AND is_collection) RETURNING key`;

/** What PUT's commit reads, in one statement (COMMIT_READ). */
interface CommitRead {
  /** The new blob is live now (false: the sweep took it, or there is none). */
  live: boolean;
  /** The parent collection's id, or null when there is none. */
  parent: string | null;
  /** The node at the path now, row-locked until the commit, or null. */
  old: NodeRow | null;
  /** The locks that can cover the resource (when asked for). */
  locks: LockRow[] | null;
}

/**
 * PUT's commit, read in one statement after serializeWithLockGrants ($1: the parent's segments,
 * $2: the new blob or null, $3: its size, $4: the name, $5/$6: the path's and its ancestors' keys
 * for the locks, $7: whether to read them): the pending blob made live (refs 1), the parent
 * collection, the node at the path FOR UPDATE (a concurrent PUT of the same name waits here) and
 * the locks as they are now (locksAboveJson).
 */
const COMMIT_READ = `WITH RECURSIVE ${walkCte('walk', 1)},
live AS (UPDATE catalog_blobs SET state = 'live', refs = 1, size = $3 WHERE key = $2::text AND state = 'pending' RETURNING key),
parent AS (SELECT id FROM catalog_nodes WHERE id = ${walkTarget('walk', 1)} AND is_collection),
old AS (SELECT ${NODE_COLUMNS.split(', ').map((c) => `n.${c}`).join(', ')} FROM catalog_nodes n JOIN parent p ON n.parent = p.id WHERE n.name = $4 FOR UPDATE OF n)
SELECT EXISTS (SELECT 1 FROM live) AS live, (SELECT id FROM parent) AS parent,
  -- bigint columns as text, as node-postgres gives them in rows (NodeRow)
  (SELECT row_to_json(o) FROM (SELECT id::text, parent::text, name, is_collection, blob, size::text, etag, mtime_ms::text, created_ms::text FROM old) o) AS old,
  CASE WHEN $7::boolean THEN ${locksAboveJson(5, 6)} END AS locks`;

/**
 * A collection's tag names the collection, not its members: no row to update on every change
 * below it (a hot root row), and RFC 4918 asks nothing more of a collection's etag.
 */
const collectionEtag = (id: string, birthtimeMs: number): string => `"c${Number(id).toString(16)}-${birthtimeMs.toString(16)}"`;

/**
 * The members of the collection at $1 (segments; at most $2, null: all), found in the same
 * statement, in the order of their names' bytes, with only what an Entry needs, read as texts
 * (CatalogSql.raw: decoding the rows of a 10,000-file folder as objects with parsed bigints took
 * longer than PostgreSQL's query).
 */
const MEMBERS = `${WALK}
SELECT id, name, is_collection, size, etag, mtime_ms, created_ms FROM catalog_nodes WHERE parent = ${TARGET} ORDER BY name COLLATE "C" LIMIT $2`;

/** The Entry of a MEMBERS row below `parent`. */
function memberEntry(parent: DavPath, [id, name, isCollection, size, etag, mtime, created]: (string | null)[]): Entry {
  const collection = isCollection === 't';
  const birthtimeMs = Number(created);
  return { path: parent.child(name!), isCollection: collection, size: Number(size), mtimeMs: Number(mtime), birthtimeMs, etag: collection ? collectionEtag(id!, birthtimeMs) : etag! };
}

/**
 * Rows already read, handed out as entries LISTING_BATCH at a time: made batch by batch, the
 * entries of a 10,000-row listing do not all live through the collections of the rendering.
 */
function batched<R>(rows: readonly R[], entryOf: (row: R) => Entry): Listing {
  return {
    count: rows.length,
    async *batches() {
      for (let i = 0; i < rows.length; i += LISTING_BATCH) yield rows.slice(i, i + LISTING_BATCH).map(entryOf);
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
}

export class CatalogStorage implements Storage {
  readonly smallFileBytes = 64 * 1024;
  readonly sql: CatalogSql;

  constructor(
    store: PostgresMetadataStore,
    readonly blobs: BlobStore,
    private readonly options: CatalogOptions = {},
  ) {
    this.sql = new CatalogSql(store);
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

  async members(path: DavPath, depth: 1 | 'infinity', max = Infinity): Promise<Listing> {
    const limit = Number.isFinite(max) ? max + 1 : null;
    if (depth === 1) {
      const rows = await this.sql.raw(MEMBERS, [path.segments, limit]);
      // No member: an empty collection, or nothing at `path` (404).
      if (rows.length === 0) await this.existing(path);
      return batched(rows, (r) => memberEntry(path, r));
    }
    const top = await this.existing(path);
    const rows = await this.sql.run<NodeRow & { rel: string[] }>(
      // Ordered by the path below `path`: every collection comes before its members.
      `WITH RECURSIVE tree AS (
         SELECT ${NODE_COLUMNS}, ARRAY[name COLLATE "C"] AS rel FROM catalog_nodes WHERE parent = $1
         UNION ALL
         SELECT ${NODE_COLUMNS.split(', ').map((c) => `n.${c}`).join(', ')}, t.rel || (n.name COLLATE "C")
         FROM tree t JOIN catalog_nodes n ON n.parent = t.id
       ) SELECT * FROM tree ORDER BY rel LIMIT $2`,
      [top.id, limit],
    );
    return batched(rows, (r) => this.entry(path.concat(DavPath.of(r.rel)), r));
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
        if (announced !== undefined) await this.assertRoom(announced, this.sql.run);
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
    try {
      const created = await this.retryOnRace(() =>
        this.sql.transaction(async (run) => {
          // Queued behind any lock grant on the path first, then the locks read as they are now.
          const check = options.commitCheck;
          if (check?.locks) await serializeWithLockGrants(run, path);
          // One statement: the blob made live, the parent, the node there now (row-locked) and the locks.
          const found = (
            await run<CommitRead>(COMMIT_READ, [path.parent().segments, blob, size, path.name, path.key, ancestorKeys(path.key), check?.locks !== undefined])
          )[0]!;
          // The sweep took it for abandoned (an upload longer than the grace period).
          if (blob !== null && !found.live) throw new DavError(503, 'the upload outlived the garbage collection grace period', { headers: { 'retry-after': '5' } });
          if (found.parent === null) throw new DavError(409, 'the parent collection does not exist');
          const parent = found.parent;
          await this.assertRoom(size, run);
          const old = found.old ?? undefined;
          if (old?.is_collection) throw new DavError(405, 'cannot PUT to a collection');
          check?.resource?.(old ? this.entry(path, old) : null);
          if (check?.locks) check.locks(locksOf(found.locks ?? []), old === undefined);
          if (old) {
            await run(
              `WITH gone AS (SELECT $1::text AS blob), upd AS (UPDATE catalog_nodes SET blob = $2, size = $3, etag = $4, mtime_ms = $5 WHERE id = $6)
               ${RELEASE_GONE}`,
              [old.blob, blob, size, etag, mtimeMs, old.id],
            );
          } else {
            await run(
              `INSERT INTO catalog_nodes (parent, name, is_collection, blob, size, etag, mtime_ms, created_ms) VALUES ($1, $2, false, $3, $4, $5, $6, $7)`,
              [parent, path.name, blob, size, etag, mtimeMs, now],
            );
          }
          return old === undefined;
        }),
      );
      return { created, entry: { path, isCollection: false, size, mtimeMs, birthtimeMs: now, etag } };
    } catch (err) {
      if (blob !== null) await this.forget(blob);
      throw err;
    }
  }

  /** RFC 4331 §6: with --quota-bytes, a PUT that would pass it fails with 507 quota-not-exceeded (counted as if added; checked inside the PUT's transaction). */
  private async assertRoom(size: number, run: Sql): Promise<void> {
    const quota = this.options.quotaBytes ?? 0;
    if (quota > 0 && (await this.usedBytes(run)) + size > quota) {
      throw new DavError(507, 'the quota is used up', { condition: 'quota-not-exceeded' });
    }
  }

  /** An upload that will never be pointed at: its object and row go now, or the sweep takes them. */
  private async forget(key: string): Promise<void> {
    try {
      await this.blobs.deleteMany([key]);
      await this.sql.run(`DELETE FROM catalog_blobs WHERE key = $1 AND state = 'pending'`, [key]);
    } catch {
      /* still pending: gc.ts deletes it after the grace period */
    }
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

  async deleteTree(path: DavPath, keep: readonly DavPath[]): Promise<MemberFailure[]> {
    const remove = async (run: Sql, kept: readonly string[]): Promise<void> => {
      const [row] = await run<{ found: number }>(DELETE_TREE, [path.segments, kept]);
      if (!row || row.found === 0) throw new DavError(404, 'Not Found');
    };
    const inside = keep.filter((k) => path.contains(k));
    // The usual case, nothing kept: one statement, whatever the size of the tree.
    if (inside.length === 0) await remove(this.sql.run, []);
    else {
      await this.sql.transaction(async (run) => {
        const kept: string[] = [];
        for (const k of inside) {
          const row = await this.node(k, run);
          if (row) kept.push(row.id);
        }
        await remove(run, kept);
      });
    }
    return [];
  }

  async copyTree(from: DavPath, to: DavPath, depth: 0 | 'infinity'): Promise<MemberFailure[]> {
    const copy = async (run: Sql): Promise<boolean> =>
      stepDone((await run<TreeStep>(COPY_TREE, [from.segments, to.parent().segments, to.name, depth === 'infinity', Date.now()]))[0]!);
    await this.retryOnRace(async () => {
      if (await copy(this.sql.run)) return;
      // A file in the way: replaced in one transaction (the old content stays until then).
      await this.sql.transaction(async (run) => {
        const source = await this.node(from, run);
        if (!source) throw new DavError(404, 'Not Found');
        const parent = await this.parentOf(to, run);
        const target = (await run<NodeRow>(`SELECT ${NODE_COLUMNS} FROM catalog_nodes WHERE parent = $1 AND name = $2 FOR UPDATE`, [parent.id, to.name]))[0];
        if (!target) {
          if (!(await copy(run))) throw new DavError(412, 'destination exists');
          return;
        }
        if (target.is_collection || source.is_collection) throw new DavError(412, 'destination exists');
        await run(`UPDATE catalog_blobs SET refs = refs + 1 WHERE key = $1`, [source.blob]);
        await run(
          `WITH gone AS (SELECT $1::text AS blob), upd AS (UPDATE catalog_nodes SET blob = $2, size = $3, etag = $4, mtime_ms = $5 WHERE id = $6)
           ${RELEASE_GONE}`,
          [target.blob, source.blob, source.size, source.etag, Date.now(), target.id],
        );
        // The copy's dead properties are the source's (RFC 4918 §9.8.2).
        await run(`DELETE FROM catalog_props WHERE node = $1`, [target.id]);
        await run(`INSERT INTO catalog_props (node, ns, name, xml) SELECT $1, ns, name, xml FROM catalog_props WHERE node = $2`, [target.id, source.id]);
      });
    });
    return [];
  }

  async moveTree(from: DavPath, to: DavPath): Promise<MemberFailure[]> {
    const move = async (run: Sql): Promise<boolean> => stepDone((await run<TreeStep>(MOVE_NODE, [from.segments, to.parent().segments, to.name]))[0]!);
    await this.retryOnRace(async () => {
      // The usual case, nothing at the destination: one statement, whatever the size of the tree.
      if (await move(this.sql.run)) return;
      // A file in the way: it goes (its blob released) and the source takes its place, in one transaction.
      await this.sql.transaction(async (run) => {
        await run(DELETE_FILE_AT, [to.parent().segments, to.name]);
        if (!(await move(run))) throw new DavError(412, 'destination exists');
      });
    });
    return [];
  }

  async setModifiedTime(path: DavPath, seconds: number): Promise<void> {
    const row = await this.existing(path);
    await this.sql.run(`UPDATE catalog_nodes SET mtime_ms = $2 WHERE id = $1`, [row.id, Math.round(seconds * 1000)]);
  }

  /** Bytes of every file, each counted with its own size (also when COPY shares its blob). */
  private async usedBytes(run: Sql = this.sql.run): Promise<number> {
    return Number((await run<{ used: string | null }>(`SELECT sum(size) AS used FROM catalog_nodes`))[0]?.used ?? 0);
  }

  /** RFC 4331 figures for the whole store, from --quota-bytes; none without it (an object store has no "free space"). */
  async space(): Promise<SpaceInfo> {
    const quota = this.options.quotaBytes ?? 0;
    if (quota <= 0) return { usedBytes: null, availableBytes: null };
    const usedBytes = await this.usedBytes();
    return { usedBytes, availableBytes: Math.max(0, quota - usedBytes) };
  }
}
