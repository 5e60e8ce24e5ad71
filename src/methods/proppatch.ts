/** PROPPATCH (RFC 4918 §9.2): always answered with a 207, one propstat per outcome. */
import { beginMultistatus } from '../http/reply-body.js';
import { parsePropertyUpdate, planPropertyUpdate } from '../props/proppatch.js';
import type { Propstat } from '../xml/multistatus.js';
import { element } from '../xml/multistatus.js';
import type { DavMethod } from './method.js';

export const proppatch: DavMethod = {
  name: 'PROPPATCH',
  hasBody: true,
  allowedOn: (entry) => entry !== null,
  async handle(ctx) {
    const target = await ctx.existingTarget();
    const instructions = parsePropertyUpdate(await ctx.readXml());
    const { changes, effects, results } = planPropertyUpdate(instructions);
    if (effects.length === 0) {
      // The lock check and the changes together: one round trip on PostgreSQL.
      await ctx.services.metadata.transaction((tx) => tx.deadProps.apply(ctx.path, changes), ctx.modifyGuard(ctx.path));
    } else {
      await ctx.assertCanModify(ctx.path);
      // Side effects first (e.g. Win32LastModifiedTime sets the mtime): one that fails stores nothing.
      for (const effect of effects) await effect(ctx.storage, ctx.path);
      if (changes.length > 0) await ctx.services.deadProps.apply(ctx.path, changes);
    }

    const byStatus = new Map<number, string[]>();
    for (const r of results) {
      let names = byStatus.get(r.status);
      if (!names) byStatus.set(r.status, (names = []));
      names.push(element(r.name.ns, r.name.name));
    }
    const propstats: Propstat[] = [...byStatus].map(([status, props]) =>
      status === 403 ? { status, props, error: { condition: 'cannot-modify-protected-property' } } : { status, props },
    );
    const ms = await beginMultistatus(ctx.reply);
    await ms.propstatResponse(ctx.href(ctx.path, target.isCollection), propstats);
    await ms.end();
  },
};
