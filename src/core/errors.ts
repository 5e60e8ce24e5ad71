/**
 * The one error type that handlers throw. It carries the HTTP status and, where RFC 4918 §16
 * defines one, the precondition/postcondition element that goes into a `<D:error>` body.
 * A single Fastify error handler (app.ts) renders it; handlers never write error replies.
 */
import type { DavPath } from './paths.js';

/** Precondition and postcondition codes of RFC 4918 §16 (and RFC 4331 §6 for quota). */
export type DavCondition =
  | 'lock-token-matches-request-uri'
  | 'lock-token-submitted'
  | 'no-conflicting-lock'
  | 'no-external-entities'
  | 'preserved-live-properties'
  | 'propfind-finite-depth'
  | 'cannot-modify-protected-property'
  | 'quota-not-exceeded'
  | 'sufficient-disk-space';

export class DavError extends Error {
  readonly statusCode: number;
  readonly condition: DavCondition | undefined;
  /** Resources named inside the condition element (e.g. the root of a conflicting lock). */
  readonly paths: readonly DavPath[];
  /** Extra response headers, e.g. WWW-Authenticate or Allow. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    statusCode: number,
    message: string,
    options: { condition?: DavCondition; paths?: readonly DavPath[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'DavError';
    this.statusCode = statusCode;
    this.condition = options.condition;
    this.paths = options.paths ?? [];
    this.headers = options.headers ?? {};
  }
}

/** The client went away mid-request (aborted upload, closed stream): nothing left to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super('client closed the connection');
    this.name = 'ClientGoneError';
  }
}

export const badRequest = (message: string): DavError => new DavError(400, message);
export const forbidden = (message: string): DavError => new DavError(403, message);
