/**
 * What DELETE, COPY and MOVE report when some members of a tree fare differently (RFC 4918
 * §9.6.1, §9.8.8, §13): a 207 with one response per member that failed, and the bookkeeping of
 * which resources are still there afterwards.
 */
import type { RequestContext } from '../http/context.js';
import type { DavPath } from '../core/paths.js';
import { beginMultistatus } from '../http/reply-body.js';
import type { ResponseError } from '../xml/multistatus.js';

export interface MemberOutcome {
  readonly path: DavPath;
  readonly isCollection: boolean;
  readonly status: number;
  readonly error?: ResponseError;
}

/** Answers 207 with one response per member outcome. */
export async function replyMemberOutcomes(ctx: RequestContext, outcomes: readonly MemberOutcome[]): Promise<void> {
  const ms = await beginMultistatus(ctx.reply);
  for (const o of outcomes) await ms.statusResponse(ctx.href(o.path, o.isCollection), o.status, o.error);
  await ms.end();
}

/**
 * Resources that remain after a partial tree removal: the members kept (locked or failed), everything
 * inside them, and their ancestors (which could not be removed while non-empty).
 */
export function survivorTest(kept: readonly DavPath[]): (key: string) => boolean {
  const keys = kept.map((p) => p.key);
  return (key) => keys.some((k) => key === k || key.startsWith(`${k}/`) || k.startsWith(`${key}/`));
}
