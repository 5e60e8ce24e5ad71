/** UNLOCK (RFC 4918 §9.11): removes the lock named by the Lock-Token header. */
import { badRequest } from '../core/errors.js';
import type { DavMethod } from './method.js';

export const unlock: DavMethod = {
  name: 'UNLOCK',
  hasBody: false,
  needsLocking: true,
  allowedOn: (entry) => entry !== null,
  async handle(ctx) {
    const raw = ctx.header('lock-token')?.trim();
    if (!raw) throw badRequest('UNLOCK needs a Lock-Token header');
    // §10.5: Lock-Token = Coded-URL; Windows and some libraries send it without the brackets.
    const token = raw.startsWith('<') && raw.endsWith('>') ? raw.slice(1, -1).trim() : raw;
    await ctx.existingTarget();
    await ctx.services.locks!.unlock(token, ctx.path, ctx.principal);
    ctx.reply.code(204).send();
  },
};
