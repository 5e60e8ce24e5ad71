/**
 * Object storage listings (src/storage/catalog/catalog-storage.ts): a member row is one text,
 * `size/mtime_ms/created_ms/id/name/etag`, as PostgreSQL's concat() makes it; a row of a Depth
 * infinity listing `size/mtime_ms/created_ms/id/n/seg1/…/segn/etag`. The listing through
 * PostgreSQL is checked against stat() in test/contract/storage.test.ts; here the row reading
 * itself, with what a real row cannot easily hold (an etag with '/' in it).
 */
import t from 'tap';
import { DavPath } from '../../src/core/paths.js';
import { memberEntry, treeEntry } from '../../src/storage/catalog/catalog-storage.js';

/** A row as MEMBERS' concat() writes it (a NULL id, a file's, becomes ''). */
const row = (size: number, mtime: number, created: number, id: string | null, name: string, etag: string): string =>
  `${size}/${mtime}/${created}/${id ?? ''}/${name}/${etag}`;

const parent = DavPath.of(['bench', 'p 10k']);

t.test('files: every field, names and etags as they are', async (t) => {
  const names = ['f00001.bin', 'sp ace.txt', '100%.html', 'ü&<x>.xml', '😀', 'tab\there', 'new\nline', 'back\\slash', '...', 'a'];
  const etags = ['"0123abcd"', '', '"a/b/c"', 'W/"weak"', '"/"', '"ü & <>"'];
  for (const name of names) {
    for (const etag of etags) {
      const e = memberEntry(parent, row(4096, 1764682290123, 1764682290000, null, name, etag));
      t.same(
        { name: e.path.name, key: e.path.key, segments: e.path.segments, isCollection: e.isCollection, size: e.size, mtimeMs: e.mtimeMs, birthtimeMs: e.birthtimeMs, etag: e.etag },
        { name, key: `/bench/p 10k/${name}`, segments: ['bench', 'p 10k', name], isCollection: false, size: 4096, mtimeMs: 1764682290123, birthtimeMs: 1764682290000, etag },
        `${JSON.stringify(name)} ${JSON.stringify(etag)}`,
      );
      t.ok(e.path.equals(parent.child(name)));
    }
  }
  const big = memberEntry(DavPath.root, row(2 ** 53 - 1, 0, 1, null, 'big', '"x"'));
  t.same([big.size, big.mtimeMs, big.birthtimeMs, big.path.key], [2 ** 53 - 1, 0, 1, '/big']);
});

t.test('collections: the tag made of the id and creation time, the stored etag ignored', async (t) => {
  const e = memberEntry(parent, row(0, 1764682290123, 1764682290000, '255', 'sub dir', ''));
  t.equal(e.isCollection, true);
  t.equal(e.size, 0);
  t.equal(e.etag, `"cff-${(1764682290000).toString(16)}"`);
  t.equal(e.path.key, '/bench/p 10k/sub dir');
  t.equal(memberEntry(parent, row(0, 1, 2, '1', 'c', 'stored')).etag, '"c1-2"');
});

t.test('a name that is not a segment is refused, as DavPath.child refuses it', async (t) => {
  for (const name of ['', '.', '..']) t.throws(() => memberEntry(parent, row(1, 1, 1, null, name, '"e"')), JSON.stringify(name));
});

t.test('tree rows: the path below the top, every field', async (t) => {
  const treeRow = (size: number, id: string | null, rel: string[], etag: string): string => `${size}/5/4/${id ?? ''}/${rel.length}/${rel.join('/')}/${etag}`;
  for (const rel of [['a'], ['sub dir', 'ü&<x>.xml'], ['x', 'y', 'tab\there', '😀', '100%']]) {
    for (const etag of ['"e"', '', '"a/b"', '"1/2/3/"']) {
      const e = treeEntry(parent, treeRow(7, null, rel, etag));
      t.same(e.path.segments, [...parent.segments, ...rel], rel.join(' / '));
      t.equal(e.path.key, `/bench/p 10k/${rel.join('/')}`);
      t.same([e.isCollection, e.size, e.mtimeMs, e.birthtimeMs, e.etag], [false, 7, 5, 4, etag]);
    }
  }
  const c = treeEntry(DavPath.root, treeRow(0, '16', ['d', 'sub'], ''));
  t.same([c.isCollection, c.etag, c.path.key], [true, '"c10-4"', '/d/sub']);
  t.throws(() => treeEntry(parent, treeRow(1, null, ['a', '..'], '"e"')), 'a dot segment is refused');
});
