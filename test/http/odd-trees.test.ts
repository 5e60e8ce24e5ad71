/**
 * Trees a WebDAV client could not have made but a local user can: links that loop back to an
 * ancestor, and names with a backslash (ordinary names). Listings, copies and deletes stay
 * finite, correct and alive.
 */
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { multistatus, startServer } from '../helpers/server.js';

t.test('a link back to an ancestor is listed once, never walked in circles', async (t) => {
  const s = await startServer(t);
  mkdirSync(path.join(s.root, 'a/b'), { recursive: true });
  writeFileSync(path.join(s.root, 'a/b/f.txt'), 'x');
  symlinkSync('..', path.join(s.root, 'a/b/up'));

  const pf = await s.request('PROPFIND', '/a/', { headers: { depth: 'infinity' } });
  t.equal(pf.status, 207);
  const hrefs = multistatus(pf.body).map((r) => r.href).sort();
  t.same(hrefs, ['/a/', '/a/b/', '/a/b/f.txt', '/a/b/up/'], 'the loop is reported as itself, not followed');

  const copy = await s.request('COPY', '/a/', { headers: { destination: '/copy/' } });
  t.equal(copy.status, 207, 'a member could not be copied');
  const failed = multistatus(copy.body);
  t.same(failed.map((r) => [r.href, r.status]), [['/copy/b/up/', 508]], 'the looping link is reported 508 Loop Detected');
  t.ok(existsSync(path.join(s.root, 'copy/b/f.txt')), 'everything else was copied');
  t.notOk(existsSync(path.join(s.root, 'copy/b/up')), 'the loop was not copied');

  t.equal((await s.request('DELETE', '/a/')).status, 204, 'deleting removes the link, not what it points to');
  t.ok(existsSync(path.join(s.root, 'copy/b/f.txt')));
});

t.test('a name with a backslash made on the server is listed, copied and deleted like any other', async (t) => {
  const s = await startServer(t);
  mkdirSync(path.join(s.root, 'd'));
  writeFileSync(path.join(s.root, 'd/ok.txt'), 'fine');
  writeFileSync(path.join(s.root, 'd/back\\slash.txt'), 'made on the server');

  const pf = await s.request('PROPFIND', '/d/', { headers: { depth: '1' } });
  t.equal(pf.status, 207);
  t.same(multistatus(pf.body).map((r) => r.href).sort(), ['/d/', '/d/back%5Cslash.txt', '/d/ok.txt']);
  t.equal((await s.request('GET', '/d/back%5Cslash.txt')).body, 'made on the server');

  t.equal((await s.request('COPY', '/d/', { headers: { destination: '/e/' } })).status, 201);
  t.same(readdirSync(path.join(s.root, 'e')).sort(), ['back\\slash.txt', 'ok.txt']);

  t.equal((await s.request('DELETE', '/d/')).status, 204);
  t.notOk(existsSync(path.join(s.root, 'd')), 'the folder and everything in it is gone');
});
