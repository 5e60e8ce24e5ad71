import t from 'tap';
import { DavError } from '../../src/core/errors.js';
import { childElements, decodeXmlBytes, parseXml, textOf, type XmlElement, type XmlNode } from '../../src/xml/parse.js';
import { errorBody, serializeElement } from '../../src/xml/serialize.js';
import { statusThrown } from '../helpers/server.js';

/** Namespace-resolved, prefix-free view of a tree, for comparing documents. */
function shape(node: XmlNode): unknown {
  if (typeof node === 'string') return node;
  return {
    name: `{${node.ns}}${node.local}`,
    lang: node.lang,
    attrs: node.attributes.map((a) => `{${a.ns}}${a.local}=${a.value}`).sort(),
    children: node.children.map(shape),
  };
}

const refused = (xml: string | Buffer) => statusThrown(() => parseXml(xml));

t.test('namespaces are resolved per scope', async (t) => {
  const root = parseXml('<D:propfind xmlns:D="DAV:"><D:prop><X:foo xmlns:X="urn:x"/><D:getetag/><bar xmlns="urn:y"><baz/></bar></D:prop></D:propfind>');
  t.equal(root.ns, 'DAV:');
  t.equal(root.local, 'propfind');
  const prop = childElements(root)[0]!;
  const [foo, etag, bar] = childElements(prop);
  t.same([foo!.ns, foo!.local], ['urn:x', 'foo']);
  t.same([etag!.ns, etag!.local], ['DAV:', 'getetag']);
  t.same([bar!.ns, childElements(bar!)[0]!.ns], ['urn:y', 'urn:y'], 'a default namespace applies to descendants');
});

t.test('a default namespace and a prefix naming the same URI are the same names', async (t) => {
  const a = parseXml('<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>');
  const b = parseXml('<x:propfind xmlns:x="DAV:"><x:prop><x:getetag/></x:prop></x:propfind>');
  t.same(shape(a), shape(b));
});

t.test('prefixes can be redeclared in inner scopes', async (t) => {
  const root = parseXml('<a:r xmlns:a="urn:1"><a:c xmlns:a="urn:2"><a:d/></a:c><a:e/></a:r>');
  const [c, e] = childElements(root);
  t.equal(c!.ns, 'urn:2');
  t.equal(childElements(c!)[0]!.ns, 'urn:2');
  t.equal(e!.ns, 'urn:1', 'the outer binding is back after the inner scope');
});

t.test('xmlns="" puts unprefixed elements in no namespace', async (t) => {
  const root = parseXml('<r xmlns="urn:d"><x xmlns=""><y/></x></r>');
  const x = childElements(root)[0]!;
  t.equal(x.ns, '');
  t.equal(childElements(x)[0]!.ns, '');
  t.equal(parseXml('<plain/>').ns, '', 'no declaration at all: no namespace');
});

t.test('attributes: unprefixed ones are in no namespace, prefixed ones resolve', async (t) => {
  const root = parseXml('<r xmlns="urn:d" xmlns:p="urn:p" a="1" p:b="2"/>');
  t.same(root.attributes.map((a) => [a.ns, a.local, a.value]), [['', 'a', '1'], ['urn:p', 'b', '2']]);
  t.equal(refused('<r q:a="1"/>'), 400, 'undeclared attribute prefix');
});

t.test('undeclared prefixes, empty prefixed namespaces and reserved bindings are 400', async (t) => {
  t.equal(refused('<D:propfind><D:prop/></D:propfind>'), 400);
  t.equal(refused('<D:propfind xmlns:D="DAV:"><Z:x/></D:propfind>'), 400);
  t.equal(refused('<propfind xmlns="DAV:" xmlns:bar=""><prop><bar:foo/></prop></propfind>'), 400, 'litmus propfind_invalid2');
  t.equal(refused('<r xmlns:p=""/>'), 400);
  t.equal(refused('<r xmlns:xml="urn:other"/>'), 400);
  t.equal(refused('<r xmlns:p="http://www.w3.org/XML/1998/namespace"/>'), 400);
  t.equal(refused('<r xmlns:xmlns="urn:x"/>'), 400);
  t.equal(refused('<:r/>'), 400);
  t.equal(refused('<a:b:c xmlns:a="urn:a"/>'), 400);
});

t.test('malformed documents are 400', async (t) => {
  for (const bad of [
    '',
    'not xml',
    '<a>',
    '<a></b>',
    '<a><b></a></b>',
    '<a/><b/>',
    'text<a/>',
    '<a/>text',
    '<a/>x>',
    '<a/><!-- c -->tail',
    '<a b="1"/>x-->',
    '<a x="1" x="2"/>',
    '<a x=1/>',
    '<a>&</a>',
    '<a>&amp</a>',
    '<a>&nbsp;</a>',
    '<a>&#0;</a>',
    '<a>&#x1;</a>',
    '<a>&#xD800;</a>',
    '<a>&#xFFFE;</a>',
    '<a>&#x110000;</a>',
    '<a>&#;</a>',
    '<a>&#xZZ;</a>',
    '<a b="&unknown;"/>',
    '<foo>',
  ]) {
    t.equal(refused(bad), 400, JSON.stringify(bad));
  }
});

t.test('DOCTYPE, internal and external entities are refused, never expanded', async (t) => {
  const bomb =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><D:propfind xmlns:D="DAV:"><D:prop><x>&lol3;</x></D:prop></D:propfind>';
  const external = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>';
  const parameter = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><r/>';
  const plain = '<!doctype r><r/>';
  for (const [name, doc] of [['billion laughs', bomb], ['external entity', external], ['parameter entity', parameter], ['bare doctype', plain]] as const) {
    let error: unknown;
    try {
      parseXml(doc);
    } catch (err) {
      error = err;
    }
    t.ok(error instanceof DavError && error.statusCode === 400, `${name} → 400`);
    t.equal((error as DavError).condition, 'no-external-entities', `${name} names the condition`);
  }
  t.equal(refused('<r>&xxe;</r>'), 400, 'a reference to an undefined entity');
});

t.test('character references, predefined entities, CDATA and comments', async (t) => {
  t.equal(textOf(parseXml('<a>&#65536;</a>')), '\u{10000}', 'litmus prophighunicode');
  t.equal(textOf(parseXml('<a>&#x1F600;&#x10FFFF;</a>')), '😀\u{10FFFF}');
  t.equal(textOf(parseXml('<a>&lt;&gt;&amp;&quot;&apos;&#9;&#xA;</a>')), '<>&"\'\t\n');
  t.equal(parseXml('<a v="&lt;&#65;&quot;"/>').attributes[0]!.value, '<A"');
  t.equal(textOf(parseXml('<a>x<![CDATA[<b>&amp;</b>]]>y</a>')), 'x<b>&amp;</b>y', 'CDATA is text, not markup');
  const withComment = parseXml('<a>one<!-- c -->two</a>');
  t.same(withComment.children, ['onetwo'], 'comments vanish; text around them joins');
  t.same(parseXml('<?xml version="1.0"?>\n<!-- lead --><a/>\n').local, 'a', 'prolog comments and whitespace');
  t.same(parseXml('<a b="x>y"/> <!-- trailing --> <?pi data?>\n').local, 'a', 'comments and PIs after the root');
  t.equal(textOf(parseXml('<a>€ 日本 😀</a>')), '€ 日本 😀', 'literal Unicode');
});

t.test('whitespace is kept exactly', async (t) => {
  const el = parseXml('<a>  two  spaces\n\tand tab  </a>');
  t.same(el.children, ['  two  spaces\n\tand tab  ']);
  const mixed = parseXml('<a> <b/> </a>');
  t.same(mixed.children.map((c) => (typeof c === 'string' ? c : 'b')), [' ', 'b', ' ']);
});

t.test('xml:lang is inherited and overridden', async (t) => {
  const root = parseXml('<r xml:lang="en"><a/><b xml:lang="de"><c/></b></r>');
  t.equal(root.lang, 'en');
  const [a, b] = childElements(root);
  t.equal(a!.lang, 'en');
  t.equal(b!.lang, 'de');
  t.equal(childElements(b!)[0]!.lang, 'de');
  t.equal(parseXml('<r/>').lang, undefined);
});

t.test('nesting is limited', async (t) => {
  t.equal(refused(`${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}`), 400);
  t.equal(refused(`${'<a>'.repeat(100)}${'</a>'.repeat(100)}`), undefined, 'reasonable depth is fine');
});

t.test('body bytes: BOM, UTF-16, declared encodings, invalid UTF-8', async (t) => {
  t.equal(decodeXmlBytes(Buffer.from('\ufeff<a>é</a>', 'utf8')), '<a>é</a>');
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<a>é😀</a>', 'utf16le')]);
  t.equal(textOf(parseXml(utf16)), 'é😀');
  const latin1 = Buffer.concat([Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><a>'), Buffer.from([0xe9]), Buffer.from('</a>')]);
  t.equal(textOf(parseXml(latin1)), 'é');
  t.equal(refused(Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0xfe, 0x3c, 0x2f, 0x61, 0x3e])), 400, 'invalid UTF-8 bytes');
  t.equal(refused(Buffer.from('<?xml version="1.0" encoding="x-no-such"?><a/>')), 400, 'unknown encoding');
});

const roundTrip = (xml: string): XmlElement => parseXml(serializeElement(parseXml(xml)));

t.test('serializeElement: self-contained XML that parses back to the same tree', async (t) => {
  const cases = [
    '<Z:Win32FileAttributes xmlns:Z="urn:schemas-microsoft-com:">00000020</Z:Win32FileAttributes>',
    '<x:p xmlns:x="http://example.com/neon/litmus/"><foo xmlns="http://bar"/></x:p>',
    '<p xmlns="urn:a"><q xmlns="urn:b"><r xmlns=""><s/></r></q>text<q2 a="1" xmlns:z="urn:z" z:b="&lt;&amp;&quot;"/></p>',
    '<x:p xmlns:x="urn:x" xml:lang="fr"><x:q xml:lang="en">hello</x:q><x:r>salut</x:r></x:p>',
    '<x:p xmlns:x="urn:x">  lead and trail  \n\t</x:p>',
    '<x:p xmlns:x="urn:x">&#65536; 😀 &lt;not a tag&gt; &amp;amp; ]]&gt;</x:p>',
    '<x:p xmlns:x="urn:x"><![CDATA[<raw & stuff>]]></x:p>',
    '<x:p xmlns:x="urn:x" a="&amp;amp; &amp;#65; &quot;">&amp;lt; &amp;#38; &amp;nbsp;</x:p>',
    '<nons>in no namespace</nons>',
    '<x:p xmlns:x="urn:x"/>',
    '<a:p xmlns:a="urn:a" xmlns:b="urn:b"><b:q><a:r><b:s>deep</b:s></a:r></b:q></a:p>',
  ];
  for (const xml of cases) {
    const parsed = parseXml(xml);
    const text = serializeElement(parsed);
    t.notMatch(text, /^<\?xml/, 'no XML declaration: it embeds into a larger document');
    t.same(shape(parseXml(text)), shape(parsed), `round trip of ${xml}`);
    t.same(shape(roundTrip(text)), shape(parsed), 'stable when repeated');
  }
});

t.test('serializeElement keeps an inherited xml:lang on the element it takes out', async (t) => {
  const doc = parseXml('<D:prop xmlns:D="DAV:" xml:lang="de"><x:a xmlns:x="urn:x">Hallo</x:a></D:prop>');
  const a = childElements(doc)[0]!;
  const back = parseXml(serializeElement(a));
  t.equal(back.lang, 'de', 'RFC 4918 §4.3: xml:lang in scope belongs to the value');
  t.equal(textOf(back), 'Hallo');
});

t.test('serializeElement declares namespaces an element takes from its ancestors', async (t) => {
  const doc = parseXml('<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32CreationTime>Sat, 16 Feb 2019 18:24:58 GMT</Z:Win32CreationTime></D:prop></D:set></D:propertyupdate>');
  const prop = childElements(childElements(childElements(doc)[0]!)[0]!)[0]!;
  const text = serializeElement(prop);
  t.match(text, /xmlns(:Z)?="urn:schemas-microsoft-com:"/);
  const back = parseXml(text);
  t.same([back.ns, back.local, textOf(back)], ['urn:schemas-microsoft-com:', 'Win32CreationTime', 'Sat, 16 Feb 2019 18:24:58 GMT']);
});

t.test('errorBody is a well-formed DAV:error naming its hrefs', async (t) => {
  const body = errorBody('lock-token-submitted', ['/a%20b', '/x&y']);
  const el = parseXml(body);
  t.same([el.ns, el.local], ['DAV:', 'error']);
  const cond = childElements(el)[0]!;
  t.same([cond.ns, cond.local], ['DAV:', 'lock-token-submitted']);
  t.same(childElements(cond).map(textOf), ['/a%20b', '/x&y']);
});
