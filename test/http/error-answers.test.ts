/**
 * Error answers in the server's own format (issue 11 items 2, 16, 19), over real connections:
 * methods Node's parser does not know get 501, other parse errors a clear 400/431, a URL that is
 * not UTF-8 a 400 in our format (not Fastify's JSON), and error bodies that explain themselves.
 */
import t from 'tap';
import { rawRequest, startServer } from '../helpers/server.js';

/** Every error answer of the server: one text line "STATUS Reason: explanation". */
const OWN_FORMAT = /^\d{3} [A-Za-z -]+: .+\n$/;

t.test('a method unknown to Node\'s parser gets 501 in our format; other parse errors stay 400/431 with a reason', async (t) => {
  const s = await startServer(t, { maxHeaderBytes: 2048 });
  for (const method of ['FOOBAR', 'BREW', 'X-MY-METHOD']) {
    const r = await rawRequest(s.port, `${method} / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    t.equal(r.status, 501, method);
    t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    t.match(r.body, OWN_FORMAT);
    t.match(r.body, `does not implement the method ${method}`);
  }
  // A method Node knows but the server does not offer reaches the not-found handler: 501 too.
  const report = await rawRequest(s.port, 'REPORT / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.equal(report.status, 501);
  t.match(report.body, 'does not implement the method REPORT');
  // Not a method at all: a malformed request, not "not implemented".
  const garbage = await rawRequest(s.port, '\x16\x03\x01\x00\x05hello\r\n\r\n');
  t.equal(garbage.status, 400);
  t.match(garbage.body, /^400 Bad Request: malformed request \(.+\)\n$/);
  const badHeader = await rawRequest(s.port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
  t.equal(badHeader.status, 400);
  t.match(badHeader.body, /malformed request \(Invalid header token\)/);
  t.equal(badHeader.headers['connection'], 'close');
  const big = await rawRequest(s.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`);
  t.equal(big.status, 431);
  t.match(big.body, OWN_FORMAT);
  // The server still answers normally afterwards.
  t.equal((await s.request('GET', '/')).status, 200);
});

t.test('a URL that is not UTF-8 gets a 400 in our format, not Fastify\'s JSON', async (t) => {
  const s = await startServer(t);
  for (const url of ['/%ff%fe', '/a/%c3%28.txt', '/%e2%82']) {
    const r = await s.request('GET', url);
    t.equal(r.status, 400, url);
    t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    t.equal(r.body, '400 Bad Request: the URL is not valid percent-encoded UTF-8\n');
    t.notMatch(r.body, /FST_ERR|statusCode/);
  }
  const put = await s.request('PUT', '/%ff.txt', { body: 'x' });
  t.equal(put.status, 400);
});

t.test('error bodies explain themselves; a GET outside --prefix says where the tree is', async (t) => {
  const s = await startServer(t, { prefix: '/dav/' });
  const outside = await s.request('GET', '/index.html');
  t.equal(outside.status, 404);
  t.equal(outside.body, '404 Not Found: this server serves its files under /dav/\n');
  const missing = await s.request('GET', '/dav/nothing.txt');
  t.equal(missing.status, 404);
  t.equal(missing.body, '404 Not Found: nothing exists at this URL\n');
  await s.request('PUT', '/dav/f.txt', { body: 'x' });
  const slash = await s.request('GET', '/dav/f.txt/');
  t.equal(slash.status, 404);
  t.match(slash.body, /^404 Not Found: this is a file, not a folder/);
  const precondition = await s.request('DELETE', '/dav/f.txt', { headers: { 'if-match': '"nope"' } });
  t.equal(precondition.status, 412);
  t.match(precondition.body, /^412 Precondition Failed: a condition of the request .* does not hold\n$/);
  // No error body repeats its reason phrase as its explanation.
  for (const r of [outside, missing, slash, precondition]) t.notMatch(r.body, /^(\d{3}) ([^:]+): \2\n$/);
});
