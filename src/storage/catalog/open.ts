/**
 * Object storage from the configuration: PostgreSQL (--metadata-url) for the tree, the dead
 * properties and the locks, with the catalog's tables migrated beside the metadata store's; the
 * S3 bucket (--s3-bucket, --s3-prefix, --s3-endpoint; credentials and region from the standard
 * AWS variables or profiles). Both are checked at start-up, so that a missing bucket, wrong
 * credentials or an unreachable endpoint or database stop the server with one clear line.
 */
import type { Config } from '../../config.js';
import { ConfigError } from '../../config.js';
import { S3BlobStore } from '../../blobs/s3/s3-blob-store.js';
import { PostgresMetadataStore, type PostgresStoreOptions } from '../../metadata/postgres/store.js';
import type { Clock } from '../../metadata/store.js';
import { CatalogStorage } from './catalog-storage.js';
import { CatalogMetadataStore } from './dead-props.js';
import { OBJECT_STORAGE_MIGRATIONS } from './schema.js';

export type ObjectStorageConfig = Pick<Config, 'metadataUrl' | 's3Bucket' | 's3Prefix' | 's3Endpoint' | 'quotaBytes'> & Partial<Pick<Config, 's3Timeout'>>;

export interface ObjectStorageOptions {
  readonly clock?: Clock;
  /** Told about database connection trouble. */
  readonly onError?: (err: Error) => void;
  /** Pool size and timeouts (--metadata-pool-size, --metadata-timeout). */
  readonly pool?: Pick<PostgresStoreOptions, 'maxConnections' | 'queryTimeoutMs' | 'connectTimeoutMs'>;
}

export interface ObjectStorage {
  readonly storage: CatalogStorage;
  readonly metadata: CatalogMetadataStore;
  readonly blobs: S3BlobStore;
  close(): Promise<void>;
}

export async function openObjectStorage(config: ObjectStorageConfig, options: ObjectStorageOptions = {}): Promise<ObjectStorage> {
  if (!config.s3Bucket || !config.metadataUrl) throw new ConfigError('s3Bucket: object storage needs --s3-bucket and --metadata-url');
  let database: PostgresMetadataStore;
  let fingerprints: boolean;
  try {
    const { pool, ...rest } = options;
    database = await PostgresMetadataStore.open(config.metadataUrl, { migrations: OBJECT_STORAGE_MIGRATIONS, ...rest, ...pool });
    // The listing cache's fingerprints need PostgreSQL 14 (listing-fingerprints.ts).
    const version = await database.pool.query<{ v: number }>("SELECT current_setting('server_version_num')::int AS v");
    fingerprints = version.rows[0]!.v >= 140000;
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    throw new ConfigError(`metadataUrl: cannot use the database: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  const blobs = new S3BlobStore({ bucket: config.s3Bucket, prefix: config.s3Prefix, endpoint: config.s3Endpoint, timeoutSeconds: config.s3Timeout });
  const close = async () => {
    blobs.close();
    await database.close();
  };
  try {
    await blobs.check();
  } catch (err) {
    await close();
    throw new ConfigError(`s3Bucket: ${(err as Error).message}`);
  }
  return {
    storage: new CatalogStorage(database, blobs, { quotaBytes: config.quotaBytes, fingerprints }),
    metadata: new CatalogMetadataStore(database),
    blobs,
    close,
  };
}
