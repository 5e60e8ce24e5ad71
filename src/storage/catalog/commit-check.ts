/**
 * PUT's commit, re-checked (issue 10): the transaction that points a node at its new blob first
 * queues behind any lock grant on the resource, then reads the locks as they are now, so a LOCK
 * granted on another instance during a long upload is never ignored (RFC 4918 §7.5).
 *
 * It takes the transaction-scoped advisory locks a grant takes (src/metadata/postgres/locks.ts):
 * shared on the ancestors top-down, exclusive on the resource itself, keyed by
 * hashtextextended(path key, 0). A grant rooted at the resource or at an ancestor therefore runs
 * entirely before or entirely after this transaction: either its row is read below, or it sees
 * the new content. Same order as the grants (top-down), so no deadlock between the two.
 */
import { DavPath } from '../../core/paths.js';
import type { Lock } from '../../metadata/store.js';
import type { Sql } from './sql.js';

/** Keys of the strict ancestors of `path`, top-down ('' first). */
export function ancestorKeys(path: DavPath): string[] {
  return path.segments.map((_, i) => DavPath.of(path.segments.slice(0, i)).key);
}

/** Waits for (and then holds until the end of the transaction) the advisory locks a lock grant on `path` takes. */
export async function serializeWithLockGrants(run: Sql, path: DavPath): Promise<void> {
  await run(
    `SELECT pg_advisory_xact_lock_shared(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k
     UNION ALL SELECT pg_advisory_xact_lock(hashtextextended($2::text, 0))`,
    [ancestorKeys(path), path.key],
  );
}

/** A row of the locks table, with the milliseconds it has left on the database's clock. */
export type LockRow = Omit<Lock, 'expires'> & { left_ms: number };

/**
 * The unexpired locks (by the database's clock) rooted at the resource or at one of its
 * ancestors (every lock that can cover the resource or its parent), as one JSON array: a
 * subquery for the commit's read (catalog-storage.ts), with the resource's key in parameter
 * `$keyParam` and its ancestors (ancestorKeys) in `$ancestorsParam`. It must run in a statement
 * after serializeWithLockGrants: that statement's snapshot then includes a grant waited for.
 */
export function locksAboveJson(keyParam: number, ancestorsParam: number): string {
  return `(SELECT coalesce(json_agg(json_build_object('token', token, 'root', root, 'depth', depth, 'scope', scope, 'owner', owner,
      'principal', principal, 'timeout', timeout, 'left_ms', (extract(epoch FROM expires - now()) * 1000)::float8)), '[]'::json)
    FROM locks WHERE expires > now() AND (root = $${keyParam}::text OR root = ANY($${ancestorsParam}::text[])))`;
}

/** The rows of locksAboveJson as locks. */
export function locksOf(rows: readonly LockRow[]): Lock[] {
  // `expires` only places the time left on this machine's clock; expiry itself was judged above.
  return rows.map(({ left_ms, ...lock }) => ({ ...lock, expires: Date.now() + Math.max(0, left_ms) }));
}
