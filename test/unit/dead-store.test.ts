import t from 'tap';
import { DavPath } from '../../src/core/paths.js';
import { openDatabase } from '../../src/metadata/database.js';
import { DeadPropertyStore, type DeadProperty } from '../../src/props/dead-store.js';

const p = (...segments: string[]) => DavPath.of(segments);
const prop = (name: string, value: string, ns = 'urn:t'): DeadProperty => ({ ns, name, xml: `<X:${name} xmlns:X="${ns}">${value}</X:${name}>` });

function store(t: { teardown(fn: () => unknown): void }) {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  return new DeadPropertyStore(db);
}

/** Tags every path with one property naming the path itself, so moves and copies can be traced. */
function seed(s: DeadPropertyStore, paths: DavPath[]) {
  for (const path of paths) s.apply(path, [{ op: 'set', prop: prop('origin', path.key) }]);
}

/** key → value of the 'origin' property, for every key in the tree at `path`. */
function origins(s: DeadPropertyStore, path: DavPath = DavPath.root): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, props] of s.getTree(path)) {
    const o = props.find((x) => x.name === 'origin');
    if (o) out[key] = /<X:origin[^>]*>(.*)<\/X:origin>/.exec(o.xml)![1]!;
  }
  return out;
}

// Names that sort right around '/' (0x2f): '-' 0x2d, '.' 0x2e, '0' 0x30, plus non-ASCII.
const tree = [p('a'), p('a', 'b'), p('a', 'b', 'c'), p('ab'), p('a-b'), p('a.b'), p('a0'), p('a', 'é'), p('a', '😀'), p('😀'), p('😀', 'x'), p('😀x')];

/** Keys of the members found by the listing query (the parent column), without the collection itself. */
const members = (s: DeadPropertyStore, path: DavPath): string[] => [...s.getListing(path).keys()].filter((k) => k !== path.key);

t.test('set, replace, remove in document order, atomically', async (t) => {
  const s = store(t);
  const f = p('f');
  s.apply(f, [{ op: 'set', prop: prop('one', '1') }, { op: 'set', prop: prop('two', '2') }]);
  t.same(s.get(f).map((x) => x.name).sort(), ['one', 'two']);
  s.apply(f, [{ op: 'remove', ns: 'urn:t', name: 'one' }, { op: 'set', prop: prop('one', 'again') }]);
  t.match(s.get(f).find((x) => x.name === 'one')?.xml, />again</, 'remove then set: set wins');
  s.apply(f, [{ op: 'set', prop: prop('two', 'x') }, { op: 'remove', ns: 'urn:t', name: 'two' }]);
  t.notOk(s.get(f).some((x) => x.name === 'two'), 'set then remove: gone');
  s.apply(f, [{ op: 'remove', ns: 'urn:t', name: 'never-there' }]);
  t.equal(s.get(f).length, 1, 'removing an absent property is fine');
  s.apply(f, [{ op: 'set', prop: prop('one', 'other ns', 'urn:other') }]);
  t.equal(s.get(f).length, 2, 'same local name, different namespace: two properties');
  s.apply(f, [{ op: 'set', prop: prop('empty', '', '') }]);
  t.ok(s.get(f).some((x) => x.ns === '' && x.name === 'empty'), 'the empty namespace is a namespace');
});

t.test('values are stored byte for byte', async (t) => {
  const s = store(t);
  const xml = '<X:v xmlns:X="urn:t" xml:lang="en">  \u{10000} 😀 &amp;amp; <Y:n xmlns:Y="urn:y">\n</Y:n>  </X:v>';
  s.apply(p('f'), [{ op: 'set', prop: { ns: 'urn:t', name: 'v', xml } }]);
  t.equal(s.get(p('f'))[0]!.xml, xml);
});

t.test('getListing returns a collection and its direct members only, getTree the whole subtree', async (t) => {
  const s = store(t);
  seed(s, tree);
  t.same([...s.getListing(p('a')).keys()].sort(), ['/a', '/a/b', '/a/é', '/a/😀'].sort());
  t.same([...s.getListing(DavPath.root).keys()].sort(), ['/a', '/a-b', '/a.b', '/a0', '/ab', '/😀', '/😀x'].sort());
  s.apply(DavPath.root, [{ op: 'set', prop: { ns: 'urn:t', name: 'r', xml: '<r xmlns="urn:t"/>' } }]);
  t.same([...s.getListing(DavPath.root).keys()].sort(), ['', '/a', '/a-b', '/a.b', '/a0', '/ab', '/😀', '/😀x'].sort(), 'the root itself, once');
  t.same(Object.keys(origins(s, p('a'))).sort(), ['/a', '/a/b', '/a/b/c', '/a/é', '/a/😀'].sort(), '/ab, /a-b, /a.b, /a0 are not in /a');
  t.same(Object.keys(origins(s, p('😀'))).sort(), ['/😀', '/😀/x'], '/😀x is not in /😀');
});

t.test('deleteTree removes a subtree and nothing that merely shares its prefix', async (t) => {
  const s = store(t);
  seed(s, tree);
  s.deleteTree(p('a'));
  t.same(Object.keys(origins(s)).sort(), ['/a-b', '/a.b', '/a0', '/ab', '/😀', '/😀/x', '/😀x'].sort());
  s.deleteTree(p('😀'));
  t.same(Object.keys(origins(s)).sort(), ['/a-b', '/a.b', '/a0', '/ab', '/😀x'].sort());
});

t.test('clear forgets one resource only', async (t) => {
  const s = store(t);
  seed(s, tree);
  s.clear(p('a'));
  t.notOk('/a' in origins(s));
  t.ok('/a/b' in origins(s));
});

t.test('copyTree depth infinity copies the subtree and replaces what the destination had', async (t) => {
  const s = store(t);
  seed(s, tree);
  seed(s, [p('dest'), p('dest', 'stale')]);
  s.copyTree(p('a'), p('dest'), 'infinity');
  const o = origins(s);
  t.same(
    Object.fromEntries(Object.entries(o).filter(([k]) => k.startsWith('/dest'))),
    { '/dest': '/a', '/dest/b': '/a/b', '/dest/b/c': '/a/b/c', '/dest/é': '/a/é', '/dest/😀': '/a/😀' },
  );
  t.equal(o['/a/b'], '/a/b', 'the source is unchanged');
  t.same(members(s, p('dest')).sort(), ['/dest/b', '/dest/é', '/dest/😀'].sort(), 'parent keys are rewritten too');
  t.same(members(s, p('dest', 'b')), ['/dest/b/c']);
});

t.test('copyTree depth 0 copies the resource alone', async (t) => {
  const s = store(t);
  seed(s, tree);
  s.copyTree(p('a'), p('z'), 0);
  t.same(Object.keys(origins(s, p('z'))), ['/z']);
});

t.test('moveTree renames keys between names of different UTF-16 and character lengths', async (t) => {
  const s = store(t);
  seed(s, tree);
  s.moveTree(p('a'), p('😀😀', 'new'));
  const o = origins(s);
  t.same(
    Object.fromEntries(Object.entries(o).filter(([k]) => k.startsWith('/😀😀'))),
    { '/😀😀/new': '/a', '/😀😀/new/b': '/a/b', '/😀😀/new/b/c': '/a/b/c', '/😀😀/new/é': '/a/é', '/😀😀/new/😀': '/a/😀' },
  );
  t.notOk(Object.keys(o).some((k) => k === '/a' || k.startsWith('/a/')), 'nothing left at the source');
  t.same(['/a-b', '/a.b', '/a0', '/ab'].map((k) => o[k]), ['/a-b', '/a.b', '/a0', '/ab'], 'prefix siblings untouched');
  t.same(members(s, p('😀😀', 'new')).sort(), ['/😀😀/new/b', '/😀😀/new/é', '/😀😀/new/😀'].sort());
  t.same(members(s, p('😀😀')), ['/😀😀/new']);

  s.moveTree(p('😀'), p('日本語'));
  t.same(Object.keys(origins(s, p('日本語'))).sort(), ['/日本語', '/日本語/x']);
  t.equal(origins(s)['/😀x'], '/😀x');
});

t.test('moveTree replaces what the destination had', async (t) => {
  const s = store(t);
  seed(s, [p('src'), p('src', 'kid'), p('dst'), p('dst', 'old'), p('dst', 'kid')]);
  s.moveTree(p('src'), p('dst'));
  t.same(origins(s), { '/dst': '/src', '/dst/kid': '/src/kid' });
});

t.test('keysInTree and deleteKeys', async (t) => {
  const s = store(t);
  seed(s, tree);
  t.same(s.keysInTree(p('a', 'b')).sort(), ['/a/b', '/a/b/c']);
  s.deleteKeys(['/a/b/c', '/ab']);
  t.notOk('/a/b/c' in origins(s));
  t.notOk('/ab' in origins(s));
  t.ok('/a/b' in origins(s));
});
