/**
 * The store's ranged GET bodies read straight off the socket: the S3 client's request handler
 * (the SDK's HttpHandler seam), which takes one request shape itself and gives every other to
 * the SDK's own NodeHttpHandler (which it extends).
 *
 * Why: relaying a 1 GiB GET, node:http's client was half of fastdav's CPU. It reads the socket
 * into a 64 KiB buffer and its parser copies each body piece into a new Buffer: two allocations
 * and one extra copy per 64 KiB (test/bench/NOTES.md measures 0.65-0.83 CPU s per GiB for
 * reading alone, against 0.32-0.37 reading the same socket into buffers of the reader's own
 * through `net.Socket`'s `onread`). No maintained client reads a body into the caller's buffers
 * (undici copies through its WebAssembly parser's memory and measured slower still), so this
 * reads one shape itself and nothing more:
 * - taken: a GET with a Range header (RangedRead's reads, s3-blob-store.ts), to an `http:`
 *   endpoint, already signed by the SDK; its answer must have a Content-Length, no
 *   Transfer-Encoding, and status 200, 206 (every S3 GetObject success) or 4xx/5xx (S3's errors:
 *   the SDK reads their XML body as it reads any other, and retries what it retries);
 * - given to NodeHttpHandler: everything else (other methods, `https:`, a path or header
 *   node:http would have to vet), and any answer not of that shape (1xx, 204, a redirect, a
 *   chunked body, a head that does not parse): that request is then sent again through
 *   NodeHttpHandler, so the SDK sees the answer it always sees (a GET is safe to repeat, and its
 *   signature stays valid for minutes).
 *
 * The body (DirectBody) is read into 1 MiB buffers (`onread` with a buffer per read: the kernel
 * copies into it, nothing copies it again) and pushed as views of them; the buffers are used again
 * once a consumer gave every view back (src/core/recycled-buffers.ts; relayInBatches does, once
 * the client's socket took them). A paused body stops reading its socket. Connections are kept alive and reused (HTTP/1.1 §9.3 of RFC 9112)
 * when a body was read to its last byte; an idle one that hears anything or closes is dropped.
 * Timeouts as NodeHttpHandler's: `connectionTimeout` to connect, `socketTimeout` without a byte.
 */
import net from 'node:net';
import { Readable } from 'node:stream';
import { HttpResponse, buildQueryString, type HttpRequest } from '@smithy/core/protocols';
import { NodeHttpHandler, type NodeHttpHandlerOptions } from '@smithy/node-http-handler';
import type { HttpHandlerOptions } from '@smithy/types';
import { RecycledBuffers, lent, seal } from '../../core/recycled-buffers.js';

/** Bytes a response head may take (radosgw's are ~600). */
const HEAD_LIMIT = 16 * 1024;
/** What a body is read into: buffers of 1 MiB, used again once their bytes were sent (recycled-buffers.ts)… */
const BODY_CHUNK = 1024 * 1024;
/** …16 of them kept while nothing is relayed… */
export const bodyChunks = new RecycledBuffers(BODY_CHUNK, 16);
/** …by reads of up to 256 KiB (nginx's proxy buffers in test/bench/get-pieces.ts): what a paused range holds past its limit (ranged-read.ts). */
const READ_PIECE = 256 * 1024;
/** A body shorter than this gets a buffer of its own size (a short range would not give a pooled buffer back quickly). */
const SMALL_BODY = 64 * 1024;
/** Idle connections kept per endpoint. */
const IDLE_PER_ENDPOINT = 16;
/** Error codes that the SDK's retry strategy takes as transient once named TimeoutError (as NodeHttpHandler does). */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/** Counts for tests: requests answered here, and sent on to NodeHttpHandler. */
export const directGetStats = { direct: 0, passedOn: 0 };

/** `code` as an error the SDK's retry strategy recognises. */
function networkError(message: string, code: string): Error {
  const err = Object.assign(new Error(message), { code });
  if (TRANSIENT_CODES.has(code)) err.name = 'TimeoutError';
  return err;
}

function abortError(signal: AbortSignal): Error {
  const err = new Error('Request aborted', signal.reason instanceof Error ? { cause: signal.reason } : undefined);
  err.name = 'AbortError';
  return err;
}

// RFC 9110 §5.6.2 token; §5.5 field values without CR, LF or NUL; the request target as node:http accepts it.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[^\r\n\0]*$/;
const TARGET = /^\/[\x21-\x7e]*$/;

/** The request's head as bytes, or null when it is not one this module sends itself. */
function requestHead(request: HttpRequest): string | null {
  if (request.method !== 'GET' || request.protocol !== 'http:' || request.body != null) return null;
  if (request.username != null || request.password != null || request.fragment) return null;
  const headers = Object.entries(request.headers);
  if (!headers.some(([name]) => name.toLowerCase() === 'range')) return null;
  const query = request.query ? buildQueryString(request.query) : '';
  const target = query ? `${request.path}?${query}` : request.path;
  if (!TARGET.test(target)) return null;
  let head = `GET ${target} HTTP/1.1\r\n`;
  let host = false;
  for (const [name, value] of headers) {
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) return null;
    const lower = name.toLowerCase();
    if (lower === 'connection' || lower === 'expect' || lower === 'transfer-encoding' || lower === 'content-length') return null;
    host ||= lower === 'host';
    head += `${name}: ${value}\r\n`;
  }
  if (!host) head += `Host: ${request.hostname}${request.port ? `:${request.port}` : ''}\r\n`;
  return `${head}\r\n`;
}

interface ResponseHead {
  readonly statusCode: number;
  readonly reason: string;
  readonly headers: Record<string, string>;
  /** Bytes of the head, the blank line included. */
  readonly length: number;
  readonly keepAlive: boolean;
}

/** Parses a response head (RFC 9112 §4, §5) that ends at `end` (the index after its blank line); null when it is not plain. */
function parseHead(bytes: Buffer, end: number): ResponseHead | null {
  const lines = bytes.toString('latin1', 0, end - 4).split('\r\n');
  const status = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]!);
  if (!status) return null;
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return null; // also obsolete line folding (RFC 9112 §5.2)
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) return null;
    const value = line.slice(colon + 1).trim();
    if (name in headers) {
      if (name === 'content-length' && headers[name] !== value) return null;
      headers[name] = `${headers[name]}, ${value}`;
    } else headers[name] = value;
  }
  const connection = (headers['connection'] ?? '').toLowerCase();
  const keepAlive = status[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
  return { statusCode: Number(status[2]), reason: status[3] ?? '', headers, length: end, keepAlive };
}

/** The Content-Length of a body this module reads itself, or -1 when the answer must go through NodeHttpHandler. */
function directLength(head: ResponseHead): number {
  const status = head.statusCode;
  if (status !== 200 && status !== 206 && (status < 400 || status > 599)) return -1;
  if ('transfer-encoding' in head.headers) return -1;
  const value = head.headers['content-length'];
  if (value === undefined || !/^\d{1,15}$/.test(value)) return -1;
  return Number(value);
}

/** One kept-alive connection to the store. */
class Connection {
  readonly socket: net.Socket;
  private state: 'connecting' | 'idle' | 'head' | 'body' | 'closed' = 'connecting';
  private readonly head = Buffer.allocUnsafe(HEAD_LIMIT);
  private headBytes = 0;
  private onHead: OnHead | undefined;
  private body: DirectBody | undefined;
  /** Whether the connection was used before (a failure before any answer is then retried on a new one). */
  used = false;

  constructor(
    readonly endpoint: string,
    host: string,
    port: number,
    private readonly pool: ConnectionPool,
    private readonly timeouts: { connect: number; idle: number },
  ) {
    this.socket = net.connect({ host, port, noDelay: true, onread: { buffer: () => this.nextBuffer(), callback: (n) => this.received(n) } });
    const connectTimer = timeouts.connect > 0 ? setTimeout(() => this.fail(networkError(`connecting to ${endpoint} timed out`, 'ETIMEDOUT')), timeouts.connect) : undefined;
    this.socket.once('connect', () => {
      clearTimeout(connectTimer);
      if (this.state === 'connecting') this.state = 'head';
    });
    if (timeouts.idle > 0) {
      this.socket.setTimeout(timeouts.idle, () => this.fail(networkError(`no byte from ${endpoint} for ${timeouts.idle} ms`, 'ETIMEDOUT')));
    }
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('end', () => this.fail(networkError(`${endpoint} closed the connection`, 'ECONNRESET')));
    this.socket.on('close', () => {
      clearTimeout(connectTimer);
      this.fail(networkError(`${endpoint} closed the connection`, 'ECONNRESET'));
    });
  }

  /** Sends a request head; `onHead` hears the response head and its body, or null (not a plain answer: the connection is then closed), or the failure. */
  send(head: string, onHead: OnHead): void {
    this.onHead = onHead;
    if (this.state === 'idle') {
      this.state = 'head';
      this.socket.ref();
    }
    this.socket.write(head, 'latin1');
  }

  /**
   * Where the next read goes: the body's chunk, else the head buffer. It is chosen right after
   * each read, so an idle connection must already offer what the next answer's head needs.
   */
  private nextBuffer(): Buffer {
    if (this.state === 'body') return this.body!.target();
    return this.head.subarray(this.headBytes);
  }

  /** A read of `n` bytes into the buffer nextBuffer gave; false pauses the socket. */
  private received(n: number): boolean {
    if (this.state === 'body') return this.body!.received(n);
    if (this.state !== 'head') {
      this.fail(networkError(`${this.endpoint} sent bytes nobody asked for`, 'ECONNRESET'));
      return false;
    }
    const from = Math.max(0, this.headBytes - 3);
    this.headBytes += n;
    const end = this.head.subarray(0, this.headBytes).indexOf('\r\n\r\n', from, 'latin1');
    if (end < 0) {
      if (this.headBytes < HEAD_LIMIT) return true;
      this.answered(null);
      return false;
    }
    const head = parseHead(this.head, end + 4);
    const length = head ? directLength(head) : -1;
    if (!head || length < 0 || this.headBytes - head.length > length) {
      this.answered(null);
      return false;
    }
    const body = new DirectBody(this, length, head.keepAlive);
    this.body = body;
    this.state = 'body';
    this.answered({ head, body });
    // Body bytes that came with the head (all of a short body); a body of 0 bytes ends here.
    return body.received(this.headBytes - head.length, this.head.subarray(head.length, this.headBytes));
  }

  private answered(answer: { head: ResponseHead; body: DirectBody } | null): void {
    const onHead = this.onHead;
    this.onHead = undefined;
    if (!answer) this.close();
    onHead?.(answer);
  }

  /** The body was read to its end: the connection goes back to the pool, or closes. */
  bodyDone(keepAlive: boolean): void {
    this.body = undefined;
    this.used = true;
    this.headBytes = 0;
    if (!keepAlive || this.state !== 'body') return this.close();
    this.state = 'idle';
    // As node:http's agent does: an idle connection does not keep the process alive.
    this.socket.unref();
    this.pool.release(this);
  }

  resume(): void {
    if (this.state === 'body') this.socket.resume();
  }

  /** The connection failed (or was told to close): whoever waits on it hears why. */
  fail(err: Error): void {
    if (this.state === 'closed') return;
    const wasIdle = this.state === 'idle';
    this.state = 'closed';
    this.socket.destroy();
    if (wasIdle) this.pool.forget(this);
    const onHead = this.onHead;
    this.onHead = undefined;
    onHead?.(null, err);
    const body = this.body;
    this.body = undefined;
    body?.connectionFailed(err);
  }

  close(): void {
    this.fail(networkError('closed', 'ECONNRESET'));
  }

  /** The body is no longer wanted before its end: the connection cannot be reused. */
  abandon(): void {
    this.body = undefined;
    this.close();
  }
}

type OnHead = (answer: { head: ResponseHead; body: DirectBody } | null, err?: Error) => void;

/**
 * A body of known length (a 200/206's bytes, or an error's XML), read off its connection into BODY_CHUNK buffers from
 * `bodyChunks` and pushed as views of them; a consumer that gives the views back
 * (relayInBatches) lets the buffers be used again, any other leaves them to the collector.
 */
class DirectBody extends Readable {
  private chunk: Buffer = Buffer.alloc(0);
  private used = 0;
  private remaining: number;

  constructor(
    private connection: Connection | undefined,
    length: number,
    private readonly keepAlive: boolean,
  ) {
    // Bytes a paused body takes before its socket is paused too (its reader holds its own).
    super({ highWaterMark: 64 * 1024 });
    this.remaining = length;
  }

  /** The buffer the next read goes into: the rest of the chunk, up to READ_PIECE, never past the body's end. */
  target(): Buffer {
    if (this.used === this.chunk.length) {
      seal(this.chunk);
      this.chunk = this.remaining < SMALL_BODY ? Buffer.allocUnsafe(this.remaining) : bodyChunks.take();
      this.used = 0;
    }
    return this.chunk.subarray(this.used, this.used + Math.min(this.remaining, this.chunk.length - this.used, READ_PIECE));
  }

  /** `n` bytes were read into target(), or (`early`) came with the head; false pauses the socket. */
  received(n: number, early?: Buffer): boolean {
    if (this.remaining === 0) return this.finish();
    if (early) early.copy(this.target());
    const view = this.chunk.subarray(this.used, this.used + n);
    this.used += n;
    this.remaining -= n;
    lent(view);
    const more = this.push(view);
    return this.remaining === 0 ? this.finish() : more;
  }

  private finish(): true {
    seal(this.chunk);
    const connection = this.connection;
    this.connection = undefined;
    this.push(null);
    connection?.bodyDone(this.keepAlive);
    return true;
  }

  connectionFailed(err: Error): void {
    this.connection = undefined;
    this.destroy(Object.assign(new Error(`${err.message} with ${this.remaining} bytes of the body to come`), { code: (err as { code?: string }).code, cause: err }));
  }

  override _read(): void {
    this.connection?.resume();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    // Left before its end (the client went, or a range was abandoned): the connection cannot be reused.
    const connection = this.connection;
    this.connection = undefined;
    connection?.abandon();
    // The socket is closed: nothing reads into the chunk any more.
    seal(this.chunk);
    callback(err);
  }
}

/** Idle connections by endpoint (host:port). */
class ConnectionPool {
  private readonly idle = new Map<string, Connection[]>();

  take(endpoint: string): Connection | undefined {
    const list = this.idle.get(endpoint);
    return list?.pop();
  }

  release(connection: Connection): void {
    const list = this.idle.get(connection.endpoint) ?? [];
    if (list.length >= IDLE_PER_ENDPOINT) return connection.close();
    list.push(connection);
    this.idle.set(connection.endpoint, list);
  }

  forget(connection: Connection): void {
    const list = this.idle.get(connection.endpoint);
    const at = list?.indexOf(connection) ?? -1;
    if (at >= 0) list!.splice(at, 1);
  }

  closeAll(): void {
    for (const list of this.idle.values()) for (const c of [...list]) c.close();
    this.idle.clear();
  }
}

export class DirectGetHandler extends NodeHttpHandler {
  private readonly pool = new ConnectionPool();
  private readonly timeouts: { connect: number; idle: number };

  constructor(options: NodeHttpHandlerOptions = {}) {
    super(options);
    this.timeouts = { connect: options.connectionTimeout ?? 0, idle: options.socketTimeout ?? 0 };
  }

  override async handle(request: HttpRequest, options: HttpHandlerOptions = {}): Promise<{ response: HttpResponse }> {
    const head = requestHead(request);
    if (head === null) return this.passOn(request, options);
    const { abortSignal } = options;
    if (abortSignal?.aborted) throw abortError(abortSignal as AbortSignal);
    const endpoint = `${request.hostname}:${request.port ?? 80}`;
    // A kept-alive connection the store closed meanwhile fails before any answer: once more on a new one.
    for (let attempt = 0; ; attempt++) {
      const connection = (attempt === 0 ? this.pool.take(endpoint) : undefined) ?? new Connection(endpoint, request.hostname, request.port ?? 80, this.pool, this.timeouts);
      const outcome = await this.exchange(connection, head, abortSignal as AbortSignal | undefined);
      if (outcome instanceof HttpResponse) return { response: outcome };
      if (outcome === 'pass-on') return this.passOn(request, options);
      if (!connection.used || attempt > 0) throw outcome;
    }
  }

  /** Sends `head` on `connection`: the response with its DirectBody, 'pass-on' for an answer to send through NodeHttpHandler, or the failure. */
  private exchange(connection: Connection, head: string, signal: AbortSignal | undefined): Promise<HttpResponse | 'pass-on' | Error> {
    return new Promise((resolve) => {
      const onAbort = (): void => {
        resolve(abortError(signal!));
        connection.close();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      connection.send(head, (answer, err) => {
        signal?.removeEventListener('abort', onAbort);
        if (!answer) return resolve(err ?? 'pass-on');
        const { head, body } = answer;
        if (signal) {
          // Aborted later (RangedRead drops a range it no longer needs): the body ends with that.
          const abortBody = (): void => void body.destroy(abortError(signal));
          signal.addEventListener('abort', abortBody, { once: true });
          body.once('close', () => signal.removeEventListener('abort', abortBody));
        }
        directGetStats.direct++;
        resolve(new HttpResponse({ statusCode: head.statusCode, reason: head.reason, headers: head.headers, body }));
      });
    });
  }

  private passOn(request: HttpRequest, options: HttpHandlerOptions): Promise<{ response: HttpResponse }> {
    directGetStats.passedOn++;
    return super.handle(request, options);
  }

  override destroy(): void {
    this.pool.closeAll();
    super.destroy();
  }
}
