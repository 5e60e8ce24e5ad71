/**
 * The 207 body writer (src/http/reply-body.ts): small bodies go out whole with a length, big ones
 * in chunks, and a failure before anything went out is still answered as an error. (A failure
 * after the first chunks: test/object-storage/listing.test.ts, through the whole server.)
 */
import t from 'tap';
import http from 'node:http';
import Fastify from 'fastify';
import { beginMultistatus } from '../../src/http/reply-body.js';

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
