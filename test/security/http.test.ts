/**
 * Hostile HTTP framing: request smuggling (Content-Length with Transfer-Encoding and its
 * cousins), unknown and unroutable methods, header floods, slow-loris clients.
 */
import t from 'tap';
import net from 'node:net';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer } from '../helpers/server.js';
import { rawExchange } from './support.js';

const SMUGGLED = 'DELETE /victim.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

t.test('request smuggling: ambiguous framing is refused and the hidden request never runs', async (t) => {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'victim.txt'), 'keep me');
  const head = 'PUT /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n';
  const cases: Array<[string, string]> = [
    ['Content-Length with Transfer-Encoding', `${head}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['Transfer-Encoding with Content-Length', `${head}Transfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['two Content-Lengths', `${head}Content-Length: 0\r\nContent-Length: 44\r\n\r\n${SMUGGLED}`],
    ['Content-Length list', `${head}Content-Length: 0, 44\r\n\r\n${SMUGGLED}`],
    ['signed Content-Length', `${head}Content-Length: +0\r\n\r\n${SMUGGLED}`],
    ['obfuscated Transfer-Encoding', `${head}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['chunked not last', `${head}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['space before the colon', `${head}Transfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['header folding', `${head}Content-Length: 0\r\nX-Folded: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['bare LF line ends', `PUT /a.txt HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 0\nTransfer-Encoding: chunked\n\n0\n\n${SMUGGLED}`],
  ];
  for (const [name, data] of cases) {
    const res = await rawExchange(s.port, data);
    t.same(res.statuses, [400], name);
    t.ok(res.closed, `${name}: connection closed`);
    t.ok(existsSync(path.join(s.root, 'victim.txt')), `${name}: the smuggled DELETE did not run`);
  }
  t.notOk(existsSync(path.join(s.root, 'a.txt')), 'no ambiguous PUT was stored');
});

t.test('unknown methods: 501; WebDAV methods turned off: 405; CONNECT is never tunnelled', async (t) => {
  const s = await startServer(t, { locking: false });
  const ask = (method: string, target = '/') => rawExchange(s.port, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  for (const method of ['POST', 'PATCH', 'TRACE', 'SEARCH', 'REPORT', 'BIND', 'MKCALENDAR', 'ACL', 'PURGE']) {
    t.same((await ask(method)).statuses, [501], method);
  }
  const trace = await ask('TRACE');
  t.notMatch(trace.text, /Host: 127/, 'TRACE does not echo the request');
  for (const method of ['LOCK', 'UNLOCK']) t.same((await ask(method)).statuses, [405], `${method} with locking off`);
  t.same((await ask('BREW')).statuses, [501], 'a method the parser does not know (RFC 9110 §15.6.2)');
  const connect = await ask('CONNECT', '127.0.0.1:22');
  t.notOk(connect.statuses.some((x) => x < 300), 'CONNECT gets no 2xx');
  t.ok(connect.closed, 'and the connection is closed');
});

t.test('header floods: 431 past the limit, the limit is configurable, the server stays up', async (t) => {
  const s = await startServer(t);
  const big = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`;
  t.same((await rawExchange(s.port, big)).statuses, [431], 'one 20 KB header');
  let many = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n';
  for (let i = 0; i < 5_000; i++) many += `X-H${i}: v\r\n`;
  t.same((await rawExchange(s.port, `${many}\r\n`)).statuses, [431], '5,000 headers');
  t.same((await rawExchange(s.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).statuses, [200], 'still serving');

  const roomy = await startServer(t, { maxHeaderBytes: 64 * 1024 });
  t.same((await rawExchange(roomy.port, big)).statuses, [200], 'a larger --max-header-bytes lets it through');
});

/**
 * Opens a connection that sends `prefix`, then `drip` every `everyMs`; resolves when the server
 * closes it, or after GIVE_UP_MS with `cut: false`.
 */
function dribble(port: number, prefix: string, drip: string, everyMs: number): Promise<{ text: string; cut: boolean }> {
  const GIVE_UP_MS = 20_000;
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let cut = true;
    const timer = setInterval(() => socket.write(drip), everyMs);
    const giveUp = setTimeout(() => ((cut = false), socket.destroy()), GIVE_UP_MS);
    socket.write(prefix);
    socket.on('data', (d) => (text += d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ text, cut });
    });
  });
}

t.test('slow-loris: a client dribbling its head or body is cut off, and others are served meanwhile', async (t) => {
  const s = await startServer(t, { headersTimeout: 1, requestTimeout: 2 });
  const slowHeads = Array.from({ length: 20 }, () => dribble(s.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X: y\r\n', 200));
  const slowBody = dribble(s.port, 'PUT /slow.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n', 'a', 200);
  for (let i = 0; i < 5; i++) t.equal((await s.request('PROPFIND', '/', { headers: { depth: '0' } })).status, 207, 'others are served');
  const heads = await Promise.all(slowHeads);
  t.ok(heads.every((h) => h.cut && (/^HTTP\/1\.1 408 /.test(h.text) || h.text === '')), 'every slow head was cut off (408)');
  const body = await slowBody;
  t.ok(body.cut, 'the slow upload was cut off');
  t.notMatch(body.text, /^HTTP\/1\.1 2/);
  t.notOk(existsSync(path.join(s.root, 'slow.txt')), 'and not stored');
});

t.test('keep-alive and idle connections follow their settings', async (t) => {
  const s = await startServer(t, { keepAliveTimeout: 7, idleTimeout: 1 });
  const kept = await rawExchange(s.port, 'OPTIONS / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', { idleMs: 500 });
  t.same(kept.statuses, [200]);
  t.match(kept.text, /\r\nKeep-Alive: timeout=7\r\n/, 'keep-alive is offered with the configured timeout');
  t.notOk(kept.closed, 'and the connection stays open for the next request');
  const silent = await rawExchange(s.port, '', { idleMs: 8000 });
  t.ok(silent.closed, 'a connection that says nothing is closed after --idle-timeout');
});
