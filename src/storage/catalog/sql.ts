/**
 * The catalog's access to PostgreSQL, through the metadata store's pool and its rules (an
 * unreachable database is MetadataUnavailableError: 503 + Retry-After). Statements are counted:
 * tests check that MOVE costs the same for 10 and 10,000 files.
 */
import pg from 'pg';
import type { PostgresMetadataStore } from '../../metadata/postgres/store.js';
import { type Sql, sqlOf, translate } from '../../metadata/postgres/sql.js';

export type { Sql };

/** Runs one statement and returns its rows as arrays of column texts (NULL: null), as PostgreSQL sent them. */
export type RawSql = (text: string, values?: readonly unknown[]) => Promise<(string | null)[][]>;

/**
 * Runs one statement and hands each row (column texts, as RawSql) to `onRow` as it arrives from
 * the socket, before PostgreSQL has sent the last one; resolves when all have come.
 */
export type StreamSql = (text: string, values: readonly unknown[], onRow: (row: (string | null)[]) => void) => Promise<void>;

/**
 * Column values left as the text PostgreSQL sends: no per-value type parser (int8's runs a regular
 * expression on every value) and no object per row. For listings of thousands of rows, where
 * node-postgres's decoding took more time than the query itself.
 */
const AS_TEXT: pg.CustomTypesConfig = { getTypeParser: () => (value: string) => value };

export class CatalogSql {
  /** Statements sent so far (BEGIN and COMMIT included). */
  statements = 0;
  /** One statement on the pool. */
  readonly run: Sql;
  /** One statement on the pool, its rows as texts (RawSql). */
  readonly raw: RawSql;
  /** One statement on a pooled connection, its rows handed out as they arrive (StreamSql). */
  readonly stream: StreamSql;

  constructor(private readonly store: PostgresMetadataStore) {
    this.run = this.counted(sqlOf(store.pool));
    this.raw = async (text, values) => {
      this.statements++;
      try {
        return (await store.pool.query<(string | null)[]>({ text, values: values as unknown[] | undefined, rowMode: 'array', types: AS_TEXT })).rows;
      } catch (err) {
        return translate(err);
      }
    };
    // node-postgres's Query is an event emitter of its rows (its "submittable" API); the pool's
    // query() would gather them first. The connection is held only while PostgreSQL sends (rows
    // are taken whatever the reader's pace), never while a slow HTTP client reads.
    this.stream = async (text, values, onRow) => {
      this.statements++;
      const client = await store.pool.connect().catch(translate);
      let broken: Error | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          const config: pg.QueryArrayConfig = { text, values: values as unknown[], rowMode: 'array', types: AS_TEXT };
          const query = new pg.Query(config, (err) => (err ? reject(err) : resolve()));
          query.on('row', (row: (string | null)[], result?: pg.ResultBuilder) => {
            // With a callback (and the pool's read timeout always sets one) node-postgres also
            // gathers every row in the result until the end; let go of them as they are handed
            // out, or a 10,000-row listing outlives young-generation collections (-19 % CPU).
            if (result && result.rows.length >= 256) result.rows.length = 0;
            if (broken) return;
            try {
              onRow(row);
            } catch (err) {
              // Not thrown into node-postgres's parser: the statement still runs to its end.
              broken = err as Error;
            }
          });
          client.query(query);
        });
      } catch (err) {
        // A connection that failed mid-statement is not given back to the pool (release(err)).
        client.release(err as Error);
        return translate(err);
      }
      client.release();
      if (broken) throw broken;
    };
  }

  private counted(sql: Sql): Sql {
    return (text, values) => {
      this.statements++;
      return sql(text, values);
    };
  }

  /** Runs `fn` in one transaction (COMMIT when it resolves, ROLLBACK when it throws). */
  transaction<T>(fn: (run: Sql, client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.statements += 2;
    return this.store.withTransaction((client) => fn(this.counted(sqlOf(client)), client));
  }
}

/** True for a unique-constraint violation (another request created the same name first). */
export const isUniqueViolation = (err: unknown): boolean => (err as { code?: unknown }).code === '23505';
/** True for a foreign-key violation (the parent vanished under a concurrent DELETE/MOVE). */
export const isMissingParent = (err: unknown): boolean => (err as { code?: unknown }).code === '23503';
