/** Dead properties and locks live in the metadata store: they survive a restart of the app. */
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../../src/config.js';
import { FakeClock, findProp, lockBody, multistatus, tempDir, xmlShape } from '../helpers/server.js';

const PROPPATCH = `<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>
<Z:note xml:lang="fr">été &amp; hiver <Z:nested a="1">😀</Z:nested></Z:note>
</D:prop></D:set></D:propertyupdate>`;

const PROPFIND_NOTE = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:note/><D:lockdiscovery/></D:prop></D:propfind>';

async function boot(root: string, clock: FakeClock) {
  return buildApp(testConfig({ root }), { clock });
}

t.test('dead properties and locks survive a restart; expired locks do not', async (t) => {
  const root = tempDir(t);
  const clock = new FakeClock();
  let app = await boot(root, clock);
  t.equal((await app.inject({ method: 'PUT', url: '/doc.txt', payload: 'v1' })).statusCode, 201);
  t.equal((await app.inject({ method: 'MKCOL', url: '/dir' })).statusCode, 201);
  const pp = await app.inject({ method: 'PROPPATCH', url: '/doc.txt', payload: PROPPATCH, headers: { 'content-type': 'text/xml' } });
  t.equal(pp.statusCode, 207);
  t.match(pp.body, 'HTTP/1.1 200 OK');
  const lock = await app.inject({ method: 'LOCK', url: '/doc.txt', payload: lockBody('exclusive', '<D:href>mailto:me@example.com</D:href>'), headers: { timeout: 'Second-600', depth: '0' } });
  t.equal(lock.statusCode, 200);
  const token = String(lock.headers['lock-token']).slice(1, -1);
  const dirLock = await app.inject({ method: 'LOCK', url: '/dir', payload: lockBody('shared'), headers: { timeout: 'Second-60' } });
  t.equal(dirLock.statusCode, 200);
  const before = await app.inject({ method: 'PROPFIND', url: '/doc.txt', payload: PROPFIND_NOTE, headers: { depth: '0' } });
  await app.close();

  clock.advance(120); // past the 60 s lock on /dir, well inside the 600 s lock on the file
  app = await boot(root, clock);
  t.teardown(() => app.close());
  const after = await app.inject({ method: 'PROPFIND', url: '/doc.txt', payload: PROPFIND_NOTE, headers: { depth: '0' } });
  t.equal(after.statusCode, 207);
  const note = (body: string) => {
    const found = findProp(multistatus(body)[0]!, 'urn:z', 'note');
    return found?.status === 200 ? xmlShape(found.el) : undefined;
  };
  t.ok(note(before.body), 'the property was there before');
  t.same(note(after.body), note(before.body), 'the dead property is identical after the restart');
  t.match(after.body, token, 'lockdiscovery still shows the lock');
  t.match(after.body, 'mailto:me@example.com', 'with its owner');
  t.match(after.body, /<D:timeout>Second-480<\/D:timeout>/, 'and the time it has left');

  const put = await app.inject({ method: 'PUT', url: '/doc.txt', payload: 'v2' });
  t.equal(put.statusCode, 423, 'the lock still guards the file');
  const putWithToken = await app.inject({ method: 'PUT', url: '/doc.txt', payload: 'v2', headers: { if: `(<${token}>)` } });
  t.equal(putWithToken.statusCode, 204, 'and its token still opens it');

  const dirPut = await app.inject({ method: 'PUT', url: '/dir/new.txt', payload: 'x' });
  t.equal(dirPut.statusCode, 201, 'the expired lock on /dir is gone');

  const unlock = await app.inject({ method: 'UNLOCK', url: '/doc.txt', headers: { 'lock-token': `<${token}>` } });
  t.equal(unlock.statusCode, 204);
});

t.test('a lock expires on time across a restart', async (t) => {
  const root = tempDir(t);
  const clock = new FakeClock();
  let app = await boot(root, clock);
  await app.inject({ method: 'PUT', url: '/f', payload: 'x' });
  const lock = await app.inject({ method: 'LOCK', url: '/f', payload: lockBody(), headers: { timeout: 'Second-100' } });
  t.equal(lock.statusCode, 200);
  await app.close();
  clock.advance(99);
  app = await boot(root, clock);
  t.equal((await app.inject({ method: 'DELETE', url: '/f' })).statusCode, 423, 'alive at 99 s');
  await app.close();
  clock.advance(1);
  app = await boot(root, clock);
  t.teardown(() => app.close());
  t.equal((await app.inject({ method: 'DELETE', url: '/f' })).statusCode, 204, 'gone at 100 s');
});

t.test('the metadata folder is private to the server user', async (t) => {
  const root = tempDir(t);
  const { mkdirSync, statSync } = await import('node:fs');
  mkdirSync(`${root}/.fastdav`, { mode: 0o755 });
  const app = await boot(root, new FakeClock());
  t.teardown(() => app.close());
  t.equal(statSync(`${root}/.fastdav`).mode & 0o777, 0o700);
});
