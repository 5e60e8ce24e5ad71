/**
 * The 207 body writer (src/http/reply-body.ts): small bodies go out whole with a length, big ones
 * in chunks, and a failure before anything went out is still answered as an error. (A failure
 * after the first chunks: test/object-storage/listing.test.ts, through the whole server.) And the
 * relay of a streamed file body in batches (relayInBatches): every byte in order, a slow store's
 * bytes not held back, backpressure, a failing store and a client that leaves. And the capture and
 * replay of a body's bytes that the PROPFIND listing cache uses.
 */
import t from 'tap';
import http from 'node:http';
import Fastify from 'fastify';
import { once } from 'node:events';
import { PassThrough, Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { beginMultistatus, relayInBatches } from '../../src/http/reply-body.js';

interface Outcome {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body: string;
  /** The body arrived whole (the response's end came). */
  complete: boolean;
  /** The connection was cut before the end. */
  cut: boolean;
}

/** GETs `path`, waiting at most 10 s for the body's end or the connection's cut. */
function fetchOutcome(port: number, path: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const out: Outcome = { body: '', complete: false, cut: false };
    const timer = setTimeout(() => reject(new Error('the response neither ended nor was cut within 10 s')), 10_000);
    const done = () => {
      clearTimeout(timer);
      resolve(out);
    };
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      out.status = res.statusCode;
      out.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (c: string) => (out.body += c));
      res.on('end', () => {
        out.complete = res.complete;
        done();
      });
      res.on('error', () => {
        out.cut = true;
        done();
      });
    });
    req.on('error', () => {
      out.cut = true;
      done();
    });
  });
}

/** A server with one route writing `responses` responses of ~100 bytes, then failing (or ending). */
async function serve(t: { teardown(fn: () => unknown): void }, responses: number, fail: boolean): Promise<number> {
  const app = Fastify();
  // As the app's handler does (app.ts): nothing more to say once the answer has begun.
  app.setErrorHandler(async (err: Error, _req, reply) => {
    if (reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    return reply.code(503).header('content-type', 'text/plain').send(`failed: ${err.message}`);
  });
  app.get('/listing', async (_req, reply) => {
    const ms = await beginMultistatus(reply);
    try {
      for (let i = 0; i < responses; i++) await ms.escapedResponse(`/f/${String(i).padStart(6, '0')}`, '<D:propstat><D:prop/><D:status>HTTP/1.1 200 OK</D:status></D:propstat>');
      if (fail) throw new Error('the listing broke off');
      await ms.end();
    } catch (err) {
      throw err;
    }
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  return (app.server.address() as { port: number }).port;
}

t.test('a small 207 goes out whole, with its length', async (t) => {
  const out = await fetchOutcome(await serve(t, 10, false), '/listing');
  t.equal(out.status, 207);
  t.equal(out.headers?.['content-length'], String(Buffer.byteLength(out.body)));
  t.equal(out.body.match(/<D:response>/g)?.length, 10);
  t.ok(out.complete && out.body.endsWith('</D:multistatus>\n'));
});

t.test('a big 207 is streamed in chunks and ends well-formed', async (t) => {
  const out = await fetchOutcome(await serve(t, 5000, false), '/listing');
  t.equal(out.status, 207);
  t.equal(out.headers?.['transfer-encoding'], 'chunked');
  t.equal(out.body.match(/<D:response>/g)?.length, 5000);
  t.ok(out.complete && out.body.endsWith('</D:multistatus>\n'));
});

t.test('a failure before anything was sent is answered as an error', async (t) => {
  const out = await fetchOutcome(await serve(t, 10, true), '/listing');
  t.equal(out.status, 503);
  t.equal(out.body, 'failed: the listing broke off');
});

/** A socket-like sink: records what it is given, in how many writes, and takes it after `delayMs`. */
function sink(delayMs = 0, highWaterMark = 16 * 1024) {
  const got: Buffer[] = [];
  let writes = 0;
  const stream = new Writable({
    highWaterMark,
    writev(chunks, cb) {
      writes++;
      for (const { chunk } of chunks) got.push(chunk as Buffer);
      setTimeout(cb, delayMs);
    },
    write(chunk, _enc, cb) {
      writes++;
      got.push(chunk as Buffer);
      setTimeout(cb, delayMs);
    },
  });
  return { stream, bytes: () => Buffer.concat(got), writes: () => writes };
}

const pattern = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

t.test('relayInBatches: every byte in order, 64 KiB reads written in far fewer writes', async (t) => {
  const chunks = Array.from({ length: 64 }, (_, i) => pattern(64 * 1024, i));
  const out = sink();
  await relayInBatches(Readable.from(chunks, { objectMode: false }), out.stream);
  t.ok(Buffer.concat(chunks).equals(out.bytes()), '4 MiB relayed byte for byte');
  t.ok(out.stream.writableFinished, 'the response was ended');
  t.ok(out.writes() <= 8, `${out.writes()} writes for 64 chunks`);
});

t.test('relayInBatches: a slow store\'s bytes go on without waiting for a batch to fill', async (t) => {
  const body = new PassThrough();
  const out = sink();
  const done = relayInBatches(body, out.stream);
  body.write(pattern(1000, 1));
  await sleep(100);
  t.equal(out.bytes().length, 1000, 'the first 1,000 bytes were sent after a few ms, not held for more');
  body.end(pattern(10, 2));
  await done;
  t.equal(out.bytes().length, 1010);
});

t.test('relayInBatches: a slow client holds the store back (backpressure)', async (t) => {
  let produced = 0;
  const body = new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (produced >= 32 * 1024 * 1024) return void this.push(null);
      produced += 64 * 1024;
      this.push(pattern(64 * 1024, 3));
    },
  });
  const out = sink(20);
  const done = relayInBatches(body, out.stream);
  await sleep(300);
  // At 20 ms per batch, ~15 batches of 1 MiB can have gone in 300 ms; without backpressure all 32 MiB would be read.
  t.ok(produced < 24 * 1024 * 1024, `${produced >> 20} MiB read from the store while the client took its time`);
  await done;
  t.equal(out.bytes().length, 32 * 1024 * 1024);
});

t.test('relayInBatches: a store that fails mid-body rejects, nothing is ended', async (t) => {
  const body = new PassThrough();
  const out = sink();
  const done = relayInBatches(body, out.stream);
  body.write(pattern(2000, 4));
  body.destroy(new Error('the store went away'));
  await t.rejects(done, /the store went away/);
  t.notOk(out.stream.writableEnded, 'a body whose length was promised is not ended short');
});

t.test('relayInBatches: a client that leaves ends the store\'s stream', async (t) => {
  const body = new PassThrough();
  const out = sink();
  const done = relayInBatches(body, out.stream);
  body.write(pattern(2000, 5));
  out.stream.destroy();
  await t.rejects(done, { code: 'ERR_STREAM_PREMATURE_CLOSE' });
  if (!body.destroyed) await once(body, 'close');
  t.ok(body.destroyed, 'the store\'s stream was destroyed (its requests aborted)');
});

/**
 * Capture and replay (the PROPFIND listing cache): what is written between startCapture and
 * takeCapture comes back exactly, whether the body stayed in one buffer or went out in chunks
 * (texts of every size, one past a chunk, non-ASCII), and writing those bytes again into another
 * answer gives the same body; past its limit a capture gives nothing.
 */
t.test('capture and replay give the same bytes', async (t) => {
  const { ReplyBody, XML_CONTENT_TYPE } = await import('../../src/http/reply-body.js');
  const texts = (count: number): string[] =>
    Array.from({ length: count }, (_, i) => (i % 97 === 5 ? 'é€'.repeat(40_000) : `<D:response><D:href>/f/${i}-ü</D:href>${'x'.repeat(i % 300)}</D:response>`));
  const captures = new Map<string, Buffer[] | undefined>();
  const app = Fastify();
  app.get('/write/:count', async (req, reply) => {
    const count = Number((req.params as { count: string }).count);
    const limit = Number((req.query as { limit?: string }).limit ?? Infinity);
    const body = new ReplyBody(reply, 207, XML_CONTENT_TYPE);
    await body.write('<head>');
    body.startCapture(limit);
    for (const text of texts(count)) await body.write(text);
    captures.set(req.url, body.takeCapture());
    await body.write('</tail>');
    body.end();
  });
  app.get('/replay/:count', async (req, reply) => {
    const body = new ReplyBody(reply, 207, XML_CONTENT_TYPE);
    await body.write('<head>');
    await body.writeBytes(captures.get(`/write/${(req.params as { count: string }).count}`)!);
    await body.write('</tail>');
    body.end();
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const port = (app.server.address() as { port: number }).port;
  for (const count of [0, 3, 5000]) {
    const written = await fetchOutcome(port, `/write/${count}`);
    const expected = texts(count).join('');
    t.equal(written.body, `<head>${expected}</tail>`, `${count} texts: the body as written`);
    t.equal(Buffer.concat(captures.get(`/write/${count}`)!).toString('utf8'), expected, `${count} texts: the capture holds exactly what was written in between`);
    const replayed = await fetchOutcome(port, `/replay/${count}`);
    t.equal(replayed.body, written.body, `${count} texts: the replayed body is the same`);
    t.ok(replayed.complete, `${count} texts: the replayed body ends`);
  }
  // Past its limit a capture stops (nothing held for an answer too big to keep); the body is whole.
  const limited = await fetchOutcome(port, '/write/5000?limit=65536');
  t.equal(limited.body, `<head>${texts(5000).join('')}</tail>`, 'past the limit: the body as written');
  t.equal(captures.get('/write/5000?limit=65536'), undefined, 'past the limit: no capture');
  await fetchOutcome(port, '/write/3?limit=65536');
  t.equal(Buffer.concat(captures.get('/write/3?limit=65536')!).toString('utf8'), texts(3).join(''), 'within the limit: the capture');
});
