/**
 * Partial files: what the filesystem backend writes under a reserved temporary name beside its
 * destination and renames into place when complete (an upload, a copied file, a copied tree),
 * so that nothing is ever visible half-written. Such names are never served, listed or copied.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';

/** Prefix of partial files and folders; names starting with it are reserved. */
export const PARTIAL_PREFIX = '.fastdav-part-';

/** A fresh partial name inside the folder `dirFs`. */
export function partialName(dirFs: string): string {
  return dirFs + path.sep + PARTIAL_PREFIX + randomUUID();
}
