import t, { type Test } from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseXml, type XmlElement } from '../../src/xml/parse.js';
import { findProp, lockBody, lockTokenOf, multistatus, startServer, xmlShape, type TestServer } from '../helpers/server.js';


const update = (inner: string, decl = '') => `<?xml version="1.0" encoding="utf-8"?>\n<D:propertyupdate xmlns:D="DAV:"${decl}>${inner}</D:propertyupdate>`;
const set = (...props: string[]) => `<D:set><D:prop>${props.join('')}</D:prop></D:set>`;
const remove = (...props: string[]) => `<D:remove><D:prop>${props.join('')}</D:prop></D:remove>`;

async function setup(t: Test): Promise<TestServer> {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'f.txt'), 'f');
  mkdirSync(path.join(s.root, 'dir'));
  return s;
}

/** PROPFIND for one property; the element and its propstat status. */
async function getProp(s: TestServer, url: string, ns: string, local: string) {
  const body = `<D:propfind xmlns:D="DAV:"><D:prop><X:${local} xmlns:X="${ns}"/></D:prop></D:propfind>`;
  const nsFree = ns === '' ? `<D:propfind xmlns:D="DAV:"><D:prop><${local} xmlns=""/></D:prop></D:propfind>` : body;
  const res = await s.request('PROPFIND', url, { headers: { depth: '0' }, body: nsFree });
  return findProp(multistatus(res.body)[0]!, ns, local);
}

/** The result of a PROPPATCH as [ '{ns}name', status ] pairs in response order. */
function outcomes(body: string): [string, number][] {
  const r = multistatus(body)[0]!;
  return r.propstats.flatMap((ps) => ps.props.map((p) => [`{${p.ns}}${p.local}`, ps.status] as [string, number]));
}

t.test('set several properties: 207, 200 each, values round-trip', async (t) => {
  const s = await setup(t);
  const props = Array.from({ length: 10 }, (_, i) => `<n:prop${i} xmlns:n="http://example.com/neon/litmus/">value${i}</n:prop${i}>`);
  const res = await s.request('PROPPATCH', '/f.txt', { body: update(set(...props)) });
  t.equal(res.status, 207);
  t.match(res.headers['content-type'], /xml/);
  const r = multistatus(res.body)[0]!;
  t.equal(r.href, '/f.txt');
  t.same(r.propstats.map((p) => p.status), [200], 'one propstat for all');
  t.equal(r.propstats[0]!.props.length, 10);
  for (let i = 0; i < 10; i++) {
    const got = await getProp(s, '/f.txt', 'http://example.com/neon/litmus/', `prop${i}`);
    t.equal(got?.status, 200);
    t.same(got?.el.children, [`value${i}`]);
  }
  const dir = await s.request('PROPPATCH', '/dir', { body: update(set('<z:a xmlns:z="urn:z">1</z:a>')) });
  t.equal(multistatus(dir.body)[0]!.href, '/dir/', 'a collection href ends with a slash');
});

t.test('tricky values round-trip exactly', async (t) => {
  const s = await setup(t);
  const cases: [string, string, string][] = [
    // [namespace, local name, the property element as sent]
    ['urn:t', 'nested', '<t:nested xmlns:t="urn:t"><t:a x="1" y="&lt;&amp;&quot;"><t:b>deep <i xmlns="urn:html">mixed</i> text</t:b></t:a><t:c/></t:nested>'],
    ['urn:t', 'valns', '<t:valns xmlns:t="urn:t"><foo xmlns=\'http://bar\'/></t:valns>'],
    ['urn:t', 'lang', '<t:lang xmlns:t="urn:t" xml:lang="fr">été</t:lang>'],
    ['urn:t', 'innerlang', '<t:innerlang xmlns:t="urn:t"><t:x xml:lang="de">Hallo</t:x><t:y xml:lang="ja">こんにちは</t:y></t:innerlang>'],
    ['urn:t', 'high', '<t:high xmlns:t="urn:t">&#65536; &#x10FFFF; 😀 𝄞</t:high>'],
    ['urn:t', 'space', '<t:space xmlns:t="urn:t">  leading\n\tand trailing  \r\n</t:space>'],
    ['urn:t', 'blank', '<t:blank xmlns:t="urn:t">   </t:blank>'],
    ['urn:t', 'empty', '<t:empty xmlns:t="urn:t"/>'],
    ['urn:t', 'refs', '<t:refs xmlns:t="urn:t">&amp;amp; &amp;#65; &lt;tag&gt; ]]&gt; &quot;\'</t:refs>'],
    ['urn:t', 'cdata', '<t:cdata xmlns:t="urn:t"><![CDATA[<not> & markup]]></t:cdata>'],
    ['', 'nullns', '<nullns xmlns="">in no namespace</nullns>'],
    ['urn:default', 'dflt', '<dflt xmlns="urn:default"><child>default ns child</child><free xmlns="">none</free></dflt>'],
    ['urn:t', 'attrns', '<t:attrns xmlns:t="urn:t" xmlns:q="urn:q" q:a="1" b="2"/>'],
  ];
  const res = await s.request('PROPPATCH', '/f.txt', { body: update(set(...cases.map((c) => c[2]))) });
  t.same(outcomes(res.body).map((o) => o[1]), cases.map(() => 200));
  for (const [ns, local, xml] of cases) {
    const got = await getProp(s, '/f.txt', ns, local);
    t.equal(got?.status, 200, `${local} found`);
    t.same(xmlShape(got!.el), xmlShape(parseXml(xml)), `${local} identical`);
  }
});

t.test('xml:lang in scope from ancestors belongs to the value (RFC 4918 §4.3)', async (t) => {
  const s = await setup(t);
  const body = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xml:lang="en"><D:set xml:lang="it"><D:prop><z:greeting xmlns:z="urn:z">ciao</z:greeting></D:prop></D:set></D:propertyupdate>`;
  t.same(outcomes((await s.request('PROPPATCH', '/f.txt', { body })).body), [['{urn:z}greeting', 200]]);
  const got = await getProp(s, '/f.txt', 'urn:z', 'greeting');
  t.equal(got?.el.lang, 'it');
});

t.test('many namespaces in one request (litmus propmanyns)', async (t) => {
  const s = await setup(t);
  const props = Array.from({ length: 10 }, (_, i) => `<p${i}:foo xmlns:p${i}="http://example.com/ns${i}/">v${i}</p${i}:foo>`);
  t.same(outcomes((await s.request('PROPPATCH', '/f.txt', { body: update(set(...props)) })).body).length, 10);
  for (let i = 0; i < 10; i++) t.same((await getProp(s, '/f.txt', `http://example.com/ns${i}/`, 'foo'))?.el.children, [`v${i}`]);
});

t.test('remove, and document order', async (t) => {
  const s = await setup(t);
  const p = (v: string) => `<z:p xmlns:z="urn:z">${v}</z:p>`;
  await s.request('PROPPATCH', '/f.txt', { body: update(set(p('x'))) });
  t.same(outcomes((await s.request('PROPPATCH', '/f.txt', { body: update(remove('<z:p xmlns:z="urn:z"/>')) })).body), [['{urn:z}p', 200]]);
  t.equal((await getProp(s, '/f.txt', 'urn:z', 'p'))?.status, 404);
  t.same(outcomes((await s.request('PROPPATCH', '/f.txt', { body: update(remove('<z:p xmlns:z="urn:z"/>')) })).body), [['{urn:z}p', 200]], 'removing twice succeeds');
  await s.request('PROPPATCH', '/f.txt', { body: update(remove('<z:p xmlns:z="urn:z"/>') + set(p('y'))) });
  t.same((await getProp(s, '/f.txt', 'urn:z', 'p'))?.el.children, ['y'], 'remove then set: y');
  await s.request('PROPPATCH', '/f.txt', { body: update(set(p('z')) + remove('<z:p xmlns:z="urn:z"/>')) });
  t.equal((await getProp(s, '/f.txt', 'urn:z', 'p'))?.status, 404, 'set then remove: absent');
  await s.request('PROPPATCH', '/f.txt', { body: update(set(p('1')) + set(p('2'))) });
  t.same((await getProp(s, '/f.txt', 'urn:z', 'p'))?.el.children, ['2'], 'the last set wins');
});

t.test('atomic: a protected property fails with 403, the rest 424, nothing applied', async (t) => {
  const s = await setup(t);
  await s.request('PROPPATCH', '/f.txt', { body: update(set('<z:keep xmlns:z="urn:z">original</z:keep>')) });
  const etag = (await s.request('HEAD', '/f.txt')).headers['etag'];
  const body = update(set('<z:new xmlns:z="urn:z">n</z:new>', '<D:getetag>"forged"</D:getetag>', '<z:keep xmlns:z="urn:z">changed</z:keep>') + remove('<z:keep xmlns:z="urn:z"/>'));
  const res = await s.request('PROPPATCH', '/f.txt', { body });
  t.equal(res.status, 207);
  const r = multistatus(res.body)[0]!;
  const byStatus = Object.fromEntries(r.propstats.map((ps) => [ps.status, ps.props.map((p) => `{${p.ns}}${p.local}`)]));
  t.same(byStatus[403], ['{DAV:}getetag']);
  t.same([...new Set(byStatus[424])].sort(), ['{urn:z}keep', '{urn:z}new']);
  t.equal(r.propstats.find((ps) => ps.status === 403)?.error?.local, 'cannot-modify-protected-property');
  t.equal((await getProp(s, '/f.txt', 'urn:z', 'new'))?.status, 404, 'the new property was not set');
  t.same((await getProp(s, '/f.txt', 'urn:z', 'keep'))?.el.children, ['original'], 'the old value is untouched');
  t.equal((await s.request('HEAD', '/f.txt')).headers['etag'], etag);
});

t.test('every protected live property is refused', async (t) => {
  const s = await setup(t);
  for (const name of ['resourcetype', 'getcontentlength', 'getcontenttype', 'getetag', 'getlastmodified', 'creationdate', 'lockdiscovery', 'supportedlock', 'quota-used-bytes', 'quota-available-bytes']) {
    const res = await s.request('PROPPATCH', '/f.txt', { body: update(set(`<D:${name}>x</D:${name}>`)) });
    t.equal(res.status, 207, `${name}: still a 207`);
    t.same(outcomes(res.body), [[`{DAV:}${name}`, 403]], name);
    const rm = await s.request('PROPPATCH', '/f.txt', { body: update(remove(`<D:${name}/>`)) });
    t.same(outcomes(rm.body), [[`{DAV:}${name}`, 403]], `remove ${name}`);
  }
});

t.test('displayname may be set and is then reported', async (t) => {
  const s = await setup(t);
  t.same(outcomes((await s.request('PROPPATCH', '/f.txt', { body: update(set('<D:displayname>My File</D:displayname>')) })).body), [['{DAV:}displayname', 200]]);
  t.same((await getProp(s, '/f.txt', 'DAV:', 'displayname'))?.el.children, ['My File']);
});

t.test('errors: 404, bad bodies 400, 413', async (t) => {
  const s = await setup(t);
  t.equal((await s.request('PROPPATCH', '/missing', { body: update(set('<z:a xmlns:z="urn:z"/>')) })).status, 404);
  for (const body of ['', '<D:propfind xmlns:D="DAV:"/>', update(''), update('<D:set/>'), update(set('<z:a>')), '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><q:a/></D:prop></D:set></D:propertyupdate>']) {
    t.equal((await s.request('PROPPATCH', '/f.txt', { body, headers: { 'content-length': String(Buffer.byteLength(body)) } })).status, 400, JSON.stringify(body.slice(0, 80)));
  }
  const big = update(set(`<z:big xmlns:z="urn:z">${'x'.repeat(1024 * 1024)}</z:big>`));
  t.equal((await s.request('PROPPATCH', '/f.txt', { body: big })).status, 413, 'over the 1 MiB default');
  t.equal((await getProp(s, '/f.txt', 'urn:z', 'big'))?.status, 404);
});

t.test('a locked resource needs the token', async (t) => {
  const s = await setup(t);
  const token = lockTokenOf(await s.request('LOCK', '/f.txt', { body: lockBody() }));
  const refused = await s.request('PROPPATCH', '/f.txt', { body: update(set('<z:a xmlns:z="urn:z">1</z:a>')) });
  t.equal(refused.status, 423);
  t.equal((await getProp(s, '/f.txt', 'urn:z', 'a'))?.status, 404);
  const ok = await s.request('PROPPATCH', '/f.txt', { body: update(set('<z:a xmlns:z="urn:z">1</z:a>')), headers: { if: `(<${token}>)` } });
  t.same(outcomes(ok.body), [['{urn:z}a', 200]]);
});

t.test('the stored value is the element alone, with its namespaces declared', async (t) => {
  const s = await setup(t);
  await s.request('PROPPATCH', '/f.txt', { body: update(set('<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>'), ' xmlns:Z="urn:schemas-microsoft-com:"') });
  const res = await s.request('PROPFIND', '/f.txt', { headers: { depth: '0' } });
  const r = multistatus(res.body)[0]!;
  const el: XmlElement | undefined = findProp(r, 'urn:schemas-microsoft-com:', 'Win32FileAttributes')?.el;
  t.same(el?.children, ['00000020'], 'in allprop, namespace declared on the property itself');
});
