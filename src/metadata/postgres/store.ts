/**
 * The PostgreSQL metadata store (`--metadata-url postgres://USER:PASS@HOST:PORT/DB`): dead properties
 * and locks shared by every fastdav instance that names the same database. Implements the seam of
 * src/metadata/store.ts; statements in dead-props.ts and locks.ts, schema in migrations.ts.
 *
 * Client: node-postgres (`pg`) with its pool. The URL goes to pg as it is, so the libpq options that
 * pg understands (sslmode, sslrootcert, application_name, options=-c statement_timeout=…) pass through.
 *
 * Bounded waits: a connection must be made within CONNECT_TIMEOUT_MS and a statement answered within
 * QUERY_TIMEOUT_MS (client side, so no session setting is needed); past either, or when the server is
 * gone, operations throw MetadataUnavailableError (503 + Retry-After). The pool drops broken
 * connections and makes new ones on demand, so service resumes by itself when the database is back.
 *
 * For a backend with more tables in the same database (the object-storage catalog), `withTransaction`
 * gives the transaction's client together with the metadata writes, so its own changes and the dead
 * properties commit as one.
 */
import pg from 'pg';
import type { DavPath } from '../../core/paths.js';
import {
  type Clock,
  type DeadPropertyStore,
  type IntentJournal,
  type LockGuard,
  NO_GUARD,
  type LockStore,
  type MetadataStore,
  type MetadataWriter,
  systemClock,
} from '../store.js';
import * as deadProps from './dead-props.js';
import * as intents from './intents.js';
import { collectingWriter, sendBatch } from './batch.js';
import { PostgresLocks } from './locks.js';
import { type Migration, MIGRATIONS, migrate } from './migrations.js';
import { type Sql, isUnavailable, sqlOf, translate } from './sql.js';

export const CONNECT_TIMEOUT_MS = 3000;
export const QUERY_TIMEOUT_MS = 5000;

export interface PostgresStoreOptions {
  /** The server's clock: only for placing expiry times (rendering); expiry itself is the database's. */
  clock?: Clock;
  /** Most connections this instance opens (default 10). */
  maxConnections?: number;
  /** Told about connection trouble (idle connections lost, failed connects); the default is silence. */
  onError?: (err: Error) => void;
  /** Migrations to apply at open (default MIGRATIONS; a backend adds its own versions). */
  migrations?: readonly Migration[];
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
}

export class PostgresMetadataStore implements MetadataStore {
  readonly kind = 'postgres';
  readonly deadProps: DeadPropertyStore;
  readonly locks: LockStore;
  readonly intents: IntentJournal;
  /** The connection pool (for metrics: totalCount, idleCount, waitingCount). */
  readonly pool: pg.Pool;
  private readonly sql: Sql;
  /** The lock statements (locks.ts), also for a backend's own guarded writes (object storage's COPY, MOVE and DELETE). */
  readonly lockRows: PostgresLocks;

  /** Connects, applies the missing migrations (one transaction under an advisory lock) and returns the store. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresMetadataStore> {
    const store = new PostgresMetadataStore(url, options);
    try {
      await migrate(store.pool, options.migrations ?? MIGRATIONS).catch(translate);
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  private constructor(url: string, options: PostgresStoreOptions) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      query_timeout: options.queryTimeoutMs ?? QUERY_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      application_name: 'fastdav',
    });
    const onError = options.onError ?? (() => undefined);
    // An idle connection that breaks (database restarted) is reported here; unhandled, it would end the process.
    this.pool.on('error', onError);
    this.sql = sqlOf(this.pool);
    const sql = this.sql;
    const lockRows = (this.lockRows = new PostgresLocks(options.clock ?? systemClock, (fn) => this.withTransaction((client) => fn(sqlOf(client)))));
    // A write outside a transaction is a transaction of one write: one statement (batch.ts).
    const alone = (write: (tx: MetadataWriter) => Promise<void>) => this.transaction(write);

    this.deadProps = {
      get: (path) => deadProps.get(sql, path),
      getListing: (path) => deadProps.getListing(sql, path),
      getTree: (path) => deadProps.getTree(sql, path),
      keysInTree: (path) => deadProps.keysInTree(sql, path),
      apply: (path, changes) => alone((tx) => tx.deadProps.apply(path, changes)),
      copyTree: (from, to, depth) => alone((tx) => tx.deadProps.copyTree(from, to, depth)),
      moveTree: (from, to) => alone((tx) => tx.deadProps.moveTree(from, to)),
      clear: (path: DavPath) => alone((tx) => tx.deadProps.clear(path)),
      deleteTree: (path: DavPath) => alone((tx) => tx.deadProps.deleteTree(path)),
      deleteKeys: (keys) => alone((tx) => tx.deadProps.deleteKeys(keys)),
    };
    // With a guard, the lock check and the intent go in one statement.
    this.intents = intents.journal(sql, (intent, options) => lockRows.guarded(sql, options.guard ?? NO_GUARD, [], intent, options.onlyWithMetadata === true));
    this.locks = {
      remove: (tokens) => alone((tx) => tx.locks.remove(tokens)),
      removeTree: (path) => alone((tx) => tx.locks.removeTree(path)),
      relevantTo: (path) => lockRows.relevantTo(sql, path),
      byToken: (token) => lockRows.byToken(sql, token),
      grant: (grant, decide) => lockRows.grant(sql, grant, decide),
      refresh: (token, timeout) => lockRows.refresh(sql, token, timeout),
    };
  }

  /**
   * The writes of `fn` go to the database as one statement at the end (batch.ts): one round trip,
   * together with the guard's lock check when there is one (locks.ts guarded).
   */
  async transaction(fn: (tx: MetadataWriter) => Promise<void>, guard?: LockGuard): Promise<void> {
    const { tx, ops } = collectingWriter();
    await fn(tx);
    if (guard) await this.lockRows.guarded(this.sql, guard, ops, null);
    else await sendBatch(this.sql, ops);
  }

  /**
   * Runs `fn` in one transaction on one pooled connection: COMMIT when it resolves, ROLLBACK when it
   * throws. `client` is for the caller's own statements in the same transaction; the metadata writes
   * made through `tx` are sent together as one statement just before COMMIT (batch.ts).
   */
  async withTransaction<T>(fn: (client: pg.PoolClient, tx: MetadataWriter) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch(translate);
    // A checked-out connection that breaks between statements reports here (else the process would end).
    let broken: Error | undefined;
    const onClientError = (err: Error) => {
      broken = err;
    };
    client.on('error', onClientError);
    const sql = sqlOf(client);
    try {
      await sql('BEGIN');
      const { tx, ops } = collectingWriter();
      const result = await fn(client, tx);
      await sendBatch(sql, ops);
      await sql('COMMIT');
      return result;
    } catch (err) {
      if (!broken && !isUnavailable(err)) {
        await client.query('ROLLBACK').catch((e: Error) => {
          broken = e;
        });
      } else {
        broken ??= err as Error;
      }
      if (broken) translate(broken);
      throw err;
    } finally {
      client.removeListener('error', onClientError);
      // A broken connection is closed, not returned to the pool.
      client.release(broken);
    }
  }

  async check(): Promise<void> {
    await this.sql('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
