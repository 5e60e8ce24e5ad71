/**
 * The server's own error format for answers without an RFC 4918 `DAV:error` body: one plain-text
 * line `STATUS Reason: what went wrong`. Every error answer uses it, also those made before
 * Fastify sees a request (Node's parser refusing it, plain HTTP on the TLS port, a URL that is not
 * UTF-8), so a client never meets a second format.
 */
import { STATUS_CODES } from 'node:http';

/** What an error with no more specific message means, so a body never just repeats the reason phrase. */
const EXPLANATIONS: Readonly<Record<number, string>> = {
  400: 'the request is malformed',
  403: 'this request is not allowed here',
  404: 'nothing exists at this URL',
  405: 'this method is not allowed on this resource',
  409: 'a parent folder does not exist',
  412: 'a condition of the request (If, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since) does not hold',
  415: 'the request body has a type this method does not accept',
  500: 'internal error',
  501: 'this method is not implemented by the server',
  502: 'the URL names another server',
  503: 'the server is not available at the moment',
  507: 'not enough storage space',
};

/** The text of an error answer: `404 Not Found: nothing exists at this URL\n`. */
export function errorText(status: number, message?: string): string {
  const reason = STATUS_CODES[status] ?? 'Error';
  const generic = !message || message === reason;
  return `${status} ${reason}: ${generic ? EXPLANATIONS[status] ?? reason.toLowerCase() : message}\n`;
}

export const ERROR_CONTENT_TYPE = 'text/plain; charset=utf-8';

/**
 * A whole HTTP/1.1 error response for writing straight to a socket (no request object exists),
 * closing the connection after it (RFC 9112 §9.6): what follows cannot be trusted to be framed.
 */
export function rawErrorResponse(status: number, message: string): string {
  const body = errorText(status, message);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    `Content-Type: ${ERROR_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}
