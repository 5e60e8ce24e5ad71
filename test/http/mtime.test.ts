import t from 'tap';
import { statSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { startServer } from '../helpers/server.js';

const mtimeOf = (file: string): number => statSync(file).mtimeMs / 1000;

const win32Patch = (props: string): string =>
  `<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>${props}</D:prop></D:set></D:propertyupdate>`;

t.test('X-OC-Mtime on PUT sets the modification time and is accepted', async (t) => {
  const s = await startServer(t);
  const created = await s.request('PUT', '/a.txt', { headers: { 'x-oc-mtime': '1500000000' }, body: 'one' });
  t.equal(created.status, 201);
  t.equal(created.headers['x-oc-mtime'], 'accepted');
  t.equal(mtimeOf(path.join(s.root, 'a.txt')), 1500000000);

  const replaced = await s.request('PUT', '/a.txt', { headers: { 'x-oc-mtime': '1600000000' }, body: 'two' });
  t.equal(replaced.status, 204);
  t.equal(replaced.headers['x-oc-mtime'], 'accepted');
  t.equal(mtimeOf(path.join(s.root, 'a.txt')), 1600000000);

  const props = await s.request('PROPFIND', '/a.txt', { headers: { depth: '0' } });
  t.match(props.body, new Date(1600000000 * 1000).toUTCString(), 'getlastmodified reports it');

  const plain = await s.request('PUT', '/b.txt', { body: 'no header' });
  t.equal(plain.headers['x-oc-mtime'], undefined, 'no X-OC-Mtime answer without the header');
  t.ok(mtimeOf(path.join(s.root, 'b.txt')) > 1600000000, 'without the header the upload time stays');

  const bad = await s.request('PUT', '/c.txt', { headers: { 'x-oc-mtime': 'yesterday' }, body: 'x' });
  t.equal(bad.status, 400, 'a malformed X-OC-Mtime is refused');
  t.equal((await s.request('GET', '/c.txt')).status, 404, 'and nothing is stored');
});

t.test('X-OC-Mtime on COPY and MOVE sets the destination time', async (t) => {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'src.txt'), 'data');
  const copy = await s.request('COPY', '/src.txt', { headers: { destination: `${s.origin}/copy.txt`, 'x-oc-mtime': '1400000000' } });
  t.equal(copy.status, 201);
  t.equal(copy.headers['x-oc-mtime'], 'accepted');
  t.equal(mtimeOf(path.join(s.root, 'copy.txt')), 1400000000);

  const move = await s.request('MOVE', '/copy.txt', { headers: { destination: '/moved.txt', 'x-oc-mtime': '1300000000.5' } });
  t.equal(move.status, 201);
  t.equal(move.headers['x-oc-mtime'], 'accepted');
  t.equal(mtimeOf(path.join(s.root, 'moved.txt')), 1300000000.5);

  mkdirSync(path.join(s.root, 'dir'));
  const dir = await s.request('MOVE', '/dir/', { headers: { destination: '/dir2/', 'x-oc-mtime': '1200000000' } });
  t.equal(dir.status, 201);
  t.equal(mtimeOf(path.join(s.root, 'dir2')), 1200000000, 'collections too');
});

t.test('PROPPATCH Win32LastModifiedTime sets the mtime and is kept as a property', async (t) => {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'w.txt'), 'windows');
  const date = 'Sat, 16 Feb 2019 18:24:58 GMT';
  const res = await s.request('PROPPATCH', '/w.txt', {
    headers: { 'content-type': 'text/xml; charset="utf-8"' },
    body: win32Patch(
      `<Z:Win32CreationTime>${date}</Z:Win32CreationTime><Z:Win32LastAccessTime>${date}</Z:Win32LastAccessTime>` +
        `<Z:Win32LastModifiedTime>${date}</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>`,
    ),
  });
  t.equal(res.status, 207);
  t.match(res.body, /HTTP\/1.1 200 OK/);
  t.notMatch(res.body, /HTTP\/1.1 (4|5)\d\d/);
  t.equal(mtimeOf(path.join(s.root, 'w.txt')), Date.parse(date) / 1000);

  const props = await s.request('PROPFIND', '/w.txt', { headers: { depth: '0' } });
  t.match(props.body, `<D:getlastmodified>${date}</D:getlastmodified>`);
  t.match(props.body, /Win32LastModifiedTime[^>]*>Sat, 16 Feb 2019 18:24:58 GMT</, 'allprop returns the dead property');
  t.match(props.body, /Win32FileAttributes[^>]*>00000020</);
});

t.test('an unusable Win32LastModifiedTime fails the whole PROPPATCH with 409', async (t) => {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'w.txt'), 'windows');
  const before = mtimeOf(path.join(s.root, 'w.txt'));
  const res = await s.request('PROPPATCH', '/w.txt', {
    body: win32Patch('<Z:Win32LastModifiedTime>not a date</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>'),
  });
  t.equal(res.status, 207);
  t.match(res.body, /Win32LastModifiedTime[^]*HTTP\/1.1 409 Conflict/);
  t.match(res.body, /Win32FileAttributes[^]*HTTP\/1.1 424 Failed Dependency/);
  t.equal(mtimeOf(path.join(s.root, 'w.txt')), before, 'mtime unchanged');
  const props = await s.request('PROPFIND', '/w.txt', { headers: { depth: '0' } });
  t.notMatch(props.body, /Win32/, 'nothing stored');
});

t.test('ownCloud lastmodified (Unix seconds) sets the mtime', async (t) => {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'o.txt'), 'oc');
  const res = await s.request('PROPPATCH', '/o.txt', {
    body: '<d:propertyupdate xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:set><d:prop><d:lastmodified>1234567890</d:lastmodified></d:prop></d:set></d:propertyupdate>',
  });
  t.equal(res.status, 207);
  t.match(res.body, /HTTP\/1.1 200 OK/);
  t.equal(mtimeOf(path.join(s.root, 'o.txt')), 1234567890);
});
