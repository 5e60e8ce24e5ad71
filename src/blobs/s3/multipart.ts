/**
 * Streaming a body into one S3 object with bounded, reused memory: the body is copied into a
 * fixed set of part buffers (`queueSize` parts on their way to S3 and one filling), each given
 * back once S3 has its part. @aws-sdk/lib-storage's Upload, used before, copied every part
 * into a fresh buffer and left the spent ones to the garbage collector, so that a PUT's memory
 * depended on when the collector ran; reused buffers bound it to their own size.
 *
 * A body that fits in one part is one PutObject; anything longer is a multipart upload (S3: at
 * most 10,000 parts, all but the last at least 5 MiB), aborted when anything fails, so that a
 * failed upload leaves nothing behind.
 */
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { DavError } from '../../core/errors.js';
import { CLEANUP_WAIT_MS, waitAtMost } from '../../core/wait.js';

export const MAX_PARTS = 10_000;

interface Part {
  /** A buffer of the pool; the part is its first `length` bytes. */
  readonly buffer: Buffer;
  readonly length: number;
  readonly number: number;
}

/** `count` buffers of `size` bytes, allocated when first needed; take() waits while all are out. */
class PartBuffers {
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private waiting: ((buffer: Buffer) => void)[] = [];

  constructor(
    private readonly size: number,
    private readonly count: number,
  ) {}

  take(): Promise<Buffer> {
    const buffer = this.free.pop();
    if (buffer) return Promise.resolve(buffer);
    if (this.allocated < this.count) {
      this.allocated++;
      return Promise.resolve(Buffer.allocUnsafeSlow(this.size));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(buffer: Buffer): void {
    const next = this.waiting.shift();
    if (next) next(buffer);
    else this.free.push(buffer);
  }
}

/**
 * Cuts `body` into parts of `partSize` bytes (the last one shorter), copied into the pool's buffers.
 * A body announced shorter than a part starts in a buffer of its own size (a 4 KiB PUT then
 * allocates 4 KiB, not a whole part: issue 10, small PUTs); should it grow past that, it moves
 * into a buffer of the pool.
 */
async function* partsOf(body: Readable, partSize: number, buffers: PartBuffers, announced: number | undefined): AsyncGenerator<Part> {
  let number = 1;
  // One byte more than announced: a body of exactly that length never fills it.
  let buffer = announced !== undefined && announced + 1 < partSize ? Buffer.allocUnsafe(announced + 1) : await buffers.take();
  let filled = 0;
  const tooMany = () => new DavError(413, `upload larger than ${MAX_PARTS} parts of ${partSize} bytes`);
  for await (const chunk of body as AsyncIterable<Buffer>) {
    for (let offset = 0; offset < chunk.length; ) {
      if (number > MAX_PARTS) throw tooMany();
      if (filled === buffer.length) {
        // Longer than announced (only a smaller first buffer is ever full here).
        const whole = await buffers.take();
        buffer.copy(whole, 0, 0, filled);
        buffer = whole;
      }
      const n = Math.min(buffer.length - filled, chunk.length - offset);
      chunk.copy(buffer, filled, offset, offset + n);
      filled += n;
      offset += n;
      if (filled === partSize) {
        yield { buffer, length: filled, number: number++ };
        buffer = await buffers.take();
        filled = 0;
      }
    }
  }
  if (filled > 0 || number === 1) yield { buffer, length: filled, number };
  else buffers.give(buffer);
}

export interface MultipartTarget {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
}

/**
 * Uploads `body` to `target`, `queueSize` parts of `partSize` bytes at a time; resolves when the
 * object is complete. `announced`: the body's length when known (a smaller first buffer). On
 * failure the multipart upload is aborted and the body stream destroyed.
 */
export async function uploadStream(target: MultipartTarget, body: Readable, partSize: number, queueSize: number, announced?: number): Promise<void> {
  const { client, bucket: Bucket, key: Key } = target;
  const buffers = new PartBuffers(partSize, queueSize + 1);
  const parts = partsOf(body, partSize, buffers, announced);
  try {
    const first = await parts.next();
    if (first.done || first.value.length < partSize) {
      // Shorter than one part: one request.
      const only = first.done ? Buffer.alloc(0) : first.value.buffer.subarray(0, first.value.length);
      await client.send(new PutObjectCommand({ Bucket, Key, Body: only, ContentLength: only.length }));
      return;
    }
    // A whole part and perhaps more: multipart (also when the body ends there, as one part).
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const done: { PartNumber: number; ETag: string }[] = [];
    // The first failure ends the upload: the other parts' requests are abandoned at once rather
    // than waited for (against a store that hangs, each would take its full timeout and retries).
    let failure: { reason: unknown } | undefined;
    const stopParts = new AbortController();
    const send = async (part: Part): Promise<void> => {
      try {
        const r = await client.send(
          new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: part.number, Body: part.buffer.subarray(0, part.length), ContentLength: part.length }),
          { abortSignal: stopParts.signal },
        );
        if (!r.ETag) throw new Error(`part ${part.number}: no ETag in the answer`);
        done.push({ PartNumber: part.number, ETag: r.ETag });
      } finally {
        buffers.give(part.buffer);
      }
    };
    const worker = async (start: Part | undefined): Promise<void> => {
      try {
        if (start) await send(start);
        // An async generator hands out one part per next(), in order, to whichever worker asks.
        for (let next = await parts.next(); !next.done && !failure; next = await parts.next()) await send(next.value);
      } catch (err) {
        if (failure) return;
        // The others stop too: those waiting for the body's next part get its end at once.
        failure = { reason: err };
        stopParts.abort();
        body.destroy();
      }
    };
    try {
      await Promise.all([worker(first.value), ...Array.from({ length: queueSize - 1 }, () => worker(undefined))]);
      if (failure) throw failure.reason;
      done.sort((a, b) => a.PartNumber - b.PartNumber);
      await client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: done } }));
    } catch (err) {
      // Nothing may stay behind; should the abort fail too, the sweep (gc.ts) aborts it later.
      await waitAtMost(client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })), CLEANUP_WAIT_MS);
      throw err;
    }
  } finally {
    // Stops reading the body when the upload ended early (the body stream is destroyed).
    await parts.return(undefined);
  }
}
