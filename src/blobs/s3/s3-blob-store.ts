/**
 * Blobs as objects in an S3 bucket (AWS S3, Ceph radosgw, MinIO, R2, …) through the AWS SDK v3,
 * one object per blob at `<prefix><key>`. Uploads (multipart.ts): one PutObject when the body fits
 * in one part, else a multipart upload whose part size follows the announced length (S3 allows
 * 10,000 parts of at most 5 GiB: a 5 TiB file needs parts of ≥ 525 MiB) and which is aborted
 * when anything fails. Memory per upload: (queue + 1) part buffers, reused.
 *
 * Compatibility: path-style addressing with a custom endpoint (radosgw, MinIO), and checksums
 * only where the API requires them (radosgw 16 answers 411 to the SDK's default streamed
 * aws-chunked trailers).
 */
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { ClientGoneError, DavError } from '../../core/errors.js';
import type { BlobInfo, BlobPutOptions, BlobStore } from '../blob-store.js';
import { guardBody } from '../guarded-body.js';
import { DirectGetHandler } from './direct-get.js';
import { MAX_PARTS, uploadStream } from './multipart.js';
import { RangedRead } from './ranged-read.js';

const MiB = 1024 * 1024;
/** Smallest part (S3's minimum is 5 MiB); also the size below which one PutObject is used. */
const MIN_PART = 8 * MiB;
/** Parts for a body of unknown length (chunked): up to 10,000 × 16 MiB ≈ 156 GiB. */
const UNKNOWN_LENGTH_PART = 16 * MiB;
/**
 * Bytes of parts on their way to S3 per upload (one more part fills meanwhile): three 8 MiB parts
 * for most files, two 16 MiB ones for a body of unknown length, one part past that. Each upload
 * allocates its own buffers (a finished upload's are left to the garbage collector), so this
 * budget is about what a PUT adds to the server's memory (goal: < 64 MiB during a 1 GiB PUT).
 */
const PART_BUFFER_BUDGET = 24 * MiB;
/**
 * Reads longer than one range are fetched as consecutive ranges, READ_WINDOW of them in flight
 * (ranged-read.ts). The ranges ahead are asked for but not read until their turn: radosgw reads
 * them from RADOS meanwhile and the sockets hold what it sent. Reading them into memory instead
 * cost twice the CPU per GiB (a quarter of it the garbage collector's, for chunks kept alive) and
 * halved the rate (test/bench/get-pieces.ts). A GET holds at most 1 MiB (the range being sent);
 * shorter reads are one GetObject, as before.
 */
export const READ_RANGE = 16 * MiB;
export const READ_WINDOW = 2;
const READ_AHEAD = 0;
/** GetObject requests of this process whose answer is not over yet (sent, or body still open): tests check that none is left. */
let readsOpen = 0;
export const s3ReadsOpen = (): number => readsOpen;
/** What a client is told to wait before retrying when the store fails (RFC 9110 §10.2.3). */
const RETRY_AFTER_SECONDS = '5';

/** Part size for a body of `length` bytes (unknown: undefined), whole MiB, so that it fits in 10,000 parts. */
export function partSizeFor(length: number | undefined): number {
  if (length === undefined) return UNKNOWN_LENGTH_PART;
  return Math.max(MIN_PART, Math.ceil(length / MAX_PARTS / MiB) * MiB);
}

export interface S3Settings {
  readonly bucket: string;
  /** Prepended to every key ('' or ending in '/'). */
  readonly prefix: string;
  /** A custom endpoint (radosgw, MinIO); without it the SDK's defaults (AWS_ENDPOINT_URL_S3, AWS). */
  readonly endpoint?: string | undefined;
  /** Seconds a request may go without a byte either way before it fails (default 30; --s3-timeout). */
  readonly timeoutSeconds?: number | undefined;
}

/** The store's own failures as the status a client gets: 507 for lack of room, 503 otherwise. */
export function s3Failure(err: unknown): Error {
  if (err instanceof DavError || err instanceof ClientGoneError) return err;
  const name = err instanceof Error ? err.name : '';
  if (name === 'QuotaExceeded' || name === 'EntityTooLarge' || name === 'InsufficientCapacity') {
    return new DavError(507, 'the object store refused the data: no room', { condition: 'sufficient-disk-space' });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new DavError(503, `object storage unavailable: ${detail}`, { headers: { 'retry-after': RETRY_AFTER_SECONDS } });
}

export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly where: string;
  /** S3 requests sent so far (tests count them). */
  requests = 0;

  constructor(settings: S3Settings, clientConfig: S3ClientConfig = {}) {
    // The version is pinned to one that supports Node 20 (package.json): its notice about later
    // versions is for whoever upgrades the dependency, not for the server's operator.
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    this.bucket = settings.bucket;
    this.prefix = settings.prefix;
    this.where = `bucket "${settings.bucket}"${settings.endpoint ? ` at ${settings.endpoint}` : ''}`;
    this.client = new S3Client({
      ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // socketTimeout, not requestTimeout: since @smithy/node-http-handler 4.x the latter only logs
      // a warning unless told to throw, and it counts from the start (a big part's upload may
      // rightly take long); a store that accepts a request and then answers nothing (Ceph blocks
      // writes when its OSDs are full) must not hold a client forever. The SDK retries a timed-out
      // request (two more attempts) before the error becomes a 503.
      // DirectGetHandler reads ranged GET bodies off the socket itself (direct-get.ts: half the
      // CPU of a big GET) and passes every other request to the SDK's own handler.
      requestHandler: new DirectGetHandler({ connectionTimeout: 5000, socketTimeout: (settings.timeoutSeconds ?? 30) * 1000 }),
      ...clientConfig,
    });
    this.client.middlewareStack.add(
      (next) => (args) => {
        this.requests++;
        return next(args);
      },
      { step: 'initialize', name: 'fastdavRequestCount' },
    );
  }

  async put(key: string, body: Readable, options: BlobPutOptions): Promise<number> {
    const guarded = guardBody(body, options);
    const partSize = partSizeFor(options.expectedLength);
    const queueSize = Math.max(partSize <= UNKNOWN_LENGTH_PART ? 2 : 1, Math.floor(PART_BUFFER_BUDGET / partSize));
    try {
      await uploadStream({ client: this.client, bucket: this.bucket, key: this.prefix + key }, guarded.stream, partSize, queueSize, options.expectedLength);
    } catch (err) {
      // The body's own trouble (too long, too short, the client gone) wins over what it caused.
      const failure = guarded.failure();
      throw s3Failure(failure instanceof DavError || failure instanceof ClientGoneError ? failure : err);
    }
    // The body may have failed after the last part went out: the blob exists, so remove it.
    const failure = guarded.failure();
    if (failure) {
      await this.deleteMany([key]).catch(() => undefined);
      throw failure;
    }
    return guarded.bytes();
  }

  async get(key: string, start: number, end: number): Promise<Readable> {
    if (end - start + 1 <= READ_RANGE) return this.getRange(key, start, end);
    const read = new RangedRead((from, to, signal) => this.getRange(key, from, to, signal), start, end, { rangeSize: READ_RANGE, window: READ_WINDOW, aheadBytes: READ_AHEAD });
    await read.ready();
    return read;
  }

  /** One ranged GetObject; its body, counted in `readsOpen` until it closes. */
  private async getRange(key: string, start: number, end: number, abortSignal?: AbortSignal): Promise<Readable> {
    readsOpen++;
    let body: Readable;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Range: `bytes=${start}-${end}` }), { abortSignal });
      body = r.Body as Readable;
    } catch (err) {
      readsOpen--;
      throw s3Failure(err);
    }
    body.once('close', () => readsOpen--);
    return body;
  }

  async getAll(key: string): Promise<Buffer> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (err) {
      throw s3Failure(err);
    }
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      let r;
      try {
        r = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Quiet: true, Objects: batch.map((k) => ({ Key: this.prefix + k })) } }),
        );
      } catch (err) {
        throw s3Failure(err);
      }
      const failed = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw s3Failure(new Error(`could not delete ${failed.length} objects: ${failed[0]!.Code} ${failed[0]!.Message ?? ''}`));
    }
  }

  async *list(): AsyncIterable<readonly BlobInfo[]> {
    let token: string | undefined;
    do {
      let r;
      try {
        r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }));
      } catch (err) {
        throw s3Failure(err);
      }
      yield (r.Contents ?? []).map((o) => ({ key: o.Key!.slice(this.prefix.length), lastModified: o.LastModified ?? new Date(0) }));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async abortUnfinished(cutoff: Date): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      do {
        const r = await this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        );
        for (const u of r.Uploads ?? []) {
          if (!u.Key || !u.UploadId || (u.Initiated && u.Initiated >= cutoff)) continue;
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }));
          aborted++;
        }
        keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
        uploadIdMarker = r.IsTruncated ? r.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch (err) {
      throw s3Failure(err);
    }
    return aborted;
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
      if (status === 404) throw new Error(`S3 ${this.where} does not exist`);
      if (status === 403 || status === 401) throw new Error(`S3 ${this.where}: access denied (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile)`);
      const detail = err instanceof Error ? err.message || err.name : String(err);
      throw new Error(`S3 ${this.where} is unreachable: ${detail}`);
    }
  }

  close(): void {
    this.client.destroy();
  }
}
