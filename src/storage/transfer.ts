/**
 * `fastdav export DIR` and `fastdav import DIR`: a tree between any Storage and a plain folder,
 * with modification times, so that data is never locked in (object storage → folder) and a
 * folder moves into object storage (folder → object storage).
 *
 * Dead properties travel as the filesystem backend keeps them: in DIR/.fastdav/metadata.sqlite
 * (its default --metadata-dir). An export is therefore a folder that `fastdav --root DIR` serves
 * with the same properties, and an import of a folder the filesystem backend served brings its
 * properties along. Locks are not carried: they belong to the clients of the running server.
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { DavError } from '../core/errors.js';
import { DavPath } from '../core/paths.js';
import type { DeadProperty, MetadataStore } from '../metadata/store.js';
import { SqliteMetadataStore } from '../metadata/sqlite/store.js';
import type { Entry, Storage } from './storage.js';

/** Where a folder keeps its dead properties: the filesystem backend's metadata folder (default --metadata-dir). */
export const FOLDER_METADATA = '.fastdav';

export interface TransferReport {
  files: number;
  collections: number;
  bytes: number;
  /** Resources whose dead properties were carried. */
  withProperties: number;
  /** What was left out, and why. */
  skipped: string[];
}

const CHUNK = 1024 * 1024;

async function copyOut(storage: Storage, entry: Entry, target: string): Promise<void> {
  const file = await storage.openFile(entry.path);
  const out = createWriteStream(target, { flags: 'wx' });
  try {
    for (let position = 0; position < entry.size; ) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, entry.size - position));
      const n = await file.read(buffer, buffer.length, position);
      if (n === 0) throw new Error(`${entry.path} ended after ${position} of ${entry.size} bytes`);
      position += n;
      if (!out.write(buffer.subarray(0, n))) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    out.end();
    await finished(out);
  } finally {
    out.destroy();
    await file.close();
  }
}

/** Writes the whole tree of `storage` into `dir` (which must be empty or not exist yet), with the dead properties of `metadata`. */
export async function exportTree(storage: Storage, metadata: MetadataStore, dir: string): Promise<TransferReport> {
  await fsp.mkdir(dir, { recursive: true });
  if ((await fsp.readdir(dir)).length > 0) throw new Error(`${dir} is not empty`);
  const report: TransferReport = { files: 0, collections: 0, bytes: 0, withProperties: 0, skipped: [] };
  const collections: Entry[] = [];
  const listing = await storage.members(DavPath.root, 'infinity');
  for await (const batch of listing.batches()) {
    for (const entry of batch) {
      if (entry.path.segments[0] === FOLDER_METADATA) {
        if (entry.path.segments.length === 1) report.skipped.push(`${entry.path}: the name where the export keeps the dead properties`);
        continue;
      }
      const target = path.join(dir, ...entry.path.segments);
      if (entry.isCollection) {
        await fsp.mkdir(target);
        collections.push(entry);
        report.collections++;
      } else {
        await copyOut(storage, entry, target);
        await fsp.utimes(target, new Date(), new Date(entry.mtimeMs));
        report.files++;
        report.bytes += entry.size;
      }
    }
  }
  // Folders last, deepest first: writing into a folder changes its modification time.
  for (const c of collections.reverse()) await fsp.utimes(path.join(dir, ...c.path.segments), new Date(), new Date(c.mtimeMs));
  const properties = [...(await metadata.deadProps.getTree(DavPath.root))].filter(([key]) => DavPath.fromKey(key).segments[0] !== FOLDER_METADATA);
  if (properties.length > 0) {
    // No folder for a tree without properties: the export is then exactly the files.
    const folderStore = SqliteMetadataStore.open(path.join(dir, FOLDER_METADATA));
    try {
      await folderStore.transaction(async (tx) => {
        for (const [key, props] of properties) await tx.deadProps.apply(DavPath.fromKey(key), settings(props));
      });
    } finally {
      await folderStore.close();
    }
    report.withProperties = properties.length;
  }
  return report;
}

const settings = (props: readonly DeadProperty[]) => props.map((prop) => ({ op: 'set' as const, prop }));

/** The dead properties kept in DIR/.fastdav (a folder the filesystem backend served, or an export), by key. */
async function folderProperties(dir: string): Promise<Map<string, DeadProperty[]>> {
  const store = path.join(dir, FOLDER_METADATA);
  if (!existsSync(path.join(store, 'metadata.sqlite'))) return new Map();
  const folderStore = SqliteMetadataStore.open(store);
  try {
    return await folderStore.deadProps.getTree(DavPath.root);
  } finally {
    await folderStore.close();
  }
}

/**
 * Loads the folder `dir` into `storage`, below its root; existing files with the same names are
 * replaced. The dead properties in DIR/.fastdav go to `metadata`.
 */
export async function importTree(storage: Storage, metadata: MetadataStore, dir: string): Promise<TransferReport> {
  const report: TransferReport = { files: 0, collections: 0, bytes: 0, withProperties: 0, skipped: [] };
  const folders: { path: DavPath; mtimeMs: number }[] = [];
  const walk = async (folder: string, at: DavPath): Promise<void> => {
    const names = (await fsp.readdir(folder, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const d of names) {
      const source = path.join(folder, d.name);
      let target: DavPath;
      try {
        target = at.child(d.name);
      } catch {
        report.skipped.push(`${source}: not a valid name`);
        continue;
      }
      if (at.isRoot && d.name === FOLDER_METADATA) continue; // the properties, read below
      if (storage.isReserved(target)) {
        report.skipped.push(`${source}: a name the server keeps for itself`);
        continue;
      }
      const st = await fsp.lstat(source);
      if (st.isDirectory()) {
        try {
          await storage.createCollection(target);
        } catch (err) {
          if (!(err instanceof DavError && err.statusCode === 405 && (await storage.stat(target))?.isCollection)) throw err;
        }
        report.collections++;
        folders.push({ path: target, mtimeMs: st.mtimeMs });
        await walk(source, target);
      } else if (st.isFile()) {
        await storage.writeFile(target, createReadStream(source), { expectedLength: st.size, sizeHint: st.size, mtime: st.mtimeMs / 1000 });
        report.files++;
        report.bytes += st.size;
      } else {
        report.skipped.push(`${source}: not a file or folder (symbolic link, device…)`);
      }
    }
  };
  await walk(dir, DavPath.root);
  const properties: [DavPath, DeadProperty[]][] = [];
  for (const [key, props] of await folderProperties(dir)) {
    const target = DavPath.fromKey(key);
    // Properties left behind by a resource removed from the folder by hand have nothing to go to.
    if ((await storage.stat(target)) === null) report.skipped.push(`dead properties of ${target}: no such file or folder`);
    else properties.push([target, props]);
  }
  await metadata.transaction(async (tx) => {
    for (const [target, props] of properties) await tx.deadProps.apply(target, settings(props));
  });
  report.withProperties = properties.length;
  for (const f of folders.reverse()) await storage.setModifiedTime(f.path, f.mtimeMs / 1000);
  return report;
}
