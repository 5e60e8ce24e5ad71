import t, { type Test } from 'tap';
import { statusThrown } from '../helpers/server.js';
import { DavPath, encodeSegment, hrefOf, isValidSegment, parseUrlPath } from '../../src/core/paths.js';

const segs = (raw: string, prefix = '/') => parseUrlPath(raw, prefix)?.path.segments;

/** Asserts that parsing `raw` is refused with 400. */
function refused(t: Test, raw: string, prefix = '/') {
  t.equal(statusThrown(() => parseUrlPath(raw, prefix)), 400, `${JSON.stringify(raw)} → 400`);
}

t.test('plain paths decode into segments', async (t) => {
  t.same(segs('/'), []);
  t.same(segs('/a'), ['a']);
  t.same(segs('/a/b/c.txt'), ['a', 'b', 'c.txt']);
  t.same(segs('/a%20b/c%25d'), ['a b', 'c%d'], 'percent-decoded exactly once');
  t.same(segs('/%2541'), ['%41'], 'no double decoding');
  t.same(segs('/caf%C3%A9'), ['café']);
  t.same(segs('/%F0%9F%98%80.txt'), ['😀.txt']);
  t.same(segs('/a+b'), ['a+b'], '+ is not a space in a path');
  t.same(segs('/a//b'), ['a', 'b'], 'empty segments collapse, never reach a parent');
  t.same(segs('/a/b?x=1&y=/../..'), ['a', 'b'], 'the query is not part of the path');
  t.same(segs('/...'), ['...'], 'three dots is an ordinary name');
  t.same(segs('/.hidden/..x'), ['.hidden', '..x']);
});

t.test('a backslash is an ordinary character, never a separator', async (t) => {
  t.same(segs('/a%5cb'), ['a\\b']);
  t.same(segs('/a%5C..%5Cb'), ['a\\..\\b'], 'dots beside a backslash are part of one name');
  t.same(segs('/..%5c..%5cx'), ['..\\..\\x']);
  t.same(segs('/dir\\..\\..\\x'), ['dir\\..\\..\\x']);
  t.ok(isValidSegment('back\\slash'));
  t.notOk(isValidSegment('..'), 'the dot-dot segment itself stays refused');
  t.equal(hrefOf('/', DavPath.of(['a\\b']), false), '/a%5Cb', 'hrefs encode it');
});

t.test('trailing slash is reported, the root has none', async (t) => {
  t.equal(parseUrlPath('/a/', '/')?.trailingSlash, true);
  t.equal(parseUrlPath('/a', '/')?.trailingSlash, false);
  t.equal(parseUrlPath('/', '/')?.trailingSlash, false);
  t.same(parseUrlPath('/a/', '/')?.path.segments, ['a']);
});

t.test('dot segments, encoded dots and separators, NUL, bad encodings: 400', async (t) => {
  for (const raw of [
    '/..',
    '/../etc/passwd',
    '/a/../b',
    '/a/..',
    '/.',
    '/a/./b',
    '/%2e%2e/x',
    '/%2E%2E',
    '/a/%2e%2e/%2e%2e/etc',
    '/%2e',
    '/.%2e/x',
    '/a%2fb',
    '/a%2Fb',
    '/%2f%2fetc',
    '/a%00b',
    '/a%00',
    '/%c0%ae%c0%ae/x',
    '/%c0%af',
    '/%e0%80%ae',
    '/%c0%2e',
    '/%ed%a0%80',
    '/%ff',
    '/%',
    '/%4',
    '/%zz',
    'relative/path',
    '',
  ]) {
    refused(t, raw);
  }
});

t.test('a literal NUL in the raw path is refused', async (t) => {
  refused(t, '/a\0b');
});

t.test('prefix handling', async (t) => {
  t.same(segs('/dav', '/dav/'), [], 'the prefix without its slash is the root');
  t.same(segs('/dav/', '/dav/'), []);
  t.same(segs('/dav/a/b', '/dav/'), ['a', 'b']);
  t.same(segs('/dav/a%2Bb', '/dav/'), ['a+b']);
  t.equal(parseUrlPath('/davx', '/dav/'), null, 'a name that only starts like the prefix is outside');
  t.equal(parseUrlPath('/davx/a', '/dav/'), null);
  t.equal(parseUrlPath('/', '/dav/'), null);
  t.equal(parseUrlPath('/other/dav/a', '/dav/'), null);
  t.same(segs('/a/b/c', '/a/b/'), ['c'], 'multi-segment prefix');
  refused(t, '/dav/../x', '/dav/');
  refused(t, '/dav/%2e%2e/x', '/dav/');
});

t.test('DavPath', async (t) => {
  const ab = DavPath.of(['a', 'b']);
  t.equal(ab.key, '/a/b');
  t.equal(DavPath.root.key, '');
  t.equal(DavPath.root.toString(), '/');
  t.ok(DavPath.fromKey('/a/b').equals(ab));
  t.ok(DavPath.fromKey('').isRoot);
  t.equal(ab.name, 'b');
  t.ok(ab.parent().equals(DavPath.of(['a'])));
  t.ok(DavPath.of(['a']).parent().isRoot);
  t.ok(DavPath.root.parent().isRoot, 'the root is its own parent');
  t.ok(DavPath.of(['a']).contains(ab));
  t.ok(ab.contains(ab));
  t.ok(DavPath.root.contains(ab));
  t.notOk(ab.contains(DavPath.of(['a'])));
  t.notOk(DavPath.of(['a']).contains(DavPath.of(['ab'])), '/a does not contain /ab');
  t.ok(DavPath.of(['a']).relative(ab).equals(DavPath.of(['b'])));
  t.ok(ab.relative(ab).isRoot);
  t.ok(DavPath.of(['x']).concat(ab).equals(DavPath.of(['x', 'a', 'b'])));
  for (const bad of ['', '.', '..', 'a/b', 'a\0b']) {
    t.equal(statusThrown(() => DavPath.of([bad])), 400, `DavPath.of([${JSON.stringify(bad)}])`);
    t.equal(statusThrown(() => ab.child(bad)), 400, `child(${JSON.stringify(bad)})`);
    t.notOk(isValidSegment(bad));
  }
});

t.test("keys: a child's is its parent's plus its name, one from a key is that key", async (t) => {
  const names = ['a b', 'café', '😀', '100%', '<&>', 'x\\y', '..x'];
  for (const name of names) {
    for (const parent of [DavPath.root, DavPath.of(['p']), DavPath.of(['p', 'q r'])]) {
      const child = parent.child(name);
      t.equal(child.key, `/${[...parent.segments, name].join('/')}`, `${parent.key}/${name}`);
      t.ok(child.equals(DavPath.of([...parent.segments, name])));
      t.ok(DavPath.fromKey(child.key).equals(child));
      t.equal(DavPath.fromKey(child.key).key, child.key);
    }
  }
  t.equal(DavPath.of(['a']).child('b').parent().key, '/a');
  t.equal(DavPath.fromKey('/a/b').parent().child('c').key, '/a/c');
});

t.test('encodeSegment is encodeURIComponent, with or without its fast path', async (t) => {
  // Every single UTF-16 unit that forms a valid string on its own, alone and between plain letters.
  for (let c = 1; c < 0x800; c++) {
    const ch = String.fromCharCode(c);
    if (ch === '/') continue;
    t.equal(encodeSegment(ch), encodeURIComponent(ch), `U+${c.toString(16)}`);
    t.equal(encodeSegment(`ab${ch}cd`), encodeURIComponent(`ab${ch}cd`));
  }
  for (const name of ["AZaz09-_.!~*'()", 'f00001.bin', 'sp ace', '100%', '<&>"', 'café', '😀', '日本語.txt', 'tab\tnew\nline']) {
    t.equal(encodeSegment(name), encodeURIComponent(name), JSON.stringify(name));
  }
});

t.test('hrefOf percent-encodes every segment with upper-case hex', async (t) => {
  t.equal(hrefOf('/', DavPath.root, true), '/');
  t.equal(hrefOf('/dav/', DavPath.root, true), '/dav/');
  t.equal(hrefOf('/', DavPath.of(['dir']), true), '/dir/', 'collections end with a slash');
  t.equal(hrefOf('/', DavPath.of(['dir', 'f.txt']), false), '/dir/f.txt');
  t.equal(hrefOf('/dav/', DavPath.of(['a b']), false), '/dav/a%20b');
  t.equal(hrefOf('/', DavPath.of(['café']), false), '/caf%C3%A9');
  t.equal(hrefOf('/', DavPath.of(['😀']), false), '/%F0%9F%98%80');
  t.equal(hrefOf('/', DavPath.of(['100%']), false), '/100%25');
  t.equal(hrefOf('/', DavPath.of(['a#b?c']), false), '/a%23b%3Fc', 'fragment and query delimiters are encoded');
  t.equal(hrefOf('/', DavPath.of(['<&>"']), false), '/%3C%26%3E%22', 'XML specials never appear raw');
  t.equal(encodeSegment('ä'), '%C3%A4');
});

t.test('hrefs decode back to the same segments', async (t) => {
  const names = [
    'a b', 'café', '😀 emoji 🎉', '日本語.txt', 'x%y', 'a#b', 'q?r', 'semi;colon', 'eq=ual', 'plus+sign', 'amp&', 'at@', 'col:on',
    "it's", 'paren(1)', 'star*', 'tilde~', 'comma,', 'dollar$', 'brack[et]', 'brace{}', 'pipe|', 'caret^', 'back`tick', 'tab\there',
    'new\nline', '\u0001ctrl', 'ſ', 'Ω', '\u{10FFFF}', ' leading', 'trailing ', '.dotfile', '..x', 'x..',
  ];
  for (const prefix of ['/', '/dav/']) {
    for (const name of names) {
      const p = DavPath.of(['dir', name]);
      for (const coll of [false, true]) {
        const href = hrefOf(prefix, p, coll);
        t.match(href, /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/, `${JSON.stringify(name)} href uses only URI characters`);
        t.notMatch(href, /%[0-9A-F]?[a-f]/, 'upper-case hex');
        const back = parseUrlPath(href, prefix);
        t.same(back?.path.segments, ['dir', name], `${JSON.stringify(name)} round-trips`);
        t.equal(back?.trailingSlash, coll);
      }
    }
  }
});
