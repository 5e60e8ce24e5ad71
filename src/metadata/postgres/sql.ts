/**
 * How the PostgreSQL store talks to the database: one `Sql` function (a pool, or the client of an
 * open transaction) and the rule that turns "the database is not there" into
 * MetadataUnavailableError (503 + Retry-After), while real mistakes (a bad statement, a violated
 * constraint) stay errors (500).
 *
 * Nothing here depends on session state (no session advisory locks, no named prepared statements,
 * no SET outside a transaction), so the store works behind PgBouncer in transaction mode.
 */
import type pg from 'pg';
import { MetadataUnavailableError } from '../store.js';

/** Runs one statement with parameters and returns its rows. */
export type Sql = <R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]) => Promise<R[]>;

/**
 * SQLSTATE classes and codes that mean "try again later" rather than "wrong": connection exception,
 * insufficient resources (but disk_full 53100: 507, see store.ts metadataFailure), shutdown, query
 * canceled (a statement timeout), system error, and the transient conflicts between concurrent
 * transactions (serialization failure, deadlock detected).
 */
const UNAVAILABLE_STATES = /^(08|53(?!100)|57P0[1-4]|57014|58|40001|40P01)/;
const NODE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);

/** True when `err` says the database could not be reached or did not answer in time. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof MetadataUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  // disk_full (53100) is no passing trouble: metadataFailure (store.ts) answers it with 507.
  if (typeof code === 'string') return NODE_NETWORK_CODES.has(code) || (UNAVAILABLE_STATES.test(code) && code !== '53100');
  // node-postgres's own errors carry no code: connection timeout, query timeout, connection lost.
  return /timeout|terminated|Connection ended|not queryable|connection error|ended unexpectedly/i.test(err.message);
}

/** Rethrows `err` as MetadataUnavailableError when it means the database is unreachable. */
export function translate(err: unknown): never {
  if (isUnavailable(err) && !(err instanceof MetadataUnavailableError)) throw new MetadataUnavailableError(err);
  throw err;
}

/** An Sql over a pool or a client. */
export function sqlOf(target: pg.Pool | pg.PoolClient): Sql {
  return async <R extends pg.QueryResultRow>(text: string, values?: readonly unknown[]) => {
    try {
      return (await target.query<R>(text, values as unknown[] | undefined)).rows;
    } catch (err) {
      return translate(err);
    }
  };
}
