/**
 * Write locks (RFC 4918 §6) in the SQLite metadata database. The rules live in
 * src/locks/lock-manager.ts; this file reads and writes rows and judges expiry by the injected clock.
 *
 * Active locks are cached in memory and reloaded when the database changes (our own writes, or
 * another server process's, seen through SQLite's data_version) or when the first of them expires,
 * so checking a write costs no query. A grant re-reads the locks inside a write transaction, so two
 * processes can never both take conflicting locks.
 */
import { randomUUID } from 'node:crypto';
import type { DavPath } from '../../core/paths.js';
import { type Clock, type Lock, type LockGrant, descendantRange } from '../store.js';
import type { Db } from './database.js';

/** True when `lock` covers `key` (rooted there, or depth infinity at an ancestor) or is rooted below it. */
export function lockRelevant(lock: Lock, key: string): boolean {
  if (lock.root === key || key === '') return true;
  if (lock.root.startsWith(`${key}/`)) return true;
  return lock.depth === 'infinity' && (lock.root === '' || key.startsWith(`${lock.root}/`));
}

/** Statement-level operations; writes must run inside a write transaction (writeTransaction). */
export class SqliteLocks {
  private readonly q;
  private cache: Lock[] = [];
  private cacheVersion = -1;
  private cacheValidUntil = 0;
  private dirty = true;

  constructor(
    db: Db,
    private readonly clock: Clock,
  ) {
    this.q = {
      active: db.prepare('SELECT token, root, depth, scope, owner, principal, timeout, expires FROM locks WHERE expires > ?'),
      insert: db.prepare('INSERT INTO locks (token, root, depth, scope, owner, principal, timeout, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      refresh: db.prepare('UPDATE locks SET timeout = ?, expires = ? WHERE token = ? AND expires > ?'),
      remove: db.prepare('DELETE FROM locks WHERE token = ?'),
      removeTree: db.prepare('DELETE FROM locks WHERE root = ? OR (root >= ? AND root < ?)'),
      purge: db.prepare('DELETE FROM locks WHERE expires <= ?'),
      // Raw mode: libsql's get() ignores pluck() and returns { data_version, _metadata }.
      version: db.prepare('PRAGMA data_version').raw(),
    };
  }

  /** Every unexpired lock, from the cache when nothing changed since it was loaded. */
  active(): Lock[] {
    const now = this.clock.now();
    const version = Number((this.q.version.get() as unknown[])[0]);
    if (this.dirty || version !== this.cacheVersion || now >= this.cacheValidUntil) {
      this.cache = this.q.active.all(now) as Lock[];
      this.cacheVersion = version;
      this.dirty = false;
      this.cacheValidUntil = this.cache.reduce((min, l) => Math.min(min, l.expires), Infinity);
    }
    return this.cache;
  }

  relevantTo(path: DavPath): Lock[] {
    return this.active().filter((l) => lockRelevant(l, path.key));
  }

  byToken(token: string): Lock | undefined {
    return this.active().find((l) => l.token === token);
  }

  /** Inside a write transaction: reads fresh rows (not the cache), lets `decide` refuse, inserts. */
  grant(grant: LockGrant, decide: (current: readonly Lock[]) => void): Lock {
    const now = this.clock.now();
    const current = (this.q.active.all(now) as Lock[]).filter((l) => lockRelevant(l, grant.root));
    decide(current);
    const lock: Lock = { token: `urn:uuid:${randomUUID()}`, ...grant, expires: now + grant.timeout * 1000 };
    this.q.purge.run(now);
    this.q.insert.run(lock.token, lock.root, lock.depth, lock.scope, lock.owner, lock.principal, lock.timeout, lock.expires);
    this.dirty = true;
    return lock;
  }

  refresh(token: string, timeout: number): Lock | undefined {
    const now = this.clock.now();
    const lock = (this.q.active.all(now) as Lock[]).find((l) => l.token === token);
    if (!lock) return undefined;
    const expires = now + timeout * 1000;
    this.q.refresh.run(timeout, expires, token, now);
    this.dirty = true;
    return { ...lock, timeout, expires };
  }

  remove(tokens: readonly string[]): void {
    for (const t of tokens) this.q.remove.run(t);
    this.dirty = true;
  }

  /** True when an unexpired lock is rooted at `path` or below it (from the cache: no query when nothing changed). */
  anyWithin(path: DavPath): boolean {
    return this.active().some((l) => l.root === path.key || path.isRoot || l.root.startsWith(`${path.key}/`));
  }

  removeTree(path: DavPath): void {
    const [lo, hi] = descendantRange(path.key);
    this.q.removeTree.run(path.key, lo, hi);
    this.dirty = true;
  }
}
