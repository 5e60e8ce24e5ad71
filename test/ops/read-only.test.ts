/**
 * --read-only (FASTDAV_READ_ONLY) on a folder the server truly cannot write (issue 11 item 11):
 * as root the test runs the server as the unprivileged user nobody on a root-owned folder; as
 * another user it serves a folder without write permission. The server starts (without the option
 * it cannot: it would create its metadata folder), creates nothing, says `DAV: 1`, lists only the
 * reading methods in Allow, answers every write method 403, and the folder stays byte for byte
 * as it was. Runs the built command (dist/cli.js).
 */
import t, { type Test } from 'tap';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
