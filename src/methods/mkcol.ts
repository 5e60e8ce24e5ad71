/** MKCOL (RFC 4918 §9.3): creates one collection; its parent must exist. */
import { DavError } from '../core/errors.js';
import type { DavMethod } from './method.js';

export const mkcol: DavMethod = {
  name: 'MKCOL',
  hasBody: true,
  allowedOn: (entry) => entry === null,
  async handle(ctx) {
    // §9.3.1: this server understands no MKCOL body.
    if (ctx.hasBody()) throw new DavError(415, 'MKCOL with a body is not supported');
    if (await ctx.target()) throw new DavError(405, 'resource already exists');
    // Properties left by a resource deleted behind our back are forgotten before the collection
    // appears, together with the lock check (one round trip on PostgreSQL).
    await ctx.services.metadata.transaction((tx) => tx.deadProps.deleteTree(ctx.path), ctx.modifyGuard(ctx.path, { membership: true }));
    await ctx.storage.createCollection(ctx.path);
    ctx.reply.code(201).header('content-length', '0').send();
  },
};
