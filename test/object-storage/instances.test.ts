/**
 * Several instances on one database and one bucket (what a load balancer spreads requests
 * over): what one writes, moves or locks, the others see at once, since the tree, the dead
 * properties and the locks all live in PostgreSQL and the contents in the bucket.
 */
import t from 'tap';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';
import { startServer } from '../helpers/server.js';

const skip = objectStorageUnavailable(t);

const LOCK_BODY =
  '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
const PROPPATCH_BODY =
  '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:color>blue</Z:color></D:prop></D:set></D:propertyupdate>';

t.test('three instances share one store', { skip }, async (t) => {
  const engines = await startEngines(t);
  const settings = await engines.settings();
  const [a, b, c] = await Promise.all([startServer(t, settings), startServer(t, settings), startServer(t, settings)]);
  t.equal((await a.request('MKCOL', '/docs/')).status, 201);
  t.equal((await a.request('PUT', '/docs/report.txt', { body: 'written on A' })).status, 201);
  t.equal((await b.request('GET', '/docs/report.txt')).body, 'written on A', 'B reads what A wrote');
  t.equal((await b.request('PROPPATCH', '/docs/report.txt', { body: PROPPATCH_BODY })).status, 207);
  t.equal((await c.request('MOVE', '/docs/', { headers: { destination: `${c.origin}/archive/` } })).status, 201);
  const found = await a.request('PROPFIND', '/archive/report.txt', {
    headers: { depth: '0' },
    body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Z:color xmlns:Z="urn:z"/></D:prop></D:propfind>',
  });
  t.match(found.body, /<Z:color[^>]*>blue<\/Z:color>/, 'A sees the move made on C, with the property set on B');
  t.equal((await a.request('GET', '/docs/report.txt')).status, 404);

  const lock = await a.request('LOCK', '/archive/report.txt', { headers: { timeout: 'Second-600' }, body: LOCK_BODY });
  t.equal(lock.status, 200);
  const token = String(lock.headers['lock-token']);
  t.equal((await b.request('PUT', '/archive/report.txt', { body: 'no token' })).status, 423, 'B honours the lock taken on A');
  t.equal((await c.request('PUT', '/archive/report.txt', { headers: { if: `(${token})` }, body: 'with the token' })).status, 204);
  t.equal((await a.request('GET', '/archive/report.txt')).body, 'with the token');
});
