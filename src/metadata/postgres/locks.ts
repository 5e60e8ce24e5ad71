/**
 * Write locks (RFC 4918 §6) in PostgreSQL, correct across any number of instances:
 *
 * - Expiry is judged by the database's clock (`now()`), never an instance's: every query keeps only
 *   `expires > now()`, and a lock is handed back with the time it has left, placed on the instance's
 *   own clock (Lock.expires = clock.now() + left) only for rendering DAV:timeout.
 * - A grant is one statement, fastdav_grant (migration 21), so one transaction: it first takes
 *   transaction-scoped advisory locks (fastdav_queue_behind_grants: shared on the lock root's
 *   ancestors, exclusive on the root itself); then the relevant locks are read and the new row is
 *   inserted if they are the ones the lock manager approved (see grant below). Two grants whose
 *   roots are equal or one above the other therefore run one after the other, with no window
 *   between check and insert; grants on unrelated paths do not wait for each other. Guarded writes
 *   (fastdav_guarded) and object storage's PUT commit take the same locks for the paths they write.
 *   Every caller takes its keys in one order (by key: an ancestor first), which rules out
 *   deadlock; a hash collision only makes two of them wait for each other. The keys are one bigint
 *   (hashtextextended of the path key), a key space apart from the two-int key that migrations use.
 * - No cache: each check is one query, so a write never trusts a copy another instance outdated.
 */
import { randomUUID } from 'node:crypto';
import type { DavPath } from '../../core/paths.js';
import { type Clock, type Intent, type Lock, type LockDepth, type LockGrant, type LockGuard, type LockScope, MetadataUnavailableError, descendantRange, parentKey } from '../store.js';
import { type BatchOp, intentGone } from './batch.js';
import type { Sql } from './sql.js';

/** A lock as the database hands it back: the milliseconds it has left on the database's clock, not its expiry. */
export interface LockRow {
  token: string;
  root: string;
  depth: LockDepth;
  scope: LockScope;
  owner: string | null;
  principal: string | null;
  timeout: number;
  /** Milliseconds left on the database's clock. */
  left_ms: number;
}

/**
 * Tries, each one statement, of a grant or guarded write whose relevant locks changed between its
 * reading and its try (other grants on the same paths at the same moment). After these it goes on
 * in a transaction that holds the advisory locks across the decision (untilAccepted).
 */
const OPTIMISTIC_TRIES = 2;
/** Most tries inside that transaction (each after a decision on locks that only UNLOCK can still change). */
const TRANSACTION_TRIES = 5;

const COLUMNS = `token, root, depth, scope, owner, principal, timeout, (extract(epoch FROM expires - now()) * 1000)::float8 AS left_ms`;

/** Keys of the strict ancestors of `key`, top-down ('' first). */
export function ancestorKeys(key: string): string[] {
  const out: string[] = [];
  for (let k = key; k !== ''; ) {
    k = parentKey(k);
    out.unshift(k);
  }
  return out;
}

const RELEVANT = `SELECT ${COLUMNS} FROM locks
  WHERE expires > now() AND (root = $1 OR (depth = 'infinity' AND root = ANY($2::text[])) OR (root >= $3 AND root < $4))`;

function relevantParams(key: string): unknown[] {
  const [lo, hi] = descendantRange(key);
  return [key, ancestorKeys(key), lo, hi];
}

/**
 * Paths as the lock functions take them (fastdav_guarded, fastdav_relevant_locks): the written
 * paths' keys, all their ancestors' keys, and the keys whose own locks count too (a guard's roots).
 */
export function lockKeys(paths: readonly DavPath[], roots: readonly DavPath[] = []): { keys: string[]; ancestors: string[]; roots: string[] } {
  const keys = paths.map((p) => p.key);
  return { keys, ancestors: [...new Set(keys.flatMap(ancestorKeys))], roots: roots.map((p) => p.key) };
}

/** Runs `fn` in one transaction (store.ts withTransaction) with the transaction's Sql. */
export type InTransaction = <T>(fn: (sql: Sql) => Promise<T>) => Promise<T>;

/** A lock row as a Lock, its time left placed on a clock that reads `now` (only for rendering DAV:timeout). */
export function lockOfRow(r: LockRow, now: number): Lock {
  const { left_ms, ...lock } = r;
  return { ...lock, expires: now + Math.max(0, left_ms) };
}

export class PostgresLocks {
  constructor(
    private readonly clock: Clock,
    private readonly inTransaction: InTransaction,
  ) {}

  private toLock(r: LockRow): Lock {
    return lockOfRow(r, this.clock.now());
  }


  async relevantTo(sql: Sql, path: DavPath): Promise<Lock[]> {
    return (await sql<LockRow>(RELEVANT, relevantParams(path.key))).map((r) => this.toLock(r));
  }

  async byToken(sql: Sql, token: string): Promise<Lock | undefined> {
    const [row] = await sql<LockRow>(`SELECT ${COLUMNS} FROM locks WHERE token = $1 AND expires > now()`, [token]);
    return row && this.toLock(row);
  }

  /**
   * One round trip when nothing relevant is locked: fastdav_grant (migration 21) takes the advisory
   * locks, reads the relevant locks and inserts the new one only if they are the ones `decide` was
   * shown (none at first); otherwise it hands back the current ones, `decide` judges them (it throws
   * to refuse) and the grant is tried again with them (untilAccepted). `sql` is the pool.
   */
  async grant(sql: Sql, grant: LockGrant, decide: (current: readonly Lock[]) => void): Promise<Lock> {
    const token = `urn:uuid:${randomUUID()}`;
    const locks = await this.untilAccepted(sql, decide, async (run, expected) => {
      const [row] = await run<{ result: { granted: boolean; locks: LockRow[] } }>('SELECT fastdav_grant($1, $2, $3, $4, $5, $6, $7, $8, $9) AS result', [
        grant.root, ancestorKeys(grant.root), grant.depth, grant.scope, grant.owner, grant.principal, grant.timeout, token, expected,
      ]);
      return { done: row!.result.granted, locks: row!.result.locks };
    });
    return this.toLock(locks[0]!);
  }

  /**
   * A write with its lock check (store.ts LockGuard) in one statement, fastdav_guarded (migration 22):
   * `ops` are written and `intent` recorded only when the relevant locks are those `guard` accepted.
   * Resolves with the recorded intent's id (null without an intent). `sql` is the pool.
   */
  async guarded(sql: Sql, guard: LockGuard, ops: readonly BatchOp[], intent: Intent | null, onlyWithMetadata = false): Promise<number | null> {
    const { keys, ancestors, roots } = lockKeys(guard.paths, guard.roots);
    let recorded: number | null = null;
    await this.untilAccepted(sql, guard.decide, async (run, expected) => {
      const [row] = await run<{ result: { ok: boolean; locks?: LockRow[]; intent: string | number | null } }>(
        'SELECT fastdav_guarded($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7) AS result',
        [keys, ancestors, roots, expected, JSON.stringify(ops), intent && JSON.stringify(intent), onlyWithMetadata],
      ).catch(intentGone);
      recorded = row!.result.intent === null ? null : Number(row!.result.intent);
      return { done: row!.result.ok, locks: row!.result.locks ?? [] };
    });
    return recorded;
  }

  /**
   * Tries `attempt` with the expected relevant tokens until it is done: each refusal hands back the
   * current relevant locks, which `decide` judges (it throws to refuse) before the next try.
   * Resolves with the rows of the try that was done.
   *
   * The tries are single statements while they succeed quickly. When other grants on the same paths
   * keep changing the relevant locks (ten clients taking shared locks on one file at once), the
   * next tries run inside one transaction: the function's advisory locks are then held until COMMIT,
   * across `decide`, and now() stands still in a transaction, so the try after the next decision
   * sees the locks decided on (or fewer, if an UNLOCK came in between) and is done. No client is
   * turned away for being unlucky. Object storage's COPY, MOVE and DELETE use it too (src/storage/catalog/catalog-storage.ts).
   */
  async untilAccepted(
    pool: Sql,
    decide: (current: readonly Lock[]) => void,
    attempt: (sql: Sql, expected: readonly string[]) => Promise<{ done: boolean; locks: LockRow[] }>,
  ): Promise<LockRow[]> {
    // The first try expects no relevant lock: `decide` must accept that too before anything is written.
    decide([]);
    let expected: readonly string[] = [];
    const refused = (locks: LockRow[]): void => {
      const current = locks.map((r) => this.toLock(r));
      decide(current);
      expected = current.map((l) => l.token);
    };
    for (let tries = 0; tries < OPTIMISTIC_TRIES; tries++) {
      const { done, locks } = await attempt(pool, expected);
      if (done) return locks;
      refused(locks);
    }
    return this.inTransaction(async (tx) => {
      for (let tries = 0; ; tries++) {
        const { done, locks } = await attempt(tx, expected);
        if (done) return locks;
        // The advisory locks are held since the first try in this transaction: no grant can add a
        // lock any more, only UNLOCKs remove some, so the set settles within a few tries.
        if (tries >= TRANSACTION_TRIES) throw new MetadataUnavailableError();
        refused(locks);
      }
    });
  }

  async refresh(sql: Sql, token: string, timeout: number): Promise<Lock | undefined> {
    const [row] = await sql<LockRow>(
      `UPDATE locks SET timeout = $2::integer, expires = now() + make_interval(secs => $2::integer) WHERE token = $1 AND expires > now() RETURNING ${COLUMNS}`,
      [token, timeout],
    );
    return row && this.toLock(row);
  }
}
