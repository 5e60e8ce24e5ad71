/**
 * --read-only (FASTDAV_READ_ONLY) on a folder the server truly cannot write (issue 11 item 11):
 * as root the test runs the server as the unprivileged user nobody on a root-owned folder; as
 * another user it serves a folder without write permission. The server starts (without the option
 * it cannot: it would create its metadata folder), creates nothing, says `DAV: 1`, lists only the
 * reading methods in Allow, answers every write method 403, and the folder stays byte for byte
 * as it was. Runs the built command (dist/cli.js).
 */
import t, { type Test } from 'tap';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCliSync, startCli } from '../helpers/cli.js';
import { request, tempDir } from '../helpers/server.js';

const isRoot = process.getuid?.() === 0;
/** As root, the server runs as the unprivileged user nobody. */
const asUnprivileged = isRoot ? { user: { uid: 65534, gid: 65534 } } : {};

/** A served folder the server's user cannot write: a file, a folder with a file. */
function readOnlyTree(t: Test): string {
  const root = tempDir(t);
  writeFileSync(path.join(root, 'a.txt'), 'alpha');
  mkdirSync(path.join(root, 'sub'));
  writeFileSync(path.join(root, 'sub', 'b.txt'), 'beta');
  const modes: [string, number][] = [[root, 0o755], [path.join(root, 'sub'), 0o755]];
  if (!isRoot) for (const [dir] of modes) chmodSync(dir, 0o555); // root-owned 0755 is read-only to nobody
  else chmodSync(root, 0o755);
  t.teardown(() => modes.forEach(([dir, mode]) => chmodSync(dir, mode | 0o200)));
  return root;
}

function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => {
      const p = path.join(e.parentPath, e.name);
      const st = statSync(p);
      return `${path.relative(dir, p)} ${st.mode.toString(8)} ${st.mtimeMs} ${e.isFile() ? readFileSync(p, 'utf8') : ''}`;
    })
    .sort();
}

async function serve(t: Test, args: string[], env: Record<string, string> = {}): Promise<string> {
  return (await startCli(t, ['--port', '0', ...args], { env, ...asUnprivileged })).origin;
}

t.test('without --read-only the server cannot start on such a folder: it would write its metadata folder', async (t) => {
  const root = readOnlyTree(t);
  const r = runCliSync(['--port', '0', '--root', root], asUnprivileged);
  t.equal(r.status, 2);
  t.match(r.stderr, /metadataDir: cannot create the metadata folder .* \(EACCES\).*--read-only/);
});

for (const how of ['flag', 'env'] as const) {
  t.test(`--read-only (${how === 'flag' ? 'the flag' : 'FASTDAV_READ_ONLY'}): serves, writes nothing, DAV: 1, reads allowed, every write 403`, async (t) => {
    const root = readOnlyTree(t);
    const before = snapshot(root);
    const origin = how === 'flag' ? await serve(t, ['--root', root, '--read-only']) : await serve(t, ['--root', root], { FASTDAV_READ_ONLY: 'true' });

    const options = await request(origin, 'OPTIONS', '/');
    t.equal(options.headers['dav'], '1', 'class 1 only: no locking');
    t.same(String(options.headers['allow']).split(', ').sort(), ['GET', 'HEAD', 'OPTIONS', 'PROPFIND'], 'Allow lists only the reading methods');
    t.equal((await request(origin, 'GET', '/a.txt')).body, 'alpha');
    t.equal((await request(origin, 'HEAD', '/sub/b.txt')).status, 200);
    const listing = await request(origin, 'PROPFIND', '/', { headers: { depth: '1' } });
    t.equal(listing.status, 207);
    t.match(listing.body, /sub\//);

    const writes: [string, string, Record<string, string>, string?][] = [
      ['PUT', '/new.txt', {}, 'x'],
      ['PUT', '/a.txt', {}, 'overwrite'],
      ['DELETE', '/a.txt', {}],
      ['DELETE', '/sub/', {}],
      ['MKCOL', '/dir/', {}],
      ['COPY', '/a.txt', { destination: `${origin}/c.txt` }],
      ['MOVE', '/sub/', { destination: `${origin}/moved/` }],
      ['PROPPATCH', '/a.txt', { 'content-type': 'application/xml' }, '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>'],
      ['LOCK', '/a.txt', { 'content-type': 'application/xml' }, '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>'],
      ['UNLOCK', '/a.txt', { 'lock-token': '<urn:uuid:00000000-0000-4000-8000-000000000000>' }],
    ];
    for (const [method, url, headers, body] of writes) {
      const r = await request(origin, method, url, { headers, ...(body === undefined ? {} : { body }) });
      t.equal(r.status, 403, `${method} ${url}`);
      t.match(r.body, /^403 Forbidden: this server is read-only\n$/, `${method}: says why`);
    }
    t.equal((await request(origin, 'POST', '/a.txt', { body: 'x' })).status, 501, 'a method no fastdav implements stays 501');
    t.same(snapshot(root), before, 'the folder is unchanged; no .fastdav, no temporary file');
  });
}

const setProp = (value: string) =>
  `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">${value}</x></D:prop></D:set></D:propertyupdate>`;
const askProp = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><x xmlns="urn:x"/></D:prop></D:propfind>';
/** The text of the urn:x property of `url` (PROPFIND depth 0), or null when the server reports none. */
async function propOf(origin: string, url: string): Promise<string | null> {
  const r = await request(origin, 'PROPFIND', url, { headers: { depth: '0', 'content-type': 'application/xml' }, body: askProp });
  const m = /<x xmlns="urn:x">([^<]*)<\/x>[\s\S]*?HTTP\/1\.1 200/.exec(r.body);
  return m ? m[1]! : null;
}

t.test('--read-only shows the dead properties a read-write server left, and writes nothing in the metadata folder', async (t) => {
  const root = readOnlyTree(t);
  const meta = path.join(root, '.fastdav');
  if (!isRoot) chmodSync(root, 0o755); // the read-write server needs to create .fastdav
  const rw = await startCli(t, ['--port', '0', '--root', root]);
  t.equal((await request(rw.origin, 'PROPPATCH', '/a.txt', { headers: { 'content-type': 'application/xml' }, body: setProp('kept') })).status, 207);
  rw.child.kill('SIGTERM');
  t.equal(await rw.exit, 0, 'the read-write server stopped cleanly');
  // Now nobody may write the folder or its metadata (the server runs as nobody when the test is root).
  if (isRoot) for (const p of [meta, path.join(meta, 'metadata.sqlite')]) chownSync(p, 65534, 65534);
  else chmodSync(root, 0o555);
  chmodSync(path.join(meta, 'metadata.sqlite'), 0o400);
  chmodSync(meta, 0o500);
  t.teardown(() => chmodSync(meta, 0o700));
  const before = snapshot(root);

  const origin = await serve(t, ['--root', root, '--read-only']);
  t.equal(await propOf(origin, '/a.txt'), 'kept', 'the property set before is reported');
  t.equal(await propOf(origin, '/sub/b.txt'), null, 'a resource without it has none');
  t.same(snapshot(root), before, 'nothing written: no -wal or -shm file, the database unchanged');
});

t.test('--read-only with an unreadable metadata database: serves, says so once, shows no dead properties', async (t) => {
  const root = tempDir(t);
  writeFileSync(path.join(root, 'a.txt'), 'alpha');
  mkdirSync(path.join(root, '.fastdav'));
  writeFileSync(path.join(root, '.fastdav', 'metadata.sqlite'), 'not a database, '.repeat(512));
  const running = await startCli(t, ['--port', '0', '--root', root, '--read-only']);
  t.equal((await request(running.origin, 'GET', '/a.txt')).body, 'alpha');
  t.equal(await propOf(running.origin, '/a.txt'), null);
  t.match(running.output(), /--read-only: cannot read the metadata database in .*\.fastdav .*dead properties are not shown/);
});

t.test('--read-only beside a read-write server on the same folder sees its committed changes', async (t) => {
  const root = tempDir(t);
  writeFileSync(path.join(root, 'a.txt'), 'alpha');
  const rw = await startCli(t, ['--port', '0', '--root', root]);
  const set = (v: string) => request(rw.origin, 'PROPPATCH', '/a.txt', { headers: { 'content-type': 'application/xml' }, body: setProp(v) });
  t.equal((await set('one')).status, 207);
  const ro = await startCli(t, ['--port', '0', '--root', root, '--read-only']);
  t.equal(await propOf(ro.origin, '/a.txt'), 'one');
  t.equal((await set('two')).status, 207);
  t.equal(await propOf(ro.origin, '/a.txt'), 'two', 'a change made after the read-only server started');
  t.equal((await request(ro.origin, 'PROPPATCH', '/a.txt', { headers: { 'content-type': 'application/xml' }, body: setProp('three') })).status, 403);
});
