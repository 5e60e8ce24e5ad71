/**
 * Opens the metadata store the configuration names: PostgreSQL for `metadataUrl`
 * (postgres:// or postgresql://), else the embedded SQLite file in `metadataDir` (read only with
 * --read-only, or an empty one in memory when there is none).
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
  // --read-only: nothing is written, not even the metadata folder; the dead properties a read-write
  // server left there are read as they are (no PROPPATCH or LOCK can change them: 403).
  if (config.readOnly) return SqliteMetadataStore.openReadOnly(config.metadataDir, options.clock);
  return SqliteMetadataStore.open(config.metadataDir, options.clock);
}
