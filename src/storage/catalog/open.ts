/**
 * Object storage from the configuration: the PostgreSQL pool (--metadata-url), the catalog's
 * tables, the S3 bucket (--s3-bucket, --s3-prefix, --s3-endpoint; credentials and region from
 * the standard AWS variables or profiles), checked at start-up so that a missing bucket, wrong
 * credentials or an unreachable endpoint or database stop the server with one clear line.
 */
import pg from 'pg';
import type { Config } from '../../config.js';
import { ConfigError } from '../../config.js';
import { S3BlobStore } from '../../blobs/s3/s3-blob-store.js';
import { CatalogStorage } from './catalog-storage.js';
import { CATALOG_MIGRATIONS, type Migration } from './schema.js';

export type ObjectStorageConfig = Pick<Config, 'metadataUrl' | 's3Bucket' | 's3Prefix' | 's3Endpoint' | 'quotaBytes'>;

export interface ObjectStorage {
  readonly storage: CatalogStorage;
  readonly blobs: S3BlobStore;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

/** Applies the steps the database lacks, in one transaction under an advisory lock. */
async function migrate(pool: pg.Pool, migrations: readonly Migration[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [0x66617374, 1]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export async function openObjectStorage(config: ObjectStorageConfig): Promise<ObjectStorage> {
  if (!config.s3Bucket || !config.metadataUrl) throw new ConfigError('s3Bucket: object storage needs --s3-bucket and --metadata-url');
  const pool = new pg.Pool({ connectionString: config.metadataUrl, max: 10, connectionTimeoutMillis: 5000 });
  // A connection that breaks while idle must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const blobs = new S3BlobStore({ bucket: config.s3Bucket, prefix: config.s3Prefix, endpoint: config.s3Endpoint });
  const close = async () => {
    blobs.close();
    await pool.end();
  };
  try {
    try {
      await migrate(pool, CATALOG_MIGRATIONS);
    } catch (err) {
      throw new ConfigError(`metadataUrl: cannot use the database: ${(err as Error).message}`);
    }
    try {
      await blobs.check();
    } catch (err) {
      throw new ConfigError(`s3Bucket: ${(err as Error).message}`);
    }
  } catch (err) {
    await close();
    throw err;
  }
  const storage = new CatalogStorage(pool, blobs, { quotaBytes: config.quotaBytes });
  return { storage, blobs, pool, close };
}
