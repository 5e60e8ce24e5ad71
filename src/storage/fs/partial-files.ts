/**
 * Partial files: what the filesystem backend writes under a reserved temporary name beside its
 * destination and renames into place when complete (an upload, a copied file, a copied tree),
 * so that nothing is ever visible half-written. Such names are never served, listed or copied.
 */
import { randomUUID } from 'node:crypto';
import type { Dirent, Stats } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/** Prefix of partial files and folders; names starting with it are reserved. */
export const PARTIAL_PREFIX = '.fastdav-part-';

/** A fresh partial name inside the folder `dirFs`. */
export function partialName(dirFs: string): string {
  return dirFs + path.sep + PARTIAL_PREFIX + randomUUID();
}

/** What the reclaimer needs to know. */
export interface ReclaimOptions {
  /** The served folder (real path). */
  readonly root: string;
  /** The metadata folder, never walked. */
  readonly metadataDir: string;
  /** A partial file or folder unchanged for this long belongs to nobody any more. */
  readonly staleAfterMs: number;
  /** Time between whole-tree sweeps after the one at start-up. */
  readonly sweepEveryMs: number;
  readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/**
 * Reclaims partial files and folders left by a process that died mid-write (kill -9, power
 * loss, OOM killer): walks the tree at start-up and then every `sweepEveryMs`, and removes
 * those whose newest change (ctime, of every member for a folder) is older than `staleAfterMs`.
 *
 * Why age, and why ctime: several server processes (--workers, or hosts sharing the folder) may
 * be writing partial files at any moment, and nothing in a name tells a dead writer from a live
 * one on another host. A live writer changes its file at least once per idle timeout (a
 * connection silent longer than that is closed, and the upload with it); ctime moves with every
 * write and cannot be set back (mtime can: uploads carry X-OC-Mtime). So the stale age is the
 * idle timeout plus a margin, and instances sharing a folder must use the same timeouts.
 * Young leftovers found by a sweep are looked at again when they would become stale, so what a
 * killed process leaves is gone soon after its restart.
 */
export class PartialFileReclaimer {
  private readonly options: ReclaimOptions;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: ReclaimOptions) {
    this.options = options;
  }

  /** Sweeps now (in the background) and then periodically. */
  start(): void {
    void this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepEveryMs).unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /** One walk of the tree (links are not followed, the metadata folder is skipped). */
  async sweep(): Promise<void> {
    const skip = path.resolve(this.options.metadataDir);
    const walk = async (dir: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return; // unreadable or gone: nothing of ours can be in it
      }
      for (const d of entries) {
        if (this.stopped) return;
        const full = dir + path.sep + d.name;
        if (d.name.startsWith(PARTIAL_PREFIX)) await this.consider(full);
        else if (d.isDirectory() && full !== skip) await walk(full);
      }
    };
    try {
      await walk(path.resolve(this.options.root));
    } catch (err) {
      this.options.log.warn({ err }, 'sweep for partial files failed');
    }
  }

  /** Removes `full` when stale, else looks again when it would be. */
  private async consider(full: string): Promise<void> {
    const newest = await newestChange(full);
    if (newest === null || this.stopped) return;
    const age = Date.now() - newest;
    if (age >= this.options.staleAfterMs) {
      await fsp.rm(full, { recursive: true, force: true }).then(
        () => this.options.log.info({ path: full, ageSeconds: Math.round(age / 1000) }, 'removed a partial file left by a process that stopped writing it'),
        (err: unknown) => this.options.log.warn({ path: full, err }, 'could not remove a stale partial file'),
      );
      return;
    }
    if (this.timers.has(full)) return;
    const timer = setTimeout(() => {
      this.timers.delete(full);
      void this.consider(full);
    }, this.options.staleAfterMs - age + 100).unref();
    this.timers.set(full, timer);
  }
}

/** Newest ctime (ms) of a file, or of a folder and everything in it; null when gone. */
async function newestChange(full: string): Promise<number | null> {
  let st: Stats;
  try {
    st = await fsp.lstat(full);
  } catch {
    return null;
  }
  let newest = st.ctimeMs;
  if (st.isDirectory()) {
    const entries = await fsp.readdir(full).catch(() => [] as string[]);
    for (const name of entries) newest = Math.max(newest, (await newestChange(full + path.sep + name)) ?? 0);
  }
  return newest;
}

/**
 * How long a partial file may stay unchanged while its writer is alive: the idle timeout (or,
 * without one, the request timeout; without either, a day) plus a margin for a slow disk.
 */
export function staleAfterMs(idleTimeoutSeconds: number, requestTimeoutSeconds: number): number {
  const seconds = idleTimeoutSeconds || requestTimeoutSeconds || 24 * 3600;
  return (seconds + 5) * 1000;
}
