/**
 * RangedRead (src/blobs/s3/ranged-read.ts) over a source whose ranges are streams of a known
 * buffer, delivered in small pieces and out of order: the bytes come out in order and complete,
 * no more than `window` ranges are ever asked for at once, a range that breaks after some bytes
 * is asked for again from there, one that ends short or fails for good ends the read with an
 * error, and destroying the read aborts every range in flight.
 * (test/object-storage/get-ranges.test.ts does the same against radosgw through HTTP.)
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { RangedRead, rangedReadBuffered, type OpenRange } from '../../src/blobs/s3/ranged-read.js';

const data = randomBytes(100_003);

interface Source {
  open: OpenRange;
  /** Ranges asked for at once, at the most. */
  peak(): number;
  /** Requests made. */
  requests(): number;
  /** Ranges whose signal was aborted. */
  aborted(): number;
}

/** Ranges of `data`, each answered after a delay (later ranges sooner), sent in 1,000-byte pieces. */
function source(options: { shortAt?: number; failAt?: number; dropOnceAt?: number } = {}): Source {
  let open = 0;
  let dropped = false;
  let requests = 0;
  let peak = 0;
  let aborted = 0;
  return {
    peak: () => peak,
    requests: () => requests,
    aborted: () => aborted,
    async open(start, end, signal) {
      open++;
      requests++;
      peak = Math.max(peak, open);
      signal.addEventListener('abort', () => aborted++);
      await sleep(Math.max(1, 20 - start / 10_000));
      const last = options.shortAt !== undefined && start <= options.shortAt && options.shortAt <= end ? options.shortAt - 1 : end;
      let failAt = options.failAt !== undefined && start <= options.failAt && options.failAt <= end ? options.failAt : undefined;
      // The first request for the range holding dropOnceAt breaks after its first piece (as a
      // store closing a connection left waiting); asked for again, it is served.
      if (!dropped && options.dropOnceAt !== undefined && start <= options.dropOnceAt && options.dropOnceAt <= end) [dropped, failAt] = [true, start + 1000];
      const body = Readable.from(
        (async function* () {
          for (let i = start; i <= last; i += 1000) {
            if (failAt !== undefined && i + 1000 > failAt) throw new Error('the store failed');
            yield data.subarray(i, Math.min(last + 1, i + 1000));
            await sleep(0);
          }
        })(),
      );
      // In flight until its last byte arrived (or it was cut off).
      let over = false;
      const done = () => {
        if (!over) open--;
        over = true;
      };
      body.once('end', done).once('close', done);
      return body;
    },
  };
}

async function readAll(read: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of read) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

t.test('every byte in order, at most the window in flight', async (t) => {
  for (const [start, end, rangeSize, window, aheadBytes] of [
    [0, data.length - 1, 10_000, 3, 10_000],
    [17, 55_555, 7_000, 2, 0],
    [0, data.length - 1, 33_334, 4, 0],
    [5, data.length - 1, 9_999, 3, 2_500],
  ] as const) {
    const s = source();
    const read = new RangedRead(s.open, start, end, { rangeSize, window, aheadBytes });
    await read.ready();
    t.ok((await readAll(read)).equals(data.subarray(start, end + 1)), `${start}-${end} in ranges of ${rangeSize}, ${window} at once, ${aheadBytes} bytes read ahead`);
    t.ok(s.peak() <= window, `at most ${window} ranges at once (${s.peak()})`);
  }
  t.equal(rangedReadBuffered(), 0, 'nothing left buffered');
});

t.test('a range that ends short or fails is an error, never a short read', async (t) => {
  for (const [what, options] of [
    ['short', { shortAt: 45_000 }],
    ['failing', { failAt: 61_500 }],
  ] as const) {
    const read = new RangedRead(source(options).open, 0, data.length - 1, { rangeSize: 10_000, window: 3, aheadBytes: 10_000 });
    await read.ready();
    await t.rejects(readAll(read), `a ${what} range ends the read with an error`);
  }
  t.equal(rangedReadBuffered(), 0, 'nothing left buffered');
});

t.test('a range ahead that breaks while it waits is asked for again when its turn comes', async (t) => {
  const s = source({ dropOnceAt: 35_000 });
  const read = new RangedRead(s.open, 0, data.length - 1, { rangeSize: 10_000, window: 3, aheadBytes: 0 });
  await read.ready();
  t.ok((await readAll(read)).equals(data), 'every byte in order');
  t.equal(s.requests(), 12, 'eleven ranges, one of them asked for twice');
});

t.test('the range being emitted that breaks after some bytes is asked for again from where it stopped', async (t) => {
  for (const [where, at] of [['the first range', 5_000], ['a later range', 65_000]] as const) {
    const s = source({ dropOnceAt: at });
    const read = new RangedRead(s.open, 0, data.length - 1, { rangeSize: 10_000, window: 1, aheadBytes: 0 });
    await read.ready();
    t.ok((await readAll(read)).equals(data), `${where}: every byte in order`);
    t.equal(s.requests(), 12, `${where}: eleven ranges, one of them asked for twice`);
  }
  t.equal(rangedReadBuffered(), 0, 'nothing left buffered');
});

t.test('a first range that cannot be opened rejects ready()', async (t) => {
  const read = new RangedRead(() => Promise.reject(new Error('no such blob')), 0, 99, { rangeSize: 10, window: 2, aheadBytes: 10 });
  await t.rejects(read.ready(), /no such blob/);
});

t.test('destroying the read aborts every range in flight', async (t) => {
  const s = source();
  const read = new RangedRead(s.open, 0, data.length - 1, { rangeSize: 10_000, window: 3, aheadBytes: 10_000 });
  await read.ready();
  read.destroy();
  await sleep(50);
  t.equal(s.aborted(), 3, 'the three ranges in flight were aborted');
  t.equal(rangedReadBuffered(), 0, 'nothing left buffered');
});
