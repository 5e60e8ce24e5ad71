import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { chunkedRequest, lockBody, rawRequest, startServer, type TestServer } from '../helpers/server.js';

/** Files under `dir` whose name marks an unfinished upload. */
function partials(dir: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true, recursive: true })) if (d.name.startsWith('.fastdav-part-')) out.push(d.name);
  return out;
}

async function serverWithFile(t: Test): Promise<TestServer> {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'f.txt'), 'old content');
  return s;
}

t.test('201 for a new file, 204 for a replaced one', async (t) => {
  const s = await startServer(t);
  const created = await s.request('PUT', '/new.txt', { body: 'first' });
  t.equal(created.status, 201);
  t.match(created.headers['etag'], /^"/, 'the new ETag');
  t.equal(readFileSync(path.join(s.root, 'new.txt'), 'utf8'), 'first');
  const replaced = await s.request('PUT', '/new.txt', { body: 'second, longer' });
  t.equal(replaced.status, 204);
  t.equal(replaced.body, '');
  t.equal(readFileSync(path.join(s.root, 'new.txt'), 'utf8'), 'second, longer');
  t.equal((await s.request('GET', '/new.txt')).headers['etag'], replaced.headers['etag'], 'the ETag answered is the one GET shows');
  const shorter = await s.request('PUT', '/new.txt', { body: 'x' });
  t.equal(shorter.status, 204);
  t.equal(readFileSync(path.join(s.root, 'new.txt'), 'utf8'), 'x', 'no leftover of the longer content');
  t.same(partials(s.root), []);
});

t.test('bytes are stored exactly', async (t) => {
  const s = await startServer(t);
  const bytes = Buffer.alloc(256 * 4);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i & 0xff;
  t.equal((await s.request('PUT', '/all-bytes.bin', { body: bytes })).status, 201);
  t.ok(readFileSync(path.join(s.root, 'all-bytes.bin')).equals(bytes));
  const big = Buffer.alloc(5 * 1024 * 1024 + 3, 'abcdefgh');
  t.equal((await s.request('PUT', '/big.bin', { body: big })).status, 201);
  t.ok(readFileSync(path.join(s.root, 'big.bin')).equals(big), '5 MiB upload intact');
  t.ok((await s.request('GET', '/big.bin')).raw.equals(big), 'and served back intact');
  t.same(partials(s.root), []);
});

t.test('names are decoded once', async (t) => {
  const s = await startServer(t);
  t.equal((await s.request('PUT', '/caf%C3%A9%20%F0%9F%98%80%2520.txt', { body: 'u' })).status, 201);
  t.ok(existsSync(path.join(s.root, 'café 😀%20.txt')));
});

t.test('empty bodies make empty files', async (t) => {
  const s = await startServer(t);
  t.equal((await s.request('PUT', '/zero', { headers: { 'content-length': '0' } })).status, 201);
  t.equal(readFileSync(path.join(s.root, 'zero')).length, 0);
  // gvfs creates files with a PUT that has no body headers at all.
  const res = await rawRequest(s.port, 'PUT /no-length HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  t.equal(res.status, 201);
  t.equal(readFileSync(path.join(s.root, 'no-length')).length, 0);
});

t.test('chunked bodies are accepted', async (t) => {
  const s = await startServer(t);
  const parts = ['first chunk, ', Buffer.from('second chunk, '), 'x'.repeat(100_000), ' end'];
  const res = await chunkedRequest(s.origin, 'PUT', '/chunked.txt', {}, parts);
  t.equal(res.status, 201);
  t.equal(readFileSync(path.join(s.root, 'chunked.txt'), 'utf8'), parts.map(String).join(''));
  const raw = await rawRequest(s.port, 'PUT /raw-chunked.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
  t.equal(raw.status, 201);
  t.equal(readFileSync(path.join(s.root, 'raw-chunked.txt'), 'utf8'), 'hello world');
});

t.test('409 when the parent is missing or not a collection', async (t) => {
  const s = await serverWithFile(t);
  t.equal((await s.request('PUT', '/no/such/parent.txt', { body: 'x' })).status, 409);
  t.equal((await s.request('PUT', '/no-parent/x.txt', { body: 'x' })).status, 409);
  t.equal((await s.request('PUT', '/f.txt/below', { body: 'x' })).status, 409, 'the parent is a file');
  t.notOk(existsSync(path.join(s.root, 'no')));
  t.same(partials(s.root), []);
});

t.test('405 on a collection, with and without the trailing slash', async (t) => {
  const s = await startServer(t);
  mkdirSync(path.join(s.root, 'dir'));
  for (const url of ['/dir', '/dir/']) {
    const res = await s.request('PUT', url, { body: 'x' });
    t.equal(res.status, 405, url);
    t.ok(res.headers['allow'], 'with an Allow header');
    t.notMatch(res.headers['allow'], /\bPUT\b/);
  }
  t.same(readdirSync(path.join(s.root, 'dir')), [], 'nothing written inside');
});

t.test('If-None-Match: * creates only', async (t) => {
  const s = await serverWithFile(t);
  t.equal((await s.request('PUT', '/f.txt', { body: 'new', headers: { 'if-none-match': '*' } })).status, 412);
  t.equal(readFileSync(path.join(s.root, 'f.txt'), 'utf8'), 'old content', 'unchanged');
  t.equal((await s.request('PUT', '/g.txt', { body: 'new', headers: { 'if-none-match': '*' } })).status, 201);
});

t.test('If-Match replaces only the named version', async (t) => {
  const s = await serverWithFile(t);
  const etag = String((await s.request('HEAD', '/f.txt')).headers['etag']);
  t.equal((await s.request('PUT', '/f.txt', { body: 'lost update', headers: { 'if-match': '"stale"' } })).status, 412);
  t.equal(readFileSync(path.join(s.root, 'f.txt'), 'utf8'), 'old content');
  t.equal((await s.request('PUT', '/f.txt', { body: 'v2', headers: { 'if-match': etag } })).status, 204);
  t.equal(readFileSync(path.join(s.root, 'f.txt'), 'utf8'), 'v2');
  t.equal((await s.request('PUT', '/f.txt', { body: 'v3', headers: { 'if-match': etag } })).status, 412, 'the old ETag no longer matches');
  t.equal((await s.request('PUT', '/f.txt', { body: 'v3', headers: { 'if-match': '*' } })).status, 204);
  t.equal((await s.request('PUT', '/absent.txt', { body: 'x', headers: { 'if-match': '*' } })).status, 412, 'If-Match: * needs a resource');
  t.notOk(existsSync(path.join(s.root, 'absent.txt')));
  t.equal((await s.request('PUT', '/f.txt', { body: 'v4', headers: { 'if-unmodified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' } })).status, 412);
  t.equal(readFileSync(path.join(s.root, 'f.txt'), 'utf8'), 'v3');
});

t.test('Content-Range on PUT is refused', async (t) => {
  const s = await serverWithFile(t);
  t.equal((await s.request('PUT', '/f.txt', { body: 'abc', headers: { 'content-range': 'bytes 0-2/11' } })).status, 400);
  t.equal(readFileSync(path.join(s.root, 'f.txt'), 'utf8'), 'old content');
});

t.test('a body shorter than X-Expected-Entity-Length is refused, not stored', async (t) => {
  const s = await serverWithFile(t);
  const res = await chunkedRequest(s.origin, 'PUT', '/f.txt', { 'x-expected-entity-length': '100' }, ['only 19 bytes here.']);
  t.equal(res.status, 400);
  t.equal(readFileSync(path.join(s.root, 'f.txt'), 'utf8'), 'old content');
  const ok = await chunkedRequest(s.origin, 'PUT', '/f.txt', { 'x-expected-entity-length': '19' }, ['only 19 bytes here.']);
  t.equal(ok.status, 204);
  t.equal((await s.request('PUT', '/f.txt', { body: 'x', headers: { 'x-expected-entity-length': 'lots' } })).status, 400, 'malformed value');
  t.same(partials(s.root), []);
});

t.test('names reserved by the server cannot be written', async (t) => {
  const s = await startServer(t);
  t.equal((await s.request('PUT', '/.fastdav-part-1234', { body: 'x' })).status, 403);
  t.equal((await s.request('PUT', '/.fastdav/metadata.sqlite', { body: 'x' })).status, 403);
  t.equal((await s.request('PUT', '/.fastdav/evil', { body: 'x' })).status, 403);
  t.notOk(existsSync(path.join(s.root, '.fastdav-part-1234')));
});

t.test('a file created anew does not inherit dead properties of a predecessor deleted behind our back', async (t) => {
  const s = await startServer(t);
  await s.request('PUT', '/f', { body: 'x' });
  const pp = await s.request('PROPPATCH', '/f', { body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:p xmlns:z="urn:z">old</z:p></D:prop></D:set></D:propertyupdate>' });
  t.equal(pp.status, 207);
  rmSync(path.join(s.root, 'f'));
  t.equal((await s.request('PUT', '/f', { body: 'y' })).status, 201);
  const pf = await s.request('PROPFIND', '/f', { headers: { depth: '0' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><z:p xmlns:z="urn:z"/></D:prop></D:propfind>' });
  t.match(pf.body, /HTTP\/1.1 404/);
});

/**
 * A PUT whose body goes out in two pieces of 256 KiB: the first at once; once it reached the
 * server's temporary file (the upload is under way), `meanwhile` runs, and the second piece
 * follows `pauseMs` later. Resolves with the status.
 */
async function slowPut(s: TestServer, urlPath: string, headers: Record<string, string>, meanwhile: () => Promise<void>, pauseMs = 0): Promise<number> {
  const piece = Buffer.alloc(256 * 1024, 'b');
  const req = http.request(`${s.origin}${urlPath}`, { method: 'PUT', agent: false, headers: { ...headers, 'content-length': String(2 * piece.length) } });
  const answer = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
  req.write(piece);
  const deadline = Date.now() + 10_000;
  while (partials(s.root).length === 0) {
    if (Date.now() > deadline) throw new Error('the upload never started');
    await new Promise((r) => setTimeout(r, 10));
  }
  await meanwhile();
  await new Promise((r) => setTimeout(r, pauseMs));
  req.end(piece);
  return answer;
}

t.test('an entity tag in the If header is judged again where the upload commits', async (t) => {
  const s = await serverWithFile(t);
  const etag = String((await s.request('HEAD', '/f.txt')).headers['etag']);
  // The header holds when the upload starts; another client replaces the file before the second
  // piece; the upload must then not overwrite that change (lost update).
  const status = await slowPut(s, '/f.txt', { if: `([${etag}])` }, async () => {
    t.equal((await s.request('PUT', '/f.txt', { body: 'written meanwhile' })).status, 204);
  });
  t.equal(status, 412, 'the tag no longer names the file');
  t.equal(readFileSync(path.join(s.root, 'f.txt'), 'utf8'), 'written meanwhile', 'the other write stays');
  t.same(partials(s.root), [], 'the refused upload is gone');
  // Without the change in between, the same header lets the upload through.
  const now = String((await s.request('HEAD', '/f.txt')).headers['etag']);
  t.equal((await s.request('PUT', '/f.txt', { body: 'v2', headers: { if: `([${now}])` } })).status, 204);
  const v2 = String((await s.request('HEAD', '/f.txt')).headers['etag']);
  t.equal((await s.request('PUT', '/f.txt', { body: 'v3', headers: { if: `(Not [${v2}])` } })).status, 412, 'Not of the current tag');
});

t.test('a LOCK granted during a long upload counts where the upload commits (423, old content kept)', async (t) => {
  const s = await serverWithFile(t);
  // The second piece a little over a second later: the locks are checked again before the commit.
  const LONG = 1200;
  const lock = async (urlPath: string, depth: string) => {
    const r = await s.request('LOCK', urlPath, { headers: { timeout: 'Second-600', depth }, body: lockBody() });
    t.equal(r.status, 200, `LOCK ${urlPath}`);
  };
  t.equal(await slowPut(s, '/f.txt', {}, () => lock('/f.txt', '0'), LONG), 423, 'the file was locked by another client meanwhile');
  t.equal(readFileSync(path.join(s.root, 'f.txt'), 'utf8'), 'old content', 'the old content stays');
  mkdirSync(path.join(s.root, 'folder'));
  t.equal(await slowPut(s, '/folder/new.txt', {}, () => lock('/folder/', '0'), LONG), 423, 'a new member of a folder locked meanwhile');
  t.notOk(existsSync(path.join(s.root, 'folder', 'new.txt')), 'nothing created');
  t.same(partials(s.root), [], 'no partial file left');
  t.equal(await slowPut(s, '/free.txt', {}, async () => undefined, LONG), 201, 'no lock meanwhile: written');
});
