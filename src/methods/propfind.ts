/**
 * PROPFIND (RFC 4918 §9.1): properties of a resource and, with Depth 1 or infinity, of its
 * members, streamed as a 207. Per request: one stat per resource (batched by storage), one
 * dead-property query, one look at the locks. Depth infinity is served up to a configurable
 * number of entries, past which it answers 403 with `<D:propfind-finite-depth/>` (§9.1).
 */
import { DavError } from '../core/errors.js';
import { parseDepth } from '../http/headers.js';
import { beginMultistatus, beginMultistatusBody } from '../http/reply-body.js';
import type { PropertyContext } from '../props/live.js';
import { needsDeadProperties, needsLocks, needsSpace, parsePropfind, propstatRenderer, type PropfindRequest } from '../props/propfind.js';
import { parseXml } from '../xml/parse.js';
import { type MultistatusWriter, escapeXmlText } from '../xml/multistatus.js';
import type { DeadProperty } from '../metadata/store.js';
import type { CountedListing, Entry, Listing, ListingFingerprints, SpaceInfo } from '../storage/storage.js';
import { ListingCache } from '../props/listing-cache.js';
import type { Lock } from '../metadata/store.js';
import { lockCovers } from '../locks/lock-manager.js';
import { DavPath, encodeSegment } from '../core/paths.js';
import type { RequestContext } from '../http/context.js';
import type { DavMethod } from './method.js';

const NO_DEAD: readonly DeadProperty[] = [];
const NO_LOCKS: readonly Lock[] = [];

/** What every resource of one PROPFIND shares. */
interface Shared {
  readonly ctx: RequestContext;
  readonly now: number;
  readonly lockingEnabled: boolean;
  /** Locks anywhere in the requested tree (usually none), when the request asks for lockdiscovery. */
  readonly locks: readonly Lock[];
}

/** The property context of one resource; one small object per resource, no closures. */
class ResourceProperties implements PropertyContext {
  constructor(
    readonly entry: Entry,
    private readonly shared: Shared,
    private readonly quota?: SpaceInfo,
  ) {}

  get now(): number {
    return this.shared.now;
  }

  get lockingEnabled(): boolean {
    return this.shared.lockingEnabled;
  }

  locks(): readonly Lock[] {
    const all = this.shared.locks;
    return all.length === 0 ? NO_LOCKS : all.filter((l) => lockCovers(l, this.entry.path));
  }

  // A lock rooted elsewhere covers this entry through depth infinity: its root is a collection.
  lockRootHref(l: Lock): string {
    return this.shared.ctx.href(DavPath.fromKey(l.root), l.root === this.entry.path.key ? this.entry.isCollection : true);
  }

  space(): SpaceInfo {
    return this.quota!;
  }
}

/**
 * hrefs of listed resources, escaped as XML character data: the parent's href plus the encoded
 * name, the same string escapeXmlText(ctx.href(…)) gives without encoding every segment of every
 * member again. An encoded name has no character to escape (encodeURIComponent leaves none of
 * `&<>` or the controls), so only the parent's href is escaped, once per parent. Members come
 * grouped by folder, so the parent of the previous entry is checked first (its segments are the
 * same strings).
 */
function hrefMaker(ctx: RequestContext, top: DavPath): (entry: Entry) => string {
  const collections = new Map<string, string>();
  let lastParent: readonly string[] | undefined;
  let lastBase = '';
  const sameParent = (segments: readonly string[]): boolean => {
    if (lastParent === undefined || segments.length !== lastParent.length + 1) return false;
    for (let i = segments.length - 2; i >= 0; i--) if (segments[i] !== lastParent[i]) return false;
    return true;
  };
  return (entry) => {
    const segments = entry.path.segments;
    // Every entry lies at or below the top; only the top itself is that short.
    if (segments.length === top.segments.length) return escapeXmlText(ctx.href(entry.path, entry.isCollection));
    if (!sameParent(segments)) {
      const parent = entry.path.parent();
      let base = collections.get(parent.key);
      if (base === undefined) collections.set(parent.key, (base = escapeXmlText(ctx.href(parent, true))));
      lastParent = parent.segments;
      lastBase = base;
    }
    const href = lastBase + encodeSegment(entry.path.name);
    return entry.isCollection ? `${href}/` : href;
  };
}

/** Parsed PROPFIND bodies by their bytes: clients send the same few bodies again and again. */
const knownBodies = new Map<string, PropfindRequest>();
const KNOWN_BODY_BYTES = 4096;

/**
 * The request body as a PropfindRequest, and its text ('' without a body). What ctx.readXml does
 * (no or blank body: allprop), with the parsed request of a small body kept by its text: parsing
 * is a tenth of a PROPFIND on a folder of 100 files. Malformed bodies are refused each time and
 * never kept.
 */
async function readRequest(ctx: RequestContext): Promise<{ request: PropfindRequest; text: string }> {
  if (!ctx.hasBody()) return { request: parsePropfind(null), text: '' };
  const body = await ctx.readBody(ctx.config.maxXmlBytes);
  const text = body.toString('latin1');
  let request = knownBodies.get(text);
  if (request === undefined) {
    request = parsePropfind(text.trim() === '' ? null : parseXml(body));
    if (body.length <= KNOWN_BODY_BYTES) {
      if (knownBodies.size >= 64) knownBodies.clear();
      knownBodies.set(text, request);
    }
  }
  return { request, text };
}

/** What the responses of one answer are made from. */
interface Sources {
  readonly request: PropfindRequest;
  readonly target: Entry;
  readonly listing: Listing | undefined;
  readonly dead: Map<string, DeadProperty[]>;
  readonly locks: readonly Lock[];
}

/** Writes the responses of the target and of every entry of the listing, as they come. */
async function writeResponses(ctx: RequestContext, ms: MultistatusWriter, { request, target, listing, dead, locks }: Sources): Promise<void> {
  const { storage } = ctx.services;
  const shared: Shared = { ctx, now: ctx.services.clock.now(), lockingEnabled: ctx.services.locks !== null, locks };
  const withQuota = needsSpace(request);
  const render = propstatRenderer(request);
  const hrefOf = hrefMaker(ctx, target.path);
  const respond = (entry: Entry): void | Promise<void> => {
    const props = dead.size === 0 ? NO_DEAD : (dead.get(entry.path.key) ?? NO_DEAD);
    // Quota figures are counted per collection (storage keeps them a while): only when asked.
    if (withQuota && entry.isCollection) {
      return storage.space(entry.path).then((quota) => ms.escapedResponse(hrefOf(entry), render(new ResourceProperties(entry, shared, quota), props)));
    }
    return ms.escapedResponse(hrefOf(entry), render(new ResourceProperties(entry, shared), props));
  };
  await respond(target);
  if (listing) {
    for await (const batch of listing.batches()) {
      for (const entry of batch) {
        const written = respond(entry);
        if (written) await written; // backpressure
      }
    }
  }
}

/**
 * Depth 1 where the storage fingerprints listings (object storage): the answer kept in the
 * listing cache is sent when the database's fingerprint of the members and dead properties is
 * the one it was rendered from; otherwise the listing is read with its fingerprint, rendered,
 * and (when no lock shows in it) kept for next time. See props/listing-cache.ts.
 */
async function answerFromListingCache(ctx: RequestContext, request: PropfindRequest, requestText: string, target: Entry, fingerprints: ListingFingerprints, cache: ListingCache): Promise<void> {
  const { locks } = ctx.services;
  const withDeadProps = needsDeadProperties(request);
  const key = ListingCache.key(requestText, ctx.href(target.path, true), target);
  const relevantLocks = locks && needsLocks(request) ? locks.relevantTo(target.path) : Promise.resolve(NO_LOCKS);
  if (cache.has(key)) {
    const [fingerprint, found] = await Promise.all([fingerprints.current(target.path, withDeadProps), relevantLocks]);
    const kept = found.length === 0 ? cache.get(key, fingerprint) : undefined;
    if (kept) {
      const { body, ms } = await beginMultistatusBody(ctx.reply);
      await body.writeBytes(kept);
      await ms.end();
      return;
    }
  }
  const [read, found] = await Promise.all([fingerprints.read(target.path, withDeadProps), relevantLocks]);
  const { body, ms } = await beginMultistatusBody(ctx.reply);
  // lockdiscovery counts its timeout down: an answer showing a lock is never kept.
  const keep = found.length === 0;
  if (keep) body.startCapture(cache.maxBytes);
  await writeResponses(ctx, ms, { request, target, listing: read.listing, dead: read.deadProps, locks: found });
  const fingerprint = read.fingerprint();
  const captured = body.takeCapture();
  if (captured && fingerprint !== undefined) cache.set(key, fingerprint, captured);
  await ms.end();
}

export const propfind: DavMethod = {
  name: 'PROPFIND',
  hasBody: true,
  allowedOn: (entry) => entry !== null,
  async handle(ctx) {
    // §10.2: a missing Depth means infinity.
    const depth = parseDepth(ctx.header('depth'), [0, 1, 'infinity'], 'infinity');
    const { request, text } = await readRequest(ctx);
    const target = await ctx.existingTarget();
    const { storage, deadProps, locks, config, listingCache } = ctx.services;

    // Depth infinity counts the tree first: past the limit it is refused before anything else is read.
    let tree: CountedListing | undefined;
    if (depth === 'infinity' && target.isCollection) {
      const limit = config.propfindInfinityLimit;
      if (limit > 0) tree = await storage.members(target.path, 'infinity', limit - 1);
      if (!tree || 1 + tree.count > limit) {
        throw new DavError(403, `Depth: infinity is limited to ${limit} entries`, { condition: 'propfind-finite-depth' });
      }
    }
    const listsMembers = depth === 1 && target.isCollection;
    // Quota figures change with every upload anywhere: such answers are not kept.
    if (listsMembers && listingCache && storage.listingFingerprints && !needsSpace(request)) {
      return answerFromListingCache(ctx, request, text, target, storage.listingFingerprints, listingCache);
    }
    // The members (Depth 1), one dead-property query and one look at the locks, all at once (in
    // object storage, three round trips in parallel), before the first byte goes out. The members
    // are then streamed batch by batch (in object storage, as the database sends them).
    const [listing, dead, relevantLocks] = await Promise.all([
      listsMembers ? storage.members(target.path, 1) : tree,
      !needsDeadProperties(request)
        ? new Map<string, DeadProperty[]>()
        : listsMembers
          ? deadProps.getListing(target.path)
          : !tree || tree.count === 0
            ? deadProps.get(target.path).then((props) => new Map([[target.path.key, props]]))
            : deadProps.getTree(target.path),
      locks && needsLocks(request) ? locks.relevantTo(target.path) : NO_LOCKS,
    ]);
    const ms = await beginMultistatus(ctx.reply);
    await writeResponses(ctx, ms, { request, target, listing, dead, locks: relevantLocks });
    await ms.end();
  },
};
