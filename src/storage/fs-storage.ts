/**
 * The filesystem backend: a folder on disk served as the WebDAV tree.
 *
 * Confinement: paths arrive as validated segments (http/paths.ts), so only symlinks can lead out
 * of the root. Every resource a request names is resolved with realpath (or, for an opened file,
 * through /proc/self/fd) and refused when it lands outside; walks and listings skip such links.
 * Uploads go to a reserved temporary name beside the target and are renamed over it when
 * complete, so a reader never sees a half-written file and a failed upload changes nothing.
 */
import { constants as fsConstants, createWriteStream, type Dirent, type Stats } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ClientGoneError, DavError } from '../http/errors.js';
import { DavPath } from '../http/paths.js';
import { errnoOf, fsError, statusForFsError } from './fs-errors.js';
import type { Entry, MemberFailure, OpenFile, SpaceInfo, Storage, WriteOptions, WriteResult } from './storage.js';

/** Prefix of in-progress upload files; such names are reserved and never listed. */
export const PARTIAL_UPLOAD_PREFIX = '.fastdav-part-';

const STAT_BATCH = 128;
const CAN_READ_FD_LINKS = process.platform === 'linux';

export class FileSystemStorage implements Storage {
  readonly smallFileBytes = 64 * 1024;
  private readonly root: string;
  private readonly rootWithSep: string;
  /** Location of the metadata folder inside the tree, if it is inside. */
  private readonly metadataPath: DavPath | null;

  private constructor(realRoot: string, metadataPath: DavPath | null) {
    this.root = realRoot;
    this.rootWithSep = realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep;
    this.metadataPath = metadataPath;
  }

  /** Opens the folder `root`; `metadataDir` is hidden from the tree when it lies inside it. */
  static async open(root: string, metadataDir: string): Promise<FileSystemStorage> {
    const realRoot = await fsp.realpath(root);
    let realMeta = path.resolve(metadataDir);
    try {
      realMeta = await fsp.realpath(metadataDir);
    } catch {
      /* created later by the metadata store */
    }
    const rel = path.relative(realRoot, realMeta);
    const inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    return new FileSystemStorage(realRoot, inside ? DavPath.of(rel.split(path.sep)) : rel === '' ? DavPath.root : null);
  }

  isReserved(p: DavPath): boolean {
    return (this.metadataPath !== null && this.metadataPath.contains(p)) || p.name.startsWith(PARTIAL_UPLOAD_PREFIX);
  }

  private fsPath(p: DavPath): string {
    return p.isRoot ? this.root : this.rootWithSep + p.segments.join(path.sep);
  }

  private isInside(real: string): boolean {
    return real === this.root || real.startsWith(this.rootWithSep);
  }

  /** Throws 403 when `fsPath` resolves (through symlinks) outside the root; ENOENT propagates. */
  private async assertConfined(fsPath: string): Promise<void> {
    if (!this.isInside(await fsp.realpath(fsPath))) throw new DavError(403, 'symbolic link leads outside the served folder');
  }

  private entry(p: DavPath, st: Stats): Entry {
    const isCollection = st.isDirectory();
    const size = isCollection ? 0 : st.size;
    return {
      path: p,
      isCollection,
      size,
      mtimeMs: st.mtimeMs,
      birthtimeMs: st.birthtimeMs || st.ctimeMs,
      etag: `"${st.ino.toString(16)}-${size.toString(16)}-${Math.round(st.mtimeMs * 1000).toString(16)}"`,
    };
  }

  async stat(p: DavPath): Promise<Entry | null> {
    const fsPath = this.fsPath(p);
    try {
      const st = await fsp.stat(fsPath);
      if (!(st.isFile() || st.isDirectory())) return null;
      await this.assertConfined(fsPath);
      return this.entry(p, st);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG') return null;
      throw fsError(err);
    }
  }

  /** Stat of a directory member found by readdir; null for what is not served. */
  private async memberEntry(parent: DavPath, parentFs: string, d: Dirent): Promise<Entry | null> {
    const child = parent.child(d.name);
    if (this.isReserved(child)) return null;
    const fsPath = parentFs + path.sep + d.name;
    try {
      const st = await fsp.stat(fsPath);
      if (!(st.isFile() || st.isDirectory())) return null;
      // Only a link can lead outside: plain members of a confined folder are confined.
      if (d.isSymbolicLink() && !this.isInside(await fsp.realpath(fsPath))) return null;
      return this.entry(child, st);
    } catch {
      return null; // vanished meanwhile, dangling link, no permission: not listed
    }
  }

  private async readMembers(p: DavPath): Promise<Entry[]> {
    const fsPath = this.fsPath(p);
    let dirents: Dirent[];
    try {
      dirents = await fsp.readdir(fsPath, { withFileTypes: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOTDIR') return [];
      throw fsError(err);
    }
    const out: Entry[] = [];
    for (let i = 0; i < dirents.length; i += STAT_BATCH) {
      const batch = await Promise.all(dirents.slice(i, i + STAT_BATCH).map((d) => this.memberEntry(p, fsPath, d)));
      for (const e of batch) if (e) out.push(e);
    }
    return out;
  }

  async list(p: DavPath): Promise<Entry[]> {
    return this.readMembers(p);
  }

  async walk(p: DavPath, limit: number): Promise<Entry[]> {
    const top = await this.stat(p);
    if (!top) throw new DavError(404, 'Not Found');
    const out: Entry[] = [top];
    const visit = async (dir: Entry): Promise<void> => {
      for (const member of await this.readMembers(dir.path)) {
        if (out.length > limit) return;
        out.push(member);
        if (member.isCollection) await visit(member);
      }
    };
    if (top.isCollection) await visit(top);
    return out;
  }

  async openFile(p: DavPath): Promise<OpenFile> {
    const fsPath = this.fsPath(p);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(fsPath, fsConstants.O_RDONLY);
    } catch (err) {
      const code = errnoOf(err);
      throw code === 'ENOTDIR' || code === 'ELOOP' ? new DavError(404, 'Not Found') : fsError(err);
    }
    try {
      // The descriptor's own path says where the open really landed, symlinks included.
      const real = CAN_READ_FD_LINKS ? await fsp.readlink(`/proc/self/fd/${fh.fd}`) : await fsp.realpath(fsPath);
      if (!this.isInside(real)) throw new DavError(403, 'symbolic link leads outside the served folder');
      const entry = this.entry(p, await fh.stat());
      return {
        entry,
        readAll: async () => {
          const buf = Buffer.allocUnsafe(entry.size);
          let off = 0;
          while (off < buf.length) {
            const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
            if (bytesRead === 0) break;
            off += bytesRead;
          }
          await fh.close();
          return off === buf.length ? buf : buf.subarray(0, off);
        },
        stream: (start, end) => fh.createReadStream({ start, end, autoClose: true }),
        close: () => fh.close(),
      };
    } catch (err) {
      await fh.close();
      throw fsError(err);
    }
  }

  /** The parent folder of `p` on disk, checked to exist, be a folder and lie inside the root. */
  private async parentFolder(p: DavPath): Promise<string> {
    const parentFs = this.fsPath(p.parent());
    try {
      const st = await fsp.stat(parentFs);
      if (!st.isDirectory()) throw new DavError(409, 'parent is not a collection');
      await this.assertConfined(parentFs);
    } catch (err) {
      throw fsError(err, 409);
    }
    return parentFs;
  }

  async writeFile(p: DavPath, body: Readable, options: WriteOptions): Promise<WriteResult> {
    const parentFs = await this.parentFolder(p);
    const target = this.fsPath(p);
    let old: Stats | null = null;
    try {
      old = await fsp.stat(target);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw fsError(err);
    }
    if (old?.isDirectory()) throw new DavError(405, 'cannot PUT to a collection');
    if (old) await this.assertConfined(target).catch((err) => { throw fsError(err); });

    const temp = parentFs + path.sep + PARTIAL_UPLOAD_PREFIX + randomUUID();
    let written = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        written += chunk.length;
        if (options.maxBytes !== undefined && written > options.maxBytes) {
          done(new DavError(413, `upload larger than the limit of ${options.maxBytes} bytes`));
        } else done(null, chunk);
      },
    });
    try {
      await pipeline(body, counter, createWriteStream(temp, { flags: 'wx', mode: old ? old.mode & 0o7777 : 0o666 }));
      if (options.expectedLength !== undefined && written < options.expectedLength) {
        throw new DavError(400, `body has ${written} bytes, ${options.expectedLength} were announced`);
      }
      if (old) await fsp.chmod(temp, old.mode & 0o7777); // creation applied the umask
      if (options.mtime !== undefined) await fsp.utimes(temp, new Date(), options.mtime);
      const st = await fsp.stat(temp);
      await fsp.rename(temp, target);
      return { created: old === null, entry: this.entry(p, st) };
    } catch (err) {
      await fsp.unlink(temp).catch(() => undefined);
      // The body is destroyed by pipeline on any failure: only a failure of its own means the client left.
      if (!(err instanceof DavError) && body.destroyed && !body.readableEnded) throw new ClientGoneError();
      throw fsError(err, 409);
    }
  }

  async createEmptyFile(p: DavPath): Promise<boolean> {
    await this.parentFolder(p);
    try {
      await (await fsp.open(this.fsPath(p), 'wx', 0o666)).close();
      return true;
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') return false;
      throw fsError(err, 409);
    }
  }

  async createCollection(p: DavPath): Promise<void> {
    await this.parentFolder(p);
    try {
      await fsp.mkdir(this.fsPath(p));
    } catch (err) {
      throw fsError(err, 409);
    }
  }

  async deleteTree(p: DavPath, keep: readonly DavPath[]): Promise<MemberFailure[]> {
    const fsPath = this.fsPath(p);
    const st = await fsp.lstat(fsPath).catch((err) => { throw fsError(err); });
    if (keep.length === 0) {
      // Fast path: one recursive removal; on any failure, fall back to the walk below,
      // which finds out exactly which members could not be deleted.
      try {
        await fsp.rm(fsPath, { recursive: true });
        return [];
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return [];
      }
    }
    const failures: MemberFailure[] = [];
    await this.removeRecursive(p, fsPath, st.isDirectory(), new Set(keep.map((k) => k.key)), failures);
    return failures;
  }

  /** Removes what it can below `fsPath`; true when `fsPath` itself is gone. */
  private async removeRecursive(p: DavPath, fsPath: string, isDir: boolean, keep: ReadonlySet<string>, failures: MemberFailure[]): Promise<boolean> {
    if (keep.has(p.key) || this.isReserved(p)) return false;
    try {
      if (!isDir) {
        await fsp.unlink(fsPath);
        return true;
      }
      let all = true;
      for (const d of await fsp.readdir(fsPath, { withFileTypes: true })) {
        const removed = await this.removeRecursive(p.child(d.name), fsPath + path.sep + d.name, d.isDirectory(), keep, failures);
        all &&= removed;
      }
      // RFC 4918 §9.6.1: ancestors of a member that could not be deleted stay, unreported.
      if (!all) return false;
      await fsp.rmdir(fsPath);
      return true;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return true;
      failures.push({ path: p, isCollection: isDir, status: statusForFsError(err) });
      return false;
    }
  }

  async copyTree(from: DavPath, to: DavPath, depth: 0 | 'infinity'): Promise<MemberFailure[]> {
    const source = await this.stat(from);
    if (!source) throw new DavError(404, 'Not Found');
    const parentFs = await this.parentFolder(to);
    const target = this.fsPath(to);
    if (!source.isCollection) {
      // A file copy lands under a temporary name first, so an existing destination file is
      // replaced in one step and a failed copy leaves nothing behind.
      const temp = parentFs + path.sep + PARTIAL_UPLOAD_PREFIX + randomUUID();
      try {
        await fsp.copyFile(this.fsPath(from), temp, fsConstants.COPYFILE_FICLONE);
        await fsp.rename(temp, target);
      } catch (err) {
        await fsp.unlink(temp).catch(() => undefined);
        throw fsError(err, 409);
      }
      return [];
    }
    try {
      await fsp.mkdir(target);
    } catch (err) {
      throw fsError(err, 409);
    }
    const failures: MemberFailure[] = [];
    if (depth === 'infinity') await this.copyMembers(from, to, failures);
    return failures;
  }

  private async copyMembers(from: DavPath, to: DavPath, failures: MemberFailure[]): Promise<void> {
    let members: Entry[];
    try {
      members = await this.readMembers(from);
    } catch (err) {
      failures.push({ path: to, isCollection: true, status: statusForFsError(err) });
      return;
    }
    const destination = this.fsPath(to);
    for (const member of members) {
      const src = this.fsPath(member.path);
      const dst = destination + path.sep + member.path.name;
      const dstPath = to.child(member.path.name);
      try {
        if (member.isCollection) {
          await fsp.mkdir(dst);
          await this.copyMembers(member.path, dstPath, failures);
        } else {
          await fsp.copyFile(src, dst, fsConstants.COPYFILE_FICLONE);
        }
      } catch (err) {
        failures.push({ path: dstPath, isCollection: member.isCollection, status: statusForFsError(err) });
      }
    }
  }

  async moveTree(from: DavPath, to: DavPath): Promise<MemberFailure[]> {
    await this.parentFolder(to);
    try {
      await fsp.rename(this.fsPath(from), this.fsPath(to));
      return [];
    } catch (err) {
      if (errnoOf(err) !== 'EXDEV') throw fsError(err, 409);
    }
    // Across filesystems (a bind mount inside the root): copy, then delete what was copied.
    const failures = await this.copyTree(from, to, 'infinity');
    if (failures.length > 0) return failures;
    return this.deleteTree(from, []);
  }

  async setModifiedTime(p: DavPath, seconds: number): Promise<void> {
    try {
      await fsp.utimes(this.fsPath(p), new Date(), seconds);
    } catch (err) {
      throw fsError(err);
    }
  }

  async space(): Promise<SpaceInfo> {
    const s = await fsp.statfs(this.root);
    return { availableBytes: s.bavail * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize };
  }
}
