/**
 * `fastdav export DIR` and `fastdav import DIR`: a tree between any Storage and a plain folder,
 * with modification times, so that data is never locked in (object storage → folder) and a
 * folder moves into object storage (folder → object storage). Dead properties and locks are not
 * carried: they are not files.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { DavError } from '../core/errors.js';
import { DavPath } from '../core/paths.js';
import type { Entry, Storage } from './storage.js';

export interface TransferReport {
  files: number;
  collections: number;
  bytes: number;
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

/** Writes the whole tree of `storage` into `dir` (which must be empty or not exist yet). */
export async function exportTree(storage: Storage, dir: string): Promise<TransferReport> {
  await fsp.mkdir(dir, { recursive: true });
  if ((await fsp.readdir(dir)).length > 0) throw new Error(`${dir} is not empty`);
  const report: TransferReport = { files: 0, collections: 0, bytes: 0, skipped: [] };
  const collections: Entry[] = [];
  const listing = await storage.members(DavPath.root, 'infinity');
  for await (const batch of listing.batches()) {
    for (const entry of batch) {
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
  return report;
}

/** Loads the folder `dir` into `storage`, below its root; existing files with the same names are replaced. */
export async function importTree(storage: Storage, dir: string): Promise<TransferReport> {
  const report: TransferReport = { files: 0, collections: 0, bytes: 0, skipped: [] };
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
  for (const f of folders.reverse()) await storage.setModifiedTime(f.path, f.mtimeMs / 1000);
  return report;
}
