/**
 * DELETE (RFC 4918 §9.6): removes a resource and, for a collection, all its members. Members
 * that cannot be deleted (a lock whose token was not submitted, a filesystem refusal) stay with
 * their ancestors and are reported in a 207; everything else goes, with its dead properties
 * and locks.
 */
import { DavError } from '../core/errors.js';
import { parseDepth } from '../http/headers.js';
import { DavPath } from '../core/paths.js';
import type { DavMethod } from './method.js';
import type { RequestContext } from '../http/context.js';
import { type MemberOutcome, replyMemberOutcomes, survivorTest } from './tree-outcome.js';
import { crashPoint } from '../core/crash-points.js';
import { recordIntent, resolveFailed } from '../metadata/intents.js';
import type { MemberFailure } from '../storage/storage.js';
import type { Lock } from '../metadata/store.js';
import { locksWithin } from '../locks/lock-manager.js';

export const del: DavMethod = {
  name: 'DELETE',
  hasBody: false,
  allowedOn: (entry) => entry !== null,
  async handle(ctx) {
    const atomic = ctx.storage.atomicTree;
    // With an atomic backend the target is looked up in the step itself (404 there), unless a
    // Depth header needs checking against it.
    const entry = atomic && ctx.header('depth') === undefined ? null : await ctx.existingTarget();
    if (ctx.path.equals(ctx.ns.base)) throw new DavError(403, 'the root collection cannot be deleted');
    // §9.6.1: DELETE on a collection acts as Depth: infinity; any other Depth is an error.
    if (entry?.isCollection) parseDepth(ctx.header('depth'), ['infinity'], 'infinity');
    const { locks, metadata } = ctx.services;
    // The lock check, which also finds the locks in the tree, goes with the intent: recorded before
    // the tree changes, resolved with the metadata update (metadata/intents.ts).
    let locksInTree: Lock[] = [];
    const guard = ctx.modifyGuard(ctx.path, { membership: true }, (relevant) => {
      locksInTree = locksWithin(relevant, ctx.path);
    });
    /** Members locked by others: they stay, with their ancestors (§9.6.1), reported in a 207. */
    const kept = (): DavPath[] => {
      const lockedMembers = locks ? locks.missing(locksInTree, ctx.credentials()).filter((l) => l.root !== ctx.path.key) : [];
      return [...new Set(lockedMembers.map((l) => l.root))].map((k) => DavPath.fromKey(k));
    };
    if (atomic) {
      // One step: the lookup, the lock check, the tree, its dead properties and its locks.
      await atomic.delete({ path: ctx.path, collectionOnly: ctx.trailingSlash, guard, keep: kept });
      return replyDeleted(ctx, kept(), []);
    }
    const intent = { op: 'delete', from: ctx.path.key, to: '', depth: 'infinity', toEtag: null } as const;
    const intentId = await recordIntent(metadata, intent, guard);
    const keep = kept();
    let failures: MemberFailure[];
    try {
      failures = await ctx.storage.deleteTree(ctx.path, keep);
    } catch (err) {
      await resolveFailed(intentId, intent, ctx.storage, metadata);
      throw err;
    }
    crashPoint('delete-after-storage');

    // No intent from a journal: the tree held no dead property and no lock when the locks were
    // checked (RecordOptions.onlyWithMetadata), so there is nothing to drop and no round trip for it.
    if (intentId === null && metadata.intents) return replyDeleted(ctx, keep, failures);
    if (keep.length === 0 && failures.length === 0) {
      // Properties and locks of the whole tree go in one transaction.
      await metadata.transaction(async (tx) => {
        if (intentId !== null) await tx.intents?.done(intentId);
        await tx.deadProps.deleteTree(ctx.path);
        if (locksInTree.length > 0) await tx.locks.removeTree(ctx.path);
      });
      return replyDeleted(ctx, keep, failures);
    }
    const survives = survivorTest([...keep, ...failures.map((f) => f.path)]);
    const gone = (await metadata.deadProps.keysInTree(ctx.path)).filter((k) => !survives(k));
    await metadata.transaction(async (tx) => {
      if (intentId !== null) await tx.intents?.done(intentId);
      await tx.deadProps.deleteKeys(gone);
      await tx.locks.remove(locksInTree.filter((l) => !survives(l.root)).map((l) => l.token));
    });
    await replyDeleted(ctx, keep, failures);
  },
};

/** 204 when everything went; else 207 with the locked members kept (423) and the members that failed. */
async function replyDeleted(ctx: RequestContext, keep: readonly DavPath[], failures: readonly MemberFailure[]): Promise<void> {
  if (keep.length === 0 && failures.length === 0) {
    ctx.reply.code(204).send();
    return;
  }
  const outcomes: MemberOutcome[] = [
    ...keep.map((p) => ({
      path: p,
      isCollection: false,
      status: 423,
      error: { condition: 'lock-token-submitted' as const, hrefs: [ctx.href(p, false)] },
    })),
    ...failures,
  ];
  await replyMemberOutcomes(ctx, outcomes);
}
