/**
 * DirectGetHandler (src/blobs/s3/direct-get.ts) against a scripted store on loopback (a raw TCP
 * server, so that every byte of the answers is ours to choose): a 206 body comes out whole and its
 * connection is reused; the request goes out as the SDK signed it; an error answer is read here
 * (the S3 client parses and retries it as ever); a redirect, a chunked body or a head that does not
 * parse is sent again through the SDK's own handler and reaches the caller as that handler gives
 * it; a body cut short, bytes past the body, an idle connection closed by the store, a reused
 * connection that dies before answering, silence past the timeout, an abort and an unread body
 * (backpressure) each behave as they must; other requests are never taken. Then the whole S3
 * client: GetObject with a Range through the handler, and the store's errors.
 * (test/contract/blob-store.test.ts and test/object-storage/ run it against radosgw.)
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { HttpRequest } from '@smithy/core/protocols';
import { DirectGetHandler, bodyChunks, directGetStats } from '../../src/blobs/s3/direct-get.js';
import { giveBack } from '../../src/core/recycled-buffers.js';

interface Exchange {
  /** The request's head as received (latin1). */
  readonly head: string;
  /** Number of the connection it came on (1, 2, …). */
  readonly connection: number;
  readonly socket: net.Socket;
}

/** A store whose answer to each request `answer` writes by hand; it records what it received. */
async function scriptedStore(answer: (exchange: Exchange, index: number) => void) {
  const exchanges: Exchange[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = '';
    socket.on('data', (data) => {
      pending += data.toString('latin1');
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        const exchange = { head: pending.slice(0, end), connection, socket };
        pending = pending.slice(end + 4);
        exchanges.push(exchange);
        answer(exchange, exchanges.length - 1);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    exchanges,
    connections: () => connections,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

function get(port: number, headers: Record<string, string> = { range: 'bytes=0-99' }, extra: Partial<ConstructorParameters<typeof HttpRequest>[0]> = {}): HttpRequest {
  return new HttpRequest({
    method: 'GET',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port,
    path: '/bucket/some%20key',
    query: { 'x-id': 'GetObject' },
    headers: { host: `127.0.0.1:${port}`, authorization: 'AWS4-HMAC-SHA256 signed', ...headers },
    ...extra,
  });
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** The body of the handler's answer to `request`, read whole. */
async function bodyOf(handler: DirectGetHandler, request: HttpRequest): Promise<Buffer> {
  return readAll((await handler.handle(request)).response.body as Readable);
}

/** Writes `data` as a 206 answer, in pieces of `piece` bytes. */
async function answer206(socket: net.Socket, data: Buffer, piece = 65_536, extraHeaders = ''): Promise<void> {
  socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${data.length}\r\nContent-Range: bytes 0-${data.length - 1}/${data.length}\r\nETag: "e"\r\n${extraHeaders}\r\n`);
  for (let i = 0; i < data.length; i += piece) {
    if (!socket.write(data.subarray(i, i + piece))) await once(socket, 'drain');
  }
}

const counts = () => ({ ...directGetStats });

/** An S3 client of the scripted store, reading through DirectGetHandler. */
function clientOf(port: number, extra: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    requestHandler: new DirectGetHandler(),
    ...extra,
  });
}

t.test('a 206 body comes out whole, the request as signed, and the connection is reused', async (t) => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const store = await scriptedStore(({ socket }) => void answer206(socket, data));
  const handler = new DirectGetHandler({ socketTimeout: 5000 });
  t.teardown(() => (handler.destroy(), store.close()));
  const before = counts();
  for (let i = 0; i < 3; i++) {
    const { response } = await handler.handle(get(store.port));
    t.equal(response.statusCode, 206);
    t.equal(response.headers['content-range'], `bytes 0-${data.length - 1}/${data.length}`);
    t.equal(response.headers['etag'], '"e"');
    t.ok((await readAll(response.body as Readable)).equals(data), `body ${i + 1} byte for byte`);
  }
  t.equal(store.connections(), 1, 'one connection for the three');
  t.equal(directGetStats.direct - before.direct, 3);
  t.equal(directGetStats.passedOn - before.passedOn, 0);
  const lines = store.exchanges[0]!.head.split('\r\n');
  t.equal(lines[0], 'GET /bucket/some%20key?x-id=GetObject HTTP/1.1');
  t.ok(lines.includes(`host: 127.0.0.1:${store.port}`));
  t.ok(lines.includes('range: bytes=0-99'));
  t.ok(lines.includes('authorization: AWS4-HMAC-SHA256 signed'));
});

t.test("a body's buffers are used again once its views are given back, not before", async (t) => {
  const data = randomBytes(3 * 1024 * 1024);
  const store = await scriptedStore(({ socket }) => void answer206(socket, data));
  const handler = new DirectGetHandler();
  t.teardown(() => (handler.destroy(), store.close()));
  const read = async (give: boolean): Promise<Buffer> => {
    const { response } = await handler.handle(get(store.port));
    const views: Buffer[] = [];
    for await (const view of response.body as Readable) views.push(view as Buffer);
    const copy = Buffer.concat(views);
    if (give) for (const v of views) giveBack(v);
    return copy;
  };
  let before = { ...bodyChunks.stats };
  t.ok((await read(false)).equals(data));
  t.equal(bodyChunks.stats.taken - before.taken, 3, 'three 1 MiB buffers');
  t.equal(bodyChunks.stats.returned - before.returned, 0, 'views kept: none back');
  before = { ...bodyChunks.stats };
  t.ok((await read(true)).equals(data));
  t.equal(bodyChunks.stats.returned - before.returned, 3, 'views given back: all three back');
  before = { ...bodyChunks.stats };
  t.ok((await read(true)).equals(data), 'a body read into used buffers is whole');
  t.equal(bodyChunks.stats.allocated - before.allocated, 0, 'and none was allocated for it');
});

t.test('a body whose first bytes come with the head, and an empty one', async (t) => {
  const store = await scriptedStore(({ socket }, i) => {
    if (i === 0) socket.write('HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\n\r\nhello');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  const handler = new DirectGetHandler();
  t.teardown(() => (handler.destroy(), store.close()));
  const first = await handler.handle(get(store.port));
  t.equal((await readAll(first.response.body as Readable)).toString(), 'hello');
  const second = await handler.handle(get(store.port));
  t.equal(second.response.statusCode, 200);
  t.equal((await readAll(second.response.body as Readable)).length, 0);
  t.equal(store.connections(), 1);
});

t.test('an error answer is read here; answers not of the plain shape go through the SDK handler, which sends the request again', async (t) => {
  const error = '<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>';
  const store = await scriptedStore(({ socket, head }) => {
    if (head.includes('kind: error')) socket.write(`HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\nContent-Length: ${error.length}\r\n\r\n${error}`);
    else if (head.includes('kind: redirect')) socket.write(`HTTP/1.1 301 Moved Permanently\r\nContent-Length: ${error.length}\r\n\r\n${error}`);
    else if (head.includes('kind: chunked')) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
    else if (head.includes('kind: folded')) socket.write('HTTP/1.1 206 Partial Content\r\nContent-Length: 2\r\nX-Folded: a\r\n b\r\n\r\nok');
    else if (head.includes('kind: huge')) socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Length: 2\r\nX-Big: ${'x'.repeat(10_000)}\r\nX-Big2: ${'y'.repeat(8_000)}\r\n\r\nok`);
  });
  const handler = new DirectGetHandler();
  t.teardown(() => (handler.destroy(), store.close()));

  let before = counts();
  const { response } = await handler.handle(get(store.port, { range: 'bytes=0-1', kind: 'error' }));
  t.equal(response.statusCode, 404);
  t.equal((await readAll(response.body as Readable)).toString(), error, 'the error body, as the SDK reads it');
  t.equal(directGetStats.passedOn - before.passedOn, 0);
  t.equal(store.exchanges.length, 1, 'asked once');

  before = counts();
  const redirect = await handler.handle(get(store.port, { range: 'bytes=0-1', kind: 'redirect' }));
  t.equal(redirect.response.statusCode, 301);
  t.equal((await readAll(redirect.response.body as Readable)).toString(), error);
  t.equal(directGetStats.passedOn - before.passedOn, 1);
  t.equal(store.exchanges.length, 3, 'a redirect: asked twice, once here, once through node:http');

  before = counts();
  const chunked = await handler.handle(get(store.port, { range: 'bytes=0-10', kind: 'chunked' }));
  t.equal((await readAll(chunked.response.body as Readable)).toString(), 'hello world');
  t.equal(directGetStats.passedOn - before.passedOn, 1);

  before = counts();
  await t.rejects(handler.handle(get(store.port, { range: 'bytes=0-1', kind: 'folded' })), 'node:http refuses obsolete line folding too');
  t.equal(directGetStats.passedOn - before.passedOn, 1);

  before = counts();
  await t.rejects(handler.handle(get(store.port, { range: 'bytes=0-1', kind: 'huge' })), 'a head past 16 KiB: node:http refuses it too');
  t.equal(directGetStats.passedOn - before.passedOn, 1);
  t.equal(directGetStats.direct - before.direct, 0);
});

t.test('requests of another shape are never taken', async (t) => {
  const store = await scriptedStore(({ socket }) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'));
  const handler = new DirectGetHandler();
  t.teardown(() => (handler.destroy(), store.close()));
  const before = counts();
  const withoutRange = await handler.handle(get(store.port, {}));
  t.equal((await readAll(withoutRange.response.body as Readable)).toString(), 'ok');
  const head = await handler.handle(get(store.port, { range: 'bytes=0-1' }, { method: 'HEAD' }));
  (head.response.body as Readable).resume();
  await t.rejects(handler.handle(get(store.port, { range: 'bytes=0-1', evil: 'a\r\nInjected: yes' })), 'a header node:http refuses');
  await t.rejects(handler.handle(get(1, { range: 'bytes=0-1' }, { protocol: 'https:' })), { code: 'ECONNREFUSED' }, 'TLS: through node:https');
  t.equal(directGetStats.passedOn - before.passedOn, 4);
  t.equal(directGetStats.direct - before.direct, 0);
  t.notOk(store.exchanges.some((e) => e.head.includes('Injected')), 'nothing injected reached the store');
});

t.test('a body cut short fails, bytes past a body drop its connection', async (t) => {
  const data = randomBytes(200_000);
  const store = await scriptedStore(({ socket }, i) => {
    if (i === 0) {
      socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${data.length}\r\n\r\n`);
      socket.end(data.subarray(0, 50_000));
    } else if (i === 1) {
      socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${data.length}\r\n\r\n`);
      socket.write(data, () => setTimeout(() => socket.write('unasked'), 20));
    } else void answer206(socket, data);
  });
  const handler = new DirectGetHandler();
  t.teardown(() => (handler.destroy(), store.close()));
  const cut = await handler.handle(get(store.port));
  await t.rejects(readAll(cut.response.body as Readable), /150000 bytes of the body to come/);
  t.ok((await bodyOf(handler, get(store.port))).equals(data));
  await sleep(100);
  t.ok((await bodyOf(handler, get(store.port))).equals(data));
  t.equal(store.connections(), 3, 'the cut connection and the one that said too much were not reused');
});

t.test('a kept-alive connection the store closed: the next request opens another; one that dies before answering is retried once', async (t) => {
  const data = randomBytes(1000);
  const store = await scriptedStore(({ socket }, i) => {
    if (i === 0) void answer206(socket, data).then(() => setTimeout(() => socket.end(), 20));
    else if (i === 2) socket.destroy(); // dies on the reused connection without a word
    else void answer206(socket, data);
  });
  const handler = new DirectGetHandler();
  t.teardown(() => (handler.destroy(), store.close()));
  t.ok((await bodyOf(handler, get(store.port))).equals(data));
  await sleep(100);
  t.ok((await bodyOf(handler, get(store.port))).equals(data));
  t.equal(store.connections(), 2, 'a new connection after the store closed the idle one');
  t.ok((await bodyOf(handler, get(store.port))).equals(data), 'the request that met a dying connection succeeded on a new one');
  t.equal(store.connections(), 3);
  t.equal(store.exchanges.length, 4);
});

t.test('silence past the socket timeout fails the request as the SDK retries it', async (t) => {
  const store = await scriptedStore(() => undefined);
  const handler = new DirectGetHandler({ socketTimeout: 200 });
  t.teardown(() => (handler.destroy(), store.close()));
  const started = Date.now();
  const err = (await handler.handle(get(store.port)).catch((e: Error) => e)) as Error & { code?: string };
  t.type(err, Error);
  t.equal(err.name, 'TimeoutError');
  t.equal(err.code, 'ETIMEDOUT');
  t.ok(Date.now() - started < 3000);
  const refused = (await new DirectGetHandler().handle(get(1)).catch((e: Error) => e)) as Error & { code?: string };
  t.equal(refused.code, 'ECONNREFUSED', 'nothing listening: the connection error');
});

t.test('an abort ends the request, or the body with its connection', async (t) => {
  const data = randomBytes(8 * 1024 * 1024);
  const store = await scriptedStore(({ socket, head }) => {
    if (!head.includes('silent')) void answer206(socket, data).catch(() => undefined);
  });
  const handler = new DirectGetHandler();
  t.teardown(() => (handler.destroy(), store.close()));
  const waiting = new AbortController();
  const pending = handler.handle(get(store.port, { range: 'bytes=0-1', silent: '1' }), { abortSignal: waiting.signal });
  setTimeout(() => waiting.abort(), 50);
  await t.rejects(pending, { name: 'AbortError' });

  const reading = new AbortController();
  const { response } = await handler.handle(get(store.port), { abortSignal: reading.signal });
  const body = response.body as Readable;
  await once(body, 'readable');
  reading.abort();
  await t.rejects(readAll(body), { name: 'AbortError' });
  await sleep(50);
  t.equal(store.exchanges.filter((e) => !e.socket.destroyed).length, 0, 'the store saw both connections close');
});

t.test('an unread body stops reading its socket (backpressure)', async (t) => {
  const data = randomBytes(48 * 1024 * 1024);
  let written = 0;
  const store = await scriptedStore(({ socket }) => {
    socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${data.length}\r\n\r\n`);
    void (async () => {
      for (let i = 0; i < data.length; i += 65_536) {
        const more = socket.write(data.subarray(i, i + 65_536));
        written = i + 65_536;
        if (!more) await once(socket, 'drain');
      }
    })().catch(() => undefined);
  });
  const handler = new DirectGetHandler();
  t.teardown(() => (handler.destroy(), store.close()));
  const { response } = await handler.handle(get(store.port));
  const body = response.body as Readable;
  await sleep(500);
  t.ok(body.readableLength <= 2 * 1024 * 1024, `the body holds ${body.readableLength} bytes unread`);
  t.ok(written < data.length, `the store could write only ${written} of ${data.length} bytes (the kernel's buffers)`);
  t.ok((await readAll(body)).equals(data), 'then read whole');
});

t.test('through the S3 client: GetObject with a Range', async (t) => {
  const data = randomBytes(100_000);
  const store = await scriptedStore(({ socket, head }) => {
    const range = /range: bytes=(\d+)-(\d+)/i.exec(head)!;
    const part = data.subarray(Number(range[1]), Number(range[2]) + 1);
    socket.write(
      `HTTP/1.1 206 Partial Content\r\nContent-Length: ${part.length}\r\nContent-Range: bytes ${range[1]}-${range[2]}/${data.length}\r\nETag: "abc"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    socket.write(part);
  });
  const client = clientOf(store.port);
  t.teardown(() => (client.destroy(), store.close()));
  const before = counts();
  const r = await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'dir/a key', Range: 'bytes=1000-50999' }));
  t.equal(r.ContentRange, `bytes 1000-50999/${data.length}`);
  t.equal(r.ContentLength, 50_000);
  t.equal(r.ETag, '"abc"');
  t.ok(Buffer.from(await r.Body!.transformToByteArray()).equals(data.subarray(1000, 51_000)));
  t.equal(directGetStats.direct - before.direct, 1);
  t.match(store.exchanges[0]!.head, /^GET \/b\/dir\/a%20key\?x-id=GetObject HTTP\/1\.1\r\n/);
  t.match(store.exchanges[0]!.head, /authorization: AWS4-HMAC-SHA256 Credential=k\//i);
});

t.test("through the S3 client: the store's errors as the SDK gives them, retried as it retries", async (t) => {
  const store = await scriptedStore(({ socket, head }) => {
    const [code, status] = head.includes('/b/missing') ? ['NoSuchKey', '404 Not Found'] : ['SlowDown', '503 Slow Down'];
    const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>m</Message><RequestId>r</RequestId></Error>`;
    socket.write(`HTTP/1.1 ${status}\r\nContent-Type: application/xml\r\nContent-Length: ${xml.length}\r\n\r\n${xml}`);
  });
  const client = clientOf(store.port, { maxAttempts: 3, retryMode: 'standard' });
  t.teardown(() => (client.destroy(), store.close()));
  const before = counts();
  await t.rejects(client.send(new GetObjectCommand({ Bucket: 'b', Key: 'missing', Range: 'bytes=0-9' })), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
  t.equal(store.exchanges.length, 1, 'not found: asked once');
  await t.rejects(client.send(new GetObjectCommand({ Bucket: 'b', Key: 'busy', Range: 'bytes=0-9' })), { name: 'SlowDown', $metadata: { httpStatusCode: 503, attempts: 3 } });
  t.equal(store.exchanges.length, 4, 'throttled: asked three times, as the SDK retries');
  t.equal(directGetStats.passedOn - before.passedOn, 0);
  t.equal(store.connections(), 1, 'every answer read to its end: one connection throughout');
});
