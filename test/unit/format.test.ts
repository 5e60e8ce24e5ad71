/** What the folder view says about sizes, kinds and order (src/web/format.ts, shared by page and script). */
import t from 'tap';
import { compareNames, exactBytes, humanSize, kindOf, sortMembers } from '../../src/web/format.js';

t.test('sizes: bytes below 1 KiB, then binary units; exact bytes with separators', async (t) => {
  t.equal(humanSize(0), '0 B');
  t.equal(humanSize(1023), '1023 B');
  t.equal(humanSize(1536), '1.5 KiB');
  t.equal(humanSize(52_000_000), '50 MiB');
  t.equal(humanSize(1_200_000_000), '1.1 GiB');
  t.equal(exactBytes(0), '0 bytes');
  t.equal(exactBytes(1_234_567), '1,234,567 bytes');
});

t.test('kinds come from the extension, case-insensitive; folders are folders', async (t) => {
  t.equal(kindOf('a.JPG', false), 'image');
  t.equal(kindOf('movie.webm', false), 'video');
  t.equal(kindOf('x.tar.gz', false), 'archive');
  t.equal(kindOf('photos.jpg', true), 'folder');
  t.equal(kindOf('.bashrc', false), 'file', 'a leading dot is not an extension');
  t.equal(kindOf('README', false), 'file');
});

t.test('natural, case-insensitive order, folders first, ties by name', async (t) => {
  t.ok(compareNames('file2', 'file10') < 0);
  t.ok(compareNames('B', 'a') > 0);
  t.not(compareNames('a', 'A'), 0, 'a total order: names differing only in case still have a fixed order');
  const m = (name: string, isCollection = false, size = 0, mtimeMs = 0) => ({ name, isCollection, size, mtimeMs });
  const list = [m('file10'), m('zdir', true), m('File1'), m('file2'), m('Adir', true)];
  t.same(sortMembers([...list], 'name').map((x) => x.name), ['Adir', 'zdir', 'File1', 'file2', 'file10']);
  t.same(sortMembers([...list], 'name', true).map((x) => x.name), ['zdir', 'Adir', 'file10', 'file2', 'File1'], 'descending keeps folders first');
  const sized = [m('b', false, 5), m('a', false, 5), m('c', false, 9), m('d', true)];
  t.same(sortMembers(sized, 'size', true).map((x) => x.name), ['d', 'c', 'a', 'b'], 'equal sizes stay A to Z');
});
