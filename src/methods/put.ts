/**
 * PUT (RFC 9110 §9.3.4, RFC 4918 §9.7): the body is streamed to a temporary file and renamed
 * over the target when complete (storage/fs-storage.ts), so an aborted or failed upload never
 * truncates or replaces the old content. 201 for a new resource, 204 for a replaced one.
 * The conditional headers and the locks are checked before the body is read, and again where
 * the new content commits (commitCheck): 412 or 423 then, and the old content stays.
 */
import { DavError } from '../core/errors.js';
import { parseLength, parseOcMtime } from '../http/headers.js';
import type { DavMethod } from './method.js';
import { crashPoint } from '../core/crash-points.js';
import { evaluatePreconditions, hasPreconditions } from '../http/conditional.js';
import type { CommitCheck } from '../storage/storage.js';
import type { RequestContext } from '../http/context.js';

/**
 * An upload that took at least this long has its locks checked again before it commits, where
 * the backend cannot do it in its commit (the filesystem; object storage always does): a LOCK
 * granted meanwhile then counts. A shorter one commits on the check made before it (a LOCK
 * granted in that last second can see the write land just after its grant; README, Compliance),
 * which spares the common small PUT a second round trip to a PostgreSQL metadata store.
 */
const LOCK_RECHECK_AFTER_MS = 1000;

/**
 * The checks made before the body was read, made again where the new content commits (a long
 * upload leaves time for another client, on any instance, to lock or change the resource).
 */
function commitCheck(ctx: RequestContext): CommitCheck {
  const locks = ctx.services.locks;
  const checkedAt = performance.now();
  const conditional = hasPreconditions(ctx.request.headers);
  // RFC 4918 §10.4: an entity tag in the If header is a precondition too.
  const taggedIf = ctx.ifHeaderNamesTargetEtag();
  return {
    resource:
      conditional || taggedIf
        ? (current) => {
            if (conditional && evaluatePreconditions(ctx.request.headers, current, false) !== 'pass') throw new DavError(412, 'Precondition Failed');
            if (taggedIf && !ctx.ifHeaderHoldsFor(current)) throw new DavError(412, 'the If header is not satisfied');
          }
        : undefined,
    locks: locks ? (current, created) => locks.assertHeld(current, ctx.path, ctx.credentials(), { membership: created }) : undefined,
    locksBeforeCommit: locks
      ? async (created) => {
          if (performance.now() - checkedAt >= LOCK_RECHECK_AFTER_MS) await ctx.assertCanModify(ctx.path, { membership: await created() });
        }
      : undefined,
  };
}

export const put: DavMethod = {
  name: 'PUT',
  hasBody: true,
  allowedOn: (entry) => entry === null || !entry.isCollection,
  async handle(ctx) {
    const existing = await ctx.target();
    // RFC 4918 §9.7.2: PUT to a collection is not defined; answer 405 like mature servers.
    if (existing?.isCollection) throw new DavError(405, 'cannot PUT to a collection');
    if (ctx.trailingSlash) throw new DavError(400, 'a URL ending in "/" names a collection; PUT creates files');
    // RFC 9110 §14.5: a partial PUT is not supported; refusing beats storing a fragment.
    if (ctx.header('content-range') !== undefined) throw new DavError(400, 'Content-Range on PUT is not supported');
    // A new member changes its parent's membership; a replaced one only itself (RFC 4918 §7.5).
    if (existing === null) {
      // A resource that is new here must not inherit properties left by one deleted behind our back.
      // Forgotten before the file appears, so that no crash point can attach them to it; the lock
      // check goes with it (one round trip on PostgreSQL).
      await ctx.services.metadata.transaction((tx) => tx.deadProps.clear(ctx.path), ctx.modifyGuard(ctx.path, { membership: true }));
    } else {
      await ctx.assertCanModify(ctx.path);
    }

    // Finder sends chunked bodies with X-Expected-Entity-Length: a shorter body is an error.
    const expectedLength = parseLength(ctx.header('x-expected-entity-length'), 'X-Expected-Entity-Length');
    // RFC 9110 §15.5.14: an upload over the limit is refused before its body is read, when announced.
    const maxBytes = ctx.config.maxUploadBytes || undefined;
    const contentLength = parseLength(ctx.header('content-length'), 'Content-Length');
    const announced = Math.max(expectedLength ?? 0, contentLength ?? 0);
    if (maxBytes !== undefined && announced > maxBytes) throw new DavError(413, `upload larger than the limit of ${maxBytes} bytes`);
    // ownCloud and rclone send the source's modification time along.
    const mtime = parseOcMtime(ctx.header('x-oc-mtime'));
    const result = await ctx.storage.writeFile(ctx.path, ctx.bodyStream(), {
      expectedLength,
      sizeHint: contentLength,
      maxBytes,
      mtime,
      commitCheck: commitCheck(ctx),
    });
    crashPoint('put-after-storage');
    if (mtime !== undefined) ctx.reply.header('x-oc-mtime', 'accepted');
    ctx.reply.code(result.created ? 201 : 204).header('etag', result.entry.etag).send();
  },
};
