/**
 * Nothing outside the served root is ever read, created, changed or deleted: traversal in the
 * request target, in Destination and in If tags, in every encoding; symlinks planted inside the
 * root that point outside; a collection copied or moved into itself. A sentinel folder beside
 * the root holds a secret; after every request it must be exactly as it was and no response may
 * carry its content.
 */
import t, { type Test } from 'tap';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, tempDir, type TestServer } from '../helpers/server.js';
import { rawExchange, rawRequest, snapshot } from './support.js';

const SECRET = 'SENTINEL-SECRET-CONTENT';
const LOCKINFO = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
const PROPPATCH = '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:a xmlns:x="urn:x">pwned</x:a></D:prop></D:set></D:propertyupdate>';

interface World {
  s: TestServer;
  base: string;
  root: string;
  /** Everything outside the root, as it must stay. */
  outside(): string[];
}

/** base/{root (served), sentinel/{secret.txt, sub/deep.txt}, secret.txt} */
async function world(t: Test): Promise<World> {
  const base = tempDir(t);
  const root = path.join(base, 'root');
  mkdirSync(root);
  mkdirSync(path.join(base, 'sentinel', 'sub'), { recursive: true });
  writeFileSync(path.join(base, 'secret.txt'), SECRET);
  writeFileSync(path.join(base, 'sentinel', 'secret.txt'), SECRET);
  writeFileSync(path.join(base, 'sentinel', 'sub', 'deep.txt'), SECRET);
  writeFileSync(path.join(root, 'src.txt'), 'source');
  mkdirSync(path.join(root, 'dir'));
  writeFileSync(path.join(root, 'dir', 'member.txt'), 'member');
  const s = await startServer(t, { root });
  return { s, base, root, outside: () => snapshot(base, root) };
}

/** Ways to say "the parent of the root" in a request target or Destination. */
const ESCAPES: Array<[string, string]> = [
  ['dot-dot', '/../sentinel/secret.txt'],
  ['dot-dot below a folder', '/dir/../../sentinel/secret.txt'],
  ['encoded dots', '/%2e%2e/sentinel/secret.txt'],
  ['encoded dots and slash', '/%2e%2e%2fsentinel%2fsecret.txt'],
  ['mixed case encoding', '/%2E%2e/%2e%2E/secret.txt'],
  ['encoded slash', '/..%2fsecret.txt'],
  ['NUL', '/src.txt%00/../../secret.txt'],
  ['NUL alone', '/%00'],
  ['overlong dot', '/%c0%ae%c0%ae/sentinel/secret.txt'],
  ['overlong slash', '/..%c0%afsentinel%c0%afsecret.txt'],
  ['three-byte overlong dot', '/%e0%80%ae%e0%80%ae/secret.txt'],
  ['absolute-form target', 'http://127.0.0.1/../sentinel/secret.txt'],
  ['dot segment', '/./../secret.txt'],
];
/**
 * Double encoding decodes once to a harmless literal name such as "%2e%2e", and a backslash is an
 * ordinary character of a name ("..\\sentinel\\secret.txt" is one name): they stay inside.
 */
const LITERALS: Array<[string, string]> = [
  ['double-encoded dots', '/%252e%252e/%252e%252e/secret.txt'],
  ['double-encoded slash', '/..%252fsecret.txt'],
  ['encoded backslash', '/..%5csentinel%5csecret.txt'],
  ['backslashes', '/..\\sentinel\\secret.txt'],
  ['backslash folder', '/dir\\..\\..\\secret.txt'],
];

function requestFor(method: string, target: string, port: number): string {
  const host = { Host: `127.0.0.1:${port}` };
  switch (method) {
    case 'PUT':
      return rawRequest(method, target, host, 'PWNED');
    case 'PROPPATCH':
      return rawRequest(method, target, host, PROPPATCH);
    case 'LOCK':
      return rawRequest(method, target, host, LOCKINFO);
    case 'COPY':
    case 'MOVE':
      return rawRequest(method, target, { ...host, Destination: '/landed.txt' });
    case 'PROPFIND':
      return rawRequest(method, target, { ...host, Depth: '1' });
    case 'UNLOCK':
      return rawRequest(method, target, { ...host, 'Lock-Token': '<urn:uuid:00000000-0000-0000-0000-000000000000>' });
    default:
      return rawRequest(method, target, host);
  }
}

const METHODS = ['OPTIONS', 'GET', 'HEAD', 'PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPFIND', 'PROPPATCH', 'LOCK', 'UNLOCK'];

t.test('traversal in the request target, for every method', async (t) => {
  const w = await world(t);
  const before = w.outside();
  for (const method of METHODS) {
    for (const [name, target] of ESCAPES) {
      const res = await rawExchange(w.s.port, requestFor(method, target, w.s.port));
      t.equal(res.statuses.length, 1, `${method} ${name}: one answer`);
      t.ok(res.statuses[0]! >= 400 && res.statuses[0]! < 500, `${method} ${name}: ${res.statuses[0]}`);
      t.notOk(res.text.includes(SECRET), `${method} ${name}: no secret in the answer`);
    }
    for (const [name, target] of LITERALS) {
      const res = await rawExchange(w.s.port, requestFor(method, target, w.s.port));
      t.notOk(res.text.includes(SECRET), `${method} ${name}: no secret in the answer`);
      t.ok(res.statuses[0]! < 500, `${method} ${name}: ${res.statuses[0]}`);
    }
  }
  t.same(w.outside(), before, 'nothing outside the root was created, changed or deleted');
});

t.test('traversal in Destination (as a path and as a URI) and in If tags', async (t) => {
  const w = await world(t);
  const before = w.outside();
  const host = `127.0.0.1:${w.s.port}`;
  for (const method of ['COPY', 'MOVE']) {
    for (const source of ['/src.txt', '/dir']) {
      for (const [name, target] of ESCAPES.filter(([, x]) => x.startsWith('/'))) {
        for (const destination of [target, `http://${host}${target}`]) {
          const res = await rawExchange(w.s.port, rawRequest(method, source, { Host: host, Destination: destination, Overwrite: 'T' }));
          t.ok(res.statuses[0]! >= 400 && res.statuses[0]! < 500, `${method} ${source} to ${name} (${destination.slice(0, 10)}…): ${res.statuses[0]}`);
        }
      }
    }
  }
  // A tagged If list naming a resource outside can never be true, and never reaches outside.
  for (const [name, target] of ESCAPES.filter(([, x]) => x.startsWith('/'))) {
    const res = await rawExchange(w.s.port, rawRequest('PUT', '/src.txt', { Host: host, If: `<http://${host}${target}> (["x"])` }, 'changed'));
    t.ok(res.statuses[0]! >= 400, `If tag ${name}: ${res.statuses[0]}`);
  }
  t.same(readdirSync(w.root).sort(), ['.fastdav', 'dir', 'src.txt'], 'sources are still there, nothing landed');
  t.same(w.outside(), before, 'nothing outside the root changed');
});

t.test('symlinks planted inside the root that point outside are never followed', async (t) => {
  const w = await world(t);
  const sentinel = path.join(w.base, 'sentinel');
  symlinkSync('../sentinel/secret.txt', path.join(w.root, 'link-file'));
  symlinkSync('../sentinel', path.join(w.root, 'link-dir'));
  symlinkSync(sentinel, path.join(w.root, 'abs-dir'));
  mkdirSync(path.join(w.root, 'inner'));
  symlinkSync('../../sentinel', path.join(w.root, 'inner', 'up'));
  writeFileSync(path.join(w.root, 'inner', 'own.txt'), 'own');
  const before = w.outside();
  const host = `127.0.0.1:${w.s.port}`;

  const cases: Array<[string, string, Record<string, string>, string]> = [
    ['GET', '/link-file', {}, ''],
    ['GET', '/link-dir/secret.txt', {}, ''],
    ['GET', '/abs-dir/sub/deep.txt', {}, ''],
    ['GET', '/inner/up/secret.txt', {}, ''],
    ['GET', '/link-dir/', {}, ''],
    ['HEAD', '/link-file', {}, ''],
    ['PROPFIND', '/link-dir/', { Depth: '1' }, ''],
    ['PUT', '/link-file', {}, 'PWNED'],
    ['PUT', '/link-dir/new.txt', {}, 'PWNED'],
    ['PUT', '/inner/up/secret.txt', {}, 'PWNED'],
    ['MKCOL', '/link-dir/newdir', {}, ''],
    ['DELETE', '/link-file', {}, ''],
    ['DELETE', '/link-dir', {}, ''],
    ['DELETE', '/abs-dir/sub', {}, ''],
    ['PROPPATCH', '/link-file', {}, PROPPATCH],
    ['LOCK', '/link-file', {}, LOCKINFO],
    ['LOCK', '/link-dir/new.txt', {}, LOCKINFO],
    ['COPY', '/link-dir', { Destination: '/stolen' }, ''],
    ['COPY', '/link-file', { Destination: '/stolen.txt' }, ''],
    ['MOVE', '/link-dir', { Destination: '/moved' }, ''],
    ['COPY', '/src.txt', { Destination: '/link-dir/planted.txt' }, ''],
    ['COPY', '/src.txt', { Destination: '/link-file', Overwrite: 'T' }, ''],
    ['MOVE', '/src.txt', { Destination: '/link-file', Overwrite: 'T' }, ''],
    ['MOVE', '/src.txt', { Destination: '/abs-dir/sub/deep.txt', Overwrite: 'T' }, ''],
  ];
  for (const [method, url, headers, body] of cases) {
    const res = await rawExchange(w.s.port, rawRequest(method, url, { Host: host, ...headers }, body));
    t.ok(res.statuses[0]! >= 400 && res.statuses[0]! < 500, `${method} ${url} ${JSON.stringify(headers)}: ${res.statuses[0]}`);
    t.notOk(res.text.includes(SECRET), `${method} ${url}: no secret`);
  }

  // Listings and tree operations skip the links; removing a folder removes the link, not its target.
  const listing = await rawExchange(w.s.port, rawRequest('PROPFIND', '/', { Host: host, Depth: 'infinity' }));
  t.same(listing.statuses, [207]);
  t.notMatch(listing.text, /link-file|link-dir|abs-dir|inner\/up/, 'links leading out are not listed');
  t.same((await rawExchange(w.s.port, rawRequest('COPY', '/inner', { Host: host, Destination: '/inner-copy' }))).statuses, [201]);
  t.same(readdirSync(path.join(w.root, 'inner-copy')), ['own.txt'], 'the copy leaves the outward link behind');
  t.same((await rawExchange(w.s.port, rawRequest('DELETE', '/inner', { Host: host }))).statuses, [204]);
  t.same(w.outside(), before, 'the sentinel is exactly as it was');
});

t.test('a collection copied or moved into itself is refused', async (t) => {
  const w = await world(t);
  mkdirSync(path.join(w.root, 'dir', 'sub'));
  const before = snapshot(w.base);
  const host = `127.0.0.1:${w.s.port}`;
  const cases: Array<[string, string, string]> = [
    ['COPY', '/dir', '/dir/sub/copy'],
    ['COPY', '/dir/', '/dir/'],
    ['COPY', '/dir', '/dir'],
    ['COPY', '/dir', `http://${host}/%64ir/sub/x`],
    ['MOVE', '/dir', '/dir/sub/moved'],
    ['MOVE', '/dir/', '/dir/sub/'],
    ['MOVE', '/%64ir', `http://${host}/dir/x`],
    ['MOVE', '/dir/sub', '/dir'],
    ['COPY', '/', '/dir/root-copy'],
    ['MOVE', '/', '/dir/root-moved'],
  ];
  for (const [method, source, destination] of cases) {
    const res = await rawExchange(w.s.port, rawRequest(method, source, { Host: host, Destination: destination, Overwrite: 'T' }));
    t.same(res.statuses, [403], `${method} ${source} -> ${destination}`);
  }
  t.same(snapshot(w.base), before, 'the tree is unchanged');
});
