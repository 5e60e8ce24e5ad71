/**
 * The embedded metadata store (the default): one SQLite file in the metadata folder
 * (ROOT/.fastdav/metadata.sqlite unless --metadata-dir says otherwise), shared by the processes of
 * --workers through SQLite's own locking. Implements the seam of src/metadata/store.ts.
 *
 * libsql is synchronous, so every operation runs to completion before its promise settles. A
 * transaction therefore collects the writes `fn` makes and runs them together in one BEGIN IMMEDIATE
 * transaction once `fn` has finished: no other request's statement can slip in between, and a `fn`
 * that throws writes nothing. Writes look first whether there is anything to change (a read costs
 * half of an empty write transaction, and most trees have no dead property and no lock).
 */
import { DavPath } from '../../core/paths.js';
import {
  type Clock,
  type DeadPropertyStore,
  type DeadPropertyWriter,
  type LockGuard,
  type LockStore,
  type LockWriter,
  checkGuard,
  type MetadataStore,
  type MetadataWriter,
  systemClock,
} from '../store.js';
import { type Db, openDatabase, openDatabaseReadOnly, writeTransaction } from './database.js';
import { SqliteDeadProps } from './dead-props.js';
import { SqliteIntents } from './intents.js';
import { SqliteLocks } from './locks.js';

/** One write: `needed` says (by a read) whether there is anything to do, `run` does it. */
interface WriteOp {
  needed(): boolean;
  run(): void;
}

export class SqliteMetadataStore implements MetadataStore {
  readonly kind = 'sqlite';
  readonly deadProps: DeadPropertyStore;
  readonly locks: LockStore;
  readonly intents: SqliteIntents;
  private readonly props: SqliteDeadProps;
  private readonly lockRows: SqliteLocks;

  /** Set when the store could not open what it was asked to (--read-only: an unreadable database); for the start-up log. */
  startupWarning: string | undefined;

  /** Opens (creating if needed) the store in `dir`; ':memory:' for tests. */
  static open(dir: string | ':memory:', clock: Clock = systemClock): SqliteMetadataStore {
    return new SqliteMetadataStore(openDatabase(dir), clock);
  }

  /**
   * --read-only: the dead properties and locks a read-write server left in `dir`, read without
   * writing anything (openDatabaseReadOnly); an empty store in memory when there are none, or when
   * they cannot be read (startupWarning says why).
   */
  static openReadOnly(dir: string, clock: Clock = systemClock): SqliteMetadataStore {
    let db: Db | null = null;
    let warning: string | undefined;
    try {
      db = openDatabaseReadOnly(dir);
    } catch (err) {
      warning = `--read-only: cannot read the metadata database in ${dir} (${err instanceof Error ? err.message : String(err)}); dead properties are not shown`;
    }
    const store = new SqliteMetadataStore(db ?? openDatabase(':memory:'), clock);
    store.startupWarning = warning;
    return store;
  }

  constructor(
    private readonly db: Db,
    clock: Clock = systemClock,
  ) {
    this.props = new SqliteDeadProps(db);
    this.lockRows = new SqliteLocks(db, clock);
    this.intents = new SqliteIntents(
      db,
      (guard) => checkGuard(this.locks, guard),
      (key) => this.props.anyInTree(DavPath.fromKey(key)) || this.lockRows.anyWithin(DavPath.fromKey(key)),
    );
    const props = this.props;
    const lockRows = this.lockRows;
    // Outside a transaction each write commits on its own.
    const direct = async (op: WriteOp): Promise<void> => {
      if (op.needed()) writeTransaction(db, () => op.run());
    };
    this.deadProps = {
      ...this.propsWriter(direct),
      get: async (path) => props.get(path),
      getListing: async (path) => props.getListing(path),
      getTree: async (path) => props.getTree(path),
      keysInTree: async (path) => [...props.getTree(path).keys()],
    };
    this.locks = {
      ...this.locksWriter(direct),
      relevantTo: async (path) => lockRows.relevantTo(path),
      byToken: async (token) => lockRows.byToken(token),
      grant: async (grant, decide) => writeTransaction(db, () => lockRows.grant(grant, decide)),
      refresh: async (token, timeout) => writeTransaction(db, () => lockRows.refresh(token, timeout)),
    };
  }

  private propsWriter(write: (op: WriteOp) => Promise<void>): DeadPropertyWriter {
    const props = this.props;
    const inEither = (a: DavPath, b: DavPath) => () => props.anyInTree(a) || props.anyInTree(b);
    return {
      apply: (path, changes) => write({ needed: () => changes.length > 0, run: () => props.apply(path, changes) }),
      clear: (path) => write({ needed: () => props.hasAny(path), run: () => props.clear(path) }),
      deleteTree: (path) => write({ needed: () => props.anyInTree(path), run: () => props.deleteTree(path) }),
      copyTree: (from, to, depth) => write({ needed: inEither(from, to), run: () => props.copyTree(from, to, depth) }),
      moveTree: (from, to) => write({ needed: inEither(from, to), run: () => props.moveTree(from, to) }),
      deleteKeys: (keys) => write({ needed: () => keys.length > 0, run: () => props.deleteKeys(keys) }),
    };
  }

  private locksWriter(write: (op: WriteOp) => Promise<void>): LockWriter {
    const lockRows = this.lockRows;
    return {
      remove: (tokens) => write({ needed: () => tokens.length > 0, run: () => lockRows.remove(tokens) }),
      removeTree: (path) => write({ needed: () => lockRows.anyWithin(path), run: () => lockRows.removeTree(path) }),
    };
  }

  async transaction(fn: (tx: MetadataWriter) => Promise<void>, guard?: LockGuard): Promise<void> {
    // The lock cache (locks.ts) is checked against data_version: the guard reads current locks.
    if (guard) await checkGuard(this.locks, guard);
    const ops: WriteOp[] = [];
    const collect = async (op: WriteOp): Promise<void> => {
      ops.push(op);
    };
    const intents = this.intents;
    // The intent goes first: when another process resolved it already, nothing else is written.
    const done = async (id: number): Promise<void> => void ops.unshift({ needed: () => true, run: () => intents.remove(id) });
    await fn({ deadProps: this.propsWriter(collect), locks: this.locksWriter(collect), intents: { done } });
    const needed = ops.filter((op) => op.needed());
    if (needed.length > 0) writeTransaction(this.db, () => needed.forEach((op) => op.run()));
  }

  async check(): Promise<void> {
    /* an embedded file: there while the process runs */
  }

  async close(): Promise<void> {
    // Flush: the journal goes into the database file, so the store is whole on its own (a copy
    // of the volume taken after a stop needs no -wal file). Another server process still
    // reading (--workers) only makes this wait briefly, then it is left for later.
    try {
      this.db.exec('PRAGMA busy_timeout = 500; PRAGMA wal_checkpoint(TRUNCATE);');
    } catch {
      /* the journal stays valid; SQLite folds it in at the next open */
    }
    this.db.close();
  }
}
