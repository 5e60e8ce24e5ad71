/**
 * Write locks (RFC 4918 §6, §7, §9.10, §9.11): which locks cover a resource, when a new lock
 * conflicts, and whether a request that changes a resource has submitted the tokens it needs.
 *
 * Active locks are cached in memory and reloaded when the database changes (our own writes, or
 * another server process's, seen through SQLite's data_version), so checking a write costs no
 * query. Creating a lock re-reads the locks inside a write transaction, so two processes can
 * never both take conflicting locks. Time comes from an injected clock: tests need no sleeping.
 */
import { randomUUID } from 'node:crypto';
import { DavError } from '../core/errors.js';
import { DavPath } from '../core/paths.js';
import type { Lock, LockDepth, LockScope, LockStore } from './lock-store.js';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface LockRequest {
  readonly path: DavPath;
  readonly scope: LockScope;
  readonly depth: LockDepth;
  readonly owner: string | null;
  readonly principal: string | null;
  readonly timeout: number;
}

/** A member lock that stops a depth-infinity LOCK: reported in a 207 (RFC 4918 §9.10.9). */
export class MemberLockConflict extends Error {
  constructor(readonly conflicts: readonly Lock[]) {
    super('a member of the collection is locked');
  }
}

/** Who is asking: the tokens in the If header and the authenticated user. */
export interface LockCredentials {
  readonly tokens: ReadonlySet<string>;
  readonly principal: string | null;
}

/** True when `lock` applies to `path`: rooted there, or depth infinity at an ancestor. */
export function lockCovers(lock: Lock, path: DavPath): boolean {
  const key = path.key;
  if (lock.root === key) return true;
  return lock.depth === 'infinity' && (lock.root === '' || key.startsWith(`${lock.root}/`));
}

/** True when `lock` is rooted at `path` or below it. */
function lockWithin(lock: Lock, path: DavPath): boolean {
  return lock.root === path.key || path.isRoot || lock.root.startsWith(`${path.key}/`);
}

export class LockManager {
  private readonly store: LockStore;
  private readonly clock: Clock;
  private cache: Lock[] = [];
  private cacheVersion = -1;
  private cacheValidUntil = 0;
  private dirty = true;

  constructor(store: LockStore, clock: Clock = systemClock) {
    this.store = store;
    this.clock = clock;
  }

  /** Current, unexpired locks. */
  private active(): Lock[] {
    const now = this.clock.now();
    const version = this.store.dataVersion();
    if (this.dirty || version !== this.cacheVersion || now >= this.cacheValidUntil) {
      this.cache = this.store.active(now);
      this.cacheVersion = version;
      this.dirty = false;
      this.cacheValidUntil = this.cache.reduce((min, l) => Math.min(min, l.expires), Infinity);
    }
    return this.cache;
  }

  private changed(): void {
    this.dirty = true;
  }

  /** Locks that apply to `path`. */
  covering(path: DavPath): Lock[] {
    return this.active().filter((l) => lockCovers(l, path));
  }

  /** Locks rooted at `path` or anywhere below it. */
  within(path: DavPath): Lock[] {
    return this.active().filter((l) => lockWithin(l, path));
  }

  /** Locks that matter for reporting lockdiscovery anywhere in the tree at `path`. */
  relevantTo(path: DavPath): Lock[] {
    return this.active().filter((l) => lockCovers(l, path) || lockWithin(l, path));
  }

  byToken(token: string): Lock | undefined {
    return this.active().find((l) => l.token === token);
  }

  /** A lock counts as held by the requester when its token was submitted by the same user. */
  holds(lock: Lock, who: LockCredentials): boolean {
    return who.tokens.has(lock.token) && (lock.principal === null || lock.principal === who.principal);
  }

  /** Locks among `locks` whose token the requester did not submit. */
  missing(locks: readonly Lock[], who: LockCredentials): Lock[] {
    return locks.filter((l) => !this.holds(l, who));
  }

  /**
   * RFC 4918 §7.5: a change to `path` needs the token of every lock that covers it; adding or
   * removing `path` also changes its parent's membership, so `membership` checks the parent too.
   * Throws 423 with `<D:lock-token-submitted>` naming the roots of the missing locks.
   */
  assertCanModify(path: DavPath, who: LockCredentials, options: { membership?: boolean; tree?: boolean } = {}): void {
    const locks = new Set(this.covering(path));
    if (options.membership && !path.isRoot) for (const l of this.covering(path.parent())) locks.add(l);
    if (options.tree) for (const l of this.within(path)) locks.add(l);
    const missing = this.missing([...locks], who);
    if (missing.length > 0) throw lockedError(missing);
  }

  /** Creates a lock, or throws 423 (conflict at or above the path) / MemberLockConflict. */
  lock(req: LockRequest): Lock {
    const now = this.clock.now();
    const created = this.store.exclusively(() => {
      const current = this.store.active(now);
      const conflictsWith = (l: Lock) => l.scope === 'exclusive' || req.scope === 'exclusive';
      // §6.1: a lock conflicts with any lock that covers the same resource, unless both are shared.
      const above = current.filter((l) => lockCovers(l, req.path) && conflictsWith(l));
      if (above.length > 0) {
        const roots = [...new Set(above.map((l) => l.root))].map((k) => DavPath.fromKey(k));
        throw new DavError(423, 'the resource is locked', { condition: 'no-conflicting-lock', paths: roots });
      }
      if (req.depth === 'infinity') {
        const below = current.filter((l) => l.root !== req.path.key && lockWithin(l, req.path) && conflictsWith(l));
        if (below.length > 0) throw new MemberLockConflict(below);
      }
      const lock: Lock = {
        token: `urn:uuid:${randomUUID()}`,
        root: req.path.key,
        depth: req.depth,
        scope: req.scope,
        owner: req.owner,
        principal: req.principal,
        timeout: req.timeout,
        expires: now + req.timeout * 1000,
      };
      this.store.purgeExpired(now);
      this.store.insert(lock);
      return lock;
    });
    this.changed();
    return created;
  }

  /** §9.10.2: a refresh resets the timeout of a lock that covers `path`. */
  refresh(token: string, path: DavPath, timeout: number, who: LockCredentials): Lock {
    const lock = this.byToken(token);
    if (!lock || !lockCovers(lock, path) || !this.holds(lock, who)) {
      throw new DavError(412, 'no lock to refresh for the submitted token', { condition: 'lock-token-matches-request-uri' });
    }
    const expires = this.clock.now() + timeout * 1000;
    this.store.refresh(token, timeout, expires);
    this.changed();
    return { ...lock, timeout, expires };
  }

  /** §9.11: removes the lock; 409 when the token does not cover `path`. */
  unlock(token: string, path: DavPath, principal: string | null): void {
    const lock = this.byToken(token);
    if (!lock || !lockCovers(lock, path)) {
      throw new DavError(409, 'the lock token does not apply to this resource', { condition: 'lock-token-matches-request-uri' });
    }
    if (lock.principal !== null && lock.principal !== principal) throw new DavError(403, 'the lock belongs to another user');
    this.store.remove(token);
    this.changed();
  }

  /** Drops the given locks (their resources are gone). */
  release(tokens: readonly string[]): void {
    if (tokens.length === 0) return;
    this.store.exclusively(() => tokens.forEach((t) => this.store.remove(t)));
    this.changed();
  }

  /** Drops the locks rooted at `path` or below (after DELETE, or at the source of a MOVE). */
  removeTree(path: DavPath): void {
    if (this.within(path).length === 0) return;
    this.store.removeTree(path.key);
    this.changed();
  }
}

/** 423 naming the roots of the locks whose tokens are missing (RFC 4918 §16 lock-token-submitted). */
export function lockedError(missing: readonly Lock[]): DavError {
  const roots = [...new Set(missing.map((l) => l.root))].map((k) => DavPath.fromKey(k));
  return new DavError(423, 'the resource is locked', { condition: 'lock-token-submitted', paths: roots });
}
