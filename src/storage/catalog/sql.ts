/**
 * The catalog's access to PostgreSQL, through the metadata store's pool and its rules (an
 * unreachable database is MetadataUnavailableError: 503 + Retry-After). Statements are counted:
 * tests check that MOVE costs the same for 10 and 10,000 files.
 */
import type pg from 'pg';
import type { PostgresMetadataStore } from '../../metadata/postgres/store.js';
import { type Sql, sqlOf } from '../../metadata/postgres/sql.js';

export type { Sql };

export class CatalogSql {
  /** Statements sent so far (BEGIN and COMMIT included). */
  statements = 0;
  /** One statement on the pool. */
  readonly run: Sql;

  constructor(private readonly store: PostgresMetadataStore) {
    this.run = this.counted(sqlOf(store.pool));
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
