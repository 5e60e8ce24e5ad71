/** The shape of a WebDAV method: one file per verb implements it; index.ts lists them. */
import type { RequestContext } from '../http/context.js';
import type { Entry } from '../storage/storage.js';

export interface DavMethod {
  readonly name: string;
  /** Requests may carry a body (tells Fastify, via addHttpMethod, to expect one). */
  readonly hasBody: boolean;
  /** Only offered when locking is on (LOCK, UNLOCK). */
  readonly needsLocking?: boolean;
  /**
   * GET and HEAD evaluate the RFC 9110 conditional headers themselves (they need 304 and the
   * opened file); for every other method the dispatcher does it before calling `handle`.
   */
  readonly ownPreconditions?: boolean;
  /** Whether OPTIONS lists the method in Allow for this resource (null: nothing mapped). */
  allowedOn(entry: Entry | null): boolean;
  handle(ctx: RequestContext): Promise<void>;
}
