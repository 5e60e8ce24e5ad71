/**
 * Rendered Depth 1 PROPFIND answers of big collections, kept by one server process so that the
 * same listing asked again is sent without reading and rendering its members again. Never the
 * judge of what is current: an answer is used only while the database gives the same fingerprint
 * of the members and dead properties it was rendered from (Storage.listingFingerprints), asked
 * on every request, so every instance sees every change at once. What else an answer depends on
 * is in its key: the request body, the href and storage path of the collection and the
 * collection's own entry. Answers with locks in them are never kept (lockdiscovery counts down).
 * Bounded in bytes, least recently used first out.
 */
import type { Entry } from '../storage/storage.js';

/** Smaller answers are not kept: for them reading and rendering costs about what the fingerprint does. */
export const LISTING_CACHE_MIN_BYTES = 64 * 1024;

interface CachedListing {
  readonly fingerprint: string;
  /** The responses between `<D:multistatus>` and its end tag, as sent. */
  readonly chunks: readonly Buffer[];
  readonly bytes: number;
}

export class ListingCache {
  /** Insertion order is recency: the first entry is the least recently used. */
  private readonly entries = new Map<string, CachedListing>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes: number) {}

  /** The key of an answer: everything besides the fingerprint its bytes depend on. */
  static key(requestBody: string, href: string, collection: Entry): string {
    return `${collection.path.key}\n${href}\n${collection.etag}/${collection.mtimeMs}/${collection.birthtimeMs}\n${requestBody}`;
  }

  /** True when an answer is kept under `key` (whatever its fingerprint): worth asking the fingerprint. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The answer kept under `key` if it was rendered from rows with this fingerprint. */
  get(key: string, fingerprint: string): readonly Buffer[] | undefined {
    const found = this.entries.get(key);
    if (found === undefined || found.fingerprint !== fingerprint) {
      this.misses++;
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, found);
    this.hits++;
    return found.chunks;
  }

  /**
   * Keeps an answer (replacing the one under `key`) when it is big enough and fits. The key counts
   * too: it holds the request body, which a client may make as big as --max-xml-bytes.
   */
  set(key: string, fingerprint: string, chunks: readonly Buffer[]): void {
    this.delete(key);
    let answer = 0;
    for (const c of chunks) answer += c.length;
    const bytes = answer + key.length;
    if (answer < LISTING_CACHE_MIN_BYTES || bytes > this.maxBytes) return;
    this.entries.set(key, { fingerprint, chunks, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
    }
  }

  delete(key: string): void {
    const found = this.entries.get(key);
    if (found === undefined) return;
    this.entries.delete(key);
    this.bytes -= found.bytes;
  }

  /** Bytes of the answers kept. */
  get size(): number {
    return this.bytes;
  }
}
