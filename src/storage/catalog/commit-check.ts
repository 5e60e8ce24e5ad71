/**
 * PUT's commit, re-checked (issue 10): the transaction that points a node at its new blob first
 * queues behind any lock grant on the resource, then reads the locks as they are now, so a LOCK
 * granted on another instance during a long upload is never ignored (RFC 4918 §7.5).
 *
 * It takes the transaction-scoped advisory locks a grant takes (fastdav_queue_behind_grants,
 * src/metadata/postgres/migrations.ts and locks.ts): shared on the ancestors, exclusive on the
 * resource itself. A grant rooted at the resource or at an ancestor therefore runs entirely before
 * or entirely after this transaction: either its row is read below, or it sees the new content.
 */
import type { DavPath } from '../../core/paths.js';
import type { Lock } from '../../metadata/store.js';
import { ancestorKeys, type LockRow, lockOfRow } from '../../metadata/postgres/locks.js';
import type { Sql } from './sql.js';

/** Waits for (and then holds until the end of the transaction) the advisory locks a lock grant on `path` takes. */
export async function serializeWithLockGrants(run: Sql, path: DavPath): Promise<void> {
  await run('SELECT fastdav_queue_behind_grants(ARRAY[$1::text], $2::text[])', [path.key, ancestorKeys(path.key)]);
}

/**
 * The unexpired locks (by the database's clock) rooted at the resource or at one of its
 * ancestors (every lock that can cover the resource or its parent), as one JSON array of
 * LockRow (fastdav_lock_json): a subquery for the commit's read (catalog-storage.ts), with the
 * resource's key in parameter `$keyParam` and its ancestors (ancestorKeys) in `$ancestorsParam`.
 * It must run in a statement after serializeWithLockGrants: that statement's snapshot then
 * includes a grant waited for.
 */
export function locksAboveJson(keyParam: number, ancestorsParam: number): string {
  return `(SELECT coalesce(jsonb_agg(fastdav_lock_json(l)), '[]'::jsonb)
    FROM locks l WHERE l.expires > now() AND (l.root = $${keyParam}::text OR l.root = ANY($${ancestorsParam}::text[])))`;
}

/** The rows of locksAboveJson as locks (expiry itself was judged there, by the database). */
export function locksOf(rows: readonly LockRow[]): Lock[] {
  const now = Date.now();
  return rows.map((r) => lockOfRow(r, now));
}
