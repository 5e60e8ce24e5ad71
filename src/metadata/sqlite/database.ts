/**
 * The SQLite metadata database: one SQLite database (through libsql, whose prebuilt binaries install from
 * the package registry without a compiler) holding dead properties and locks. SQLite gives what
 * the protocol needs: atomic PROPPATCH, a subtree renamed in one statement, one query per
 * listing, durability across restarts, and consistency between several server processes.
 */
import Database from 'libsql';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../config.js';

export type Db = InstanceType<typeof Database>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS dead_props (
  path   TEXT NOT NULL,  -- DavPath key: '' for the root, '/a/b' below it
  parent TEXT NOT NULL,  -- key of the parent collection, for one query per listing
  ns     TEXT NOT NULL,
  name   TEXT NOT NULL,
  xml    TEXT NOT NULL,  -- the property element, serialized self-contained
  PRIMARY KEY (path, ns, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dead_props_parent ON dead_props(parent);
CREATE TABLE IF NOT EXISTS locks (
  token     TEXT PRIMARY KEY,
  root      TEXT NOT NULL,     -- DavPath key of the lock root
  depth     TEXT NOT NULL,     -- '0' or 'infinity'
  scope     TEXT NOT NULL,     -- 'exclusive' or 'shared'
  owner     TEXT,              -- the DAV:owner element as sent, or NULL
  principal TEXT,              -- authenticated user who took the lock, or NULL
  timeout   INTEGER NOT NULL,  -- seconds granted
  expires   INTEGER NOT NULL   -- ms since the epoch
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS locks_root ON locks(root);
CREATE TABLE IF NOT EXISTS intents (   -- tree operations under way (src/metadata/intents.ts)
  id      INTEGER PRIMARY KEY,
  op      TEXT NOT NULL,               -- 'copy', 'move' or 'delete'
  src     TEXT NOT NULL,               -- DavPath key of the source
  dst     TEXT NOT NULL,               -- DavPath key of the destination ('' for delete)
  depth   TEXT NOT NULL,               -- '0' or 'infinity'
  dst_etag TEXT,                       -- entity tag of what was at the destination before
  owner   TEXT NOT NULL                -- 'host:pid' of the process that recorded it
);
`;

/** How long a statement waits for another process's lock before it fails (SQLite's busy timeout). */
const BUSY_TIMEOUT_MS = 5000;

/**
 * `journal_mode = WAL`, tried again for up to the busy timeout: while another process switches
 * the same new database, SQLite answers SQLITE_BUSY at once, without waiting in its busy handler
 * (several `--workers` starting on a new database: one of them exited and took the server down).
 */
function switchToWal(db: Db): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      db.exec('PRAGMA journal_mode = WAL');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      // Opening is synchronous (start-up): a short blocking pause before the next try.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

/** Opens (creating if needed) the metadata database in `dir`; ':memory:' for tests. */
export function openDatabase(dir: string | ':memory:'): Db {
  let file = ':memory:';
  if (dir !== ':memory:') {
    createFolder(dir);
    // Dead properties and lock owners are the users' data: readable by the server's user only,
    // also when the folder came from elsewhere (./storage/.fastdav is kept in git).
    try {
      chmodSync(dir, 0o700);
    } catch {
      /* a folder of another owner that we may still write to: leave its mode to its owner */
    }
    file = path.join(dir, 'metadata.sqlite');
  }
  let db: Db;
  try {
    db = new Database(file);
  } catch (err) {
    throw cannotCreate(dir, err);
  }
  keepTheFirstError(db);
  try {
    // WAL lets readers run beside one writer; busy_timeout makes concurrent writers wait (it comes
    // first: switching to WAL needs a lock that another server process may hold at start-up).
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    switchToWal(db);
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec(SCHEMA);
  } catch (err) {
    db.close();
    throw unusableDatabase(file, err);
  }
  return db;
}

/**
 * --read-only: the metadata database a read-write server left in `dir`, opened so that nothing is
 * ever written there: SQLite's read-only mode, and `immutable` (no locks taken, no -wal or -shm file
 * created) unless a -wal file says that a read-write server is using the database now; then
 * SQLite's own coordination through that server's files, so its committed changes are seen.
 * Null when there is no database. Throws when the file cannot be read as one.
 */
export function openDatabaseReadOnly(dir: string): Db | null {
  const file = path.join(dir, 'metadata.sqlite');
  if (!existsSync(file)) return null;
  const inUse = existsSync(`${file}-wal`);
  // A URI filename: the path's own '?' and '#' must not end it.
  const uri = `file:${encodeURI(file).replace(/[?#]/g, encodeURIComponent)}?mode=ro${inUse ? '' : '&immutable=1'}`;
  const db = new Database(uri);
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // The tables this server reads (an older or foreign file fails here, not at the first request).
    db.prepare('SELECT path, parent, ns, name, xml FROM dead_props LIMIT 0').all();
    db.prepare('SELECT token, root, depth, scope, owner, principal, timeout, expires FROM locks LIMIT 0').all();
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * libsql 0.5's transaction() runs ROLLBACK unconditionally when the function throws. After an
 * error that made SQLite roll back by itself (SQLITE_FULL: disk full), that ROLLBACK fails with
 * "cannot rollback - no transaction is active", which replaces the real error. This version
 * (same shape: `db.transaction(fn).immediate()`) rolls back only an open transaction.
 */
function keepTheFirstError(db: Db): void {
  const wrap = <A extends unknown[], R>(fn: (...args: A) => R, mode: string) => (...args: A): R => {
    db.exec(`BEGIN ${mode}`);
    try {
      const result = fn(...args);
      db.exec('COMMIT');
      return result;
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw err;
    }
  };
  const transaction = <A extends unknown[], R>(fn: (...args: A) => R) =>
    Object.assign(wrap(fn, ''), { default: wrap(fn, ''), deferred: wrap(fn, 'DEFERRED'), immediate: wrap(fn, 'IMMEDIATE'), exclusive: wrap(fn, 'EXCLUSIVE') });
  Object.defineProperty(db, 'transaction', { value: transaction });
}

/** SQLite's verdicts on a file that is not a database, or a damaged one. */
const DAMAGED = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT']);

/**
 * A start-up failure an operator can act on (exit 2, one line naming the file and the remedy)
 * when the file is not a usable database; anything else passes through unchanged.
 */
function unusableDatabase(file: string, err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !DAMAGED.has(code)) return err;
  const reason = err instanceof Error ? err.message : code;
  return new ConfigError(
    `metadata database ${file} is not a usable SQLite database (${reason}): restore it from a backup, ` +
      'or stop every server using it and move it aside (with its -wal and -shm files) to start with no dead properties and no locks',
  );
}

/**
 * Runs `fn` in one write transaction (BEGIN IMMEDIATE: check-then-write is atomic across processes),
 * or inside the one already open on this connection. libsql has no nested transactions.
 */
export function writeTransaction<T>(db: Db, fn: () => T): T {
  if (db.inTransaction) return fn();
  return db.transaction(fn).immediate();
}

/** The metadata folder; one that cannot be created stops start-up with one line saying what to do. */
function createFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw cannotCreate(dir, err);
  }
}

function cannotCreate(dir: string, err: unknown): unknown {
  const { code, syscall } = err as NodeJS.ErrnoException;
  if (!syscall && code !== 'SQLITE_CANTOPEN') return err;
  return new ConfigError(
    `metadataDir: cannot create the metadata folder ${dir} (${code}): give the server's user write access there, ` +
      'choose another folder with --metadata-dir, or serve with --read-only',
  );
}
