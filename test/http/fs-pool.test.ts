// The filesystem backend with its metadata calls in worker threads (--fs-calls pool, what a slow
// disk gets): every verb answers as with direct calls, and a small request is not held behind
// the listings of other clients.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { multistatus, startServer } from '../helpers/server.js';

t.test('every verb works with the calls in worker threads', async (t) => {
  const s = await startServer(t, { fsCalls: 'pool', fsThreads: 2 });
  fs.mkdirSync(path.join(s.root, 'big'));
  for (let i = 0; i < 600; i++) fs.writeFileSync(path.join(s.root, 'big', `f${i}.txt`), `${i}`);
  fs.symlinkSync('/etc', path.join(s.root, 'big', 'outside'));

  t.equal((await s.request('PUT', '/a.txt', { body: 'hello' })).status, 201);
  t.equal((await s.request('PUT', '/a.txt', { body: 'hello again' })).status, 204);
  const got = await s.request('GET', '/a.txt');
  t.equal(got.body, 'hello again');
  t.equal((await s.request('GET', '/missing.txt')).status, 404);
  t.equal((await s.request('GET', '/big/outside/hostname')).status, 403, 'a link out of the root is refused');

  const listing = await s.request('PROPFIND', '/big/', { headers: { depth: '1' } });
  t.equal(listing.status, 207);
  const hrefs = multistatus(listing.body).map((r) => r.href);
  t.equal(hrefs.length, 601, 'the folder and its 600 files (in three batches), not the link leading out');
  t.notOk(hrefs.some((h) => h.endsWith('/outside') || h.endsWith('/outside/')));

  t.equal((await s.request('MKCOL', '/dir')).status, 201);
  t.equal((await s.request('MKCOL', '/no/such/parent')).status, 409);
  t.equal((await s.request('COPY', '/big/', { headers: { destination: '/copy/' } })).status, 201);
  t.equal(fs.readdirSync(path.join(s.root, 'copy')).length, 600, 'the files, not the link leading out');
  t.equal((await s.request('MOVE', '/copy/', { headers: { destination: '/dir/moved/' } })).status, 201);
  t.equal((await s.request('DELETE', '/dir/')).status, 204);
  t.notOk(fs.existsSync(path.join(s.root, 'dir')));
  t.equal((await s.request('PROPPATCH', '/a.txt', {
    body: '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32LastModifiedTime>Wed, 01 Jan 2020 00:00:00 GMT</Z:Win32LastModifiedTime></D:prop></D:set></D:propertyupdate>',
  })).status, 207);
  t.equal(fs.statSync(path.join(s.root, 'a.txt')).mtimeMs, Date.UTC(2020, 0, 1));
});

t.test('a GET started with four big listings is answered before any of them', async (t) => {
  // One thread: the listings' 2,000 stats each and the GET's few calls queue for it; the GET's
  // lane gets its turn after at most one call of each listing. (Counts the order, not time.)
  const s = await startServer(t, { fsCalls: 'pool', fsThreads: 1 });
  fs.mkdirSync(path.join(s.root, 'big'));
  for (let i = 0; i < 2000; i++) fs.writeFileSync(path.join(s.root, 'big', `f${i}.txt`), '');
  fs.writeFileSync(path.join(s.root, 'small.txt'), 'small');
  const finished: string[] = [];
  const listings = [1, 2, 3, 4].map((n) =>
    s.request('PROPFIND', '/big/', { headers: { depth: '1' } }).then((r) => {
      t.equal(r.status, 207);
      finished.push(`listing ${n}`);
    }));
  const get = s.request('GET', '/small.txt').then((r) => {
    t.equal(r.body, 'small');
    finished.push('GET');
  });
  await Promise.all([...listings, get]);
  t.equal(finished[0], 'GET', `order: ${finished.join(', ')}`);
});
