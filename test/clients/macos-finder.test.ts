/**
 * Replays of macOS Finder (webdavfs, mount_webdav) as it talks on the wire: exact headers and
 * bodies from webdavfs' webdav_network.c (../shared/design/CLIENT-QUIRKS.md §2), each step's
 * status checked, then what the server stored (on disk, or through HTTP in object-storage mode).
 */
import t, { type Test } from 'tap';
import { findProp, multistatus, propText, rawRequest, responseFor, type RawResponse } from '../helpers/server.js';
import { clientTarget, isStored, portOf, storedTree, type ClientTarget } from './client-kit.js';

const UA = 'WebDAVFS/3.0.0 (03008000) Darwin/16.4.0 (x86_64)';

/** CFNetwork's own headers, then webdavfs' (User-Agent, Accept), then the request's. */
function finder(s: ClientTarget, method: string, url: string, headers: string[], body: string | Buffer = ''): Promise<RawResponse> {
  const lines = [`${method} ${url} HTTP/1.1`, `Host: 127.0.0.1:${portOf(s)}`, `User-Agent: ${UA}`, 'Accept: */*', 'Accept-Language: en-us', 'Accept-Encoding: gzip, deflate', 'Connection: keep-alive', ...headers];
  const chunkedBody = headers.some((h) => /^transfer-encoding: chunked/i.test(h));
  if (!chunkedBody && !headers.some((h) => /^content-length:/i.test(h)) && body.length > 0) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return rawRequest(portOf(s), Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), Buffer.from(body)]));
}

/** A chunked body as CFNetwork streams it. */
function chunked(...pieces: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of pieces) {
    const b = Buffer.from(p);
    if (b.length > 0) parts.push(Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

const STAT = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:">
<D:prop>
<D:getlastmodified/>
<D:getcontentlength/>
<D:creationdate/>
<D:resourcetype/>
</D:prop>
</D:propfind>
`;
const READDIR = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:A="http://www.apple.com/webdav_fs/props/">
<D:prop>
<D:getlastmodified/>
<D:getcontentlength/>
<D:creationdate/>
<D:resourcetype/>
<A:appledoubleheader/>
</D:prop>
</D:propfind>
`;
const DIR_IS_EMPTY = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:">
<D:prop>
<D:resourcetype/>
</D:prop>
</D:propfind>
`;
const FSYNC = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:">
<D:prop>
<D:getlastmodified/>
<D:getetag/>
</D:prop>
</D:propfind>
`;
const STATFS = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:">
<D:prop>
<D:quota-available-bytes/>
<D:quota-used-bytes/>
<D:quota/>
<D:quotaused/>
</D:prop>
</D:propfind>
`;
const lockBody = (scope: 'exclusive' | 'shared') => `<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:">
<D:lockscope><D:${scope}/></D:lockscope>
<D:locktype><D:write/></D:locktype>
<D:owner>
<D:href>http://www.apple.com/webdav_fs/</D:href>
</D:owner>
</D:lockinfo>
`;

const propfind = (s: ClientTarget, url: string, depth: '0' | '1', body: string) => finder(s, 'PROPFIND', url, ['Content-Type: text/xml', `Depth: ${depth}`], body);

async function finderLock(t: Test, s: ClientTarget, url: string, scope: 'exclusive' | 'shared' = 'exclusive'): Promise<{ res: RawResponse; token: string }> {
  const res = await finder(s, 'LOCK', url, ['Depth: 0', 'Timeout: Second-600', 'Content-Type: text/xml; charset="utf-8"'], lockBody(scope));
  const m = /^<([^>]+)>$/.exec(res.headers['lock-token'] ?? '');
  t.ok(m, `LOCK ${url} answers a Lock-Token (${res.status})`);
  return { res, token: m?.[1] ?? '' };
}

t.test('mount: OPTIONS says class 2 (read-write), then the stat and readdir PROPFINDs', async (t) => {
  const s = await clientTarget(t);
  await storedTree(s).writeFile('hello.txt', 'hello');
  const options = await finder(s, 'OPTIONS', '/', []);
  t.equal(options.status, 200);
  t.ok(options.headers['dav']?.split(',').map((x) => x.trim()).includes('2'), `DAV: ${options.headers['dav']}`);

  const stat = await propfind(s, '/', '0', STAT);
  t.equal(stat.status, 207);
  t.ok(stat.headers['content-length'], 'Finder wants a Content-Length');
  const root = multistatus(stat.body)[0]!;
  t.equal(root.href, '/');
  t.match(propText(root, 'DAV:', 'getlastmodified'), / GMT$/);
  t.equal(findProp(root, 'DAV:', 'getcontentlength')?.status, 404, 'a collection has no length');

  const readdir = await propfind(s, '/', '1', READDIR);
  t.equal(readdir.status, 207);
  const file = responseFor(multistatus(readdir.body), '/hello.txt');
  t.equal(propText(file, 'DAV:', 'getcontentlength'), '5');
  t.equal(findProp(file, 'http://www.apple.com/webdav_fs/props/', 'appledoubleheader')?.status, 404);

  const statfs = multistatus((await propfind(s, '/', '0', STATFS)).body)[0]!;
  t.match(propText(statfs, 'DAV:', 'quota-available-bytes'), /^\d+$/);
  t.match(propText(statfs, 'DAV:', 'quota-used-bytes'), /^\d+$/);
  t.equal(findProp(statfs, 'DAV:', 'quota')?.status, 404);
});

t.test('a collection URL without its trailing slash is answered, never redirected', async (t) => {
  const s = await clientTarget(t);
  await finder(s, 'MKCOL', '/folder', []);
  const res = await propfind(s, '/folder', '0', STAT);
  t.equal(res.status, 207);
  t.equal(multistatus(res.body)[0]!.href, '/folder/');
});

t.test('Finder probes are plain 404s', async (t) => {
  const s = await clientTarget(t);
  for (const name of ['._.', '.hidden', '.DS_Store', '._hello.txt', '.metadata_never_index', '.Spotlight-V100', 'Backups.backupdb', 'mach_kernel', 'Contents', '.localized', '.ql_disablethumbnails']) {
    t.equal((await propfind(s, `/${name}`, '0', STAT)).status, 404, name);
  }
});

t.test('new file: LOCK (Depth 0, Second-600) → chunked PUT with X-Expected-Entity-Length → refresh → UNLOCK', async (t) => {
  const s = await clientTarget(t);
  const content = Buffer.from('Finder wrote this.\n'.repeat(500));
  const url = '/Report%20%E2%80%93%20final.txt';
  const onDisk = 'Report – final.txt';

  const { res: lock, token } = await finderLock(t, s, url);
  t.equal(lock.status, 201, 'LOCK on the unmapped URL creates the file');
  t.equal((await storedTree(s).readFile(onDisk)).length, 0);
  t.match(lock.body, '<D:timeout>Second-600</D:timeout>', 'the timeout is echoed');
  t.match(lock.body, '<D:depth>0</D:depth>');

  const put = await finder(s, 'PUT', url, [`If: (<${token}>)`, `X-Expected-Entity-Length: ${content.length}`, 'Transfer-Encoding: chunked'],
    chunked(content.subarray(0, 1000), content.subarray(1000, 7000), content.subarray(7000)));
  t.equal(put.status, 204, 'the chunked PUT replaces the empty file');
  t.ok((await storedTree(s).readFile(onDisk)).equals(content));

  const fsync = multistatus((await propfind(s, url, '0', FSYNC)).body)[0]!;
  t.match(propText(fsync, 'DAV:', 'getetag'), /^"/);
  const get = await finder(s, 'GET', url, []);
  t.equal(propText(fsync, 'DAV:', 'getetag'), get.headers['etag']);

  const refresh = await finder(s, 'LOCK', url, ['Depth: 0', 'Timeout: Second-600', 'Content-Type: text/xml', `If: (<${token}>)`]);
  t.equal(refresh.status, 200, 'refresh: LOCK with no body');
  t.match(refresh.body, token);
  t.match(refresh.body, '<D:timeout>Second-600</D:timeout>');

  const unlock = await finder(s, 'UNLOCK', url, [`Lock-Token: <${token}>`]);
  t.equal(unlock.status, 204);
  t.equal((await finder(s, 'PUT', url, ['Content-Length: 3'], 'new')).status, 204, 'unlocked');
});

t.test('a chunked PUT of known length whose body is shorter is refused and creates nothing', async (t) => {
  const s = await clientTarget(t);
  const empty = await finder(s, 'PUT', '/empty.bin', ['X-Expected-Entity-Length: 4096', 'Transfer-Encoding: chunked'], chunked());
  t.ok(empty.status >= 400 && empty.status < 500, `refused: ${empty.status}`);
  t.notOk(await isStored(s, 'empty.bin'), 'no 0-byte file');
  await storedTree(s).writeFile('kept.bin', 'old bytes');
  const short = await finder(s, 'PUT', '/kept.bin', ['X-Expected-Entity-Length: 4096', 'Transfer-Encoding: chunked'], chunked('only this'));
  t.ok(short.status >= 400 && short.status < 500, `short body refused: ${short.status}`);
  t.equal(String(await storedTree(s).readFile('kept.bin')), 'old bytes', 'the old content stays');
  t.same((await storedTree(s).readdir('')).filter((n) => n.startsWith('.fastdav-part-')), []);
  const ok = await finder(s, 'PUT', '/kept.bin', ['X-Expected-Entity-Length: 9', 'Transfer-Encoding: chunked'], chunked('new ', 'bytes'));
  t.equal(ok.status, 204);
  t.equal(String(await storedTree(s).readFile('kept.bin')), 'new bytes');
});

t.test('AppleDouble ._ files and .DS_Store are ordinary files', async (t) => {
  const s = await clientTarget(t);
  const appleDouble = Buffer.alloc(4096);
  appleDouble.writeUInt32BE(0x00051607, 0); // AppleDouble magic
  appleDouble.writeUInt32BE(0x00020000, 4);
  const dsStore = Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from('Bud1'), Buffer.alloc(2000, 7)]);
  await finder(s, 'MKCOL', '/Photos', []);
  const files: [string, Buffer][] = [['/Photos/._IMG_0001.JPG', appleDouble], ['/Photos/.DS_Store', dsStore], ['/._.', appleDouble]];
  for (const [url, bytes] of files) {
    const { token } = await finderLock(t, s, url);
    const put = await finder(s, 'PUT', url, [`If: (<${token}>)`, `X-Expected-Entity-Length: ${bytes.length}`, 'Transfer-Encoding: chunked'], chunked(bytes));
    t.equal(put.status, 204, `PUT ${url}`);
    t.equal((await finder(s, 'UNLOCK', url, [`Lock-Token: <${token}>`])).status, 204);
  }
  const listing = multistatus((await propfind(s, '/Photos/', '1', READDIR)).body).map((r) => r.href).sort();
  t.same(listing, ['/Photos/', '/Photos/.DS_Store', '/Photos/._IMG_0001.JPG']);
  for (const [url, bytes] of files) {
    const get = await finder(s, 'GET', url, []);
    t.equal(get.status, 200);
    t.equal(get.headers['content-length'], String(bytes.length));
    t.ok((await storedTree(s).readFile(decodeURIComponent(url))).equals(bytes), `${url} stored byte for byte`);
  }
  t.equal((await finder(s, 'DELETE', '/Photos/._IMG_0001.JPG', [])).status, 204);
  t.equal((await finder(s, 'DELETE', '/Photos/.DS_Store', [])).status, 204);
  t.same(await storedTree(s).readdir('Photos'), []);
});

t.test('a shared lock, conditional GET and a Range', async (t) => {
  const s = await clientTarget(t);
  await storedTree(s).writeFile('movie.bin', Buffer.alloc(100_000, 1));
  const { res, token } = await finderLock(t, s, '/movie.bin', 'shared');
  t.equal(res.status, 200);
  t.match(res.body, '<D:shared/>');
  const get = await finder(s, 'GET', '/movie.bin', []);
  const lastModified = get.headers['last-modified']!;
  t.equal((await finder(s, 'GET', '/movie.bin', [`If-Modified-Since: ${lastModified}`])).status, 304);
  const range = await finder(s, 'GET', '/movie.bin', ['Range: bytes=50000-50009']);
  t.equal(range.status, 206);
  t.equal(range.headers['content-range'], 'bytes 50000-50009/100000');
  t.equal((await finder(s, 'UNLOCK', '/movie.bin', [`Lock-Token: <${token}>`])).status, 204);
});

t.test('MOVE of a locked file with its token; the lock stays behind', async (t) => {
  const s = await clientTarget(t);
  await finder(s, 'MKCOL', '/target', []);
  const { token } = await finderLock(t, s, '/untitled.txt');
  await finder(s, 'PUT', '/untitled.txt', [`If: (<${token}>)`, 'X-Expected-Entity-Length: 5', 'Transfer-Encoding: chunked'], chunked('draft'));
  // webdavfs checks that a directory is empty before it moves anything onto it.
  t.equal((await propfind(s, '/target/', '1', DIR_IS_EMPTY)).status, 207);
  const move = await finder(s, 'MOVE', '/untitled.txt', [`Destination: http://127.0.0.1:${portOf(s)}/target/named.txt`, `If: (<${token}>)`]);
  t.equal(move.status, 201);
  t.equal(String(await storedTree(s).readFile('target/named.txt')), 'draft');
  t.notOk(await isStored(s, 'untitled.txt'));
  t.equal((await finder(s, 'PUT', '/target/named.txt', ['Content-Length: 4'], 'edit')).status, 204, 'the moved file is not locked');
});
