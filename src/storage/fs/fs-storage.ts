/**
 * The filesystem backend: a folder on disk served as the WebDAV tree.
 *
 * Confinement: paths arrive as validated segments (core/paths.ts), so only symlinks can lead out
 * of the root. Every resource a request names is resolved with realpath (or, for an opened file,
 * through /proc/self/fd) and refused when it lands outside; walks and listings skip such links.
 * Uploads go to a reserved temporary name beside the target and are renamed over it when
 * complete, so a reader never sees a half-written file and a failed upload changes nothing.
 *
 * Metadata calls (stat, realpath, readdir, open, rename, mkdir, unlink) go through FsCalls
 * (fs-calls.ts): made directly while the disk answers fast (a thread-pool handoff is 10-30 times
 * the system call itself on a warm disk; test/bench/NOTES.md), in libuv's pool, shared fairly
 * between requests, while it is slow. Small reads and writes of an open file stay synchronous;
 * bulk data stays asynchronous and streamed: file bodies above smallFileBytes, and uploads past
 * their first MiB. Loops over many members (listings, walks, tree copies and deletes) yield to the
 * event loop every YIELD_EVERY calls, so one big listing never holds up the other requests for long.
 */
import fs, { constants as fsConstants } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ClientGoneError, DavError } from '../../core/errors.js';
import { DavPath, isValidSegment } from '../../core/paths.js';
import { errnoOf, fsError, reasonOf, statusForFsError } from './fs-errors.js';
import { PARTIAL_PREFIX, partialName } from './partial-files.js';
import { TreeSizes } from './tree-size.js';
import { type DirEntry, type FileStat, FsCalls, Lane } from './fs-calls.js';
import type { CountedListing, Entry, MemberFailure, OpenFile, SpaceInfo, Storage, WriteOptions, WriteResult } from '../storage.js';

const CAN_READ_FD_LINKS = process.platform === 'linux';
/** Filesystem calls made in a row before a loop lets the event loop run (about 1-3 ms). */
const YIELD_EVERY = 512;
/** Upload bytes written synchronously (page cache) before writes go through the thread pool. */
const SYNC_WRITE_BYTES = 1024 * 1024;

/** Counts calls and, every YIELD_EVERY of them, returns a promise that lets the event loop run. */
class Pacer {
  private count = 0;

  tick(): Promise<void> | undefined {
    if (++this.count % YIELD_EVERY !== 0) return undefined;
    return new Promise((resolve) => setImmediate(resolve));
  }
}

/** Most entries counted for one quota-used-bytes (past it, the property is not reported). */
const SIZE_WALK_LIMIT = 200_000;

/** Members stat'ed per batch of a listing (about 1 ms of work between two looks at the event loop). */
const LISTING_BATCH = 256;

/** A member of a listing before its stat. */
interface Pending {
  readonly path: DavPath;
  readonly fsPath: string;
  readonly isLink: boolean;
}

/** A member found by readdir that is served: a file or a folder (after following a confined link). */
interface Member {
  readonly name: string;
  readonly fsPath: string;
  readonly isCollection: boolean;
  readonly isLink: boolean;
}

export class FileSystemStorage implements Storage {
  readonly smallFileBytes = 64 * 1024;
  private readonly root: string;
  private readonly rootWithSep: string;
  /** Location of the metadata folder inside the tree, if it is inside. */
  private readonly metadataPath: DavPath | null;
  /** Where metadata calls run (directly, or fairly in the thread pool). */
  private readonly io: FsCalls;

  /** Bytes used below folders, for quota-used-bytes (counted rarely, see tree-size.ts). */
  private readonly sizes: TreeSizes;

  private constructor(realRoot: string, metadataPath: DavPath | null, io: FsCalls) {
    this.io = io;
    this.root = realRoot;
    this.rootWithSep = realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep;
    this.metadataPath = metadataPath;
    const metadataFs = metadataPath ? this.fsPath(metadataPath) : null;
    this.sizes = new TreeSizes(SIZE_WALK_LIMIT, (dirFs, name) => name.startsWith(PARTIAL_PREFIX) || dirFs + path.sep + name === metadataFs);
  }

  /** Opens the folder `root`; `metadataDir` is hidden from the tree when it lies inside it. */
  static async open(root: string, metadataDir: string, io = new FsCalls()): Promise<FileSystemStorage> {
    const realRoot = await fsp.realpath(root);
    let realMeta = path.resolve(metadataDir);
    try {
      realMeta = await fsp.realpath(metadataDir);
    } catch {
      /* created later by the metadata store */
    }
    const rel = path.relative(realRoot, realMeta);
    const inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    return new FileSystemStorage(realRoot, inside ? DavPath.of(rel.split(path.sep)) : rel === '' ? DavPath.root : null, io);
  }

  isReserved(p: DavPath): boolean {
    return (this.metadataPath !== null && this.metadataPath.contains(p)) || p.name.startsWith(PARTIAL_PREFIX);
  }

  private fsPath(p: DavPath): string {
    return p.isRoot ? this.root : this.rootWithSep + p.segments.join(path.sep);
  }

  private isInside(real: string): boolean {
    return real === this.root || real.startsWith(this.rootWithSep);
  }

  /** Throws 403 when `fsPath` resolves (through symlinks) outside the root; ENOENT propagates. */
  private async assertConfined(fsPath: string): Promise<void> {
    if (!this.isInside(await this.io.realpath(fsPath))) throw new DavError(403, 'symbolic link leads outside the served folder');
  }

  private entry(p: DavPath, st: FileStat): Entry {
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
      const st = await this.io.stat(fsPath);
      if (!st || !(st.isFile() || st.isDirectory())) return null;
      await this.assertConfined(fsPath);
      return this.entry(p, st);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG') return null;
      throw fsError(err);
    }
  }

  /** Stat of a member found by readdir; null for what is not served. */
  private async entryAt(child: DavPath, fsPath: string, isLink: boolean, lane?: Lane): Promise<Entry | null> {
    try {
      const st = await this.io.stat(fsPath, lane);
      if (!st || !(st.isFile() || st.isDirectory())) return null;
      // Only a link can lead outside: plain members of a confined folder are confined.
      if (isLink && !this.isInside(await this.io.realpath(fsPath, lane))) return null;
      return this.entry(child, st);
    } catch {
      return null; // vanished meanwhile, dangling link, no permission: not listed
    }
  }

  /**
   * Whether a member found by readdir is a folder (true), a file (false) or not served (null):
   * the type readdir reports is enough for files and folders; links (and filesystems that
   * report no type) are followed and checked like everything else.
   */
  private memberKind(child: DavPath, fsPath: string, d: DirEntry, lane: Lane): boolean | null | Promise<boolean | null> {
    if (this.isReserved(child)) return null;
    if (d.isFile() || d.isDirectory()) return d.isDirectory(); // no promise for the common case
    return this.entryAt(child, fsPath, d.isSymbolicLink(), lane).then((e) => e?.isCollection ?? null);
  }

  /**
   * The folder's entries, sorted by name (libuv's scandir sorts); ~0.5 µs per entry, read
   * directly. Names no URL can address (none on Linux; a filesystem could report others) are
   * left out: they are not listed and not copied; deleting their folder deletes them with it.
   */
  private async readDirents(fsPath: string, lane: Lane): Promise<DirEntry[]> {
    try {
      return (await this.io.readdir(fsPath, lane)).filter((d) => isValidSegment(d.name));
    } catch (err) {
      if (errnoOf(err) === 'ENOTDIR') return [];
      throw fsError(err);
    }
  }

  /**
   * Real path of a member folder reached while walking a tree whose current folder really is
   * at `parentReal`; null when following it would walk in a circle (a link to an ancestor).
   * Only links can make circles, so only they cost a realpath.
   */
  private async descendInto(parentReal: string, fsPath: string, name: string, isLink: boolean, ancestors: ReadonlySet<string>): Promise<string | null> {
    if (!isLink) return parentReal + path.sep + name;
    const real = await this.io.realpath(fsPath);
    return ancestors.has(real) ? null : real;
  }

  /** The served members of a folder, without a stat of each (for tree copies). */
  private async readMemberKinds(p: DavPath, pacer: Pacer, lane: Lane): Promise<Member[]> {
    const fsPath = this.fsPath(p);
    const out: Member[] = [];
    for (const d of await this.readDirents(fsPath, lane)) {
      const memberFs = fsPath + path.sep + d.name;
      const isCollection = await this.memberKind(p.child(d.name), memberFs, d, lane);
      if (isCollection !== null) out.push({ name: d.name, fsPath: memberFs, isCollection, isLink: d.isSymbolicLink() });
      const pause = pacer.tick();
      if (pause) await pause;
    }
    return out;
  }

  async list(p: DavPath): Promise<Entry[]> {
    const out: Entry[] = [];
    for await (const batch of (await this.members(p, 1)).batches()) out.push(...batch);
    return out;
  }

  /**
   * A listing in two passes: names first (readdir, and a stat only for links), which counts the
   * members and fixes their order (each folder sorted, a subfolder's tree right after it); then
   * a stat per member, LISTING_BATCH at a time, when the caller iterates. The caller renders
   * each batch before the next is read, so an entry lives for one batch, not the whole listing:
   * fewer objects survive into the old generation and the 10,000-entry listing holds names only.
   */
  async members(p: DavPath, depth: 1 | 'infinity', max = Infinity): Promise<CountedListing> {
    const pending: Pending[] = [];
    const pacer = new Pacer();
    const lane = new Lane();
    const visit = async (dir: DavPath, dirFs: string, dirReal: string, ancestors: Set<string>): Promise<void> => {
      for (const d of await this.readDirents(dirFs, lane)) {
        if (pending.length > max) return;
        const child = dir.child(d.name);
        const fsPath = dirFs + path.sep + d.name;
        const isCollection = await this.memberKind(child, fsPath, d, lane);
        if (isCollection !== null) {
          pending.push({ path: child, fsPath, isLink: d.isSymbolicLink() });
          // RFC 5842 §1: a link back to an ancestor is listed, but not walked into again.
          const real = isCollection && depth === 'infinity' ? await this.descendInto(dirReal, fsPath, d.name, d.isSymbolicLink(), ancestors) : null;
          if (real !== null) {
            ancestors.add(real);
            await visit(child, fsPath, real, ancestors);
            ancestors.delete(real);
          }
        }
        const pause = pacer.tick();
        if (pause) await pause;
      }
    };
    const top = this.fsPath(p);
    // Gone since the caller's stat (or never there): 404, as the other backends answer.
    const topReal = await this.io.realpath(top, lane).catch((err: unknown) => {
      throw fsError(err);
    });
    await visit(p, top, topReal, new Set([topReal]));
    const entryAt = (m: Pending) => this.entryAt(m.path, m.fsPath, m.isLink, lane);
    return {
      count: Math.min(pending.length, max + 1),
      async *batches() {
        for (let i = 0; i < pending.length; i += LISTING_BATCH) {
          // The batch's stats are queued at once: in the pool they overlap (in this listing's lane).
          const entries = await Promise.all(pending.slice(i, i + LISTING_BATCH).map(entryAt));
          yield entries.filter((e): e is Entry => e !== null);
        }
      },
    };
  }

  async openFile(p: DavPath): Promise<OpenFile> {
    const fsPath = this.fsPath(p);
    let fd: number;
    try {
      fd = await this.io.open(fsPath, fsConstants.O_RDONLY);
    } catch (err) {
      const code = errnoOf(err);
      throw code === 'ENOTDIR' || code === 'ELOOP' ? new DavError(404, 'Not Found') : fsError(err);
    }
    try {
      // The descriptor's own path says where the open really landed, symlinks included.
      const real = CAN_READ_FD_LINKS ? fs.readlinkSync(`/proc/self/fd/${fd}`) : await this.io.realpath(fsPath);
      if (!this.isInside(real)) throw new DavError(403, 'symbolic link leads outside the served folder');
      const entry = this.entry(p, await this.io.fstat(fd));
      let open = true;
      const close = (): void => {
        if (open) fs.closeSync(fd);
        open = false;
      };
      return {
        entry,
        readAll: async () => {
          try {
            const buf = Buffer.allocUnsafe(entry.size);
            let off = 0;
            while (off < buf.length) {
              const bytesRead = fs.readSync(fd, buf, off, buf.length - off, off);
              if (bytesRead === 0) break;
              off += bytesRead;
            }
            return off === buf.length ? buf : buf.subarray(0, off);
          } finally {
            close();
          }
        },
        // Bulk reads go through the pool: a cold disk must not stall the event loop.
        read: (buffer, length, position) =>
          new Promise((resolve, reject) => fs.read(fd, buffer, 0, length, position, (err, n) => (err ? reject(fsError(err)) : resolve(n)))),
        close: async () => close(),
      };
    } catch (err) {
      fs.closeSync(fd);
      throw fsError(err);
    }
  }

  /** The parent folder of `p` on disk, checked to exist, be a folder and lie inside the root. */
  private async parentFolder(p: DavPath): Promise<string> {
    const parentFs = this.fsPath(p.parent());
    try {
      const st = await this.io.stat(parentFs);
      if (!st) throw Object.assign(new Error(`ENOENT: ${parentFs}`), { code: 'ENOENT' });
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
    let old: FileStat | undefined;
    try {
      old = await this.io.stat(target);
      if (old?.isDirectory()) throw new DavError(405, 'cannot PUT to a collection');
      if (old) await this.assertConfined(target);
    } catch (err) {
      throw fsError(err);
    }

    const temp = partialName(parentFs);
    let fd: number | undefined;
    try {
      fd = await this.io.open(temp, 'wx', old ? old.mode & 0o7777 : 0o666);
      const written = await receive(body, fd, options.maxBytes);
      if (options.expectedLength !== undefined && written < options.expectedLength) {
        throw new DavError(400, `body has ${written} bytes, ${options.expectedLength} were announced`);
      }
      if (old) fs.fchmodSync(fd, old.mode & 0o7777); // creation applied the umask
      if (options.mtime !== undefined) fs.futimesSync(fd, new Date(), options.mtime);
      const st = await this.io.fstat(fd);
      fs.closeSync(fd);
      fd = undefined;
      // The locks and the preconditions once more, against the file as it is after the upload
      // (looked at only when one of them asks).
      const check = options.commitCheck;
      let now: Promise<FileStat | undefined> | undefined;
      const current = () => (now ??= this.io.stat(target));
      await check?.locksBeforeCommit?.(async () => (await current()) === undefined);
      if (check?.resource) {
        const found = await current();
        check.resource(found && !found.isDirectory() ? this.entry(p, found) : null);
      }
      await this.io.rename(temp, target);
      return { created: old === undefined, entry: this.entry(p, st) };
    } catch (err) {
      if (fd !== undefined) fs.closeSync(fd);
      try {
        await this.io.unlink(temp);
      } catch {
        /* never created, or already gone */
      }
      // Only a failure of the body itself (destroyed before its end) means the client left.
      if (!(err instanceof DavError) && body.destroyed && !body.readableEnded) throw new ClientGoneError();
      throw fsError(err, 409);
    }
  }

  async createEmptyFile(p: DavPath): Promise<boolean> {
    await this.parentFolder(p);
    try {
      fs.closeSync(await this.io.open(this.fsPath(p), 'wx', 0o666));
      return true;
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') return false;
      throw fsError(err, 409);
    }
  }

  async createCollection(p: DavPath): Promise<void> {
    await this.parentFolder(p);
    try {
      await this.io.mkdir(this.fsPath(p));
    } catch (err) {
      throw fsError(err, 409);
    }
  }

  async deleteTree(p: DavPath, keep: readonly DavPath[]): Promise<MemberFailure[]> {
    const fsPath = this.fsPath(p);
    let st: FileStat;
    try {
      st = await this.io.lstat(fsPath);
    } catch (err) {
      throw fsError(err);
    }
    const pacer = new Pacer();
    const lane = new Lane();
    if (keep.length === 0) {
      // Fast path: remove everything; on any failure, fall back to the walk below, which
      // finds out exactly which members could not be deleted.
      try {
        await this.removeAll(fsPath, st.isDirectory(), pacer, lane);
        return [];
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return [];
      }
    }
    const failures: MemberFailure[] = [];
    await this.removeRecursive(p, fsPath, st.isDirectory(), new Set(keep.map((k) => k.key)), failures, pacer, lane);
    return failures;
  }

  /** Removes `fsPath` and everything below it (links are removed, never followed); throws on the first failure. */
  private async removeAll(fsPath: string, isDir: boolean, pacer: Pacer, lane: Lane): Promise<void> {
    try {
      if (isDir) {
        for (const d of await this.io.readdir(fsPath, lane)) {
          const child = fsPath + path.sep + d.name;
          const childIsDir = d.isDirectory() || (!d.isFile() && !d.isSymbolicLink() && (await this.io.lstat(child, lane)).isDirectory());
          await this.removeAll(child, childIsDir, pacer, lane);
        }
        await this.io.rmdir(fsPath, lane);
      } else {
        await this.io.unlink(fsPath, lane);
      }
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err; // vanished meanwhile: gone is what we want
    }
    const pause = pacer.tick();
    if (pause) await pause;
  }

  /** Removes what it can below `fsPath`; true when `fsPath` itself is gone. */
  private async removeRecursive(p: DavPath, fsPath: string, isDir: boolean, keep: ReadonlySet<string>, failures: MemberFailure[], pacer: Pacer, lane: Lane): Promise<boolean> {
    if (keep.has(p.key) || this.isReserved(p)) return false;
    try {
      const pause = pacer.tick();
      if (pause) await pause;
      if (!isDir) {
        await this.io.unlink(fsPath, lane);
        return true;
      }
      let all = true;
      for (const d of await this.io.readdir(fsPath, lane)) {
        const childFs = fsPath + path.sep + d.name;
        if (!isValidSegment(d.name)) {
          // A name no URL can address (made on the server itself) goes with its folder.
          await this.removeAll(childFs, d.isDirectory(), pacer, lane);
          continue;
        }
        const removed = await this.removeRecursive(p.child(d.name), childFs, d.isDirectory(), keep, failures, pacer, lane);
        all &&= removed;
      }
      // RFC 4918 §9.6.1: ancestors of a member that could not be deleted stay, unreported.
      if (!all) return false;
      await this.io.rmdir(fsPath, lane);
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
      const temp = partialName(parentFs);
      try {
        copyFile(this.fsPath(from), temp);
        await this.io.rename(temp, target);
      } catch (err) {
        try {
          await this.io.unlink(temp);
        } catch {
          /* never created */
        }
        throw fsError(err, 409);
      }
      return [];
    }
    if (depth === 0) {
      try {
        await this.io.mkdir(target);
      } catch (err) {
        throw fsError(err, 409);
      }
      return [];
    }
    // A tree is built under a reserved temporary name beside the destination and renamed into
    // place when complete: a copy cut short (kill -9, power loss) leaves nothing visible, and
    // what it left is reclaimed later (partial-files.ts). A source folder that cannot be read
    // fails the whole COPY (403) before anything is made.
    const pacer = new Pacer();
    const lane = new Lane();
    const members = await this.readMemberKinds(from, pacer, lane);
    const sourceReal = await this.io.realpath(this.fsPath(from));
    const temp = partialName(parentFs);
    const failures: MemberFailure[] = [];
    try {
      await this.io.mkdir(temp, lane);
      await this.copyMembers(from, to, temp, members, failures, pacer, sourceReal, new Set([sourceReal]), lane);
      await this.io.rename(temp, target);
    } catch (err) {
      await this.removeAll(temp, true, pacer, lane).catch(() => undefined);
      throw fsError(err, 409);
    }
    return failures;
  }

  /**
   * Copies the `members` of the folder `from` into the folder `dstFs` (which stands for `to`).
   * A member that fails is left out whole (a file is removed, a folder whose members cannot be
   * read is never made) and reported with its status and reason.
   */
  private async copyMembers(
    from: DavPath,
    to: DavPath,
    dstFs: string,
    members: readonly Member[],
    failures: MemberFailure[],
    pacer: Pacer,
    fromReal: string,
    ancestors: Set<string>,
    lane: Lane,
  ): Promise<void> {
    for (const member of members) {
      const dst = dstFs + path.sep + member.name;
      const dstPath = to.child(member.name);
      try {
        if (member.isCollection) {
          const real = await this.descendInto(fromReal, member.fsPath, member.name, member.isLink, ancestors);
          if (real === null) {
            // RFC 5842 §7.2: a link back to an ancestor would copy forever.
            failures.push({ path: dstPath, isCollection: true, status: 508, reason: 'link to an ancestor' });
            continue;
          }
          const inner = await this.readMemberKinds(from.child(member.name), pacer, lane);
          await this.io.mkdir(dst, lane);
          ancestors.add(real);
          await this.copyMembers(from.child(member.name), dstPath, dst, inner, failures, pacer, real, ancestors, lane);
          ancestors.delete(real);
        } else {
          try {
            copyFile(member.fsPath, dst);
          } catch (err) {
            fs.rmSync(dst, { force: true }); // never a part of a file
            throw err;
          }
        }
      } catch (err) {
        // A member that vanished since the listing is simply not copied.
        if (errnoOf(err) !== 'ENOENT' || member.isCollection) {
          failures.push({ path: dstPath, isCollection: member.isCollection, status: statusForFsError(err), reason: reasonOf(err) });
        }
      }
      const pause = pacer.tick();
      if (pause) await pause;
    }
  }

  async moveTree(from: DavPath, to: DavPath): Promise<MemberFailure[]> {
    await this.parentFolder(to);
    try {
      await this.io.rename(this.fsPath(from), this.fsPath(to));
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
      await this.io.utimes(this.fsPath(p), seconds);
    } catch (err) {
      throw fsError(err);
    }
  }

  async space(p: DavPath): Promise<SpaceInfo> {
    const s = await fsp.statfs(this.root);
    return { availableBytes: s.bavail * s.bsize, usedBytes: await this.sizes.usedBytes(this.fsPath(p)) };
  }
}

/** Upload bytes that may wait in memory while a write is in flight; beyond, the request pauses. */
const UPLOAD_QUEUE_BYTES = 1024 * 1024;

/**
 * Writes an upload into `fd` and resolves with its size: the first SYNC_WRITE_BYTES directly (a
 * small PUT costs no thread-pool round trip), the rest through the pool, with the chunks that
 * arrive during a write gathered into the next writev. On a failure it stops reading and
 * leaves the body to its owner (the HTTP layer closes a refused upload's connection after the
 * answer); unlike stream.pipeline, no AbortController and DOMException per request (~5 % of a
 * 4 KiB PUT).
 */
function receive(body: Readable, fd: number, maxBytes: number | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let queued: Buffer[] = [];
    let queuedBytes = 0;
    let writing = false;
    let ended = false;
    let settled = false;
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      body.off('data', onData).off('end', onEnd).off('error', finish).off('close', onClose);
      if (err === undefined) resolve(written);
      else {
        // Stop reading, but leave the stream to its owner: a refused upload's connection must
        // live to carry the refusal (the HTTP layer closes it afterwards).
        body.pause();
        reject(err);
      }
    };
    const flush = (): void => {
      writing = queued.length > 0;
      if (!writing) {
        if (ended) finish();
        return;
      }
      const buffers = queued;
      queued = [];
      queuedBytes = 0;
      if (body.isPaused()) body.resume();
      writeAll(fd, buffers, (err) => (err ? finish(err) : flush()));
    };
    const onData = (chunk: Buffer): void => {
      written += chunk.length;
      if (maxBytes !== undefined && written > maxBytes) {
        finish(new DavError(413, `upload larger than the limit of ${maxBytes} bytes`));
      } else if (!writing && written <= SYNC_WRITE_BYTES) {
        try {
          writeAllSync(fd, [chunk]);
        } catch (err) {
          finish(err);
        }
      } else {
        queued.push(chunk);
        queuedBytes += chunk.length;
        if (queuedBytes >= UPLOAD_QUEUE_BYTES) body.pause();
        if (!writing) flush();
      }
    };
    const onEnd = (): void => {
      ended = true;
      if (!writing) finish();
    };
    const onClose = (): void => {
      if (!ended) finish(new Error('the upload ended early'));
    };
    if (body.readableEnded) return finish();
    if (body.destroyed) return finish(new Error('the upload ended early'));
    body.on('data', onData).on('end', onEnd).on('error', finish).on('close', onClose);
  });
}

/** Files up to this size are copied with read/write, larger ones with copyFile (which can clone). */
const SMALL_COPY_BYTES = 64 * 1024;
const copyBuffer = Buffer.allocUnsafe(SMALL_COPY_BYTES);

/**
 * Copies a file's content and permission bits, replacing `to`. A small file is read and written
 * in one call each: libuv's copyfile (open, fstat, open, fchmod, clone attempt, sendfile loop)
 * took 3 times as long for 2,000 files of 4 KiB. Bigger files go to copyFile, which clones them
 * where the filesystem can (btrfs, XFS).
 */
function copyFile(from: string, to: string): void {
  const src = fs.openSync(from, 'r');
  try {
    const st = fs.fstatSync(src);
    if (st.size > SMALL_COPY_BYTES) {
      fs.copyFileSync(from, to, fsConstants.COPYFILE_FICLONE);
      return;
    }
    const dst = fs.openSync(to, 'w', st.mode & 0o7777);
    try {
      fs.fchmodSync(dst, st.mode & 0o7777); // as copyFile does: the umask does not apply
      // A short read is the end of the file (it may have changed since the fstat).
      for (let n = copyBuffer.length; n === copyBuffer.length; ) {
        n = fs.readSync(src, copyBuffer, 0, copyBuffer.length, null);
        if (n > 0) writeAllSync(dst, [copyBuffer.subarray(0, n)]);
      }
    } finally {
      fs.closeSync(dst);
    }
  } finally {
    fs.closeSync(src);
  }
}

/** Drops the first `n` bytes of `buffers` (after a short write). */
function skipBytes(buffers: Buffer[], n: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const b of buffers) {
    if (n >= b.length) n -= b.length;
    else {
      rest.push(n > 0 ? b.subarray(n) : b);
      n = 0;
    }
  }
  return rest;
}

function writeAllSync(fd: number, buffers: Buffer[]): void {
  while (buffers.length > 0) buffers = skipBytes(buffers, fs.writevSync(fd, buffers));
}

function writeAll(fd: number, buffers: Buffer[], done: (err?: Error | null) => void): void {
  fs.writev(fd, buffers, (err, bytesWritten) => {
    if (err) return done(err);
    const rest = skipBytes(buffers, bytesWritten);
    if (rest.length === 0) done();
    else writeAll(fd, rest, done);
  });
}
