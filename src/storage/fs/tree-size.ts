/**
 * Bytes used by a folder and everything in it, for RFC 4331's quota-used-bytes. Counting means
 * walking the tree, so it is never done per PROPFIND: one walk records the total of every folder
 * it passes (a Depth 1 listing of subfolders costs one walk of the parent), totals are kept for
 * TTL_MS, concurrent requests share a walk in flight, and a walk gives up past `limit` entries
 * (the property is then not reported). The walk runs through the thread pool (fs/promises), so
 * it never holds up other requests, and counts regular files only: links are not followed,
 * reserved names (metadata, partial files) are not counted.
 */
import type { Dirent } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/** How long a counted total is reused. */
const TTL_MS = 60_000;
/** Members stat'ed at once while counting a folder. */
const PARALLEL_STATS = 32;

interface Total {
  readonly bytes: number;
  readonly at: number;
}

/** Thrown inside a walk that went past its limit. */
class TooBig extends Error {}

export class TreeSizes {
  private readonly totals = new Map<string, Total>();
  private readonly walks = new Map<string, Promise<number | null>>();

  /**
   * @param limit most entries one walk visits
   * @param isReserved names (by folder path on disk and name) that are not counted
   */
  constructor(
    private readonly limit: number,
    private readonly isReserved: (dirFs: string, name: string) => boolean,
  ) {}

  /** Bytes of the files in the folder `dirFs` and below it; null when there are too many to count. */
  async usedBytes(dirFs: string): Promise<number | null> {
    const known = this.totals.get(dirFs);
    if (known && Date.now() - known.at < TTL_MS) return known.bytes;
    let walk = this.walks.get(dirFs);
    if (!walk) {
      walk = this.count(dirFs).finally(() => this.walks.delete(dirFs));
      this.walks.set(dirFs, walk);
    }
    return walk;
  }

  private async count(top: string): Promise<number | null> {
    if (this.totals.size > 100_000) this.totals.clear(); // bounded memory
    let visited = 0;
    const found = new Map<string, number>();
    const walk = async (dir: string): Promise<number> => {
      let entries: Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return 0; // unreadable or gone: nothing the server could serve from it
      }
      visited += entries.length;
      if (visited > this.limit) throw new TooBig();
      let bytes = 0;
      const files: string[] = [];
      for (const d of entries) {
        if (this.isReserved(dir, d.name)) continue;
        if (d.isDirectory()) bytes += await walk(dir + path.sep + d.name);
        else if (d.isFile()) files.push(dir + path.sep + d.name);
      }
      for (let i = 0; i < files.length; i += PARALLEL_STATS) {
        const sizes = await Promise.all(files.slice(i, i + PARALLEL_STATS).map((f) => fsp.lstat(f).then((s) => s.size, () => 0)));
        for (const size of sizes) bytes += size;
      }
      found.set(dir, bytes);
      return bytes;
    };
    try {
      const bytes = await walk(top);
      const at = Date.now();
      for (const [dir, b] of found) this.totals.set(dir, { bytes: b, at });
      return bytes;
    } catch (err) {
      if (err instanceof TooBig) return null;
      throw err;
    }
  }
}
