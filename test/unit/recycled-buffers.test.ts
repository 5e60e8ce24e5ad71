/**
 * RecycledBuffers (src/core/recycled-buffers.ts): a buffer goes back to its pool only once it is
 * sealed and every view lent out came back; a view kept (never given back) keeps it out for good;
 * giving back what was not lent, or views of other memory, changes nothing; the pool keeps at most
 * its limit. And relayInBatches (src/http/reply-body.ts) gives a batch back only once the socket
 * took it (its write callback), never when the write failed.
 */
import t from 'tap';
import { Readable, Writable } from 'node:stream';
import { RecycledBuffers, giveBack, lent, seal } from '../../src/core/recycled-buffers.js';
import { relayInBatches } from '../../src/http/reply-body.js';

t.test('a buffer returns once sealed and all its views are back', async (t) => {
  const pool = new RecycledBuffers(1024, 4);
  const a = pool.take();
  const views = [a.subarray(0, 100), a.subarray(100, 600), a.subarray(600)];
  for (const v of views) lent(v);
  giveBack(views[0]!);
  giveBack(views[1]!);
  seal(a);
  t.equal(pool.held, 0, 'sealed, one view still out: not back');
  t.not(pool.take().buffer, a.buffer, 'a take meanwhile gets other memory');
  giveBack(views[2]!);
  t.equal(pool.held, 1, 'the last view back: in the pool');
  t.equal(pool.take().buffer, a.buffer, 'and taken again');
  t.equal(pool.stats.allocated, 2);
});

t.test('views back before the seal: it returns at the seal', async (t) => {
  const pool = new RecycledBuffers(64, 4);
  const a = pool.take();
  const v = a.subarray(0, 10);
  lent(v);
  giveBack(v);
  t.equal(pool.held, 0, 'not sealed: the producer may still write into it');
  seal(a);
  t.equal(pool.held, 1);
  seal(a);
  t.equal(pool.stats.returned, 1, 'sealing twice returns it once');
});

t.test('a view never given back keeps its buffer out; foreign and extra give-backs change nothing', async (t) => {
  const pool = new RecycledBuffers(64, 4);
  const a = pool.take();
  const kept = a.subarray(0, 32);
  const other = a.subarray(32);
  lent(kept);
  lent(other);
  seal(a);
  giveBack(other);
  giveBack(other); // once too often: must not count for `kept`
  giveBack(Buffer.alloc(64)); // not from a pool
  giveBack(Buffer.from('x')); // a view of Node's shared pool
  t.equal(pool.held, 0, 'the kept view still holds it');
  giveBack(kept);
  t.equal(pool.held, 1);
});

t.test('the pool keeps at most its limit', async (t) => {
  const pool = new RecycledBuffers(16, 2);
  const taken = [pool.take(), pool.take(), pool.take()];
  for (const b of taken) seal(b);
  t.equal(pool.held, 2);
  t.equal(pool.stats.returned, 3);
});

/** A writable whose writes complete when `release()` is called (or fail with `fail`). */
function heldWritable() {
  const pending: ((err?: Error | null) => void)[] = [];
  const stream = new Writable({
    highWaterMark: 1 << 30,
    writev(chunks, callback) {
      pending.push(callback);
    },
    write(chunk, _enc, callback) {
      pending.push(callback);
    },
  });
  return {
    stream,
    release: (err?: Error) => {
      for (const cb of pending.splice(0)) cb(err ?? null);
    },
    pending: () => pending.length,
  };
}

t.test('relayInBatches gives a batch back only once the socket took it', async (t) => {
  const pool = new RecycledBuffers(256 * 1024, 8);
  const buffers = [pool.take(), pool.take(), pool.take(), pool.take(), pool.take()];
  const views: Buffer[] = [];
  for (const b of buffers) {
    for (let i = 0; i < 4; i++) {
      const v = b.subarray(i * 65_536, (i + 1) * 65_536);
      lent(v);
      views.push(v);
    }
    seal(b);
  }
  const out = heldWritable();
  const done = relayInBatches(Readable.from(views, { objectMode: false }), out.stream);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(out.pending() > 0, 'writes in flight');
  t.equal(pool.held, 0, 'nothing back while the writes are pending');
  out.release();
  await new Promise((resolve) => setTimeout(resolve, 20));
  out.release();
  await done;
  t.equal(pool.held, 5, 'every buffer back once its bytes were written');
});

t.test('a failed write gives nothing back', async (t) => {
  const pool = new RecycledBuffers(65_536, 8);
  const b = pool.take();
  const v = b.subarray(0);
  lent(v);
  seal(b);
  const out = heldWritable();
  out.stream.on('error', () => undefined);
  const done = relayInBatches(Readable.from([v], { objectMode: false }), out.stream).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 20));
  out.release(new Error('socket gone'));
  await done;
  t.equal(pool.held, 0, 'the failed write may still have held the bytes: left to the collector');
});
