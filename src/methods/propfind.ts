/**
 * PROPFIND (RFC 4918 §9.1): properties of a resource and, with Depth 1 or infinity, of its
 * members, streamed as a 207. Per request: one stat per resource (batched by storage), one
 * dead-property query, one look at the locks. Depth infinity is served up to a configurable
 * number of entries, past which it answers 403 with `<D:propfind-finite-depth/>` (§9.1).
 */
import { DavError } from '../http/errors.js';
import { parseDepth } from '../http/headers.js';
import { beginMultistatus } from '../http/reply-body.js';
import type { PropertyContext } from '../props/live.js';
import { needsDeadProperties, needsSpace, parsePropfind, propstatsFor } from '../props/propfind.js';
import type { DeadProperty } from '../props/dead-store.js';
import type { Entry, SpaceInfo } from '../storage/storage.js';
import { lockCovers } from '../locks/lock-manager.js';
import { DavPath } from '../http/paths.js';
import type { DavMethod } from './method.js';

const NO_DEAD: readonly DeadProperty[] = [];

export const propfind: DavMethod = {
  name: 'PROPFIND',
  hasBody: true,
  allowedOn: (entry) => entry !== null,
  async handle(ctx) {
    // §10.2: a missing Depth means infinity.
    const depth = parseDepth(ctx.header('depth'), [0, 1, 'infinity'], 'infinity');
    const request = parsePropfind(await ctx.readXml());
    const target = await ctx.existingTarget();
    const { storage, deadProps, locks, config } = ctx.services;

    let entries: Entry[];
    if (depth === 0 || !target.isCollection) {
      entries = [target];
    } else if (depth === 1) {
      entries = [target, ...(await storage.list(target.path))];
    } else {
      const limit = config.propfindInfinityLimit;
      entries = limit > 0 ? await storage.walk(target.path, limit) : [];
      if (entries.length === 0 || entries.length > limit) {
        throw new DavError(403, `Depth: infinity is limited to ${limit} entries`, { condition: 'propfind-finite-depth' });
      }
    }

    let dead: Map<string, DeadProperty[]> = new Map();
    if (needsDeadProperties(request)) {
      if (entries.length === 1) dead.set(target.path.key, deadProps.get(target.path));
      else if (depth === 1) {
        dead = deadProps.getChildren(target.path);
        dead.set(target.path.key, deadProps.get(target.path));
      } else dead = deadProps.getTree(target.path);
    }
    const space: SpaceInfo | undefined = needsSpace(request) ? await storage.space() : undefined;
    const relevantLocks = locks?.relevantTo(target.path) ?? [];
    const now = ctx.services.clock.now();

    const ms = await beginMultistatus(ctx.reply);
    for (const entry of entries) {
      const propertyContext: PropertyContext = {
        entry,
        now,
        lockingEnabled: locks !== null,
        locks: () => relevantLocks.filter((l) => lockCovers(l, entry.path)),
        // A lock rooted elsewhere covers this entry through depth infinity: its root is a collection.
        lockRootHref: (l) => ctx.href(DavPath.fromKey(l.root), l.root === entry.path.key ? entry.isCollection : true),
        space: () => space!,
      };
      const propstats = propstatsFor(request, propertyContext, dead.get(entry.path.key) ?? NO_DEAD);
      await ms.propstatResponse(ctx.href(entry.path, entry.isCollection), propstats);
    }
    await ms.end();
  },
};
