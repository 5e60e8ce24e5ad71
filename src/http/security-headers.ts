/**
 * Headers that keep stored content from acting as the person who views it (stored cross-user
 * scripting). Every user's files are served from the same origin as everyone else's: an
 * uploaded page or SVG opened by another user (or an administrator) would otherwise run its
 * scripts with that viewer's credentials and reach every file the viewer may change.
 *
 * - Every response gets `Content-Security-Policy: sandbox` (CSP 3 §6.3.2): a document rendered
 *   from it has an opaque origin and runs no script, so it can neither read nor change anything
 *   on this server in the viewer's name (its requests are cross-origin and need a CORS
 *   preflight, which this server never approves). Images, video, audio and text display as
 *   before; they do not need scripts.
 * - Video and audio get `sandbox allow-same-origin`: still no script, forms, pop-ups or
 *   navigation, but the browser's own media viewer loads the file from its real origin
 *   (Chromium refuses to play a video whose document has an opaque origin: a CORS error).
 * - `X-Content-Type-Options: nosniff` (Fetch §3.5): the type named by the server is the type
 *   used, so a text file cannot be taken for a script or a stylesheet.
 * - The server's own page (the folder view) replaces the sandbox with a strict policy instead:
 *   only its own script and stylesheet from the reserved UI path, no inline script, requests
 *   only to its own origin, never framed.
 */
import type { FastifyReply } from 'fastify';

export const CONTENT_POLICY = 'sandbox';

export const PAGE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The policy of a file served with this Content-Type. */
export function contentPolicyFor(contentType: string): string {
  return /^(video|audio)\//i.test(contentType) ? `${CONTENT_POLICY} allow-same-origin` : CONTENT_POLICY;
}

/** What every response carries (set before the handler runs, so errors carry it too). */
export function defendContent(reply: FastifyReply): void {
  reply.header('content-security-policy', CONTENT_POLICY).header('x-content-type-options', 'nosniff');
}

/** The server's own HTML page: a strict policy instead of the sandbox. */
export function defendPage(reply: FastifyReply): void {
  reply
    .header('content-security-policy', PAGE_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}
