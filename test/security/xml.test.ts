/**
 * Hostile XML bodies on every method that parses XML: entity bombs, external entities (local
 * files and network), deep nesting, huge bodies with and without a length. Each gets a 4xx,
 * changes nothing, leaks nothing, fetches nothing, and the server keeps answering.
 */
import t from 'tap';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, tempDir } from '../helpers/server.js';
import { rawExchange, snapshot } from './support.js';

const SECRET = 'XML-SENTINEL-SECRET';
const XML_METHODS = ['PROPFIND', 'PROPPATCH', 'LOCK'];

const BOMB = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:a xmlns:x="urn:x">&lol9;</x:a></D:prop></D:set></D:propertyupdate>`;

const body = (method: string, inner: string): string =>
  method === 'PROPFIND'
    ? `<D:propfind xmlns:D="DAV:"><D:prop><x:a xmlns:x="urn:x">${inner}</x:a></D:prop></D:propfind>`
    : method === 'LOCK'
      ? `<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>${inner}</D:owner></D:lockinfo>`
      : `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:a xmlns:x="urn:x">${inner}</x:a></D:prop></D:set></D:propertyupdate>`;

t.test('entity bombs, external entities and external DTDs: 400, nothing fetched, nothing leaked', async (t) => {
  const dir = tempDir(t);
  const secretFile = path.join(dir, 'secret.txt');
  writeFileSync(secretFile, SECRET);
  const s = await startServer(t, { root: tempDir(t) });
  writeFileSync(path.join(s.root, 'f.txt'), 'f');
  // A listener that would see any attempt to fetch an external entity or DTD.
  let fetched = 0;
  const trap = net.createServer((c) => {
    fetched++;
    c.destroy();
  });
  await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
  t.teardown(() => trap.close());
  const trapUrl = `http://127.0.0.1:${(trap.address() as net.AddressInfo).port}/x.dtd`;
  const before = snapshot(s.root);

  const documents: Array<[string, (m: string) => string]> = [
    ['billion laughs', () => BOMB],
    ['external file entity', (m) => `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file://${secretFile}">]>${body(m, '&e;')}`],
    ['external network entity', (m) => `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "${trapUrl}">]>${body(m, '&e;')}`],
    ['external DTD', (m) => `<?xml version="1.0"?><!DOCTYPE x SYSTEM "${trapUrl}">${body(m, '')}`],
    ['parameter entity', (m) => `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "${trapUrl}"> %p;]>${body(m, '')}`],
    ['undefined entity', (m) => `<?xml version="1.0"?>${body(m, '&undefined;')}`],
  ];
  for (const method of XML_METHODS) {
    for (const [name, make] of documents) {
      const res = await s.request(method, '/f.txt', { headers: { 'content-type': 'application/xml' }, body: make(method) });
      t.equal(res.status, 400, `${method} ${name}`);
      t.notOk(res.body.includes(SECRET), `${method} ${name}: nothing leaked`);
    }
  }
  const props = await s.request('PROPFIND', '/f.txt', { headers: { depth: '0' } });
  t.equal(props.status, 207, 'the server still answers');
  t.notMatch(props.body, /lol|SENTINEL/, 'no property was stored');
  t.equal(fetched, 0, 'nothing was fetched');
  t.same(snapshot(s.root), before);
});

t.test('deep nesting: refused, the server stays up', async (t) => {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'f.txt'), 'f');
  for (const depth of [2_000, 50_000]) {
    const inner = '<x:n>'.repeat(depth) + '</x:n>'.repeat(depth);
    for (const method of XML_METHODS) {
      const res = await s.request(method, '/f.txt', { body: body(method, inner).replace('xmlns:D="DAV:"', 'xmlns:D="DAV:" xmlns:x="urn:x"') });
      t.ok(res.status >= 400 && res.status < 500, `${method} nesting ${depth}: ${res.status}`);
    }
  }
  t.equal((await s.request('PROPFIND', '/', { headers: { depth: '1' } })).status, 207);
});

t.test('huge XML bodies: 413 with and without Content-Length, the connection closed cleanly', async (t) => {
  const s = await startServer(t, { maxXmlBytes: 64 * 1024 });
  writeFileSync(path.join(s.root, 'f.txt'), 'f');
  const huge = body('PROPPATCH', 'a'.repeat(200 * 1024));
  for (const method of XML_METHODS) {
    const declared = await s.request(method, '/f.txt', { body: huge });
    t.equal(declared.status, 413, `${method} with Content-Length`);
    const chunk = huge.slice(0, 16 * 1024);
    let chunked = `${method} /f.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n`;
    for (let i = 0; i < 12; i++) chunked += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    chunked += '0\r\n\r\n';
    const res = await rawExchange(s.port, chunked);
    t.same(res.statuses, [413], `${method} chunked`);
    t.match(res.text, /\r\nconnection: close\r\n/i, 'the answer says the connection closes');
    t.ok(res.closed, 'and the server closes it');
  }
  t.equal((await s.request('PROPFIND', '/', { headers: { depth: '1' } })).status, 207);
});
