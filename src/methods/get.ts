/**
 * GET and HEAD (RFC 9110 §9.3.1-2; RFC 4918 §9.4): file content with validators, conditional
 * requests and single ranges; an HTML listing for collections.
 */
import type { RequestContext } from '../http/context.js';
import { DavError } from '../core/errors.js';
import { DavPath } from '../core/paths.js';
import { evaluatePreconditions, ifRangeHolds } from '../http/conditional.js';
import { parseRange } from '../http/range.js';
import { renderListing } from '../http/listing-html.js';
import { sendFileBody } from '../http/reply-body.js';
import { contentPolicyFor, defendPage } from '../http/security-headers.js';
import { contentTypeOf, httpDate } from '../props/live.js';
import type { Entry, OpenFile } from '../storage/storage.js';
import type { DavMethod } from './method.js';

async function sendListing(ctx: RequestContext, collection: Entry, head: boolean): Promise<void> {
  const members = await ctx.storage.list(collection.path);
  const base = ctx.ns.base;
  // The path from the requester's top (their root is their "/"), each step a link.
  const segments = base.relative(ctx.path).segments;
  const crumbs = [{ name: ctx.ns.prefix, href: ctx.ns.prefix }];
  for (let i = 0; i < segments.length; i++) crumbs.push({ name: segments[i]!, href: ctx.href(base.concat(DavPath.of(segments.slice(0, i + 1))), true) });
  const html = renderListing({
    crumbs,
    members,
    href: (e) => ctx.href(e.path, e.isCollection),
    // No way up from the top of the requester's tree.
    parentHref: ctx.path.equals(base) ? null : ctx.href(ctx.path.parent(), true),
    assetBase: ctx.services.webAssets.base(ctx.ns.prefix),
  });
  defendPage(ctx.reply);
  ctx.reply.code(200).header('content-type', 'text/html; charset=utf-8').header('content-length', Buffer.byteLength(html));
  ctx.reply.send(head ? undefined : html);
}

async function sendFile(ctx: RequestContext, file: OpenFile, head: boolean): Promise<void> {
  const { entry } = file;
  const reply = ctx.reply;
  const lastModified = httpDate(entry.mtimeMs);
  reply.header('etag', entry.etag).header('last-modified', lastModified).header('accept-ranges', 'bytes');

  const precondition = evaluatePreconditions(ctx.request.headers, entry, true);
  if (precondition !== 'pass') {
    await file.close();
    if (precondition === 'failed') throw new DavError(412, 'Precondition Failed');
    reply.code(304).send();
    return;
  }
  const type = contentTypeOf(entry.path.name);
  reply.header('content-type', type).header('content-security-policy', contentPolicyFor(type));

  const range = ifRangeHolds(ctx.request.headers, entry, lastModified) ? parseRange(ctx.header('range'), entry.size) : null;
  if (range === 'unsatisfiable') {
    await file.close();
    throw new DavError(416, 'Range Not Satisfiable', { headers: { 'content-range': `bytes */${entry.size}` } });
  }
  const start = range ? range.start : 0;
  const end = range ? range.end : entry.size - 1;
  if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${entry.size}`);
  else reply.code(200);
  reply.header('content-length', end - start + 1);

  if (head || end < start) {
    await file.close();
    reply.send();
  } else if (!range && entry.size <= ctx.storage.smallFileBytes) {
    reply.send(await file.readAll());
  } else {
    await sendFileBody(reply, file, start, end);
  }
}

async function handleRead(ctx: RequestContext, head: boolean): Promise<void> {
  const file = await ctx.storage.openFile(ctx.path);
  if (file.entry.isCollection) {
    await file.close();
    return sendListing(ctx, file.entry, head);
  }
  if (ctx.trailingSlash) {
    await file.close();
    // RFC 4918 §5.2: a URL ending in '/' names a collection.
    throw new DavError(404, 'this is a file, not a folder: its URL has no trailing slash');
  }
  return sendFile(ctx, file, head);
}

export const get: DavMethod = {
  name: 'GET',
  hasBody: false,
  ownPreconditions: true,
  allowedOn: (entry) => entry !== null,
  handle: (ctx) => handleRead(ctx, false),
};

export const head: DavMethod = {
  name: 'HEAD',
  hasBody: false,
  ownPreconditions: true,
  allowedOn: (entry) => entry !== null,
  handle: (ctx) => handleRead(ctx, true),
};
