/**
 * One log line per request (method, path, status, body bytes sent, duration, user), through Fastify's
 * LogController so that Fastify's own two lines per request are replaced, not added to.
 * Headers are never logged, so neither are credentials.
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

const bytesAtStart = new WeakMap<object, number>();

export class AccessLog extends LogController {
  constructor() {
    super({ disableRequestLogging: false });
  }

  override incomingRequest(request: FastifyRequest): void {
    bytesAtStart.set(request.raw, request.raw.socket?.bytesWritten ?? 0);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const socket = request.raw.socket;
    const start = bytesAtStart.get(request.raw);
    // Body bytes, as Apache's %B: what went out on the connection less the response head (the
    // head Node wrote, kept on the response as `_header`); a streamed answer's chunk framing counts.
    const head = (reply.raw as { _header?: string | null })._header;
    const sent = socket && start !== undefined ? socket.bytesWritten - start : undefined;
    const fields = {
      method: request.method,
      path: request.url,
      status: reply.statusCode,
      bytes: sent === undefined ? undefined : Math.max(0, sent - (head ? Buffer.byteLength(head, 'latin1') : 0)),
      ms: Math.round(reply.elapsedTime * 10) / 10,
      user: request.principal ?? undefined,
    };
    if (error) reply.log.error({ ...fields, err: error }, 'request failed');
    else reply.log.info(fields, 'request');
  }
}
