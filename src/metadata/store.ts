/**
 * The metadata seam: dead properties (RFC 4918 §4) and write locks (§6, §7) of the resources, kept
 * beside the storage. Every operation is asynchronous. Two implementations pass one contract suite
 * (test/contract/metadata.test.ts):
 *   - src/metadata/sqlite/   — embedded SQLite file in the metadata folder (the default);
 *   - src/metadata/postgres/ — PostgreSQL (`--metadata-url postgres://…`), shared by several instances.
 * src/metadata/open.ts picks one from the configuration.
 *
 * Resources are named by DavPath keys ('' for the root, '/a/b' below it). The protocol rules (which
 * locks conflict, which tokens a change needs) live in src/locks/lock-manager.ts, not here: a store
 * keeps rows, judges expiry and makes a grant atomic.
 *
 * Transactions: `transaction(fn)` runs the writes that `fn` makes through its MetadataWriter as one
 * unit: all of them or none. Reads inside `fn` go through the store and may not see the transaction's
 * own writes (SQLite applies them at commit). A backend with more state in the same database (the
 * object-storage catalog) adds its own writes to the same transaction through its store class.
 *
 * Failure: a store that cannot reach its database throws MetadataUnavailableError, which the app
 * answers with 503 and Retry-After (never a success for a write that was not committed).
 */
import type { DavPath } from '../core/paths.js';
import { DavError } from '../core/errors.js';

/** Time source of the server (tests inject a fake one); PostgreSQL judges expiry by its own clock instead. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface DeadProperty {
  readonly ns: string;
  readonly name: string;
  /** The whole property element as self-contained XML. */
  readonly xml: string;
}

export type DeadPropertyChange =
  | { readonly op: 'set'; readonly prop: DeadProperty }
  | { readonly op: 'remove'; readonly ns: string; readonly name: string };

export type LockScope = 'exclusive' | 'shared';
export type LockDepth = '0' | 'infinity';

export interface Lock {
  /** The lock token, a `urn:uuid:` URI with a random (v4) UUID (RFC 4918 §6.5). */
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
  /**
   * Expiry in ms since the epoch on the server's Clock (Services.clock), for rendering the time left.
   * Whether a lock is still active is the store's judgement (PostgreSQL: the database's clock).
   */
  readonly expires: number;
}

/** What a LOCK asks for; the store adds token and expiry. */
export type LockGrant = Omit<Lock, 'token' | 'expires'>;

/** The writes to dead properties; inside a transaction they commit together. */
export interface DeadPropertyWriter {
  /** Applies the changes in order, all or none (RFC 4918 §9.2). */
  apply(path: DavPath, changes: readonly DeadPropertyChange[]): Promise<void>;
  /** Forgets the properties of one resource (a new resource was created at its path). */
  clear(path: DavPath): Promise<void>;
  /** Forgets the properties of a resource and all its descendants. */
  deleteTree(path: DavPath): Promise<void>;
  /** Copies the properties of `from` (with depth infinity: and its descendants) onto `to`, replacing what `to` had. */
  copyTree(from: DavPath, to: DavPath, depth: 0 | 'infinity'): Promise<void>;
  /** Moves the properties of `from` and its descendants to `to`, replacing what `to` had. */
  moveTree(from: DavPath, to: DavPath): Promise<void>;
  /** Forgets the properties stored under the given keys. */
  deleteKeys(keys: readonly string[]): Promise<void>;
}

export interface DeadPropertyStore extends DeadPropertyWriter {
  /** Dead properties of one resource. */
  get(path: DavPath): Promise<DeadProperty[]>;
  /** Dead properties of a collection and of each member, by key: one query per listing. */
  getListing(path: DavPath): Promise<Map<string, DeadProperty[]>>;
  /** Dead properties of a resource and all its descendants, by key. */
  getTree(path: DavPath): Promise<Map<string, DeadProperty[]>>;
  /** Keys in the tree at `path` that have dead properties. */
  keysInTree(path: DavPath): Promise<string[]>;
}

/** The writes to locks that have no protocol rule of their own; inside a transaction they commit together. */
export interface LockWriter {
  /** Drops the locks with these tokens. */
  remove(tokens: readonly string[]): Promise<void>;
  /** Drops the locks rooted at `path` or below it. */
  removeTree(path: DavPath): Promise<void>;
}

export interface LockStore extends LockWriter {
  /** The unexpired locks that cover `path` (rooted there, or depth infinity at an ancestor) or are rooted below it. */
  relevantTo(path: DavPath): Promise<Lock[]>;
  /** The unexpired lock with this token. */
  byToken(token: string): Promise<Lock | undefined>;
  /**
   * Grants a lock atomically, also against other instances on the same database: reads the unexpired
   * locks relevant to `grant.root` (as relevantTo), calls `decide` with them — it throws to refuse —
   * and inserts the new lock, with no window between check and insert.
   */
  grant(grant: LockGrant, decide: (current: readonly Lock[]) => void): Promise<Lock>;
  /** Sets a new timeout on an unexpired lock; undefined when there is no such lock. */
  refresh(token: string, timeout: number): Promise<Lock | undefined>;
}

/**
 * An intent (issue 11 item 6): what a COPY, MOVE or DELETE is about to do to the tree, recorded
 * before its filesystem step and removed in the same transaction as the metadata update that
 * follows it. One left behind by a process that died in between tells start-up what to replay
 * (src/metadata/intents.ts), so no dead property is lost or attached to the wrong resource.
 */
export interface Intent {
  readonly op: 'copy' | 'move' | 'delete';
  /** DavPath key of the source (the deleted resource for delete). */
  readonly from: string;
  /** DavPath key of the destination ('' and unused for delete). */
  readonly to: string;
  /** COPY depth. */
  readonly depth: '0' | 'infinity';
  /** Entity tag of what was at the destination before, or null: tells whether the step happened. */
  readonly toEtag: string | null;
  /** The process that recorded it: `host:pid` (replayed only once that process is gone). */
  readonly owner: string;
}

export interface RecordedIntent extends Intent {
  readonly id: number;
}

/**
 * A lock check carried by a write (RFC 4918 §7.5), so that a store can make both in one round trip:
 * the unexpired locks relevant to `paths` (relevantTo of each, together) are shown to `decide`,
 * which throws to refuse the write. The write happens only with the locks `decide` accepted: a store
 * that checks in the same statement as it writes (PostgreSQL) shows `decide` the current locks and
 * tries again when they changed in between, so `decide` may run more than once (the last run counts).
 */
export interface LockGuard {
  readonly paths: readonly DavPath[];
  /** Also the locks rooted exactly here (a parent whose membership changes), or more: `decide` filters. */
  readonly roots?: readonly DavPath[];
  decide(current: readonly Lock[]): void;
}

/** Checks a guard by reading the locks (for stores that do not fold it into the write). */
export async function checkGuard(locks: Pick<LockStore, 'relevantTo'>, guard: LockGuard): Promise<void> {
  // relevantTo of a root covers the paths below it: one look for a parent and its member.
  const roots = guard.roots ?? [];
  const looks = [...roots, ...guard.paths.filter((p) => !roots.some((r) => r.contains(p)))];
  const byToken = new Map<string, Lock>();
  for (const list of await Promise.all(looks.map((p) => locks.relevantTo(p)))) for (const l of list) byToken.set(l.token, l);
  guard.decide([...byToken.values()]);
}

/** A guard that reads nothing and accepts: for a write without a lock check. */
export const NO_GUARD: LockGuard = { paths: [], decide: () => undefined };

/** One guard that asks for everything `a` and `b` ask for (COPY and MOVE check two places). */
export function bothGuards(a: LockGuard | undefined, b: LockGuard | undefined): LockGuard | undefined {
  if (!a || !b) return a ?? b;
  return {
    paths: [...a.paths, ...b.paths],
    roots: [...(a.roots ?? []), ...(b.roots ?? [])],
    decide: (current) => {
      a.decide(current);
      b.decide(current);
    },
  };
}

export interface RecordOptions {
  /** The operation's lock check: the intent is recorded only once the guard accepted the locks, together. */
  readonly guard?: LockGuard;
  /**
   * Record nothing (resolve with null) when no dead property and no lock lies in the trees the
   * intent names (`from`, and `to` unless it is a delete): a crash would then have nothing to lose,
   * and the operation's metadata update has nothing to do either. A store may record anyway.
   */
  readonly onlyWithMetadata?: boolean;
}

/** The intent journal of a store. */
export interface IntentJournal {
  /** Records an intent (committed at once, before the filesystem step); resolves with its id (see RecordOptions for null). */
  record(intent: Intent, options?: RecordOptions): Promise<number | null>;
  /** Every intent still recorded, oldest first. */
  pending(): Promise<RecordedIntent[]>;
}

/** An intent as both stores keep it (columns of the `intents` table). */
export interface IntentRow {
  id: number | string; // PostgreSQL's bigserial arrives as text
  op: Intent['op'];
  src: string;
  dst: string;
  depth: Intent['depth'];
  dst_etag: string | null;
  owner: string;
}

export const intentOfRow = (r: IntentRow): RecordedIntent => ({ id: Number(r.id), op: r.op, from: r.src, to: r.dst, depth: r.depth, toEtag: r.dst_etag, owner: r.owner });

/** Thrown inside a transaction whose intent another process has already resolved: nothing is written. */
export class IntentGoneError extends Error {
  constructor(id: number) {
    super(`intent ${id} was already resolved`);
    this.name = 'IntentGoneError';
  }
}

/** The writes one transaction may make. */
export interface MetadataWriter {
  readonly deadProps: DeadPropertyWriter;
  readonly locks: LockWriter;
  /**
   * Removes a resolved intent as part of this transaction; the whole transaction fails with
   * IntentGoneError when it is no longer there. Absent in a store without a journal.
   */
  readonly intents?: { done(id: number): Promise<void> };
}

export interface MetadataStore {
  /** 'sqlite' or 'postgres', for logs and the health endpoint. */
  readonly kind: string;
  readonly deadProps: DeadPropertyStore;
  readonly locks: LockStore;
  /** The intent journal (crash safety of tree operations, src/metadata/intents.ts); optional for a store. */
  readonly intents?: IntentJournal;
  /**
   * Runs the writes `fn` makes through `tx` as one transaction (all or none). With a guard, the
   * writes happen only if the guard accepts the locks (when it refuses, nothing is written).
   */
  transaction(fn: (tx: MetadataWriter) => Promise<void>, guard?: LockGuard): Promise<void>;
  /** Resolves when the store can serve requests; throws MetadataUnavailableError otherwise (health endpoint). */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** Seconds a client is told to wait (Retry-After) when the metadata database is unreachable. */
export const RETRY_AFTER_SECONDS = 5;

/** The metadata database cannot be reached (or did not answer in time): 503 with Retry-After. */
export class MetadataUnavailableError extends DavError {
  constructor(cause?: unknown) {
    super(503, 'the metadata database is unavailable, try again later', { headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } });
    this.name = 'MetadataUnavailableError';
    if (cause !== undefined) this.cause = cause;
  }
}

/** Error codes of a database out of disk space: SQLite's, PostgreSQL's disk_full (SQLSTATE 53100). */
const DISK_FULL = new Set(['SQLITE_FULL', '53100']);

/**
 * The answer for a metadata store that has no room left: 507 Insufficient Storage (RFC 4918
 * §11.5) with RFC 4331's sufficient-disk-space condition, instead of a 500. Null for other errors.
 */
export function metadataFailure(err: unknown): DavError | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !DISK_FULL.has(code)) return null;
  const e = new DavError(507, 'the metadata store has no disk space left', { condition: 'sufficient-disk-space' });
  e.cause = err;
  return e;
}

/** Parent key of a DavPath key ('' for the root's members and the root itself). */
export const parentKey = (key: string): string => key.slice(0, Math.max(0, key.lastIndexOf('/')));

/** Key range of the strict descendants of `key`: [key + '/', key + '0') ('0' follows '/' in byte order). */
export function descendantRange(key: string): [string, string] {
  return [`${key}/`, `${key}0`];
}

/** Groups rows by path, keeping their order. */
export function groupByPath(rows: readonly { path: string; ns: string; name: string; xml: string }[]): Map<string, DeadProperty[]> {
  const out = new Map<string, DeadProperty[]>();
  for (const r of rows) {
    let list = out.get(r.path);
    if (!list) out.set(r.path, (list = []));
    list.push({ ns: r.ns, name: r.name, xml: r.xml });
  }
  return out;
}
