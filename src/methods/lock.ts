/**
 * LOCK (RFC 4918 §9.10): creates a write lock (exclusive or shared, depth 0 or infinity), or
 * with an empty body refreshes the lock whose token the If header submits. LOCK on an unmapped
 * URL creates an empty file (§7.3) and answers 201.
 */
import type { RequestContext } from '../http/context.js';
import { DavError } from '../core/errors.js';
import { parseDepth, parseTimeout } from '../http/headers.js';
import { DavPath } from '../core/paths.js';
import { beginMultistatus, XML_CONTENT_TYPE } from '../http/reply-body.js';
import { type LockManager, MemberLockConflict } from '../locks/lock-manager.js';
import type { Lock } from '../metadata/store.js';
import { parseLockInfo } from '../locks/lockinfo.js';
import { renderActiveLock } from '../locks/render.js';
import { XML_HEADER } from '../xml/multistatus.js';
import type { DavMethod } from './method.js';

function replyWithLock(ctx: RequestContext, lock: Lock, status: number, isCollection: boolean): void {
  const now = ctx.services.clock.now();
  const rootHref = ctx.href(DavPath.fromKey(lock.root), isCollection);
  const body = `${XML_HEADER}<D:prop xmlns:D="DAV:"><D:lockdiscovery>${renderActiveLock(lock, now, rootHref)}</D:lockdiscovery></D:prop>\n`;
  ctx.reply.code(status).header('content-type', XML_CONTENT_TYPE).send(body);
}

async function refresh(ctx: RequestContext, locks: LockManager, timeout: number): Promise<void> {
  const target = await ctx.existingTarget();
  const who = ctx.credentials();
  const candidates = (await locks.covering(ctx.path)).filter((l) => locks.holds(l, who));
  const first = candidates[0];
  if (!first) throw new DavError(412, 'LOCK without a body refreshes a lock: submit its token in the If header', { condition: 'lock-token-submitted', paths: [ctx.path] });
  const refreshed = await locks.refresh(first.token, ctx.path, timeout, who);
  replyWithLock(ctx, refreshed, 200, refreshed.root === ctx.path.key ? target.isCollection : true);
}

export const lock: DavMethod = {
  name: 'LOCK',
  hasBody: true,
  needsLocking: true,
  allowedOn: () => true,
  async handle(ctx) {
    const locks = ctx.services.locks!;
    const { lockTimeoutDefault, lockTimeoutMax } = ctx.config;
    const timeout = parseTimeout(ctx.header('timeout'), lockTimeoutDefault, lockTimeoutMax);
    const body = await ctx.readXml();
    if (body === null) return refresh(ctx, locks, timeout);

    const info = parseLockInfo(body);
    // §9.10.3: Depth 0 or infinity; missing means infinity.
    const depth = parseDepth(ctx.header('depth'), [0, 'infinity'], 'infinity');
    const existing = await ctx.target();
    // §9.10.4: an unmapped URL gets an empty resource, which adds a member to its parent. Properties
    // left by a resource deleted behind our back are forgotten before it appears, together with
    // that lock check (one round trip on PostgreSQL).
    if (!existing) await ctx.services.metadata.transaction((tx) => tx.deadProps.clear(ctx.path), ctx.modifyGuard(ctx.path, { membership: true }));

    let created: Lock;
    try {
      created = await locks.lock({ path: ctx.path, scope: info.scope, depth: depth === 0 ? '0' : 'infinity', owner: info.owner, principal: ctx.principal, timeout });
    } catch (err) {
      if (!(err instanceof MemberLockConflict)) throw err;
      // §9.10.9: the members whose locks conflict, and the request URI as a failed dependency.
      const ms = await beginMultistatus(ctx.reply);
      for (const l of err.conflicts) {
        await ms.statusResponse(ctx.href(DavPath.fromKey(l.root), false), 423, { condition: 'no-conflicting-lock' });
      }
      await ms.statusResponse(ctx.href(ctx.path, existing?.isCollection ?? false), 424);
      await ms.end();
      return;
    }
    let createdFile = false;
    if (!existing) {
      try {
        // One that appeared meanwhile is kept.
        createdFile = await ctx.storage.createEmptyFile(ctx.path);
      } catch (err) {
        // No lock without its resource; if even this fails, the lock simply expires.
        await ctx.services.metadata.locks.remove([created.token]).catch(() => undefined);
        throw err;
      }
    }
    ctx.reply.header('lock-token', `<${created.token}>`);
    replyWithLock(ctx, created, createdFile ? 201 : 200, existing?.isCollection ?? false);
  },
};
