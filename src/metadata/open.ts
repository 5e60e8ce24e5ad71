/**
 * Opens the metadata store the configuration names: PostgreSQL for `metadataUrl`
 * (postgres:// or postgresql://), else the embedded SQLite file in `metadataDir` (in memory with
 * --read-only).
 */
import type { Config } from '../config.js';
import { PostgresMetadataStore, type PostgresStoreOptions } from './postgres/store.js';
import { SqliteMetadataStore } from './sqlite/store.js';
import type { Clock, MetadataStore } from './store.js';

export interface OpenOptions {
  clock: Clock;
  /** Told about database connection trouble (PostgreSQL). */
  onError?: (err: Error) => void;
}

/** The URL as it may appear in logs: the password replaced. */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the --metadata-url';
  }
}

/** The pool settings of --metadata-pool-size and --metadata-timeout. */
export function postgresPool(config: Pick<Config, 'metadataPoolSize' | 'metadataTimeout'>): Pick<PostgresStoreOptions, 'maxConnections' | 'queryTimeoutMs' | 'connectTimeoutMs'> {
  return { maxConnections: config.metadataPoolSize, queryTimeoutMs: config.metadataTimeout, connectTimeoutMs: Math.round(config.metadataTimeout * 0.6) };
}

export async function openMetadataStore(
  config: Pick<Config, 'metadataDir' | 'metadataUrl' | 'readOnly' | 'metadataPoolSize' | 'metadataTimeout'>,
  options: OpenOptions,
): Promise<MetadataStore> {
  if (config.metadataUrl) {
    try {
      return await PostgresMetadataStore.open(config.metadataUrl, { clock: options.clock, ...postgresPool(config), ...(options.onError ? { onError: options.onError } : {}) });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
      throw new Error(`metadata store: cannot open ${withoutPassword(config.metadataUrl)}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause: err });
    }
  }
  // --read-only: nothing is written, not even the metadata folder; dead properties and locks then
  // live in an empty store in memory (no PROPPATCH or LOCK can fill it: 403).
  return SqliteMetadataStore.open(config.readOnly ? ':memory:' : config.metadataDir, options.clock);
}
