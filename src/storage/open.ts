/**
 * The storage the configuration names: object storage with --s3-bucket (src/storage/catalog),
 * else the folder --root (src/storage/fs). Used by the server and by the commands.
 */
import type { Config } from '../config.js';
import { type ObjectStorage, openObjectStorage } from './catalog/open.js';
import { FileSystemStorage } from './fs/fs-storage.js';
import type { Storage } from './storage.js';

export interface OpenedStorage {
  readonly storage: Storage;
  /** Set in object-storage mode. */
  readonly objectStorage: ObjectStorage | null;
  close(): Promise<void>;
}

export async function openStorage(config: Config): Promise<OpenedStorage> {
  if (config.s3Bucket) {
    const objectStorage = await openObjectStorage(config);
    return { storage: objectStorage.storage, objectStorage, close: () => objectStorage.close() };
  }
  const storage = await FileSystemStorage.open(config.root, config.metadataDir);
  return { storage, objectStorage: null, close: async () => undefined };
}
