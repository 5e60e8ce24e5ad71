/**
 * Persistence of write locks (RFC 4918 §6) in the metadata database. Rules live in
 * lock-manager.ts; this file only reads and writes rows.
 */
import { type Db, descendantRange } from '../metadata/database.js';

export type LockScope = 'exclusive' | 'shared';
export type LockDepth = '0' | 'infinity';

export interface Lock {
  /** The lock token, a `urn:uuid:` URI (RFC 4918 §6.5). */
  readonly token: string;
  /** DavPath key of the lock root. */
  readonly root: string;
  readonly depth: LockDepth;
  readonly scope: LockScope;
  /** The DAV:owner element exactly as the client sent it, or null. */
  readonly owner: string | null;
  /** The authenticated user who created the lock, or null without authentication. */
  readonly principal: string | null;
  /** Seconds granted at creation or last refresh. */
  readonly timeout: number;
  /** Expiry, ms since the epoch. */
  readonly expires: number;
}

export class LockStore {
  private readonly db: Db;
  private readonly q;

  constructor(db: Db) {
    this.db = db;
    this.q = {
      active: db.prepare('SELECT token, root, depth, scope, owner, principal, timeout, expires FROM locks WHERE expires > ?'),
      insert: db.prepare('INSERT INTO locks (token, root, depth, scope, owner, principal, timeout, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      refresh: db.prepare('UPDATE locks SET timeout = ?, expires = ? WHERE token = ?'),
      remove: db.prepare('DELETE FROM locks WHERE token = ?'),
      removeTree: db.prepare('DELETE FROM locks WHERE root = ? OR (root >= ? AND root < ?)'),
      purge: db.prepare('DELETE FROM locks WHERE expires <= ?'),
      // Raw mode: libsql's get() ignores pluck() and returns { data_version, _metadata }.
      version: db.prepare('PRAGMA data_version').raw(),
    };
  }

  /** Every lock that has not expired at `now`. */
  active(now: number): Lock[] {
    return this.q.active.all(now) as Lock[];
  }

  insert(lock: Lock): void {
    this.q.insert.run(lock.token, lock.root, lock.depth, lock.scope, lock.owner, lock.principal, lock.timeout, lock.expires);
  }

  refresh(token: string, timeout: number, expires: number): void {
    this.q.refresh.run(timeout, expires, token);
  }

  remove(token: string): void {
    this.q.remove.run(token);
  }

  /** Removes the locks rooted at `key` or below it. */
  removeTree(key: string): void {
    const [lo, hi] = descendantRange(key);
    this.q.removeTree.run(key, lo, hi);
  }

  purgeExpired(now: number): void {
    this.q.purge.run(now);
  }

  /** Changes whenever another connection (another server process) commits. */
  dataVersion(): number {
    return Number((this.q.version.get() as unknown[])[0]);
  }

  /** Runs `fn` in a write transaction, so check-then-insert is atomic across processes. */
  exclusively<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }
}
