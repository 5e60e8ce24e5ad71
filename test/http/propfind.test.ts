import t, { type Test } from 'tap';
import { mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { childElements, textOf } from '../../src/xml/parse.js';
import { findProp, multistatus, propText, responseFor, startServer, type TestServer } from '../helpers/server.js';

const D = 'DAV:';
const propBody = (...props: string[]) => `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>${props.join('')}</D:prop></D:propfind>`;

/** /dir/{a.txt, sub/{b.txt}}, /top.txt */
async function setup(t: Test, overrides = {}): Promise<TestServer> {
  const s = await startServer(t, overrides);
  mkdirSync(path.join(s.root, 'dir', 'sub'), { recursive: true });
  writeFileSync(path.join(s.root, 'dir', 'a.txt'), 'aaaa');
  writeFileSync(path.join(s.root, 'dir', 'sub', 'b.txt'), 'b');
  writeFileSync(path.join(s.root, 'top.txt'), 'top');
  return s;
}

async function propfind(s: TestServer, url: string, depth: string | undefined, body?: string) {
  const res = await s.request('PROPFIND', url, { headers: depth === undefined ? {} : { depth }, ...(body === undefined ? {} : { body }) });
  return res;
}

t.test('Depth 0, 1 and infinity (the default)', async (t) => {
  const s = await setup(t);
  const hrefs = async (url: string, depth?: string) => multistatus((await propfind(s, url, depth)).body).map((r) => r.href).sort();
  t.same(await hrefs('/dir', '0'), ['/dir/']);
  t.same(await hrefs('/dir/', '1'), ['/dir/', '/dir/a.txt', '/dir/sub/']);
  t.same(await hrefs('/dir', 'infinity'), ['/dir/', '/dir/a.txt', '/dir/sub/', '/dir/sub/b.txt']);
  t.same(await hrefs('/dir'), ['/dir/', '/dir/a.txt', '/dir/sub/', '/dir/sub/b.txt'], 'no Depth means infinity');
  t.same(await hrefs('/top.txt', '1'), ['/top.txt'], 'Depth 1 on a file is the file');
  t.same(await hrefs('/', '1'), ['/', '/dir/', '/top.txt']);
  const res = await propfind(s, '/dir', '0');
  t.equal(res.status, 207);
  t.match(res.headers['content-type'], /^(application|text)\/xml/, 'litmus propwformed');
});

t.test('bad requests', async (t) => {
  const s = await setup(t);
  t.equal((await propfind(s, '/nothing', '0')).status, 404);
  t.equal((await propfind(s, '/dir', '2')).status, 400, 'bad Depth');
  t.equal((await propfind(s, '/dir', '0', '<foo/>')).status, 400, 'litmus propfind_invalid');
  t.equal((await propfind(s, '/dir', '0', '<propfind xmlns="DAV:"><prop><bar:foo xmlns:bar=""/></prop></propfind>')).status, 400, 'litmus propfind_invalid2');
  t.equal((await propfind(s, '/dir', '0', '<D:propfind xmlns:D="DAV:"><D:prop>')).status, 400, 'truncated');
  t.equal((await propfind(s, '/dir', '0', '<D:propfind xmlns:D="DAV:"/>')).status, 400, 'nothing asked');
  t.equal((await propfind(s, '/dir', '0', '<D:propfind xmlns:D="DAV:"><D:propname/><D:prop/></D:propfind>')).status, 400);
});

t.test('an empty body, and allprop, give every live property and the dead ones (not quota)', async (t) => {
  const s = await setup(t);
  await s.request('PROPPATCH', '/top.txt', { body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:dead xmlns:z="urn:z">value</z:dead></D:prop></D:set></D:propertyupdate>' });
  const bodies = [undefined, '', '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'];
  for (const body of bodies) {
    const res = await s.request('PROPFIND', '/top.txt', { headers: { depth: '0', ...(body === '' ? { 'content-length': '0' } : {}) }, ...(body ? { body } : {}) });
    t.equal(res.status, 207);
    const [r] = multistatus(res.body);
    t.same(r!.propstats.map((p) => p.status), [200], 'one propstat');
    const names = r!.propstats[0]!.props.map((p) => `{${p.ns}}${p.local}`).sort();
    t.same(names, [
      '{DAV:}creationdate', '{DAV:}displayname', '{DAV:}getcontentlength', '{DAV:}getcontenttype', '{DAV:}getetag',
      '{DAV:}getlastmodified', '{DAV:}lockdiscovery', '{DAV:}resourcetype', '{DAV:}supportedlock', '{urn:z}dead',
    ].sort(), `allprop (${body === undefined ? 'no body' : body === '' ? 'empty body' : 'allprop'})`);
  }
  const collection = multistatus((await propfind(s, '/dir', '0')).body)[0]!;
  t.equal(findProp(collection, D, 'getcontentlength'), undefined, 'no content length for a collection');
  t.ok(findProp(collection, D, 'resourcetype'));
});

t.test('allprop with include adds quota properties (RFC 4331)', async (t) => {
  const s = await setup(t);
  const res = await propfind(s, '/', '0', '<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:quota-used-bytes/><D:quota-available-bytes/></D:include></D:propfind>');
  const r = multistatus(res.body)[0]!;
  t.match(propText(r, D, 'quota-used-bytes'), /^\d+$/);
  t.match(propText(r, D, 'quota-available-bytes'), /^\d+$/);
  t.ok(findProp(r, D, 'getlastmodified'));
  const ext = await propfind(s, '/', '0', '<D:propfind xmlns:D="DAV:" xmlns:x="urn:ext"><D:allprop/><x:extension/></D:propfind>');
  t.equal(ext.status, 207, 'unknown elements in another namespace are ignored (RFC 4918 §17)');
});

t.test('propname lists names without values, dead ones included', async (t) => {
  const s = await setup(t);
  await s.request('PROPPATCH', '/top.txt', { body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:dead xmlns:z="urn:z">secret value</z:dead></D:prop></D:set></D:propertyupdate>' });
  const res = await propfind(s, '/top.txt', '0', '<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>');
  const r = multistatus(res.body)[0]!;
  t.equal(r.propstats.length, 1);
  const props = r.propstats[0]!.props;
  t.ok(props.every((p) => p.children.length === 0), 'every element is empty');
  t.notMatch(res.body, 'secret value');
  const names = props.map((p) => `{${p.ns}}${p.local}`);
  t.ok(names.includes('{urn:z}dead'));
  t.ok(names.includes('{DAV:}getetag'));
  t.notOk(names.includes('{DAV:}quota-used-bytes'), 'a file has no quota properties (RFC 4331 §3)');
});

t.test('named properties: 200 for found, 404 for unknown, one propstat per status', async (t) => {
  const s = await setup(t);
  const res = await propfind(s, '/top.txt', '0', propBody('<D:getcontentlength/>', '<x:nope xmlns:x="urn:x"/>', '<D:getetag/>', '<D:nosuchprop/>', '<nons xmlns=""/>'));
  const r = multistatus(res.body)[0]!;
  t.same(r.propstats.map((p) => p.status), [200, 404]);
  t.same(r.propstats[0]!.props.map((p) => p.local), ['getcontentlength', 'getetag']);
  t.same(r.propstats[1]!.props.map((p) => `{${p.ns}}${p.local}`), ['{urn:x}nope', '{DAV:}nosuchprop', '{}nons']);
  const only404 = multistatus((await propfind(s, '/top.txt', '0', propBody('<x:nope xmlns:x="urn:x"/>'))).body)[0]!;
  t.same(only404.propstats.map((p) => p.status), [404], 'no empty 200 propstat');
  const collection = multistatus((await propfind(s, '/dir', '0', propBody('<D:getcontentlength/>', '<D:resourcetype/>'))).body)[0]!;
  t.equal(findProp(collection, D, 'getcontentlength')?.status, 404, 'getcontentlength of a collection is 404');
});

t.test('live property values', async (t) => {
  const s = await setup(t);
  const mtime = new Date(Date.UTC(2022, 1, 3, 4, 5, 6));
  utimesSync(path.join(s.root, 'top.txt'), mtime, mtime);
  const res = await propfind(s, '/top.txt', '0');
  const r = multistatus(res.body)[0]!;
  t.equal(propText(r, D, 'getlastmodified'), 'Thu, 03 Feb 2022 04:05:06 GMT', 'RFC 1123, GMT');
  t.match(propText(r, D, 'getlastmodified'), /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/);
  t.match(propText(r, D, 'creationdate'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'RFC 3339');
  t.equal(propText(r, D, 'getcontentlength'), '3');
  t.equal(propText(r, D, 'getcontenttype'), 'text/plain; charset=utf-8');
  t.equal(propText(r, D, 'displayname'), 'top.txt');
  const get = await s.request('HEAD', '/top.txt');
  t.equal(propText(r, D, 'getetag'), get.headers['etag'], 'the ETag GET sends');
  t.same(childElements(findProp(r, D, 'resourcetype')!.el), [], 'a file has an empty resourcetype');
  const coll = multistatus((await propfind(s, '/dir', '0')).body)[0]!;
  t.same(childElements(findProp(coll, D, 'resourcetype')!.el).map((c) => `{${c.ns}}${c.local}`), ['{DAV:}collection']);
  t.equal(propText(coll, D, 'getlastmodified'), new Date(Math.floor(statSync(path.join(s.root, 'dir')).mtimeMs / 1000) * 1000).toUTCString());
});

t.test('supportedlock and lockdiscovery', async (t) => {
  const s = await setup(t);
  const r = multistatus((await propfind(s, '/top.txt', '0', propBody('<D:supportedlock/>', '<D:lockdiscovery/>'))).body)[0]!;
  const entries = childElements(findProp(r, D, 'supportedlock')!.el);
  const scopes = entries.map((e) => childElements(childElements(e).find((c) => c.local === 'lockscope')!)[0]!.local).sort();
  t.same(scopes, ['exclusive', 'shared']);
  for (const e of entries) t.equal(childElements(childElements(e).find((c) => c.local === 'locktype')!)[0]!.local, 'write');
  t.same(findProp(r, D, 'lockdiscovery')!.el.children, [], 'no locks yet');
  const off = await setup(t, { locking: false });
  const ro = multistatus((await propfind(off, '/top.txt', '0', propBody('<D:supportedlock/>'))).body)[0]!;
  t.same(findProp(ro, D, 'supportedlock')!.el.children, [], 'with locking off: empty supportedlock');
});

t.test('quota properties (RFC 4331)', async (t) => {
  const s = await setup(t);
  const r = multistatus((await propfind(s, '/', '0', propBody('<D:quota-available-bytes/>', '<D:quota-used-bytes/>', '<D:quota/>', '<D:quotaused/>'))).body)[0]!;
  t.match(propText(r, D, 'quota-available-bytes'), /^\d+$/);
  t.match(propText(r, D, 'quota-used-bytes'), /^\d+$/);
  t.equal(findProp(r, D, 'quota')?.status, 404, 'Finder also asks for the old names: 404');
});

t.test('quota properties belong to collections and count what lies under them (issue 11 item 17)', async (t) => {
  const s = await setup(t);
  writeFileSync(path.join(s.root, 'dir', 'sub', 'big.bin'), Buffer.alloc(100_000));
  const quota = propBody('<D:quota-available-bytes/>', '<D:quota-used-bytes/>');
  const file = multistatus((await propfind(s, '/top.txt', '0', quota)).body)[0]!;
  t.equal(findProp(file, D, 'quota-used-bytes')?.status, 404, 'a file: quota-used-bytes 404 (davix took it for the size)');
  t.equal(findProp(file, D, 'quota-available-bytes')?.status, 404, 'and quota-available-bytes 404, as in Apache');

  const listing = multistatus((await propfind(s, '/dir/', '1', quota)).body);
  t.equal(propText(responseFor(listing, '/dir/'), D, 'quota-used-bytes'), String(4 + 1 + 100_000), 'a collection: the bytes of every file below it');
  t.equal(propText(responseFor(listing, '/dir/sub/'), D, 'quota-used-bytes'), String(1 + 100_000), 'each subfolder its own');
  t.equal(findProp(responseFor(listing, '/dir/a.txt'), D, 'quota-used-bytes')?.status, 404, 'members that are files: 404');
  t.match(propText(responseFor(listing, '/dir/sub/'), D, 'quota-available-bytes'), /^\d+$/, 'available: the free space of the filesystem');
  const root = multistatus((await propfind(s, '/', '0', quota)).body)[0]!;
  t.equal(propText(root, D, 'quota-used-bytes'), String(3 + 4 + 1 + 100_000), 'the root counts the served tree, not the metadata store');
});

t.test('hrefs are percent-encoded and decode to the real names; collections end with a slash', async (t) => {
  const s = await startServer(t);
  const names = ['a b.txt', 'café.txt', '😀 emoji.txt', '100%.txt', 'q?#&.txt', '<angle>.txt', 'plus+.txt', "quote'\".txt"];
  for (const n of names) writeFileSync(path.join(s.root, n), n);
  mkdirSync(path.join(s.root, 'sub dir'));
  const res = await propfind(s, '/', '1');
  const hrefs = multistatus(res.body).map((r) => r.href);
  for (const h of hrefs) t.match(h, /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/, `${h} is a valid URI path`);
  const decoded = hrefs.map((h) => decodeURIComponent(h)).sort();
  t.same(decoded, ['/', '/sub dir/', ...names.map((n) => `/${n}`)].sort());
  t.ok(hrefs.includes('/sub%20dir/'));
  for (const h of hrefs) t.equal((await s.request('PROPFIND', h, { headers: { depth: '0' } })).status, 207, `${h} is addressable`);
  const noSlash = await propfind(s, '/sub%20dir', '0');
  t.equal(noSlash.status, 207, 'a collection without its trailing slash: no redirect');
  t.equal(multistatus(noSlash.body)[0]!.href, '/sub%20dir/', 'the href has the slash');
});

t.test('hrefs carry the mount prefix', async (t) => {
  const s = await setup(t, { prefix: '/dav/' });
  const hrefs = multistatus((await propfind(s, '/dav/dir', '1')).body).map((r) => r.href).sort();
  t.same(hrefs, ['/dav/dir/', '/dav/dir/a.txt', '/dav/dir/sub/']);
  t.same(multistatus((await propfind(s, '/dav', '0')).body).map((r) => r.href), ['/dav/']);
});

t.test('Depth: infinity is capped: 403 with propfind-finite-depth', async (t) => {
  const s = await setup(t, { propfindInfinityLimit: 3 });
  const over = await propfind(s, '/dir', 'infinity');
  t.equal(over.status, 403);
  t.match(over.body, /<D:propfind-finite-depth\s*\/>/);
  t.equal((await propfind(s, '/dir/sub', 'infinity')).status, 207, 'a tree within the cap is served');
  t.equal((await propfind(s, '/dir', '1')).status, 207, 'Depth 1 is not capped');
  const off = await setup(t, { propfindInfinityLimit: 0 });
  const refused = await propfind(off, '/dir/sub', 'infinity');
  t.equal(refused.status, 403, 'a limit of 0 refuses every Depth: infinity');
  t.match(refused.body, 'propfind-finite-depth');
});

t.test('metadata and partial uploads are never listed', async (t) => {
  const s = await setup(t);
  await s.request('PROPPATCH', '/top.txt', { body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:p xmlns:z="urn:z">1</z:p></D:prop></D:set></D:propertyupdate>' });
  writeFileSync(path.join(s.root, '.fastdav-part-leftover'), 'x');
  const hrefs = multistatus((await propfind(s, '/', 'infinity')).body).map((r) => r.href);
  t.notOk(hrefs.some((h) => h.includes('fastdav')), hrefs.join(' '));
  t.equal((await propfind(s, '/.fastdav', '0')).status, 403);
});

t.test('a large listing is complete and well-formed', async (t) => {
  const s = await startServer(t);
  mkdirSync(path.join(s.root, 'many'));
  const n = 2000;
  for (let i = 0; i < n; i++) writeFileSync(path.join(s.root, 'many', `file-${String(i).padStart(5, '0')}-with-a-longer-name.txt`), '');
  const res = await propfind(s, '/many/', '1');
  t.ok(res.raw.length > 256 * 1024, 'big enough to be streamed');
  const responses = multistatus(res.body);
  t.equal(responses.length, n + 1);
  t.equal(new Set(responses.map((r) => r.href)).size, n + 1, 'no duplicates');
});

t.test('an XML body over the limit: 413', async (t) => {
  const s = await setup(t, { maxXmlBytes: 4096 });
  const big = propBody(...Array.from({ length: 400 }, (_, i) => `<x:p${i} xmlns:x="urn:x"/>`));
  t.ok(big.length > 4096);
  t.equal((await propfind(s, '/', '0', big)).status, 413);
  t.equal((await propfind(s, '/', '0', propBody('<D:getetag/>'))).status, 207, 'the server carries on');
});

t.test('the Finder, davfs2 and Office bodies', async (t) => {
  const s = await setup(t);
  const finder = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:A="http://www.apple.com/webdav_fs/props/">
<D:prop>
<D:getlastmodified/>
<D:getcontentlength/>
<D:creationdate/>
<D:resourcetype/>
<A:appledoubleheader/>
</D:prop>
</D:propfind>`;
  const fr = multistatus((await s.request('PROPFIND', '/dir', { headers: { depth: '1', 'content-type': 'text/xml', accept: '*/*' }, body: finder })).body);
  t.equal(fr.length, 3);
  t.equal(findProp(responseFor(fr, '/dir/a.txt'), 'http://www.apple.com/webdav_fs/props/', 'appledoubleheader')?.status, 404);
  t.equal(propText(responseFor(fr, '/dir/a.txt'), D, 'getcontentlength'), '4');
  const neon = `<?xml version="1.0" encoding="utf-8"?>
<propfind xmlns="DAV:"><prop>
<resourcetype xmlns="DAV:"/>
<getcontentlength xmlns="DAV:"/>
<getetag xmlns="DAV:"/>
<getlastmodified xmlns="DAV:"/>
<executable xmlns="http://apache.org/dav/props/"/>
</prop></propfind>`;
  const nr = multistatus((await propfind(s, '/dir/', '1', neon)).body);
  t.equal(findProp(responseFor(nr, '/dir/a.txt'), 'http://apache.org/dav/props/', 'executable')?.status, 404);
  t.ok(propText(responseFor(nr, '/dir/a.txt'), D, 'getetag'));
  const office = '<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getetag/><D:getcontentlength/><D:getmodifiedby/><D:creationdate/><D:getlastmodified/><D:lockdiscovery/><D:supportedlock/></D:prop></D:propfind>';
  const or = multistatus((await s.request('PROPFIND', '/top.txt', { headers: { depth: '0', brief: 't', translate: 'f' }, body: office })).body)[0]!;
  t.equal(findProp(or, D, 'getmodifiedby')?.status, 404);
  t.equal(textOf(findProp(or, D, 'getcontentlength')!.el), '3');
});

t.test('dead properties in Depth 1 and infinity listings belong to the right resources', async (t) => {
  const s = await setup(t);
  writeFileSync(path.join(s.root, 'dirx'), 'prefix sibling');
  const tag = (url: string, value: string) =>
    s.request('PROPPATCH', url, { body: `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:tag xmlns:z="urn:z">${value}</z:tag></D:prop></D:set></D:propertyupdate>` });
  for (const [url, value] of [['/', 'root'], ['/dir', 'dir'], ['/dir/a.txt', 'a'], ['/dir/sub/b.txt', 'b'], ['/dirx', 'dirx']] as const) {
    t.equal((await tag(url, value)).status, 207);
  }
  const tags = async (url: string, depth: string) => {
    const res = await s.request('PROPFIND', url, { headers: { depth }, body: propBody('<z:tag xmlns:z="urn:z"/>') });
    return Object.fromEntries(multistatus(res.body).map((r) => [r.href, propText(r, 'urn:z', 'tag') ?? null]));
  };
  t.same(await tags('/', '1'), { '/': 'root', '/dir/': 'dir', '/dirx': 'dirx', '/top.txt': null });
  t.same(await tags('/dir', '1'), { '/dir/': 'dir', '/dir/a.txt': 'a', '/dir/sub/': null });
  t.same(await tags('/dir', 'infinity'), { '/dir/': 'dir', '/dir/a.txt': 'a', '/dir/sub/': null, '/dir/sub/b.txt': 'b' });
  const all = multistatus((await s.request('PROPFIND', '/dir', { headers: { depth: '1' } })).body);
  t.equal(propText(responseFor(all, '/dir/a.txt'), 'urn:z', 'tag'), 'a', 'allprop listings carry dead properties too');
  t.equal(findProp(responseFor(all, '/dir/sub/'), 'urn:z', 'tag'), undefined);
});
