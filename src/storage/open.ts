/**
 * The storage and the metadata store the configuration names: object storage with --s3-bucket
 * (src/storage/catalog: tree, dead properties and locks in PostgreSQL, contents in S3), else the
 * folder --root (src/storage/fs) with the metadata store of --metadata-url or --metadata-dir.
 * Used by the server and by the commands.
 */
import type { Config } from '../config.js';
import { openMetadataStore, postgresPool } from '../metadata/open.js';
import type { Clock, MetadataStore } from '../metadata/store.js';
import type { ObjectStorage } from './catalog/open.js';
import { FsCalls } from './fs/fs-calls.js';
import { FileSystemStorage } from './fs/fs-storage.js';
import type { Storage } from './storage.js';

export interface OpenedStorage {
  readonly storage: Storage;
  readonly metadata: MetadataStore;
  /** Set in object-storage mode. */
  readonly objectStorage: ObjectStorage | null;
  /** Closes the metadata store and the storage. */
  close(): Promise<void>;
}

export interface OpenStorageOptions {
  readonly clock: Clock;
  /** Told about database connection trouble. */
  readonly onError?: (err: Error) => void;
}

export async function openStorage(config: Config, options: OpenStorageOptions): Promise<OpenedStorage> {
  if (config.s3Bucket) {
    // Loaded only here: the AWS SDK takes a good part of a second to load, which a server on a
    // folder need not pay.
    const { openObjectStorage } = await import('./catalog/open.js');
    const objectStorage = await openObjectStorage(config, { ...options, pool: postgresPool(config) });
    return { storage: objectStorage.storage, metadata: objectStorage.metadata, objectStorage, close: () => objectStorage.close() };
  }
  // Where the folder's metadata calls run: directly while the disk is fast, fairly shared worker
  // threads while it is slow (fs/fs-calls.ts).
  const fsCalls = new FsCalls({ mode: config.fsCalls, threads: config.fsThreads || undefined });
  let storage: FileSystemStorage;
  let metadata: MetadataStore;
  try {
    storage = await FileSystemStorage.open(config.root, config.metadataDir, fsCalls);
    metadata = await openMetadataStore(config, options);
  } catch (err) {
    await fsCalls.close();
    throw err;
  }
  return {
    storage,
    metadata,
    objectStorage: null,
    close: async () => {
      await metadata.close();
      await fsCalls.close();
    },
  };
}
