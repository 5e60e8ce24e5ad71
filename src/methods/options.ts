/** OPTIONS (RFC 9110 §9.3.7, RFC 4918 §10.1): compliance classes and the allowed methods. */
import type { DavMethod } from './method.js';

export const options: DavMethod = {
  name: 'OPTIONS',
  hasBody: false,
  allowedOn: () => true,
  // The DAV, MS-Author-Via and Allow headers are set by the dispatcher for every OPTIONS,
  // including those outside the mount prefix (Windows probes the server root).
  async handle(ctx) {
    ctx.reply.code(200).header('content-length', '0').send();
  },
};
