import t from 'tap';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { startServer } from '../helpers/server.js';

t.test('a URL ending in / names a collection: on a file it names nothing', async (t) => {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'f.txt'), 'data');
  t.equal((await s.request('PROPFIND', '/f.txt/', { headers: { depth: '0' } })).status, 404);
  t.equal((await s.request('GET', '/f.txt/')).status, 404);
  t.equal((await s.request('DELETE', '/f.txt/')).status, 404);
  t.equal(readFileSync(path.join(s.root, 'f.txt'), 'utf8'), 'data', 'the file is untouched');
  t.equal((await s.request('PROPFIND', '/f.txt', { headers: { depth: '0' } })).status, 207);
});

t.test('PUT to a URL ending in / is refused and creates nothing', async (t) => {
  const s = await startServer(t);
  const res = await s.request('PUT', '/new/', { body: 'x' });
  t.equal(res.status, 400);
  t.notOk(existsSync(path.join(s.root, 'new')));
  writeFileSync(path.join(s.root, 'f.txt'), 'old');
  t.equal((await s.request('PUT', '/f.txt/', { body: 'new' })).status, 400);
  t.equal(readFileSync(path.join(s.root, 'f.txt'), 'utf8'), 'old');
});

t.test('the 423 of a locked collection names its root with a trailing slash', async (t) => {
  const s = await startServer(t);
  t.equal((await s.request('MKCOL', '/c/')).status, 201);
  const lockinfo = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
  t.equal((await s.request('LOCK', '/c/', { body: lockinfo })).status, 200);
  const res = await s.request('PUT', '/c/x.txt', { body: 'x' });
  t.equal(res.status, 423);
  t.match(res.body, /<D:lock-token-submitted><D:href>\/c\/<\/D:href><\/D:lock-token-submitted>/);
});
