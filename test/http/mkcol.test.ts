import t from 'tap';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chunkedRequest, lockBody, lockTokenOf, startServer } from '../helpers/server.js';

t.test('MKCOL: 201, then 405', async (t) => {
  const s = await startServer(t);
  const res = await s.request('MKCOL', '/dir');
  t.equal(res.status, 201);
  t.ok(statSync(path.join(s.root, 'dir')).isDirectory());
  const again = await s.request('MKCOL', '/dir');
  t.equal(again.status, 405);
  t.ok(again.headers['allow'], '405 names what is allowed');
  t.equal((await s.request('MKCOL', '/dir/')).status, 405, 'with the trailing slash');
  t.equal((await s.request('MKCOL', '/with-slash/')).status, 201);
  t.ok(statSync(path.join(s.root, 'with-slash')).isDirectory());
  t.equal((await s.request('MKCOL', '/%F0%9F%98%80%20dir')).status, 201);
  t.ok(existsSync(path.join(s.root, '😀 dir')));
  t.equal((await s.request('MKCOL', '/wincol', { headers: { 'content-length': '0', 'user-agent': 'Microsoft-WebDAV-MiniRedir/10.0.19045', translate: 'f' } })).status, 201);
});

t.test('MKCOL over a file: 405', async (t) => {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'plain'), 'x');
  t.equal((await s.request('MKCOL', '/plain')).status, 405);
  t.ok(statSync(path.join(s.root, 'plain')).isFile());
});

t.test('MKCOL without a parent: 409', async (t) => {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'file'), 'x');
  t.equal((await s.request('MKCOL', '/a/b')).status, 409);
  t.equal((await s.request('MKCOL', '/a/b/c/')).status, 409);
  t.equal((await s.request('MKCOL', '/file/sub')).status, 409, 'the parent is a file');
  t.notOk(existsSync(path.join(s.root, 'a')));
});

t.test('MKCOL with a body: 415, nothing created', async (t) => {
  const s = await startServer(t);
  t.equal((await s.request('MKCOL', '/b1', { body: 'abc', headers: { 'content-type': 'xzy-foo/bar-512' } })).status, 415, 'litmus mkcol_with_body');
  t.equal((await s.request('MKCOL', '/b2', { body: '<?xml version="1.0"?><D:mkcol xmlns:D="DAV:"/>', headers: { 'content-type': 'text/xml' } })).status, 415);
  t.equal((await chunkedRequest(s.origin, 'MKCOL', '/b3', {}, ['x'])).status, 415, 'chunked');
  for (const n of ['b1', 'b2', 'b3']) t.notOk(existsSync(path.join(s.root, n)));
  t.equal((await s.request('MKCOL', '/b4', { headers: { 'content-type': 'text/xml', 'content-length': '0' } })).status, 201, 'a type without a body is fine');
});

t.test('MKCOL in a locked collection needs the token', async (t) => {
  const s = await startServer(t);
  await s.request('MKCOL', '/locked');
  const token = lockTokenOf(await s.request('LOCK', '/locked', { body: lockBody() }));
  t.equal((await s.request('MKCOL', '/locked/sub')).status, 423);
  t.notOk(existsSync(path.join(s.root, 'locked', 'sub')));
  t.equal((await s.request('MKCOL', '/locked/sub', { headers: { if: `(<${token}>)` } })).status, 201);
});

t.test('MKCOL of reserved names: 403', async (t) => {
  const s = await startServer(t);
  t.equal((await s.request('MKCOL', '/.fastdav/x')).status, 403);
  t.equal((await s.request('MKCOL', '/.fastdav-part-x')).status, 403);
});
