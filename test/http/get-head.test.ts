import t, { type Test } from 'tap';
import { mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer } from '../helpers/server.js';

const TEXT = 'Hello, WebDAV world!\n'; // 21 bytes

async function withFile(t: Test, name = 'hello.txt', content: string | Buffer = TEXT) {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, name), content);
  // A modification time in the past with whole seconds, so date validators compare cleanly.
  const mtime = new Date(Date.UTC(2023, 5, 15, 10, 30, 0));
  utimesSync(path.join(s.root, name), mtime, mtime);
  return { s, mtime };
}

t.test('GET a file: content, type, length and validators', async (t) => {
  const { s, mtime } = await withFile(t);
  const res = await s.request('GET', '/hello.txt');
  t.equal(res.status, 200);
  t.equal(res.body, TEXT);
  t.equal(res.headers['content-type'], 'text/plain; charset=utf-8', 'from the extension');
  t.equal(res.headers['content-length'], String(TEXT.length));
  t.match(res.headers['etag'], /^"[^"]+"$/, 'a strong, quoted entity tag');
  t.equal(res.headers['last-modified'], 'Thu, 15 Jun 2023 10:30:00 GMT', 'RFC 1123 GMT');
  t.equal(res.headers['last-modified'], mtime.toUTCString());
  t.equal(res.headers['accept-ranges'], 'bytes');
});

t.test('Content-Type comes from the extension, never from the content', async (t) => {
  const s = await startServer(t);
  const cases: [string, string][] = [
    ['page.html', 'text/html; charset=utf-8'],
    ['data.json', 'application/json; charset=utf-8'],
    ['pic.png', 'image/png'],
    ['doc.pdf', 'application/pdf'],
    ['noext', 'application/octet-stream'],
    ['weird.zzzunknown', 'application/octet-stream'],
  ];
  for (const [name] of cases) writeFileSync(path.join(s.root, name), '<html>looks like html</html>');
  for (const [name, type] of cases) {
    const res = await s.request('HEAD', `/${name}`);
    t.equal(res.headers['content-type'], type, name);
  }
});

t.test('HEAD gives the GET headers without a body', async (t) => {
  const { s } = await withFile(t);
  const get = await s.request('GET', '/hello.txt');
  const head = await s.request('HEAD', '/hello.txt');
  t.equal(head.status, 200);
  t.equal(head.body, '');
  for (const h of ['content-type', 'content-length', 'etag', 'last-modified', 'accept-ranges']) t.equal(head.headers[h], get.headers[h], h);
});

t.test('the ETag changes when the content changes', async (t) => {
  const { s } = await withFile(t);
  const first = (await s.request('HEAD', '/hello.txt')).headers['etag'];
  t.equal((await s.request('PUT', '/hello.txt', { body: 'changed' })).status, 204);
  const second = (await s.request('HEAD', '/hello.txt')).headers['etag'];
  t.not(second, first);
});

t.test('single byte ranges: 206 with Content-Range', async (t) => {
  const { s } = await withFile(t);
  const cases: [string, number, number][] = [
    ['bytes=0-4', 0, 4],
    ['bytes=7-', 7, 20],
    ['bytes=-6', 15, 20],
    ['bytes=10-1000', 10, 20],
    ['bytes=20-20', 20, 20],
  ];
  for (const [range, start, end] of cases) {
    const res = await s.request('GET', '/hello.txt', { headers: { range } });
    t.equal(res.status, 206, range);
    t.equal(res.headers['content-range'], `bytes ${start}-${end}/21`, range);
    t.equal(res.headers['content-length'], String(end - start + 1));
    t.equal(res.body, TEXT.slice(start, end + 1), `${range} body`);
  }
  const head = await s.request('HEAD', '/hello.txt', { headers: { range: 'bytes=0-4' } });
  t.equal(head.status, 206);
  t.equal(head.headers['content-length'], '5');
  t.equal(head.body, '');
});

t.test('unsatisfiable ranges: 416 with bytes */size', async (t) => {
  const { s } = await withFile(t);
  for (const range of ['bytes=21-', 'bytes=100-200', 'bytes=-0']) {
    const res = await s.request('GET', '/hello.txt', { headers: { range } });
    t.equal(res.status, 416, range);
    t.equal(res.headers['content-range'], 'bytes */21');
  }
});

t.test('ranges the server does not serve give the whole content', async (t) => {
  const { s } = await withFile(t);
  for (const range of ['bytes=0-1,5-6', 'bytes=5-2', 'lines=1-2', 'bytes=x-y']) {
    const res = await s.request('GET', '/hello.txt', { headers: { range } });
    t.equal(res.status, 200, range);
    t.equal(res.body, TEXT);
    t.equal(res.headers['content-range'], undefined);
  }
});

t.test('ranges of a large file are streamed from the right offset', async (t) => {
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 8)) & 0xff;
  const { s } = await withFile(t, 'big.bin', big);
  const res = await s.request('GET', '/big.bin', { headers: { range: 'bytes=200000-200099' } });
  t.equal(res.status, 206);
  t.same(res.raw, big.subarray(200_000, 200_100));
  const whole = await s.request('GET', '/big.bin');
  t.equal(whole.raw.length, big.length);
  t.ok(whole.raw.equals(big), 'the whole file arrives intact');
  const head = await s.request('HEAD', '/big.bin');
  t.equal(head.headers['content-length'], String(big.length));
  t.equal(head.raw.length, 0);
});

t.test('an empty file', async (t) => {
  const { s } = await withFile(t, 'empty.txt', '');
  const res = await s.request('GET', '/empty.txt');
  t.equal(res.status, 200);
  t.equal(res.headers['content-length'], '0');
  t.equal(res.body, '');
  t.equal((await s.request('GET', '/empty.txt', { headers: { range: 'bytes=0-' } })).status, 416);
});

t.test('If-None-Match: 304 when it matches (weak comparison), else 200', async (t) => {
  const { s } = await withFile(t);
  const etag = String((await s.request('HEAD', '/hello.txt')).headers['etag']);
  for (const value of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const res = await s.request('GET', '/hello.txt', { headers: { 'if-none-match': value } });
    t.equal(res.status, 304, `If-None-Match: ${value}`);
    t.equal(res.body, '');
    t.equal(res.headers['etag'], etag, 'a 304 carries the ETag');
  }
  t.equal((await s.request('HEAD', '/hello.txt', { headers: { 'if-none-match': etag } })).status, 304, 'HEAD too');
  t.equal((await s.request('GET', '/hello.txt', { headers: { 'if-none-match': '"stale"' } })).status, 200);
});

t.test('If-Match: 412 unless the current ETag is named', async (t) => {
  const { s } = await withFile(t);
  const etag = String((await s.request('HEAD', '/hello.txt')).headers['etag']);
  t.equal((await s.request('GET', '/hello.txt', { headers: { 'if-match': etag } })).status, 200);
  t.equal((await s.request('GET', '/hello.txt', { headers: { 'if-match': '*' } })).status, 200);
  t.equal((await s.request('GET', '/hello.txt', { headers: { 'if-match': '"stale"' } })).status, 412);
  t.equal((await s.request('GET', '/hello.txt', { headers: { 'if-match': `W/${etag}` } })).status, 412, 'strong comparison');
  t.equal((await s.request('HEAD', '/hello.txt', { headers: { 'if-match': '"stale"' } })).status, 412);
});

t.test('If-Modified-Since: 304 when not modified since', async (t) => {
  const { s, mtime } = await withFile(t);
  const res = await s.request('GET', '/hello.txt', { headers: { 'if-modified-since': mtime.toUTCString() } });
  t.equal(res.status, 304);
  t.equal((await s.request('GET', '/hello.txt', { headers: { 'if-modified-since': new Date(mtime.getTime() + 3600_000).toUTCString() } })).status, 304);
  t.equal((await s.request('GET', '/hello.txt', { headers: { 'if-modified-since': new Date(mtime.getTime() - 1000).toUTCString() } })).status, 200);
  t.equal((await s.request('GET', '/hello.txt', { headers: { 'if-modified-since': 'not a date' } })).status, 200, 'invalid date ignored');
  t.equal(
    (await s.request('GET', '/hello.txt', { headers: { 'if-modified-since': mtime.toUTCString(), 'if-none-match': '"other"' } })).status,
    200,
    'If-None-Match takes precedence',
  );
});

t.test('If-Unmodified-Since: 412 when modified since', async (t) => {
  const { s, mtime } = await withFile(t);
  t.equal((await s.request('GET', '/hello.txt', { headers: { 'if-unmodified-since': mtime.toUTCString() } })).status, 200);
  t.equal((await s.request('GET', '/hello.txt', { headers: { 'if-unmodified-since': new Date(mtime.getTime() - 1000).toUTCString() } })).status, 412);
});

t.test('If-Range: the range applies only to the named representation', async (t) => {
  const { s, mtime } = await withFile(t);
  const etag = String((await s.request('HEAD', '/hello.txt')).headers['etag']);
  const ranged = (ifRange: string) => s.request('GET', '/hello.txt', { headers: { range: 'bytes=0-4', 'if-range': ifRange } });
  t.equal((await ranged(etag)).status, 206, 'current ETag');
  t.equal((await ranged(mtime.toUTCString())).status, 206, 'current Last-Modified');
  const stale = await ranged('"stale"');
  t.equal(stale.status, 200, 'stale ETag: the whole content');
  t.equal(stale.body, TEXT);
  t.equal((await ranged(new Date(mtime.getTime() - 1000).toUTCString())).status, 200, 'other date');
  t.equal((await ranged(`W/${etag}`)).status, 200, 'a weak tag never qualifies');
});

t.test('missing resources and a file named as a collection: 404', async (t) => {
  const { s } = await withFile(t);
  t.equal((await s.request('GET', '/nothing')).status, 404);
  t.equal((await s.request('HEAD', '/nothing')).status, 404);
  t.equal((await s.request('GET', '/hello.txt/')).status, 404, 'a file URL with a trailing slash');
  t.equal((await s.request('GET', '/hello.txt/child')).status, 404, 'below a file');
});

t.test('GET on a collection: an HTML listing with escaped names and encoded links, no redirect', async (t) => {
  const s = await startServer(t);
  mkdirSync(path.join(s.root, 'dir'));
  mkdirSync(path.join(s.root, 'dir', 'sub folder'));
  const names = ['<b>bold<i>.txt', 'a&b "quoted" \'x\'.txt', 'café 😀.txt', '100%.txt', 'q?#.txt'];
  for (const n of names) writeFileSync(path.join(s.root, 'dir', n), 'x');
  for (const url of ['/dir/', '/dir']) {
    const res = await s.request('GET', url);
    t.equal(res.status, 200, `${url} answers without a redirect`);
    t.match(res.headers['content-type'], /^text\/html/);
    t.notMatch(res.body, /<b>bold/, 'names are escaped');
    t.match(res.body, '&lt;b&gt;bold&lt;i&gt;.txt');
    t.match(res.body, 'a&amp;b &quot;quoted&quot; &#39;x&#39;.txt');
    t.match(res.body, 'href="/dir/%3Cb%3Ebold%3Ci%3E.txt"');
    t.match(res.body, 'href="/dir/caf%C3%A9%20%F0%9F%98%80.txt"');
    t.match(res.body, 'href="/dir/100%25.txt"');
    t.match(res.body, 'href="/dir/q%3F%23.txt"');
    t.match(res.body, 'href="/dir/sub%20folder/"', 'collections link with a trailing slash');
    t.match(res.body, 'href="/"', 'a link to the parent');
  }
  const head = await s.request('HEAD', '/dir/');
  t.equal(head.status, 200);
  t.equal(head.body, '');
  t.ok(Number(head.headers['content-length']) > 0);
  // Every link in the listing resolves.
  const links = [...(await s.request('GET', '/dir/')).body.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!);
  const unescape = (h: string) => h.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);
  // the members, the sub folder, the way up, the path's top and the page's stylesheet
  t.equal(links.length, names.length + 4);
  for (const link of links) t.equal((await s.request('HEAD', unescape(link))).status, 200, `link ${link}`);
});

t.test('the metadata store is never served', async (t) => {
  const s = await startServer(t);
  await s.request('PUT', '/f.txt', { body: 'x' });
  await s.request('PROPPATCH', '/f.txt', { body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>' });
  t.ok(statSync(path.join(s.root, '.fastdav')).isDirectory(), 'the store exists under the root');
  t.equal((await s.request('GET', '/.fastdav/metadata.sqlite')).status, 403);
  t.equal((await s.request('GET', '/.fastdav/')).status, 403);
  t.equal((await s.request('GET', '/%2efastdav/metadata.sqlite')).status, 403, 'also percent-encoded');
  t.notMatch((await s.request('GET', '/')).body, /\.fastdav(?!-ui\/)/, 'not in the HTML listing (only the page assets are under .fastdav-ui/)');
});
