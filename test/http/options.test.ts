import t from 'tap';
import { rawRequest, startServer } from '../helpers/server.js';

t.test('OPTIONS advertises class 1 and 2, Allow and MS-Author-Via', async (t) => {
  const s = await startServer(t);
  const res = await s.request('OPTIONS', '/');
  t.equal(res.status, 200);
  t.equal(res.headers['dav'], '1, 2');
  t.equal(res.headers['ms-author-via'], 'DAV');
  t.match(res.headers['allow'], /PROPFIND/);
  t.notMatch(res.headers['allow'], /\bPUT\b/, 'a collection does not take PUT');
});

t.test('OPTIONS on an unmapped URL offers the creating methods only', async (t) => {
  const s = await startServer(t);
  const res = await s.request('OPTIONS', '/nothing-here');
  t.equal(res.status, 200);
  t.same(res.headers['allow']?.split(', ').sort(), ['LOCK', 'MKCOL', 'OPTIONS', 'PUT']);
});

t.test('with locking off: DAV: 1 and no LOCK', async (t) => {
  const s = await startServer(t, { locking: false });
  const res = await s.request('OPTIONS', '/');
  t.equal(res.headers['dav'], '1');
  t.notMatch(res.headers['allow'], /LOCK/);
  const lock = await s.request('LOCK', '/x', { body: '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>' });
  t.equal(lock.status, 405);
});

t.test('OPTIONS outside the mount prefix still answers', async (t) => {
  const s = await startServer(t, { prefix: '/dav/' });
  const res = await s.request('OPTIONS', '/');
  t.equal(res.status, 200);
  t.equal(res.headers['ms-author-via'], 'DAV');
  t.equal((await s.request('PROPFIND', '/', { headers: { depth: '0' } })).status, 404);
  t.equal((await s.request('PROPFIND', '/dav/', { headers: { depth: '0' } })).status, 207);
});

t.test('OPTIONS on a file and on a missing parent', async (t) => {
  const s = await startServer(t);
  await s.request('PUT', '/f.txt', { body: 'x' });
  const res = await s.request('OPTIONS', '/f.txt', { headers: { 'user-agent': 'Microsoft-WebDAV-MiniRedir/10.0.19045', translate: 'f', connection: 'Keep-Alive' } });
  t.equal(res.status, 200);
  t.equal(res.body, '');
  t.equal(res.headers['content-length'], '0');
  const allow = String(res.headers['allow']).split(', ').sort();
  t.same(allow, ['COPY', 'DELETE', 'GET', 'HEAD', 'LOCK', 'MOVE', 'OPTIONS', 'PROPFIND', 'PROPPATCH', 'PUT', 'UNLOCK']);
  t.notOk(allow.includes('MKCOL'), 'a file cannot be made a collection');
  const dir = await s.request('OPTIONS', '/');
  t.ok(String(dir.headers['allow']).split(', ').includes('PROPFIND'));
  t.equal((await s.request('OPTIONS', '/a/b/c')).status, 200, 'any path answers');
});

t.test('OPTIONS * (RFC 9110 §9.3.7) describes the server', async (t) => {
  const s = await startServer(t);
  const res = await rawRequest(s.port, 'OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  t.equal(res.status, 200);
  t.equal(res.headers['dav'], '1, 2');
  t.equal(res.headers['ms-author-via'], 'DAV');
});

t.test('methods the server does not implement: 501', async (t) => {
  const s = await startServer(t);
  t.equal((await s.request('POST', '/')).status, 501);
  t.equal((await s.request('PATCH', '/')).status, 501);
  t.equal((await s.request('SEARCH', '/')).status, 501);
});
