/**
 * A request body on its way into a blob store: counted, held to the announced length (a body
 * shorter than announced is an error, never a short blob, RFC 9110 §8.6) and to the size limit,
 * with backpressure. The store reads the returned stream; when the body breaks off or breaks a
 * limit, that stream fails with the reason, so the store's upload fails (and is aborted) too.
 * The request itself is never destroyed here: a refused upload's connection must live to carry
 * the refusal (the HTTP layer closes it afterwards).
 */
import { PassThrough, type Readable } from 'node:stream';
import { ClientGoneError, DavError } from '../core/errors.js';
import type { BlobPutOptions } from './blob-store.js';

export interface GuardedBody {
  readonly stream: Readable;
  /** Bytes passed on so far. */
  bytes(): number;
  /** Why the body was refused or broke off, once it was. */
  failure(): Error | undefined;
}

export function guardBody(body: Readable, options: BlobPutOptions): GuardedBody {
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  let bytes = 0;
  let failure: Error | undefined;
  const stop = (err: Error | undefined): void => {
    body.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    out.off('drain', onDrain);
    if (err) {
      failure = err;
      body.pause();
      out.destroy(err);
    } else {
      out.end();
    }
  };
  const onData = (chunk: Buffer): void => {
    bytes += chunk.length;
    if (options.maxBytes !== undefined && bytes > options.maxBytes) {
      stop(new DavError(413, `upload larger than the limit of ${options.maxBytes} bytes`));
    } else if (!out.write(chunk)) {
      body.pause();
    }
  };
  const onDrain = (): void => void body.resume();
  const onEnd = (): void => {
    if (options.expectedLength !== undefined && bytes < options.expectedLength) {
      stop(new DavError(400, `body has ${bytes} bytes, ${options.expectedLength} were announced`));
    } else {
      stop(undefined);
    }
  };
  // A request that breaks off means the client is gone; any other source (a file) says why.
  const onError = (err: Error): void => stop('httpVersion' in body ? new ClientGoneError() : err);
  const onClose = (): void => {
    if (!body.readableEnded) stop(new ClientGoneError());
  };
  // The store stopped reading (its upload failed): stop feeding it.
  out.on('close', () => {
    if (!out.writableFinished && failure === undefined) stop(new Error('the store stopped reading the body'));
  });
  if (body.readableEnded) out.end();
  else if (body.destroyed) stop(new ClientGoneError());
  else {
    body.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
    out.on('drain', onDrain);
  }
  return { stream: out, bytes: () => bytes, failure: () => failure };
}
