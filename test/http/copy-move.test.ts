import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lockBody, lockTokenOf, multistatus, propText, startServer, type TestServer } from '../helpers/server.js';


const setTag = (value: string) =>
  `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:tag xmlns:z="urn:z">${value}</z:tag></D:prop></D:set></D:propertyupdate>`;

async function tagOf(s: TestServer, url: string): Promise<string | undefined> {
  const res = await s.request('PROPFIND', url, { headers: { depth: '0' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><z:tag xmlns:z="urn:z"/></D:prop></D:propfind>' });
  return res.status === 207 ? propText(multistatus(res.body)[0]!, 'urn:z', 'tag') : undefined;
}

async function lockCount(s: TestServer, url: string): Promise<number> {
  const res = await s.request('PROPFIND', url, { headers: { depth: '0' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>' });
  return (res.body.match(/<D:activelock>/g) ?? []).length;
}

const read = (s: TestServer, rel: string) => readFileSync(path.join(s.root, rel), 'utf8');

/** /src.txt, /other.txt, /c/{a.txt, sub/b.txt}, /d/{old.txt} */
async function setup(t: Test): Promise<TestServer> {
  const s = await startServer(t);
  mkdirSync(path.join(s.root, 'c', 'sub'), { recursive: true });
  mkdirSync(path.join(s.root, 'd'));
  writeFileSync(path.join(s.root, 'src.txt'), 'source');
  writeFileSync(path.join(s.root, 'other.txt'), 'other');
  writeFileSync(path.join(s.root, 'c', 'a.txt'), 'a');
  writeFileSync(path.join(s.root, 'c', 'sub', 'b.txt'), 'b');
  writeFileSync(path.join(s.root, 'd', 'old.txt'), 'old');
  return s;
}

for (const method of ['COPY', 'MOVE'] as const) {
  t.test(`${method} a file: 201 new, 204 overwritten, 412 with Overwrite: F`, async (t) => {
    const s = await setup(t);
    const dest = (p: string) => ({ destination: `${s.origin}${p}` });
    t.equal((await s.request(method, '/src.txt', { headers: dest('/new.txt') })).status, 201);
    t.equal(read(s, 'new.txt'), 'source');
    t.equal(existsSync(path.join(s.root, 'src.txt')), method === 'COPY', method === 'COPY' ? 'the source stays' : 'the source is gone');
    const from = method === 'COPY' ? '/src.txt' : '/new.txt';
    t.equal((await s.request(method, from, { headers: { ...dest('/other.txt'), overwrite: 'F' } })).status, 412);
    t.equal(read(s, 'other.txt'), 'other', 'Overwrite: F leaves the destination alone');
    t.equal((await s.request(method, from, { headers: { ...dest('/other.txt'), overwrite: 'T' } })).status, 204);
    t.equal(read(s, 'other.txt'), 'source');
  });

  t.test(`${method}: Destination as an absolute path, percent-encoded`, async (t) => {
    const s = await setup(t);
    t.equal((await s.request(method, '/src.txt', { headers: { destination: '/caf%C3%A9%20copy.txt' } })).status, 201);
    t.equal(read(s, 'café copy.txt'), 'source');
  });

  t.test(`${method}: Destination on another server → 502, malformed → 400`, async (t) => {
    const s = await setup(t);
    for (const d of ['http://example.invalid/x.txt', `http://127.0.0.1:${s.port === 1 ? 2 : 1}/x.txt`, `http://localhost.invalid:${s.port}/x.txt`]) {
      t.equal((await s.request(method, '/src.txt', { headers: { destination: d } })).status, 502, d);
    }
    t.equal((await s.request(method, '/src.txt', { headers: { destination: 'relative.txt' } })).status, 400);
    t.equal((await s.request(method, '/src.txt')).status, 400, 'no Destination');
    t.equal((await s.request(method, '/src.txt', { headers: { destination: '/a/../x.txt' } })).status, 400, 'dot segments');
    t.equal((await s.request(method, '/src.txt', { headers: { destination: '/.fastdav/x' } })).status, 403, 'the metadata store');
    t.equal((await s.request(method, '/src.txt', { headers: { destination: `${s.origin}/x.txt`, overwrite: 'maybe' } })).status, 400, 'bad Overwrite');
    t.equal(readdirSync(s.root).filter((n) => n.startsWith('x')).length, 0, 'nothing was created');
    t.ok(existsSync(path.join(s.root, 'src.txt')));
  });

  t.test(`${method}: missing destination parent → 409, missing source → 404`, async (t) => {
    const s = await setup(t);
    t.equal((await s.request(method, '/src.txt', { headers: { destination: '/no/such/x.txt' } })).status, 409);
    t.equal((await s.request(method, '/src.txt', { headers: { destination: '/other.txt/x' } })).status, 409, 'parent is a file');
    t.equal((await s.request(method, '/nothing', { headers: { destination: '/x' } })).status, 404);
    t.ok(existsSync(path.join(s.root, 'src.txt')));
  });

  t.test(`${method}: source and destination the same or nested → 403`, async (t) => {
    const s = await setup(t);
    t.equal((await s.request(method, '/src.txt', { headers: { destination: '/src.txt' } })).status, 403);
    t.equal((await s.request(method, '/c', { headers: { destination: '/c/' } })).status, 403, 'same collection, other spelling');
    t.equal((await s.request(method, '/c', { headers: { destination: '/c/sub/inner' } })).status, 403, 'into itself');
    t.equal((await s.request(method, '/c/sub', { headers: { destination: '/c' } })).status, 403, 'onto its ancestor');
    t.equal(read(s, 'c/sub/b.txt'), 'b', 'nothing changed');
  });

  t.test(`${method}: dead properties travel; an overwritten destination loses its own`, async (t) => {
    const s = await setup(t);
    await s.request('PROPPATCH', '/c', { body: setTag('coll') });
    await s.request('PROPPATCH', '/c/sub/b.txt', { body: setTag('member b') });
    await s.request('PROPPATCH', '/d', { body: setTag('old dest') });
    await s.request('PROPPATCH', '/d/old.txt', { body: setTag('old member') });
    const res = await s.request(method, '/c', { headers: { destination: `${s.origin}/d` } });
    t.equal(res.status, 204);
    t.equal(await tagOf(s, '/d'), 'coll');
    t.equal(await tagOf(s, '/d/sub/b.txt'), 'member b');
    t.notOk(existsSync(path.join(s.root, 'd', 'old.txt')), 'the destination is replaced, not merged');
    await s.request('PUT', '/d/old.txt', { body: 'recreated' });
    t.equal(await tagOf(s, '/d/old.txt'), undefined, 'properties of replaced members do not come back');
    if (method === 'COPY') {
      t.equal(await tagOf(s, '/c/sub/b.txt'), 'member b', 'the source keeps its properties');
    } else {
      t.notOk(existsSync(path.join(s.root, 'c')));
      await s.request('MKCOL', '/c');
      t.equal(await tagOf(s, '/c'), undefined, 'nothing left behind at the source');
    }
  });

  t.test(`${method} onto a locked destination needs its token`, async (t) => {
    const s = await setup(t);
    const token = lockTokenOf(await s.request('LOCK', '/other.txt', { body: lockBody() }));
    t.equal((await s.request(method, '/src.txt', { headers: { destination: '/other.txt' } })).status, 423);
    t.equal(read(s, 'other.txt'), 'other');
    t.equal((await s.request(method, '/src.txt', { headers: { destination: '/other.txt', if: `</other.txt> (<${token}>)` } })).status, 204);
    t.equal(await lockCount(s, '/other.txt'), 0, 'the overwritten resource loses its lock (a new resource)');
  });

  t.test(`${method} into a locked collection needs its token`, async (t) => {
    const s = await setup(t);
    const token = lockTokenOf(await s.request('LOCK', '/d', { body: lockBody(), headers: { depth: '0' } }));
    t.equal((await s.request(method, '/src.txt', { headers: { destination: '/d/new.txt' } })).status, 423);
    t.equal((await s.request(method, '/src.txt', { headers: { destination: '/d/new.txt', if: `</d> (<${token}>)` } })).status, 201);
  });
}

t.test('COPY of a collection: Depth infinity copies members, Depth 0 only the collection, Depth 1 is refused', async (t) => {
  const s = await setup(t);
  t.equal((await s.request('COPY', '/c', { headers: { destination: '/deep' } })).status, 201, 'no Depth means infinity');
  t.equal(read(s, 'deep/sub/b.txt'), 'b');
  t.equal((await s.request('COPY', '/c', { headers: { destination: '/deep2/', depth: 'infinity' } })).status, 201);
  t.equal(read(s, 'deep2/a.txt'), 'a');
  t.equal((await s.request('COPY', '/c', { headers: { destination: '/shallow', depth: '0' } })).status, 201);
  t.same(readdirSync(path.join(s.root, 'shallow')), [], 'members are not copied');
  t.equal((await s.request('DELETE', '/shallow/a.txt')).status, 404, 'litmus copy_shallow');
  t.equal((await s.request('COPY', '/c', { headers: { destination: '/one', depth: '1' } })).status, 400);
  t.notOk(existsSync(path.join(s.root, 'one')));
});

t.test('COPY onto an existing collection with Overwrite F fails, with T replaces', async (t) => {
  const s = await setup(t);
  t.equal((await s.request('COPY', '/c', { headers: { destination: '/d', overwrite: 'F' } })).status, 412);
  t.ok(existsSync(path.join(s.root, 'd', 'old.txt')));
  t.equal((await s.request('COPY', '/c', { headers: { destination: '/d', overwrite: 'T' } })).status, 204);
  t.same(readdirSync(path.join(s.root, 'd')).sort(), ['a.txt', 'sub']);
  t.equal((await s.request('COPY', '/src.txt', { headers: { destination: '/d' } })).status, 204, 'a file replaces a collection');
  t.equal(read(s, 'd'), 'source');
});

t.test('MOVE takes Depth infinity only', async (t) => {
  const s = await setup(t);
  t.equal((await s.request('MOVE', '/c', { headers: { destination: '/m', depth: '0' } })).status, 400);
  t.equal((await s.request('MOVE', '/c', { headers: { destination: '/m', depth: '1' } })).status, 400);
  t.ok(existsSync(path.join(s.root, 'c')));
  t.equal((await s.request('MOVE', '/c', { headers: { destination: '/m', depth: 'infinity' } })).status, 201);
  t.equal(read(s, 'm/sub/b.txt'), 'b');
  t.notOk(existsSync(path.join(s.root, 'c')));
});

t.test('MOVE onto an existing collection: 204, the old content is gone', async (t) => {
  const s = await setup(t);
  t.equal((await s.request('MOVE', '/c', { headers: { destination: '/d', overwrite: 'F' } })).status, 412);
  t.equal((await s.request('MOVE', '/c', { headers: { destination: '/d' } })).status, 204);
  t.same(readdirSync(path.join(s.root, 'd')).sort(), ['a.txt', 'sub']);
});

t.test('MOVE drops the locks of the source; COPY never copies locks', async (t) => {
  const s = await setup(t);
  const token = lockTokenOf(await s.request('LOCK', '/c', { body: lockBody('shared') }));
  t.equal(await lockCount(s, '/c/sub/b.txt'), 1);

  const copy = await s.request('COPY', '/c', { headers: { destination: '/copied' } });
  t.equal(copy.status, 201, 'reading a locked source needs no token');
  t.equal(await lockCount(s, '/copied'), 0, 'litmus copy: no lock on the copy');
  t.equal(await lockCount(s, '/copied/sub/b.txt'), 0);
  t.equal(await lockCount(s, '/c'), 1, 'the source is still locked');
  t.equal((await s.request('PUT', '/copied/a.txt', { body: 'free' })).status, 204);

  t.equal((await s.request('MOVE', '/c', { headers: { destination: '/moved' } })).status, 423, 'moving needs the token');
  t.equal((await s.request('MOVE', '/c', { headers: { destination: '/moved', if: `(<${token}>)` } })).status, 201);
  t.equal(await lockCount(s, '/moved'), 0, 'the lock did not move');
  t.equal(await lockCount(s, '/moved/sub/b.txt'), 0);
  t.equal((await s.request('PUT', '/moved/a.txt', { body: 'free' })).status, 204);
  t.equal((await s.request('MKCOL', '/c')).status, 201, 'nothing is locked at the old place either');
  t.equal((await s.request('PUT', '/c/x', { body: 'x' })).status, 201);
  t.equal((await s.request('UNLOCK', '/c', { headers: { 'lock-token': `<${token}>` } })).status, 409, 'the token is gone');
});

t.test('MOVE out of a locked collection needs its token', async (t) => {
  const s = await setup(t);
  const token = lockTokenOf(await s.request('LOCK', '/c', { body: lockBody() }));
  t.equal((await s.request('MOVE', '/c/a.txt', { headers: { destination: '/out.txt' } })).status, 423);
  t.ok(existsSync(path.join(s.root, 'c', 'a.txt')));
  t.equal((await s.request('MOVE', '/c/a.txt', { headers: { destination: '/out.txt', if: `</c> (<${token}>)` } })).status, 201);
});

t.test('MOVE of a tree with a locked member is refused', async (t) => {
  const s = await setup(t);
  const token = lockTokenOf(await s.request('LOCK', '/c/sub/b.txt', { body: lockBody() }));
  const res = await s.request('MOVE', '/c', { headers: { destination: '/moved' } });
  t.equal(res.status, 423);
  t.match(res.body, '/c/sub/b.txt', 'names the locked member');
  t.ok(existsSync(path.join(s.root, 'c', 'sub', 'b.txt')));
  t.notOk(existsSync(path.join(s.root, 'moved')));
  t.equal((await s.request('MOVE', '/c', { headers: { destination: '/moved', if: `</c/sub/b.txt> (<${token}>)` } })).status, 201);
});

t.test('with a mount prefix, Destination must be under it', async (t) => {
  const s = await startServer(t, { prefix: '/dav/' });
  writeFileSync(path.join(s.root, 'f.txt'), 'f');
  t.equal((await s.request('COPY', '/dav/f.txt', { headers: { destination: '/elsewhere/g.txt' } })).status, 502);
  t.equal((await s.request('COPY', '/dav/f.txt', { headers: { destination: '/dav/g.txt' } })).status, 201);
  t.equal((await s.request('MOVE', '/dav/g.txt', { headers: { destination: `${s.origin}/dav/h.txt` } })).status, 201);
  t.equal(read(s, 'h.txt'), 'f');
});

t.test('the Windows rename: absolute Destination, Overwrite F, Content-Length 0', async (t) => {
  const s = await setup(t);
  const res = await s.request('MOVE', '/src.txt', {
    headers: {
      destination: `http://127.0.0.1:${s.port}/renamed.txt`,
      overwrite: 'F',
      'content-length': '0',
      'user-agent': 'Microsoft-WebDAV-MiniRedir/10.0.19045',
      translate: 'f',
    },
  });
  t.equal(res.status, 201);
  t.equal(read(s, 'renamed.txt'), 'source');
});
