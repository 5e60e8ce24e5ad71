/**
 * The catalog's access to PostgreSQL: statements counted (tests check that MOVE costs the same
 * for 10 and 10,000 files), transactions, and database failures turned into 503 + Retry-After.
 */
import type pg from 'pg';
import { DavError } from '../../core/errors.js';

/** SQLSTATE classes and socket errors that mean "the database is not there right now". */
const UNAVAILABLE = /^(08|53|57P0|ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN)/;

export function databaseFailure(err: unknown): unknown {
  if (err instanceof DavError) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if ((typeof code === 'string' && UNAVAILABLE.test(code)) || /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)) {
    return new DavError(503, 'the metadata database is unavailable', { headers: { 'retry-after': '5' } });
  }
  return err;
}

type Queryable = Pick<pg.PoolClient, 'query'>;
/** Runs one statement (in a transaction, or on the pool). */
export type Run = <R extends pg.QueryResultRow>(text: string, values?: readonly unknown[]) => Promise<pg.QueryResult<R>>;

export class Sql {
  /** Statements sent so far (BEGIN/COMMIT included). */
  statements = 0;

  constructor(readonly pool: pg.Pool) {}

  readonly run: Run = (text, values) => this.query(text, values ?? [], this.pool);

  private async query<R extends pg.QueryResultRow>(text: string, values: readonly unknown[], on: Queryable): Promise<pg.QueryResult<R>> {
    this.statements++;
    try {
      return await on.query<R>(text, values as unknown[]);
    } catch (err) {
      throw databaseFailure(err);
    }
  }

  /** Runs `fn` in one transaction (READ COMMITTED; rows it changes are locked with FOR UPDATE). */
  async transaction<T>(fn: (tx: Run) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw databaseFailure(err);
    }
    let broken = false;
    try {
      await this.query('BEGIN', [], client);
      const result = await fn((text, values) => this.query(text, values ?? [], client));
      await this.query('COMMIT', [], client);
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => (broken = true));
      throw databaseFailure(err);
    } finally {
      client.release(broken);
    }
  }
}

/** True for a unique-constraint violation (another request created the same name first). */
export const isUniqueViolation = (err: unknown): boolean => (err as { code?: unknown }).code === '23505';
/** True for a foreign-key violation (the parent vanished under a concurrent DELETE/MOVE). */
export const isMissingParent = (err: unknown): boolean => (err as { code?: unknown }).code === '23503';
