/**
 * The transport under the WebDAV layer: HTTP or HTTPS, the Node server's limits and timeouts, and
 * how a connection is closed after a body was refused.
 */
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerOptions } from 'node:http';
import type { Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext } from 'node:tls';
import { ConfigError, unreadableFile, type Config } from '../config.js';
import { rawErrorResponse } from './error-body.js';

/** How long a connection closed after a refused upload keeps draining what the client still sends. */
const LINGER_MS = 2000;

/**
 * The certificate and key for HTTPS, read and checked: each file must hold what it is named for
 * (PEM), the key must not be encrypted and must belong to the certificate. Each failure is a
 * ConfigError naming the setting, the file and what to do (never OpenSSL's raw text).
 */
export function tlsOptions(config: Config): { cert: Buffer; key: Buffer } | null {
  if (!config.tlsCert || !config.tlsKey) return null;
  const read = (setting: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw unreadableFile(setting, file, err);
    }
  };
  const tls = { cert: read('tlsCert', config.tlsCert), key: read('tlsKey', config.tlsKey) };
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(tls.cert);
  } catch {
    throw new ConfigError(`tlsCert: ${config.tlsCert} holds no PEM certificate (a file starting with -----BEGIN CERTIFICATE-----)`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(tls.key);
  } catch {
    // PKCS#8 (BEGIN ENCRYPTED PRIVATE KEY) or traditional (Proc-Type: 4,ENCRYPTED) encryption.
    if (tls.key.includes('ENCRYPTED')) {
      throw new ConfigError(`tlsKey: ${config.tlsKey} is encrypted; give the key without a passphrase (openssl pkey -in KEY -out PLAIN_KEY)`);
    }
    throw new ConfigError(`tlsKey: ${config.tlsKey} holds no PEM private key (a file starting with -----BEGIN PRIVATE KEY----- or -----BEGIN EC/RSA PRIVATE KEY-----)`);
  }
  if (!certificate.checkPrivateKey(key)) throw new ConfigError(`tlsKey: ${config.tlsKey} is not the private key of the certificate in ${config.tlsCert}`);
  try {
    createSecureContext(tls);
  } catch (err) {
    const reason = (err as { reason?: string }).reason ?? (err as Error).message;
    throw new ConfigError(`tlsCert/tlsKey: ${config.tlsCert} and ${config.tlsKey} cannot be used for TLS (${reason})`);
  }
  return tls;
}

/**
 * RFC 9112 §9.6: a server that closes while the client is still sending must not reset the
 * connection before the client has read the answer (a reset discards unread data on both ends).
 * So what still arrives is dropped, the connection is half-closed after the answer, and closed
 * fully when the client closes its side, or LINGER_MS later.
 */
export function lingerAfterReply(request: IncomingMessage): void {
  const socket = request.socket;
  request.resume();
  socket.destroySoon = () => {
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}

/** A request line with a syntactically valid method (RFC 9110 §5.6.2 token) that Node's parser does not know. */
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}) \S+ HTTP\/\d\.\d\r?\n/;

/**
 * Requests Node's HTTP parser refuses never reach Fastify. They get the server's own error format
 * and the connection is closed: 501 for a well-formed request line whose method the parser does
 * not know (RFC 9110 §15.6.2; the methods it knows reach the not-found handler, which also says
 * 501), 408 and 431 for the time and size limits, 400 naming the defect for anything else.
 */
function answerClientError(this: FastifyInstance, error: Error, socket: Duplex): void {
  // Node's parse errors carry the llhttp code, its reason and the bytes received.
  const err = error as NodeJS.ErrnoException & { reason?: string; rawPacket?: Buffer };
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] = ((): [number, string] => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'the request was not received in time'];
    if (err.code === 'HPE_HEADER_OVERFLOW') return [431, 'the request line and headers are larger than this server accepts'];
    const method = err.code === 'HPE_INVALID_METHOD' ? REQUEST_LINE.exec(err.rawPacket?.toString('latin1') ?? '')?.[1] : undefined;
    if (method) return [501, `this server does not implement the method ${method}`];
    return [400, `malformed request (${err.reason ?? err.code ?? err.message})`];
  })();
  this.log.debug({ err, status }, 'request refused by the HTTP parser');
  if (!socket.writable) return void socket.destroy();
  socket.end(rawErrorResponse(status, message));
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** The first byte of a TLS connection: a handshake record (RFC 8446 §5.1, content type 22). */
const TLS_HANDSHAKE = 0x16;

/**
 * An HTTPS server sends plain HTTP requests (an http:// URL for an https:// port) no answer at all:
 * the TLS handshake fails and the connection is dropped. As nginx does, they get a 400 saying
 * what is wrong. The first byte tells them apart; a TLS connection then goes on to Node's TLS
 * layer, which takes the byte back from the socket's buffer.
 */
export function answerPlainHttpOnTlsPort(server: Server, headersTimeoutMs: number): void {
  const tlsListeners = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    socket.setTimeout(headersTimeoutMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) {
        for (const listener of tlsListeners) listener.call(server, socket);
        return;
      }
      socket.end(rawErrorResponse(400, 'this port speaks HTTPS: use an https:// URL'));
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    });
  });
}

/**
 * The Node server's limits. A slow-loris client gets `headersTimeout` for its request head and
 * `requestTimeout` for the whole request; a silent connection is closed after `idleTimeout`.
 */
export function serverOptions(config: Config): FastifyServerOptions {
  const http: ServerOptions = {
    maxHeaderSize: config.maxHeaderBytes,
    headersTimeout: config.headersTimeout * 1000,
    // How often Node looks for connections past those timeouts (its default is 30 s).
    connectionsCheckingInterval: 1000,
  };
  const tls = tlsOptions(config);
  return {
    // node:https takes the node:http server options beside the certificate.
    ...(tls ? { https: { ...http, ...tls } } : { http }),
    requestTimeout: config.requestTimeout * 1000,
    connectionTimeout: config.idleTimeout * 1000,
    keepAliveTimeout: config.keepAliveTimeout * 1000,
    clientErrorHandler: answerClientError,
  } as FastifyServerOptions;
}
