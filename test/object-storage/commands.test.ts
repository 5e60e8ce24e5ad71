/**
 * Object storage as an operator runs it (the built command): start-up refusals in one line with
 * exit 2, `fastdav import` and `fastdav export` giving back the same bytes, names,
 * modification times and dead properties, and `fastdav gc --grace 0` leaving no object under the prefix once
 * everything was deleted through WebDAV.
 */
import t from 'tap';
import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { runCli, serve } from '../helpers/cli.js';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';
import { request, tempDir } from '../helpers/server.js';

const skip = objectStorageUnavailable(t);

/** Every file and folder below `dir`: relative name → size and mtime (ms), and the bytes of files. */
function snapshot(dir: string): Map<string, { kind: string; mtimeMs: number; bytes?: string }> {
  const out = new Map<string, { kind: string; mtimeMs: number; bytes?: string }>();
  const walk = (at: string, rel: string) => {
    for (const name of readdirSync(at).sort()) {
      const full = path.join(at, name);
      const st = statSync(full);
      const key = rel ? `${rel}/${name}` : name;
      if (st.isDirectory()) {
        out.set(key, { kind: 'folder', mtimeMs: Math.round(st.mtimeMs) });
        walk(full, key);
      } else {
        out.set(key, { kind: 'file', mtimeMs: Math.round(st.mtimeMs), bytes: readFileSync(full).toString('base64') });
      }
    }
  };
  walk(dir, '');
  return out;
}

t.test('object storage commands', { skip }, async (t) => {
  const engines = await startEngines(t);
  const env = { AWS_ACCESS_KEY_ID: engines.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: engines.s3.secretAccessKey, AWS_REGION: engines.s3.region };
  const argsFor = async (prefix: string) => {
    const s = await engines.settings(undefined, prefix);
    return ['--metadata-url', s.metadataUrl!, '--s3-bucket', s.s3Bucket!, '--s3-endpoint', s.s3Endpoint!, '--s3-prefix', prefix, '--gc-interval', '0', '--log-level', 'warn'];
  };

  t.test('start-up refusals: one clear line, exit 2', async (t) => {
    const good = await argsFor('refusals/');
    const withArg = (name: string, value: string) => {
      const args = [...good];
      args[args.indexOf(name) + 1] = value;
      return args;
    };
    const cases: [string, string[], Record<string, string>, RegExp][] = [
      ['no database', ['--s3-bucket', 'b'], env, /metadata-url postgres:\/\//],
      ['missing bucket', withArg('--s3-bucket', 'no-such-bucket'), env, /bucket "no-such-bucket".* does not exist/],
      ['wrong credentials', good, { ...env, AWS_SECRET_ACCESS_KEY: 'wrong' }, /access denied/],
      ['unreachable endpoint', withArg('--s3-endpoint', 'http://127.0.0.1:9'), env, /unreachable/],
      ['unreachable database', withArg('--metadata-url', 'postgres://fastdav:x@127.0.0.1:9/none'), env, /metadataUrl: cannot use the database/],
    ];
    for (const [what, args, e, message] of cases) {
      const r = await runCli(['--port', '0', ...args], e);
      t.equal(r.status, 2, `${what}: exit 2`);
      t.match(r.output, message, what);
      t.equal(r.output.trim().split('\n').length, 1, `${what}: one line (${r.output.trim()})`);
    }
  });

  t.test('import then export: the same bytes, names and modification times', async (t) => {
    const source = tempDir(t);
    mkdirSync(path.join(source, 'docs', 'deep'), { recursive: true });
    mkdirSync(path.join(source, 'empty folder'));
    const files: Record<string, Buffer> = {
      'readme.txt': Buffer.from('hello\n'),
      'docs/naïve café.md': Buffer.from('ünïcödé'),
      'docs/deep/big.bin': randomBytes(9 * 1024 * 1024 + 17),
      'docs/deep/empty': Buffer.alloc(0),
    };
    let when = 1_600_000_000_123;
    for (const [name, data] of Object.entries(files)) {
      writeFileSync(path.join(source, name), data);
      utimesSync(path.join(source, name), new Date(), new Date((when += 86_400_123)));
    }
    for (const folder of ['docs/deep', 'docs', 'empty folder']) utimesSync(path.join(source, folder), new Date(), new Date((when += 1000)));
    const args = await argsFor('transfer/');
    const imported = await runCli(['import', source, ...args], env);
    t.equal(imported.status, 0, imported.output);
    t.match(imported.output, /imported 4 files \(\d+ bytes\) and 3 folders/);
    const out = path.join(tempDir(t), 'out');
    const exported = await runCli(['export', out, ...args], env);
    t.equal(exported.status, 0, exported.output);
    t.same(snapshot(out), snapshot(source), 'same tree, bytes and times');

    const server = await serve(t, args, env);
    const r = await request(server.origin, 'GET', `/docs/${encodeURIComponent('naïve café.md')}`);
    t.equal(r.body, 'ünïcödé', 'served from the store');
  });

  t.test('export and import carry the dead properties', async (t) => {
    const propfind = async (origin: string, href: string) =>
      (
        await request(origin, 'PROPFIND', href, {
          headers: { depth: '0' },
          body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Z:color xmlns:Z="urn:z"/><Z:tags xmlns:Z="urn:z"/></D:prop></D:propfind>',
        })
      ).body;
    const proppatch = (origin: string, href: string, inner: string) =>
      request(origin, 'PROPPATCH', href, {
        body: `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>${inner}</D:prop></D:set></D:propertyupdate>`,
      });
    const PROPS: [string, string][] = [
      ['/', '<Z:color>root green</Z:color>'],
      ['/docs/', '<Z:color>folder blue</Z:color>'],
      [`/docs/${encodeURIComponent('naïve café.md')}`, '<Z:color>file red</Z:color><Z:tags><Z:tag xml:lang="fr">été</Z:tag><Z:tag/></Z:tags>'],
    ];
    const shown = /<Z:color[^>]*>[^<]*<\/Z:color>|<Z:tags[^>]*>.*<\/Z:tags>/g;

    // A tree with properties in object storage, written through WebDAV.
    const first = await argsFor('props-a/');
    const server = await serve(t, first, env);
    t.equal((await request(server.origin, 'MKCOL', '/docs/')).status, 201);
    t.equal((await request(server.origin, 'PUT', PROPS[2]![0], { body: 'ünïcödé' })).status, 201);
    t.equal((await request(server.origin, 'PUT', '/docs/plain.txt', { body: 'no properties' })).status, 201);
    for (const [href, inner] of PROPS) t.equal((await proppatch(server.origin, href, inner)).status, 207, `PROPPATCH ${href}`);
    const before = new Map<string, string[]>();
    for (const [href] of PROPS) before.set(href, (await propfind(server.origin, href)).match(shown) ?? []);
    t.equal(before.get(PROPS[2]![0])!.length, 2, 'both properties of the file are shown');
    server.child.kill('SIGTERM');
    await server.exit;

    const out = path.join(tempDir(t), 'out');
    const exported = await runCli(['export', out, ...first], env);
    t.equal(exported.status, 0, exported.output);
    t.match(exported.output, /dead properties of 3 resources/);
    t.ok(statSync(path.join(out, '.fastdav', 'metadata.sqlite')).isFile(), 'kept where the filesystem backend keeps them');

    // Into a fresh database and prefix: the same properties, bytes, names and times.
    const second = await argsFor('props-b/');
    const imported = await runCli(['import', out, ...second], env);
    t.equal(imported.status, 0, imported.output);
    t.match(imported.output, /imported 2 files \(\d+ bytes\) and 1 folders; dead properties of 3 resources/);
    const again = await serve(t, second, env);
    for (const [href] of PROPS) t.same((await propfind(again.origin, href)).match(shown) ?? [], before.get(href), `the same properties on ${href}`);
    t.equal((await request(again.origin, 'PROPFIND', '/.fastdav', { headers: { depth: '0' } })).status, 404, 'the properties store is not imported as a folder');
    again.child.kill('SIGTERM');
    await again.exit;
    const out2 = path.join(tempDir(t), 'out2');
    t.equal((await runCli(['export', out2, ...second], env)).status, 0);
    const files = (dir: string) => new Map([...snapshot(dir)].filter(([name]) => !name.startsWith('.fastdav')));
    t.same(files(out2), files(out), 'bytes, names and modification times as before');

    // The filesystem backend serves the export with its properties.
    const folder = await serve(t, ['--root', out, '--log-level', 'warn'], env);
    for (const [href] of PROPS) t.same((await propfind(folder.origin, href)).match(shown) ?? [], before.get(href), `fastdav --root DIR: ${href}`);
  });

  t.test('gc --grace 0 after deleting everything: no object left under the prefix', async (t) => {
    const args = await argsFor('gc/');
    const server = await serve(t, args, env);
    const put = (p: string, body: string | Buffer) => request(server.origin, 'PUT', p, { body });
    t.equal((await request(server.origin, 'MKCOL', '/tree/')).status, 201);
    for (let i = 0; i < 5; i++) t.equal((await put(`/tree/f${i}`, `file ${i}`)).status, 201);
    t.equal((await put('/tree/big', randomBytes(9 * 1024 * 1024))).status, 201);
    t.equal((await put('/tree/f0', 'replaced')).status, 204);
    t.equal((await request(server.origin, 'COPY', '/tree/', { headers: { destination: `${server.origin}/copy/` } })).status, 201);
    t.equal((await request(server.origin, 'MOVE', '/copy/', { headers: { destination: `${server.origin}/moved/` } })).status, 201);
    t.ok((await engines.objects('gc/')).length >= 7, 'the objects are there');
    t.equal((await request(server.origin, 'DELETE', '/tree/')).status, 204);
    t.equal((await request(server.origin, 'DELETE', '/moved/')).status, 204);
    const gc = await runCli(['gc', '--grace', '0', ...args], env);
    t.equal(gc.status, 0, gc.output);
    t.match(gc.output, /deleted 7 released, 0 abandoned uploads, 0 unknown to the catalog/);
    t.same(await engines.objects('gc/'), [], 'nothing under the prefix');
  });
});
