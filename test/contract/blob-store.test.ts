/**
 * The BlobStore contract (src/blobs/blob-store.ts), run against S3 on a private radosgw.
 * Every implementation must pass it: whole and ranged reads, multipart above the threshold, a body
 * longer than announced stored whole, small uploads holding memory by their size (not a whole
 * part), no trace of a failed upload (short, oversized or cut body), deletes, listing, start-up
 * checks.
 */
import t from 'tap';
import { PassThrough, Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { ClientGoneError, DavError } from '../../src/core/errors.js';
import type { BlobStore } from '../../src/blobs/blob-store.js';
import { S3BlobStore, partSizeFor } from '../../src/blobs/s3/s3-blob-store.js';
import { rgwUnavailable, startRgw, type S3Endpoint } from '../helpers/rgw.js';

const skip = rgwUnavailable(t);

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A body that yields `data` in 1 MiB pieces, then either ends or breaks off. */
function body(data: Buffer, breakOff = false): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) {
        if (breakOff) this.destroy();
        else this.push(null);
        return;
      }
      this.push(data.subarray(offset, offset + 1024 * 1024));
      offset += 1024 * 1024;
    },
  });
}

/** The status of the DavError the promise rejects with (0: it did not). */
const statusOf = (p: Promise<unknown>): Promise<number> => p.then(() => 0, (e: unknown) => (e instanceof DavError ? e.statusCode : -1));

async function keys(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const page of store.list()) out.push(...page.map((b) => b.key));
  return out.sort();
}

t.test('part sizes fit 5 TiB in 10,000 parts', async (t) => {
  t.equal(partSizeFor(1000), 8 * 1024 * 1024);
  const fiveTiB = 5 * 1024 ** 4;
  t.ok(partSizeFor(fiveTiB) * 10_000 >= fiveTiB);
  t.ok(partSizeFor(fiveTiB) <= 5 * 1024 ** 3, 'parts stay under the 5 GiB maximum');
});

t.test('S3 blob store', { skip }, async (t) => {
  const s3: S3Endpoint = await startRgw(t);
  const settings = { bucket: s3.bucket, prefix: 'contract/', endpoint: s3.endpoint };
  const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  const store = new S3BlobStore(settings, { region: s3.region, credentials });
  t.teardown(() => store.close());
  const pendingUploads = async () => (await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }))).Uploads ?? [];

  t.test('check passes on a usable bucket', async () => store.check());

  t.test('small blob: whole and ranged reads', async (t) => {
    const data = Buffer.from('hello, blob world');
    t.equal(await store.put('small', body(data), { expectedLength: data.length }), data.length);
    t.same(await store.getAll('small'), data);
    t.same(await readAll(await store.get('small', 7, 10)), data.subarray(7, 11));
  });

  t.test('large blob goes multipart, unknown length too, and reads back by ranges', async (t) => {
    const data = randomBytes(20 * 1024 * 1024 + 123);
    const before = store.requests;
    t.equal(await store.put('large', body(data), { expectedLength: data.length }), data.length);
    t.ok(store.requests - before >= 5, `multipart: create, 3 parts, complete (${store.requests - before} requests)`);
    t.equal(await store.put('chunked', body(data), {}), data.length);
    const whole = await readAll(await store.get('large', 0, data.length - 1));
    t.ok(whole.equals(data), 'same bytes');
    const mid = await readAll(await store.get('chunked', 8 * 1024 * 1024 - 5, 8 * 1024 * 1024 + 5));
    t.ok(mid.equals(data.subarray(8 * 1024 * 1024 - 5, 8 * 1024 * 1024 + 6)), 'range across a part boundary');
    t.same(await pendingUploads(), [], 'no multipart upload left open');
  });

  t.test('a body longer than announced is stored whole (a small first buffer grows)', async (t) => {
    // 100 bytes announced as 10 (one part); 9 MiB announced as 4 KiB (past one part: multipart).
    for (const [bytes, announced] of [[100, 10], [9 * 1024 * 1024, 4096]] as const) {
      const data = randomBytes(bytes);
      const key = `longer-${bytes}`;
      t.equal(await store.put(key, Readable.from([data.subarray(0, 7), data.subarray(7)]), { expectedLength: announced }), bytes, `${bytes} bytes announced as ${announced}: all counted`);
      t.ok((await store.getAll(key)).equals(data), `${bytes} bytes announced as ${announced}: every byte stored`);
      await store.deleteMany([key]);
    }
  });

  t.test('small uploads in flight hold memory for their announced size, not a whole part', async (t) => {
    // 16 uploads of 4 KiB announced, each body sent but not ended: every upload has its buffer.
    const bodies = Array.from({ length: 16 }, () => new PassThrough());
    const before = process.memoryUsage().arrayBuffers;
    const uploads = bodies.map((b, i) => store.put(`inflight-${i}`, b, { expectedLength: 4096 }));
    for (const b of bodies) b.write(Buffer.alloc(4096, 1));
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    const held = process.memoryUsage().arrayBuffers - before;
    for (const b of bodies) b.end();
    t.same(await Promise.all(uploads), bodies.map(() => 4096), 'every upload done');
    // An 8 MiB part buffer each would be 128 MiB.
    t.ok(held < 8 * 1024 * 1024, `16 uploads of 4 KiB in flight hold ${(held / 1024).toFixed(0)} KiB of buffers (less than 8 MiB)`);
    await store.deleteMany(bodies.map((_, i) => `inflight-${i}`));
  });

  t.test('a failed upload leaves nothing', async (t) => {
    const data = randomBytes(10 * 1024 * 1024);
    await t.rejects(store.put('short-small', body(data.subarray(0, 100)), { expectedLength: 200 }), new DavError(400, 'body has 100 bytes, 200 were announced'));
    const short = store.put('short-big', body(data), { expectedLength: data.length + 1 });
    t.equal(await statusOf(short), 400, 'a short multipart body is refused');
    t.equal(await statusOf(store.put('too-big', body(data), { maxBytes: 1024 * 1024 })), 413);
    await t.rejects(store.put('cut', body(data, true), { expectedLength: 20 * 1024 * 1024 }), ClientGoneError);
    await t.rejects(store.put('cut-small', body(data.subarray(0, 1000), true), {}), ClientGoneError);
    const left = await keys(store);
    for (const k of ['short-small', 'short-big', 'too-big', 'cut', 'cut-small']) t.notOk(left.includes(k), `nothing at ${k}`);
    t.same(await pendingUploads(), [], 'multipart uploads aborted');
  });

  t.test('list and delete many', async (t) => {
    t.same(await keys(store), ['chunked', 'large', 'small']);
    await store.deleteMany(['chunked', 'large', 'missing']);
    t.same(await keys(store), ['small']);
    await store.deleteMany(['small']);
    t.same(await keys(store), []);
  });

  t.test('start-up check names the problem', async (t) => {
    const missing = new S3BlobStore({ ...settings, bucket: 'no-such-bucket' }, { region: s3.region, credentials });
    await t.rejects(missing.check(), /does not exist/);
    missing.close();
    const wrong = new S3BlobStore(settings, { region: s3.region, credentials: { ...credentials, secretAccessKey: 'wrong' } });
    await t.rejects(wrong.check(), /access denied/);
    wrong.close();
    const nowhere = new S3BlobStore({ ...settings, endpoint: 'http://127.0.0.1:9' }, { region: s3.region, credentials, maxAttempts: 1 });
    await t.rejects(nowhere.check(), /unreachable/);
    t.equal(await statusOf(nowhere.getAll('x')), 503, 'run-time failures are 503');
    nowhere.close();
  });
});
