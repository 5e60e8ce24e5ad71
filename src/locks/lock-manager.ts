/**
 * Write locks (RFC 4918 §6, §7, §9.10, §9.11): which locks cover a resource, when a new lock
 * conflicts, and whether a request that changes a resource has submitted the tokens it needs.
 * These rules are the same for every metadata store; the store (src/metadata/store.ts) keeps the
 * rows, judges expiry and makes a grant atomic across processes and instances.
 */
import { DavError } from '../core/errors.js';
import { DavPath } from '../core/paths.js';
import { type Lock, type LockDepth, type LockGuard, type LockScope, type LockStore, checkGuard } from '../metadata/store.js';

export { type Clock, systemClock } from '../metadata/store.js';

/** What a change does to a resource (assertCanModify): `membership` adds or removes it, `tree` changes its members too. */
export interface ModifyOptions {
  readonly membership?: boolean;
  readonly tree?: boolean;
}

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

/** The locks among `locks` rooted at `path` or anywhere below it. */
export function locksWithin(locks: readonly Lock[], path: DavPath): Lock[] {
  return locks.filter((l) => lockWithin(l, path));
}

export class LockManager {
  constructor(private readonly store: LockStore) {}

  /** Locks that apply to `path`. */
  async covering(path: DavPath): Promise<Lock[]> {
    return (await this.store.relevantTo(path)).filter((l) => lockCovers(l, path));
  }

  /** Locks rooted at `path` or anywhere below it. */
  async within(path: DavPath): Promise<Lock[]> {
    return locksWithin(await this.store.relevantTo(path), path);
  }

  /** Locks that matter for reporting lockdiscovery anywhere in the tree at `path`. */
  relevantTo(path: DavPath): Promise<Lock[]> {
    return this.store.relevantTo(path);
  }

  byToken(token: string): Promise<Lock | undefined> {
    return this.store.byToken(token);
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
   * Throws 423 with `<D:lock-token-submitted>` naming the roots of the missing locks. Asks the
   * store every time (PostgreSQL: one query), never a copy that another instance may have outdated.
   */
  async assertCanModify(path: DavPath, who: LockCredentials, options: ModifyOptions = {}): Promise<void> {
    await checkGuard(this.store, this.modifyGuard(path, who, options));
  }

  /**
   * The check of assertCanModify as a guard that a store makes together with the write it protects
   * (MetadataStore.transaction, IntentJournal.record): one round trip for both on PostgreSQL.
   * `accepted` is shown the relevant locks the write goes ahead with.
   */
  modifyGuard(path: DavPath, who: LockCredentials, options: ModifyOptions = {}, accepted?: (relevant: readonly Lock[]) => void): LockGuard {
    const parent = options.membership && !path.isRoot ? path.parent() : null;
    return {
      // The locks relevant to the path, and those rooted at its parent (a depth-0 lock there
      // covers the membership too); a sibling's lock does not matter.
      paths: [path],
      ...(parent ? { roots: [parent] } : {}),
      decide: (relevant) => {
        this.assertHeld(relevant, path, who, options);
        accepted?.(relevant);
      },
    };
  }

  /** assertCanModify against locks already read (`relevant`: those of the path, and of its parent with `membership`). */
  assertHeld(relevant: readonly Lock[], path: DavPath, who: LockCredentials, options: ModifyOptions = {}): void {
    const parent = options.membership && !path.isRoot ? path.parent() : null;
    const locks = relevant.filter((l) => lockCovers(l, path) || (parent !== null && lockCovers(l, parent)) || (options.tree === true && lockWithin(l, path)));
    const missing = this.missing(locks, who);
    if (missing.length > 0) throw lockedError(missing);
  }

  /** Creates a lock, or throws 423 (conflict at or above the path) / MemberLockConflict. */
  lock(req: LockRequest): Promise<Lock> {
    const grant = { root: req.path.key, depth: req.depth, scope: req.scope, owner: req.owner, principal: req.principal, timeout: req.timeout };
    return this.store.grant(grant, (current) => {
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
    });
  }

  /** §9.10.2: a refresh resets the timeout of a lock that covers `path`. */
  async refresh(token: string, path: DavPath, timeout: number, who: LockCredentials): Promise<Lock> {
    const lock = await this.store.byToken(token);
    const refreshed = lock && lockCovers(lock, path) && this.holds(lock, who) ? await this.store.refresh(token, timeout) : undefined;
    if (!refreshed) throw new DavError(412, 'no lock to refresh for the submitted token', { condition: 'lock-token-matches-request-uri' });
    return refreshed;
  }

  /** §9.11: removes the lock; 409 when the token does not cover `path`. */
  async unlock(token: string, path: DavPath, principal: string | null): Promise<void> {
    const lock = await this.store.byToken(token);
    if (!lock || !lockCovers(lock, path)) {
      throw new DavError(409, 'the lock token does not apply to this resource', { condition: 'lock-token-matches-request-uri' });
    }
    if (lock.principal !== null && lock.principal !== principal) throw new DavError(403, 'the lock belongs to another user');
    await this.store.remove([token]);
  }
}

/** 423 naming the roots of the locks whose tokens are missing (RFC 4918 §16 lock-token-submitted). */
export function lockedError(missing: readonly Lock[]): DavError {
  const roots = [...new Set(missing.map((l) => l.root))].map((k) => DavPath.fromKey(k));
  return new DavError(423, 'the resource is locked', { condition: 'lock-token-submitted', paths: roots });
}
