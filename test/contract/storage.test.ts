/**
 * The Storage contract (src/storage/storage.ts): the same cases against every backend — the
 * filesystem (src/storage/fs) and object storage (src/storage/catalog: PostgreSQL + radosgw).
 */
import t from 'tap';
import type { Test } from 'tap';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { DavError } from '../../src/core/errors.js';
import { DavPath } from '../../src/core/paths.js';
import type { Entry, Storage } from '../../src/storage/storage.js';
import { FileSystemStorage } from '../../src/storage/fs/fs-storage.js';
import { openObjectStorage } from '../../src/storage/catalog/open.js';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';
import { tempDir } from '../helpers/server.js';

const p = (s: string): DavPath => DavPath.of(s.split('/').filter(Boolean));
const body = (data: Buffer | string): Readable => Readable.from([Buffer.from(data)]);
const statusOf = (promise: Promise<unknown>): Promise<number> => promise.then(() => 0, (e: unknown) => (e instanceof DavError ? e.statusCode : -1));

async function read(storage: Storage, path: DavPath, start?: number, end?: number): Promise<Buffer> {
  const file = await storage.openFile(path);
  try {
    const from = start ?? 0;
    const to = end ?? file.entry.size - 1;
    if (start === undefined && file.entry.size <= storage.smallFileBytes) return await file.readAll();
    const out = Buffer.alloc(to - from + 1);
    let done = 0;
    while (done < out.length) {
      const chunk = Buffer.alloc(Math.min(100_000, out.length - done));
      const n = await file.read(chunk, chunk.length, from + done);
      if (n === 0) break;
      chunk.copy(out, done, 0, n);
      done += n;
    }
    return out.subarray(0, done);
  } finally {
    await file.close();
  }
}

async function names(storage: Storage, path: DavPath, depth: 1 | 'infinity' = 1): Promise<string[]> {
  const listing = await storage.members(path, depth);
  const out: Entry[] = [];
  for await (const batch of listing.batches()) out.push(...batch);
  return out.map((e) => path.relative(e.path).segments.join('/') + (e.isCollection ? '/' : ''));
}

function contract(t: Test, open: (t: Test) => Promise<Storage>): void {
  t.test('root, collections and their errors', async (t) => {
    const s = await open(t);
    const root = await s.stat(DavPath.root);
    t.ok(root?.isCollection, 'the root is a collection');
    await s.createCollection(p('a'));
    t.equal(await statusOf(s.createCollection(p('a'))), 405, 'existing: 405');
    t.equal(await statusOf(s.createCollection(p('missing/b'))), 409, 'no parent: 409');
    await s.writeFile(p('f'), body('x'), {});
    t.equal(await statusOf(s.createCollection(p('f/b'))), 409, 'parent is a file: 409');
    t.equal(await s.stat(p('nothing')), null);
    t.equal(await statusOf(s.openFile(p('nothing'))), 404);
  });

  t.test('write, replace, read whole and by ranges', async (t) => {
    const s = await open(t);
    const first = await s.writeFile(p('file.bin'), body('hello'), { expectedLength: 5, mtime: 1_000_000 });
    t.equal(first.created, true);
    t.equal(first.entry.size, 5);
    const entry = await s.stat(p('file.bin'));
    t.equal(entry?.size, 5);
    t.equal(entry?.mtimeMs, 1_000_000_000, 'X-OC-Mtime kept');
    t.equal(entry?.etag, first.entry.etag, 'the etag written is the etag read');
    const big = randomBytes(300_000);
    const second = await s.writeFile(p('file.bin'), body(big), {});
    t.equal(second.created, false);
    t.not(second.entry.etag, first.entry.etag, 'new content, new etag');
    t.ok((await read(s, p('file.bin'))).equals(big));
    t.ok((await read(s, p('file.bin'), 1000, 250_000)).equals(big.subarray(1000, 250_001)), 'a range');
    t.ok((await read(s, p('file.bin'), 299_990)).equals(big.subarray(299_990)), 'the tail');
    await s.writeFile(p('empty'), body(''), { sizeHint: 0 });
    t.equal((await read(s, p('empty'))).length, 0, 'an empty file');
    t.equal(await statusOf(s.writeFile(p('missing/x'), body('x'), {})), 409);
  });

  t.test('writes of one new name at once: all succeed, one whole version stays', async (t) => {
    const s = await open(t);
    await s.createCollection(p('race'));
    const bodies = Array.from({ length: 8 }, () => randomBytes(20_000));
    const results = await Promise.all(bodies.map((b) => s.writeFile(p('race/same'), body(b), { expectedLength: b.length })));
    t.equal(results.length, 8, 'every write succeeded');
    t.ok(results.some((r) => r.created), 'one of them created the file');
    const kept = await read(s, p('race/same'));
    t.ok(bodies.some((b) => b.equals(kept)), 'the content is one of the bodies, whole');
    t.same(await names(s, p('race')), ['same'], 'one entry');
    const entry = await s.stat(p('race/same'));
    t.equal(entry?.etag, results.find((r) => bodies[results.indexOf(r)]!.equals(kept))!.entry.etag, 'its etag is the one its write reported');
  });

  t.test('a refused upload leaves the old content', async (t) => {
    const s = await open(t);
    await s.writeFile(p('keep'), body('old'), {});
    t.equal(await statusOf(s.writeFile(p('keep'), body('sho'), { expectedLength: 10 })), 400, 'short body: 400');
    t.equal(await statusOf(s.writeFile(p('keep'), body(randomBytes(5000)), { maxBytes: 1000 })), 413, 'too big: 413');
    t.equal((await read(s, p('keep'))).toString(), 'old');
    t.equal(await statusOf(s.writeFile(p('new'), body('sho'), { expectedLength: 10 })), 400);
    t.equal(await s.stat(p('new')), null, 'nothing where a refused upload would have gone');
  });

  t.test('the commit check sees the resource as it is when the write commits', async (t) => {
    const s = await open(t);
    const first = await s.writeFile(p('checked'), body('version 1'), {});
    // A body that lets another write replace the file while it is being received.
    async function* racing() {
      yield Buffer.from('slow ');
      await s.writeFile(p('checked'), body('version 2'), {});
      yield Buffer.from('upload');
    }
    const seen: (string | null)[] = [];
    const ifMatch = (etag: string) => ({
      resource: (current: Entry | null) => {
        seen.push(current?.etag ?? null);
        if (current?.etag !== etag) throw new DavError(412, 'Precondition Failed');
      },
    });
    t.equal(await statusOf(s.writeFile(p('checked'), Readable.from(racing()), { commitCheck: ifMatch(first.entry.etag) })), 412);
    t.not(seen[0], first.entry.etag, 'the check got the entry written meanwhile');
    t.equal((await read(s, p('checked'))).toString(), 'version 2', 'the refused write changed nothing');
    const current = (await s.stat(p('checked')))!.etag;
    t.equal((await s.writeFile(p('checked'), body('version 3'), { commitCheck: ifMatch(current) })).created, false, 'a check that holds lets it commit');
    t.equal(await statusOf(s.writeFile(p('brand-new'), body('x'), { commitCheck: ifMatch(current) })), 412);
    t.equal(seen.at(-1), null, 'a new resource is checked as none');
    t.equal(await s.stat(p('brand-new')), null);
  });

  t.test('empty files for LOCK on unmapped URLs', async (t) => {
    const s = await open(t);
    t.equal(await s.createEmptyFile(p('locked')), true);
    t.equal(await s.createEmptyFile(p('locked')), false);
    t.equal((await s.stat(p('locked')))?.size, 0);
  });

  t.test('listings: depth 1 and infinity, parents first, counted up to max', async (t) => {
    const s = await open(t);
    await s.createCollection(p('d'));
    await s.createCollection(p('d/sub'));
    await s.writeFile(p('d/sub/deep'), body('1'), {});
    await s.writeFile(p('d/b'), body('22'), {});
    await s.writeFile(p('d/a'), body('333'), {});
    t.same(await names(s, p('d')), ['a', 'b', 'sub/'], 'in the order of the names');
    const all = await names(s, p('d'), 'infinity');
    t.same(all, ['a', 'b', 'sub/', 'sub/deep'], 'a collection before its members');
    t.same((await s.list(p('d'))).map((e) => e.size).sort(), [0, 2, 3]);
    t.equal((await s.members(p('d'), 'infinity', 2)).count, 3, 'counting stops past max');
    // A listed entry is the entry stat gives, every field, for files and collections alike.
    for (const e of await s.list(p('d'))) t.same(e, await s.stat(e.path), `${e.path} listed as stat'ed`);
    await s.createCollection(p('empty'));
    t.same(await names(s, p('empty')), [], 'an empty collection has no members');
    const missing = await s.members(p('missing'), 1).then(() => null, (err: unknown) => err as { statusCode?: number });
    t.equal(missing?.statusCode, 404, 'the members of nothing: 404');
  });

  t.test('listings of odd names: every entry as stat gives it', async (t) => {
    const s = await open(t);
    const odd = ['sp ace', '100%', 'ü&<x>.xml', '😀 emoji', 'tab\there', 'new\nline', 'back\\slash', `quote'"`, '.hidden', 'noext.', 'a.b.C'];
    await s.createCollection(p('o'));
    await s.createCollection(DavPath.of(['o', 'sub dir & <more>']));
    await s.createEmptyFile(DavPath.of(['o', 'empty']));
    for (const [i, name] of odd.entries()) await s.writeFile(DavPath.of(['o', name]), body('x'.repeat(i + 1)), {});
    const listed = await s.list(p('o'));
    const inByteOrder = [...odd, 'sub dir & <more>', 'empty', 'Z', '_'].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    await s.createEmptyFile(DavPath.of(['o', '_']));
    await s.createEmptyFile(DavPath.of(['o', 'Z']));
    t.same(await names(s, p('o')), inByteOrder.map((n) => (n === 'sub dir & <more>' ? `${n}/` : n)), "in the order of the names' UTF-8 bytes");
    for (const e of listed) {
      t.same(e, await s.stat(e.path), `${JSON.stringify(e.path.name)} listed as stat'ed`);
      t.equal(e.path.key, `/o/${e.path.name}`, 'its key');
    }
  });

  t.test('a listing of 1,300 members: every one, in order, however they arrive', async (t) => {
    const s = await open(t);
    await s.createCollection(p('many'));
    const all = Array.from({ length: 1300 }, (_, i) => `m${String(1299 - i).padStart(4, '0')}`);
    for (const name of all) await s.createEmptyFile(DavPath.of(['many', name]));
    all.sort();
    t.same(await names(s, p('many')), all, 'depth 1');
    t.same(await names(s, p('many'), 'infinity'), all, 'depth infinity');
    t.same((await s.list(p('many'))).length, 1300, 'list');
  });

  t.test('copy: depth infinity and 0, file over file, the source unchanged', async (t) => {
    const s = await open(t);
    await s.createCollection(p('src'));
    await s.createCollection(p('src/in'));
    await s.writeFile(p('src/in/f'), body('content'), {});
    t.same(await s.copyTree(p('src'), p('dst'), 'infinity'), []);
    t.equal((await read(s, p('dst/in/f'))).toString(), 'content');
    t.same(await s.copyTree(p('src'), p('shallow'), 0), []);
    t.same(await names(s, p('shallow')), [], 'depth 0: the collection alone');
    await s.writeFile(p('other'), body('other'), {});
    await s.copyTree(p('src/in/f'), p('other'), 'infinity');
    t.equal((await read(s, p('other'))).toString(), 'content', 'a file replaced by a copy');
    await s.writeFile(p('dst/in/f'), body('changed'), {});
    t.equal((await read(s, p('src/in/f'))).toString(), 'content', 'writing the copy leaves the source');
    await s.deleteTree(p('src'), []);
    t.equal((await read(s, p('other'))).toString(), 'content', 'deleting the source leaves the copies');
    t.equal(await statusOf(s.copyTree(p('src'), p('x'), 'infinity')), 404);
    t.equal(await statusOf(s.copyTree(p('other'), p('nowhere/x'), 'infinity')), 409);
  });

  t.test('move: a tree, a file over a file', async (t) => {
    const s = await open(t);
    await s.createCollection(p('m'));
    await s.createCollection(p('m/in'));
    await s.writeFile(p('m/in/f'), body('moved'), {});
    t.same(await s.moveTree(p('m'), p('n')), []);
    t.equal(await s.stat(p('m')), null);
    t.equal((await read(s, p('n/in/f'))).toString(), 'moved');
    await s.writeFile(p('target'), body('old'), {});
    await s.moveTree(p('n/in/f'), p('target'));
    t.equal((await read(s, p('target'))).toString(), 'moved');
    t.equal(await s.stat(p('n/in/f')), null);
    t.equal(await statusOf(s.moveTree(p('target'), p('nowhere/x'))), 409);
  });

  t.test('delete: whole trees, and all but the kept members', async (t) => {
    const s = await open(t);
    await s.createCollection(p('t'));
    await s.createCollection(p('t/a'));
    await s.createCollection(p('t/b'));
    await s.writeFile(p('t/a/locked'), body('1'), {});
    await s.writeFile(p('t/a/free'), body('2'), {});
    await s.writeFile(p('t/b/free'), body('3'), {});
    t.same(await s.deleteTree(p('t'), [p('t/a/locked')]), []);
    t.same((await names(s, p('t'), 'infinity')).sort(), ['a/', 'a/locked'], 'the kept member and its ancestors stay');
    await s.deleteTree(p('t'), []);
    t.equal(await s.stat(p('t')), null);
    t.equal(await statusOf(s.deleteTree(p('t'), [])), 404);
  });

  t.test('modification time', async (t) => {
    const s = await open(t);
    await s.writeFile(p('m'), body('x'), {});
    await s.setModifiedTime(p('m'), 1_234_567_890);
    t.equal((await s.stat(p('m')))?.mtimeMs, 1_234_567_890_000);
  });
}

t.test('filesystem', async (t) => {
  contract(t, async (t) => {
    const root = tempDir(t);
    return FileSystemStorage.open(root, `${root}/.fastdav`);
  });
});

t.test('object storage (PostgreSQL + S3)', { skip: objectStorageUnavailable(t) }, async (t) => {
  const engines = await startEngines(t);
  contract(t, async (t) => {
    const opened = await openObjectStorage({ ...(await engines.settings()), quotaBytes: 0 } as Parameters<typeof openObjectStorage>[0]);
    t.teardown(() => opened.close());
    return opened.storage;
  });
});
