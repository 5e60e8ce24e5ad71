/**
 * The caches behind PROPFIND's live values (src/props/live.ts) and the 207 writer's escaping
 * (src/xml/multistatus.ts): a cached value must be the value computed afresh, for every input.
 */
import t from 'tap';
import { DavPath } from '../../src/core/paths.js';
import { LIVE_PROPERTIES, contentTypeOf, httpDate, perSecond, type PropertyContext } from '../../src/props/live.js';
import type { Entry } from '../../src/storage/storage.js';
import { escapeXmlText } from '../../src/xml/multistatus.js';

const render = (name: string, entry: Entry): string =>
  LIVE_PROPERTIES.get(name)!.render({ entry, now: 0, lockingEnabled: false, locks: () => [], lockRootHref: () => '', space: () => ({ usedBytes: null, availableBytes: null }) } satisfies PropertyContext);
const file = (name: string, mtimeMs = 0, birthtimeMs = 0): Entry => ({ path: DavPath.of(['d', name]), isCollection: false, size: 1, mtimeMs, birthtimeMs, etag: '"x"' });

t.test('httpDate is toUTCString of the whole second, for every second of a day and across each boundary', async (t) => {
  const start = Date.UTC(2026, 11, 31, 12); // a day across a year boundary
  let wrong = 0;
  for (let s = 0; s < 86_400; s++) {
    const ms = start + s * 1000;
    // Within a second, at its last millisecond and then at the next second's first.
    for (const at of [ms, ms + 999.9, ms + 1000]) if (httpDate(at) !== new Date(Math.floor(at / 1000) * 1000).toUTCString()) wrong++;
  }
  t.equal(wrong, 0);
  t.equal(httpDate(-1), 'Wed, 31 Dec 1969 23:59:59 GMT', 'before the epoch: the second it lies in');
  t.equal(httpDate(0), 'Thu, 01 Jan 1970 00:00:00 GMT');
});

t.test('perSecond: seconds out of order, repeated, and past a full table', async (t) => {
  let calls = 0;
  const format = perSecond((d) => (calls++, d.toISOString()), 3);
  const seconds = [5, 5, 6, 5, 7, 8, 9, 5, 9, 9, 1e9, -3];
  t.same(
    seconds.map((s) => format(s * 1000 + 500)),
    seconds.map((s) => new Date(s * 1000).toISOString()),
  );
  t.ok(calls < seconds.length, `computed ${calls} times for ${seconds.length} lookups`);
  t.equal(httpDate(Number.NaN), new Date(Number.NaN).toUTCString(), 'an invalid time: what toUTCString says');
});

t.test('getlastmodified and creationdate elements (RFC 4918 §15.7, §15.1)', async (t) => {
  const a = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  t.equal(render('getlastmodified', file('a', a)), '<D:getlastmodified>Fri, 02 Jan 2026 03:04:05 GMT</D:getlastmodified>');
  t.equal(render('creationdate', file('a', 0, a)), '<D:creationdate>2026-01-02T03:04:05Z</D:creationdate>');
  t.equal(render('getlastmodified', file('a', a + 1000)), '<D:getlastmodified>Fri, 02 Jan 2026 03:04:06 GMT</D:getlastmodified>');
  t.equal(render('creationdate', file('a', 0, a - 1000)), '<D:creationdate>2026-01-02T03:04:04Z</D:creationdate>');
});

t.test('getcontenttype: by the extension, in any case, the same as contentTypeOf', async (t) => {
  for (const name of ['a.txt', 'A.TXT', 'b.Txt', 'c.html', 'd.json', 'noext', 'README', 'x.', '.hidden', 'e.tar.gz', 'f.unknownext', 'g.JPG', 'h.jpg']) {
    t.equal(render('getcontenttype', file(name)), `<D:getcontenttype>${escapeXmlText(contentTypeOf(name))}</D:getcontenttype>`, name);
  }
  t.equal(render('getcontenttype', file('A.TXT')), '<D:getcontenttype>text/plain; charset=utf-8</D:getcontenttype>');
  t.equal(render('getcontenttype', file('noext')), '<D:getcontenttype>application/octet-stream</D:getcontenttype>');
});

t.test('escapeXmlText: the three specials, characters XML cannot carry, and everything else unchanged', async (t) => {
  t.equal(escapeXmlText('a&b<c>d'), 'a&amp;b&lt;c&gt;d');
  t.equal(escapeXmlText('&&<<>>'), '&amp;&amp;&lt;&lt;&gt;&gt;');
  t.equal(escapeXmlText('"quotes" and \'apostrophes\''), '"quotes" and \'apostrophes\'', 'quotes need no escape in text');
  // XML 1.0 §2.2: tab, LF and CR are characters; the other C0 controls, U+FFFE and U+FFFF are not.
  for (let c = 0; c < 0x20; c++) {
    const ch = String.fromCharCode(c);
    t.equal(escapeXmlText(`x${ch}y`), c === 9 || c === 10 || c === 13 ? `x${ch}y` : 'x\ufffdy', `U+${c.toString(16).padStart(4, '0')}`);
  }
  t.equal(escapeXmlText('\ufffe\uffff'), '\ufffd\ufffd');
  const plain = 'ü € 𝄞 \u007f é/%20#?';
  t.equal(escapeXmlText(plain), plain);
  t.equal(escapeXmlText(''), '');
});
