/**
 * The storage and the metadata store the configuration names: object storage with --s3-bucket
 * (src/storage/catalog: tree, dead properties and locks in PostgreSQL, contents in S3), else the
 * folder --root (src/storage/fs) with the metadata store of --metadata-url or --metadata-dir.
 * Used by the server and by the commands.
 */
import type { Config } from '../config.js';
import { openMetadataStore } from '../metadata/open.js';
import type { Clock, MetadataStore } from '../metadata/store.js';
import { type ObjectStorage, openObjectStorage } from './catalog/open.js';
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
    const objectStorage = await openObjectStorage(config, options);
    return { storage: objectStorage.storage, metadata: objectStorage.metadata, objectStorage, close: () => objectStorage.close() };
  }
  const storage = await FileSystemStorage.open(config.root, config.metadataDir);
  const metadata = await openMetadataStore(config, options);
  return { storage, metadata, objectStorage: null, close: () => metadata.close() };
}
