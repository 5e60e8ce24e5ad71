/**
 * A big GET in object-storage mode is read from S3 as consecutive ranges, a window of them in
 * flight (src/blobs/s3/ranged-read.ts). Against a real radosgw:
 * - a blob of 3 ranges + 1 byte comes back byte for byte, in as many GetObject requests as ranges
 *   (radosgw's own counter), READ_WINDOW of them open at once, and while the client pauses no
 *   more than the 1 MiB read ahead of the range being sent held in memory;
 * - Range requests (RFC 9110 §14) inside one range, across a range boundary and over several
 *   ranges get exactly their bytes;
 * - a client that leaves mid-GET leaves no S3 request open, and the server serves on;
 * - a client that pauses longer than --s3-timeout still gets every byte (ranges asked for again);
 * - a range that fails (the object deleted under the reader) cuts the response short (never a
 *   complete-looking body) and the server serves on.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { bodyChunks } from '../../src/blobs/s3/direct-get.js';
import { rangedReadBuffered } from '../../src/blobs/s3/ranged-read.js';
import { READ_RANGE, READ_WINDOW, s3ReadsOpen } from '../../src/blobs/s3/s3-blob-store.js';
import { objectStorageUnavailable, startEngines, startObjectStorageServer } from '../helpers/object-storage.js';

const SIZE = 3 * READ_RANGE + 1;
const content = randomBytes(SIZE);

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The response ended with every promised byte (false: the connection was cut). */
  complete: boolean;
}

/**
 * A GET on its own connection. `pauseAfter` bytes in, the reading stops until `resume` resolves
 * (a slow client); `leaveAfter` bytes in, the client goes away.
 */
function get(origin: string, urlPath: string, headers: Record<string, string> = {}, how: { pauseAfter?: number; resume?: () => Promise<void>; leaveAfter?: number } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${origin}${urlPath}`, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let paused = false;
      const done = (complete: boolean) => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), complete });
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        received += c.length;
        if (how.leaveAfter !== undefined && received >= how.leaveAfter) {
          req.destroy();
          done(false);
        } else if (how.pauseAfter !== undefined && received >= how.pauseAfter && !paused) {
          paused = true;
          res.pause();
          void how.resume!().then(() => res.resume());
        }
      });
      res.on('end', () => done(res.complete));
      res.on('aborted', () => done(false));
      res.on('error', () => done(false));
    });
    req.on('error', (err) => (how.leaveAfter === undefined ? resolve({ status: 0, headers: {}, body: Buffer.alloc(0), complete: false }) : reject(err)));
  });
}

/** Resolves once no GetObject of this process is open (rejects after `ms`). */
async function noReadOpen(ms = 10_000): Promise<number> {
  for (const until = Date.now() + ms; s3ReadsOpen() > 0 && Date.now() < until; ) await sleep(20);
  return s3ReadsOpen();
}

t.test('big GETs from object storage', { skip: objectStorageUnavailable(t) }, async (t) => {
  const engines = await startEngines(t);
  const server = await startObjectStorageServer(t, engines);
  const prefix = server.config.s3Prefix;
  t.equal((await server.request('PUT', '/big.bin', { body: content })).status, 201);

  t.test('the whole blob, byte for byte, one request per range, the read-ahead within the window', async (t) => {
    const before = await engines.s3.requests();
    let [peak, open] = [0, 0];
    const sampler = setInterval(() => {
      peak = Math.max(peak, rangedReadBuffered());
      open = Math.max(open, s3ReadsOpen());
    }, 5);
    // A slow client: the read-ahead fills up while it pauses.
    const got = await get(server.origin, '/big.bin', {}, { pauseAfter: 1024 * 1024, resume: () => sleep(1500) });
    clearInterval(sampler);
    t.equal(got.status, 200);
    t.equal(got.headers['content-length'], String(SIZE));
    t.ok(got.complete && got.body.equals(content), 'every byte, in order');
    t.equal((await engines.s3.requests()) - before, 4, 'four ranged GetObjects: 3 ranges + 1 byte');
    t.equal(open, READ_WINDOW, `${READ_WINDOW} ranges in flight at once`);
    // The range being sent holds up to 1 MiB (+ one socket read); the ones ahead wait in their sockets.
    const bound = 2 * 2 ** 20;
    t.ok(peak > 0 && peak <= bound, `bytes held while the client paused: ${(peak / 2 ** 20).toFixed(1)} MiB ≤ ${bound / 2 ** 20} MiB`);
    t.equal(await noReadOpen(), 0, 'no S3 request left open');
    t.equal(rangedReadBuffered(), 0, 'nothing left buffered');
  });

  t.test('Range requests inside, across and over several ranges', async (t) => {
    const cases: [string, number, number][] = [
      ['inside the first range', 100, 199],
      ['across the first boundary', READ_RANGE - 10, READ_RANGE + 9],
      ['over several ranges', 1000, 2 * READ_RANGE + 5000],
      ['the last byte alone', SIZE - 1, SIZE - 1],
      ['from the middle to the end', READ_RANGE + 7, SIZE - 1],
    ];
    for (const [what, start, end] of cases) {
      const got = await get(server.origin, '/big.bin', { range: `bytes=${start}-${end}` });
      t.equal(got.status, 206, what);
      t.equal(got.headers['content-range'], `bytes ${start}-${end}/${SIZE}`, `${what}: Content-Range`);
      t.ok(got.complete && got.body.equals(content.subarray(start, end + 1)), `${what}: exactly its bytes`);
    }
    const suffix = await get(server.origin, '/big.bin', { range: 'bytes=-5' });
    t.same([suffix.status, suffix.body], [206, content.subarray(SIZE - 5)], 'a suffix range');
    t.equal(await noReadOpen(), 0, 'no S3 request left open');
  });

  t.test('GETs side by side each get their own bytes while the read buffers are used again', async (t) => {
    // The store's bytes are read into pooled buffers given back once the client's socket took
    // them (src/blobs/s3/direct-get.ts, src/core/recycled-buffers.ts): one given back too early
    // would show here as another file's bytes.
    const MiB = 2 ** 20;
    const files = [randomBytes(READ_RANGE + 3 * MiB + 5), randomBytes(2 * READ_RANGE + 17), randomBytes(5 * MiB)];
    for (const [i, f] of files.entries()) t.equal((await server.request('PUT', `/side-${i}.bin`, { body: f })).status, 201);
    const before = { ...bodyChunks.stats };
    const gets: Promise<[Got, Buffer, string]>[] = [];
    for (let round = 0; round < 2; round++) {
      for (const [i, f] of files.entries()) {
        const slow = round === 0 && i === 1 ? { pauseAfter: 3 * MiB, resume: () => sleep(300) } : {};
        gets.push(get(server.origin, `/side-${i}.bin`, {}, slow).then((got) => [got, f, `file ${i}, round ${round}`]));
      }
    }
    for (const [got, f, what] of await Promise.all(gets)) t.ok(got.complete && got.body.equals(f), `${what}: its own bytes, whole`);
    const taken = bodyChunks.stats.taken - before.taken;
    const allocated = bodyChunks.stats.allocated - before.allocated;
    t.ok(bodyChunks.stats.returned - before.returned > 0, 'read buffers came back');
    t.ok(allocated < taken / 2, `and were used again (${allocated} allocated for ${taken} taken)`);
    t.equal(await noReadOpen(), 0, 'no S3 request left open');
  });

  t.test('a client that leaves mid-GET leaves no S3 request open', async (t) => {
    for (const leaveAfter of [64 * 1024, READ_RANGE + 1024 * 1024]) {
      const got = await get(server.origin, '/big.bin', {}, { leaveAfter });
      t.notOk(got.complete, `left after ${leaveAfter} bytes`);
      t.equal(await noReadOpen(), 0, 'every GetObject ended');
      t.equal(rangedReadBuffered(), 0, 'nothing left buffered');
    }
    const again = await get(server.origin, '/big.bin');
    t.ok(again.complete && again.body.equals(content), 'the server serves on');
  });

  t.test('a client that pauses longer than the store timeout still gets every byte', async (t) => {
    // --s3-timeout 1: the paused ranges' connections time out (the one being sent included) and
    // are asked for again from where they stopped when the client reads on.
    const patient = await startObjectStorageServer(t, engines, { s3Timeout: 1 });
    t.equal((await patient.request('PUT', '/big.bin', { body: content })).status, 201);
    const before = await engines.s3.requests();
    const got = await get(patient.origin, '/big.bin', {}, { pauseAfter: 1024 * 1024, resume: () => sleep(3500) });
    t.equal(got.status, 200);
    t.ok(got.complete && got.body.equals(content), 'every byte, in order');
    t.ok((await engines.s3.requests()) - before > 4, 'some ranges were asked for again');
    t.equal(await noReadOpen(), 0, 'no S3 request left open');
  });

  t.test('a range that fails cuts the response short', async (t) => {
    const before = new Set(await engines.objects(prefix));
    t.equal((await server.request('PUT', '/doomed.bin', { body: content })).status, 201);
    const doomed = (await engines.objects(prefix)).filter((k) => !before.has(k));
    t.equal(doomed.length, 1, 'its object');
    t.equal((await server.request('PUT', '/other.bin', { body: Buffer.from('x') })).status, 201);
    // Its object is deleted while the GET waits on a paused client: the third range fails.
    const got = await get(server.origin, '/doomed.bin', {}, {
      pauseAfter: 1024 * 1024,
      resume: async () => {
        await engines.s3.client.send(new DeleteObjectCommand({ Bucket: engines.s3.bucket, Key: doomed[0] }));
      },
    });
    t.equal(got.status, 200, 'the headers were sent before the failure');
    t.notOk(got.complete, 'the body is cut, not complete-looking');
    t.ok(got.body.length < SIZE, `${got.body.length} of ${SIZE} bytes`);
    t.equal(await noReadOpen(), 0, 'no S3 request left open');
    t.equal(rangedReadBuffered(), 0, 'nothing left buffered');
    const gone = await server.request('GET', '/doomed.bin');
    t.ok(gone.status >= 500 && gone.status < 600, `a new GET gets a clear status (${gone.status})`);
    t.equal((await server.request('GET', '/other.bin')).body, 'x', 'the server serves on');
  });
});
