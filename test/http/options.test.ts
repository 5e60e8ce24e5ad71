import t from 'tap';
import { startServer } from '../helpers/server.js';

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
