/**
 * COPY and MOVE (RFC 4918 §9.8, §9.9). They share everything but the last step: Destination
 * on this server, Overwrite, Depth, lock checks, deleting an overwritten destination first
 * (§9.8.4, §9.9.3), and the 201/204/207 answer. Dead properties travel with the resource;
 * locks never do (§7.6). A backend with Storage.atomicTree (object storage) does all of it, lock
 * check included, in one step; the others step by step, with an intent for crash safety.
 */
import type { RequestContext } from '../http/context.js';
import { DavError } from '../core/errors.js';
import { parseDepth, parseOcMtime, parseOverwrite } from '../http/headers.js';
import type { DavMethod } from './method.js';
import { replyMemberOutcomes } from './tree-outcome.js';
import { crashPoint } from '../core/crash-points.js';
import { recordIntent, resolveFailed } from '../metadata/intents.js';
import type { MemberFailure } from '../storage/storage.js';
import { bothGuards } from '../metadata/store.js';

async function copyOrMove(ctx: RequestContext, isMove: boolean): Promise<void> {
  const atomic = ctx.storage.atomicTree;
  // With an atomic backend the source is looked up in the step itself (404 there).
  const source = atomic ? null : await ctx.existingTarget();
  const destination = ctx.destination();
  // §9.8.3 / §9.9.2: MOVE is always Depth infinity; COPY may be 0 or infinity.
  const depth = isMove ? parseDepth(ctx.header('depth'), ['infinity'], 'infinity') : parseDepth(ctx.header('depth'), [0, 'infinity'], 'infinity');
  const overwrite = parseOverwrite(ctx.header('overwrite'));
  const mtime = parseOcMtime(ctx.header('x-oc-mtime'));
  if (ctx.path.contains(destination) || destination.contains(ctx.path)) {
    throw new DavError(403, 'source and destination are the same resource or contain each other');
  }
  if (!source) {
    // One step: both ends looked up, Overwrite (412), the locks of the source (MOVE) and of the
    // destination and what it holds (423), the change, and the locks that go (§7.6, §9.9.3).
    const replaced = await atomic!.transfer({
      op: isMove ? 'move' : 'copy',
      from: ctx.path,
      to: destination,
      depth: depth === 0 ? 0 : 'infinity',
      overwrite,
      collectionOnly: ctx.trailingSlash,
      mtime,
      guard: bothGuards(
        isMove ? ctx.modifyGuard(ctx.path, { membership: true, tree: true }) : undefined,
        ctx.modifyGuard(destination, { membership: true, tree: true }),
      ),
    });
    if (mtime !== undefined) ctx.reply.header('x-oc-mtime', 'accepted');
    ctx.reply.code(replaced ? 204 : 201).send();
    return;
  }
  const existing = await ctx.storage.stat(destination);
  // §9.8.4: with Overwrite: F an existing destination fails the precondition.
  if (existing && !overwrite) throw new DavError(412, 'destination exists and Overwrite is F');

  // The lock checks of source (MOVE) and destination go with the intent (one round trip on PostgreSQL).
  const guard = bothGuards(
    isMove ? ctx.modifyGuard(ctx.path, { membership: true, tree: true }) : undefined,
    ctx.modifyGuard(destination, { membership: true, tree: existing !== null }),
  );

  const { storage, metadata } = ctx.services;
  // Recorded before the tree changes, resolved with the metadata update (metadata/intents.ts):
  // a process killed in between loses no dead property.
  const intent = { op: isMove ? 'move' : 'copy', from: ctx.path.key, to: destination.key, depth: depth === 0 ? '0' : 'infinity', toEtag: existing?.etag ?? null } as const;
  const intentId = await recordIntent(metadata, intent, guard);
  let failures: MemberFailure[];
  try {
    if (existing && (existing.isCollection || source.isCollection)) {
      // A file replacing a file is done atomically by storage; anything else deletes first.
      const deleteFailures = await storage.deleteTree(destination, []);
      if (deleteFailures.length > 0) {
        await resolveFailed(intentId, intent, storage, metadata);
        return replyMemberOutcomes(ctx, deleteFailures);
      }
    }
    failures = isMove
      ? await storage.moveTree(ctx.path, destination)
      : await storage.copyTree(ctx.path, destination, depth === 0 ? 0 : 'infinity');
  } catch (err) {
    await resolveFailed(intentId, intent, storage, metadata);
    throw err;
  }
  crashPoint(`${intent.op}-after-storage`);
  // The metadata follows in one transaction: an overwritten destination's properties and locks go,
  // the source's properties arrive (copied or moved); a moved source's locks go (§7.6). Without an
  // intent from a journal, neither tree held a dead property or a lock when the locks were checked
  // (RecordOptions.onlyWithMetadata): nothing to follow, and no round trip for it.
  const metadataFollows = intentId !== null || !metadata.intents;
  if (metadataFollows) await metadata.transaction(async (tx) => {
    if (intentId !== null) await tx.intents?.done(intentId);
    if (isMove) {
      await tx.deadProps.moveTree(ctx.path, destination);
      await tx.locks.removeTree(ctx.path);
    } else {
      await tx.deadProps.copyTree(ctx.path, destination, depth === 0 ? 0 : 'infinity');
      for (const f of failures) await tx.deadProps.deleteTree(f.path);
    }
    if (existing) await tx.locks.removeTree(destination);
  });
  if (failures.length > 0) {
    // The client sees each member's status; the operator also needs to know why (e.g. EACCES).
    for (const f of failures) ctx.request.log.warn({ member: f.path.toString(), status: f.status, reason: f.reason }, `${isMove ? 'MOVE' : 'COPY'}: member not copied`);
    return replyMemberOutcomes(ctx, failures);
  }
  if (mtime !== undefined) {
    await storage.setModifiedTime(destination, mtime);
    ctx.reply.header('x-oc-mtime', 'accepted');
  }
  ctx.reply.code(existing ? 204 : 201).send();
}

export const copy: DavMethod = {
  name: 'COPY',
  hasBody: true,
  allowedOn: (entry) => entry !== null,
  handle: (ctx) => copyOrMove(ctx, false),
};

export const move: DavMethod = {
  name: 'MOVE',
  hasBody: true,
  allowedOn: (entry) => entry !== null,
  handle: (ctx) => copyOrMove(ctx, true),
};
