/** The safety rules of issue 2: uploads, confinement, symlinks, hostile XML, odd names. */
import t, { type Test } from 'tap';
import net from 'node:net';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseXml } from '../../src/xml/parse.js';
import { chunkedRequest, multistatus, rawRequest, startServer, tempDir, type TestServer } from '../helpers/server.js';

const partials = (dir: string) =>
  readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.name.startsWith('.fastdav-part-')).map((d) => d.name);

/** Polls `check` until it holds; fails the test after `ms`. Not a timing assertion: it waits for an event. */
async function eventually(t: Test, what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) {
      t.fail(`timed out waiting until ${what}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts a PUT that announces `total` bytes, sends `sent`, waits until the upload is in progress, then drops the connection. */
async function abortedPut(t: Test, s: TestServer, url: string, head: string, sent: Buffer) {
  const socket = net.connect(s.port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(`PUT ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\n${head}\r\n`);
  socket.write(sent);
  await eventually(t, 'the upload is in progress', () => partials(s.root).length > 0);
  socket.destroy();
  await eventually(t, 'the temporary file is gone', () => partials(s.root).length === 0);
}

t.test('an aborted PUT keeps the old content and leaves no temporary file', async (t) => {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'precious.txt'), 'the old content');
  await abortedPut(t, s, '/precious.txt', 'Content-Length: 10000000\r\n', Buffer.alloc(200_000, 'n'));
  t.equal(readFileSync(path.join(s.root, 'precious.txt'), 'utf8'), 'the old content');
  t.same(partials(s.root), []);

  await abortedPut(t, s, '/fresh.bin', 'Content-Length: 10000000\r\n', Buffer.alloc(100_000, 'n'));
  t.notOk(existsSync(path.join(s.root, 'fresh.bin')), 'an aborted new upload creates nothing');

  await abortedPut(t, s, '/precious.txt', 'Transfer-Encoding: chunked\r\n', Buffer.from(`${(150_000).toString(16)}\r\n${'c'.repeat(150_000)}\r\n`));
  t.equal(readFileSync(path.join(s.root, 'precious.txt'), 'utf8'), 'the old content', 'chunked upload cut short');
  t.same(partials(s.root), []);

  t.equal((await s.request('GET', '/precious.txt')).body, 'the old content', 'the server carries on');
  t.equal((await s.request('PUT', '/precious.txt', { body: 'new' })).status, 204);
});

/** A root inside a folder that holds a secret the server must never reach. */
function jail(t: Test) {
  const outer = tempDir(t);
  const root = path.join(outer, 'root');
  mkdirSync(path.join(root, 'dir'), { recursive: true });
  mkdirSync(path.join(outer, 'outside'));
  writeFileSync(path.join(outer, 'secret.txt'), 'SECRET-TOP');
  writeFileSync(path.join(outer, 'outside', 'secret.txt'), 'SECRET-INNER');
  return { outer, root };
}

t.test('traversal attempts never reach outside the root', async (t) => {
  const { outer, root } = jail(t);
  for (const prefix of ['/', '/dav/']) {
    const s = await startServer(t, { root, prefix });
    const p = prefix;
    const targets = [
      `${p}../secret.txt`, `${p}../../etc/passwd`, `${p}dir/../../secret.txt`, `${p}%2e%2e/secret.txt`, `${p}%2E%2E/%2E%2E/etc/passwd`,
      `${p}..%2fsecret.txt`, `${p}..%2Fsecret.txt`, `${p}%2e%2e%2fsecret.txt`, 
      `${p}%c0%ae%c0%ae/secret.txt`, `${p}%c0%ae%c0%ae%c0%afsecret.txt`, `${p}%e0%80%ae%e0%80%ae/secret.txt`, `${p}dir/%00/../../secret.txt`,
      `${p}secret.txt%00.png`, `${p}.%2e/secret.txt`, `${p}%252e%252e/secret.txt`, `${p}dir/..;/..;/secret.txt`,
      `${p}//..//secret.txt`, `http://127.0.0.1/../secret.txt`, `${p}%u002e%u002e/secret.txt`,
    ];
    for (const target of targets) {
      for (const method of ['GET', 'PROPFIND', 'DELETE']) {
        const res = await rawRequest(s.port, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nDepth: 0\r\nConnection: close\r\n\r\n`);
        t.ok([400, 403, 404].includes(res.status), `${method} ${target} → ${res.status}`);
        t.notMatch(res.body, /SECRET|root:x:0/, 'nothing from outside');
      }
      const put = await rawRequest(s.port, `PUT ${target.replace('secret.txt', 'planted.txt')} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nowned`);
      t.ok(put.status >= 400 && put.status < 500, `PUT ${target} → ${put.status}`);
      const mkcol = await rawRequest(s.port, `MKCOL ${target.replace('secret.txt', 'plantdir')} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      t.ok(mkcol.status >= 400 && mkcol.status < 500, `MKCOL ${target} → ${mkcol.status}`);
    }
    writeFileSync(path.join(root, 'inside.txt'), 'inside');
    for (const d of ['/../planted.txt', '/%2e%2e/planted.txt', '/..%2fplanted.txt', `http://127.0.0.1:${s.port}${p}../planted.txt`, `${p}%c0%ae%c0%ae/planted.txt`]) {
      for (const method of ['COPY', 'MOVE']) {
        const res = await s.request(method, `${p}inside.txt`, { headers: { destination: d } });
        t.ok(res.status >= 400 && res.status < 600 && res.status !== 500, `${method} → ${d}: ${res.status}`);
      }
    }
    t.ok(existsSync(path.join(root, 'inside.txt')));
  }
  t.equal(readFileSync(path.join(outer, 'secret.txt'), 'utf8'), 'SECRET-TOP', 'the secret is untouched');
  t.same(readdirSync(outer).sort(), ['outside', 'root', 'secret.txt'], 'nothing planted beside the root');
  t.same(readdirSync(path.dirname(outer)).filter((n) => n.startsWith('planted')), []);
});

t.test('a symlink inside the root that points outside is refused', async (t) => {
  const { outer, root } = jail(t);
  symlinkSync(path.join(outer, 'outside'), path.join(root, 'dirlink'));
  symlinkSync(path.join(outer, 'secret.txt'), path.join(root, 'filelink'));
  symlinkSync(path.join(outer, 'outside'), path.join(root, 'dir', 'nested-link'));
  symlinkSync(path.join(root, 'dir'), path.join(root, 'inlink'));
  symlinkSync(path.join(root, 'missing-target'), path.join(root, 'dangling'));
  symlinkSync(path.join(root, 'loop'), path.join(root, 'loop'));
  writeFileSync(path.join(root, 'dir', 'ok.txt'), 'fine');
  const s = await startServer(t, { root });

  for (const url of ['/filelink', '/dirlink/secret.txt', '/dirlink', '/dirlink/', '/dir/nested-link/secret.txt']) {
    for (const method of ['GET', 'HEAD', 'PROPFIND', 'PROPPATCH', 'DELETE', 'LOCK', 'COPY', 'MOVE']) {
      const body = method === 'PROPPATCH'
        ? '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">1</z:a></D:prop></D:set></D:propertyupdate>'
        : method === 'LOCK'
          ? '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>'
          : undefined;
      const res = await s.request(method, url, { headers: { depth: '0', destination: '/stolen' }, ...(body ? { body } : {}) });
      t.ok([403, 404].includes(res.status), `${method} ${url} → ${res.status}`);
      t.notMatch(res.body, /SECRET/);
    }
    t.equal((await s.request('PUT', url, { body: 'overwrite' })).status, 403, `PUT ${url}`);
  }
  t.equal((await s.request('PUT', '/dirlink/planted.txt', { body: 'x' })).status, 403);
  t.equal((await s.request('MKCOL', '/dirlink/planted')).status, 403);
  t.equal((await s.request('COPY', '/dir/ok.txt', { headers: { destination: '/dirlink/copied.txt' } })).status, 403);
  t.equal((await s.request('MOVE', '/dir/ok.txt', { headers: { destination: '/dirlink/moved.txt' } })).status, 403);
  t.notOk(existsSync(path.join(root, 'stolen')), 'nothing was copied out of the link');

  const listing = multistatus((await s.request('PROPFIND', '/', { headers: { depth: 'infinity' } })).body).map((r) => r.href).sort();
  t.same(listing, ['/', '/dir/', '/dir/ok.txt', '/inlink/', '/inlink/ok.txt'], 'escaping, dangling and looping links are left out');
  t.notMatch((await s.request('GET', '/')).body, /filelink|dirlink/, 'and out of the HTML listing');
  t.equal((await s.request('GET', '/inlink/ok.txt')).body, 'fine', 'a link that stays inside is followed');
  t.equal((await s.request('GET', '/dangling')).status, 404);
  t.equal((await s.request('GET', '/loop')).status, 404);

  // Tree operations must not follow a link out of the root.
  t.equal((await s.request('COPY', '/dir', { headers: { destination: '/dircopy' } })).status, 201);
  t.notOk(existsSync(path.join(root, 'dircopy', 'nested-link')), 'the link is not copied');
  t.equal((await s.request('DELETE', '/dir')).status, 204);
  t.equal(readFileSync(path.join(outer, 'outside', 'secret.txt'), 'utf8'), 'SECRET-INNER', 'DELETE of a tree never deletes through a link');
  t.equal(readFileSync(path.join(outer, 'secret.txt'), 'utf8'), 'SECRET-TOP');
  t.same(readdirSync(path.join(outer, 'outside')), ['secret.txt']);
});

t.test('hostile XML: bombs, external entities, huge and malformed bodies', async (t) => {
  // A listener that would notice an external entity being fetched.
  let fetched = 0;
  const trap = net.createServer((c) => {
    fetched++;
    c.destroy();
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => trap.close());
  const trapPort = (trap.address() as net.AddressInfo).port;

  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'f.txt'), 'f');
  const bomb =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">' +
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">' +
    '<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"><!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">' +
    '<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;"><!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>';
  const bodies: Record<string, string> = {
    'billion laughs': `${bomb}<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">&lol9;</z:a></D:prop></D:set></D:propertyupdate>`,
    'external file entity': '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">&x;</z:a></D:prop></D:set></D:propertyupdate>',
    'external http entity': `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "http://127.0.0.1:${trapPort}/x">]><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">&x;</z:a></D:prop></D:set></D:propertyupdate>`,
    'external DTD': `<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://127.0.0.1:${trapPort}/d.dtd"><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">1</z:a></D:prop></D:set></D:propertyupdate>`,
    'parameter entity': `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:${trapPort}/p"> %p;]><D:propertyupdate xmlns:D="DAV:"/>`,
    'undefined entity': '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">&undefined;</z:a></D:prop></D:set></D:propertyupdate>',
    'truncated': '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">1</z:a></D:prop></D:set>',
    'mismatched tags': '<D:propertyupdate xmlns:D="DAV:"><D:set></D:propertyupdate></D:set>',
    'not XML at all': '\u0000\u0001 binary junk \uFFFF',
    'deep nesting': `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">${'<z:n>'.repeat(50_000)}${'</z:n>'.repeat(50_000)}</z:a></D:prop></D:set></D:propertyupdate>`,
  };
  for (const [name, body] of Object.entries(bodies)) {
    for (const method of ['PROPPATCH', 'PROPFIND', 'LOCK']) {
      const res = await s.request(method, '/f.txt', { headers: { depth: '0', 'content-type': 'text/xml' }, body: body.replace('propertyupdate', method === 'LOCK' ? 'lockinfo' : method === 'PROPFIND' ? 'propfind' : 'propertyupdate') });
      t.equal(res.status, 400, `${method} with ${name}`);
      t.notMatch(res.body, /root:x:0|lollol/);
    }
  }
  t.equal(fetched, 0, 'no external entity or DTD was ever fetched');
  const props = await s.request('PROPFIND', '/f.txt', { headers: { depth: '0' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><z:a xmlns:z="urn:z"/><D:lockdiscovery/></D:prop></D:propfind>' });
  t.match(props.body, /HTTP\/1.1 404/, 'nothing was stored');
  t.match(props.body, /<D:lockdiscovery\/>/, 'nothing was locked');

  const huge = `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">${'x'.repeat(2 * 1024 * 1024)}</z:a></D:prop></D:set></D:propertyupdate>`;
  t.equal((await s.request('PROPPATCH', '/f.txt', { body: huge })).status, 413, 'over the limit with Content-Length');
  t.equal((await chunkedRequest(s.origin, 'PROPPATCH', '/f.txt', {}, [huge.slice(0, 1_000_000), huge.slice(1_000_000)])).status, 413, 'over the limit, chunked');
  t.equal((await chunkedRequest(s.origin, 'LOCK', '/f.txt', {}, [huge])).status, 413);
  t.equal((await s.request('PROPFIND', '/f.txt', { headers: { depth: '0' }, body: huge.replace('propertyupdate', 'propfind') })).status, 413);
  t.equal((await s.request('GET', '/f.txt')).body, 'f', 'the server is alive and the file unchanged');
  t.equal((await s.request('PROPFIND', '/', { headers: { depth: '1' } })).status, 207);
});

t.test('a listing with control characters in names is still well-formed XML', async (t) => {
  const s = await startServer(t);
  const names = ['bell\u0007.txt', 'esc\u001b[31m.txt', 'tab\tand\nnewline.txt', 'cr\r.txt', 'del\u007f.txt', 'nonchar\uFFFE\uFFFF.txt', 'c1\u0085\u009f.txt', ']]>.txt', 'amp&lt;.txt'];
  for (const n of names) writeFileSync(path.join(s.root, n), n);
  await s.request('PROPPATCH', `/${encodeURIComponent(names[1]!)}`, { body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">1</z:a></D:prop></D:set></D:propertyupdate>' });
  const res = await s.request('PROPFIND', '/', { headers: { depth: '1' } });
  t.equal(res.status, 207);
  t.notMatch(res.body, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/, 'no character XML 1.0 forbids');
  let responses: ReturnType<typeof multistatus> = [];
  t.doesNotThrow(() => {
    responses = multistatus(res.body);
  }, 'parses');
  const hrefs = responses.map((r) => r.href);
  for (const n of names) {
    const href = `/${encodeURIComponent(n)}`;
    t.ok(hrefs.includes(href), `${JSON.stringify(n)} is listed by its exact encoded name`);
    t.equal((await s.request('GET', href)).body, n, `${JSON.stringify(n)} is reachable through its href`);
  }
  for (const depth of ['0', 'infinity']) {
    const r = await s.request('PROPFIND', `/${encodeURIComponent(names[0]!)}`, { headers: { depth } });
    t.doesNotThrow(() => parseXml(r.body), `Depth ${depth} on the odd name parses`);
  }
  const pp = await s.request('PROPPATCH', `/${encodeURIComponent(names[0]!)}`, { body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getetag>x</D:getetag></D:prop></D:set></D:propertyupdate>' });
  t.doesNotThrow(() => parseXml(pp.body), 'a PROPPATCH answer naming it parses');
  const html = (await s.request('GET', '/')).body;
  t.notMatch(html, /href="[^"]*[\u0000-\u001f]/, 'HTML links carry no raw control characters');
});

t.test('the metadata folder is protected like litmus "protected" expects', async (t) => {
  const s = await startServer(t);
  await s.request('PUT', '/f.txt', { body: 'f' });
  await s.request('PROPPATCH', '/f.txt', { body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">1</z:a></D:prop></D:set></D:propertyupdate>' });
  const meta = '/.fastdav';
  const attempts: [string, string, Record<string, string>, string?][] = [
    ['GET', `${meta}/metadata.sqlite`, {}],
    ['PUT', `${meta}/metadata.sqlite`, {}, 'overwrite'],
    ['DELETE', meta, {}],
    ['DELETE', `${meta}/metadata.sqlite`, {}],
    ['MKCOL', `${meta}/x`, {}],
    ['MOVE', meta, { destination: '/stolen' }],
    ['COPY', meta, { destination: '/stolen' }],
    ['COPY', '/f.txt', { destination: `${meta}/metadata.sqlite` }],
    ['MOVE', '/f.txt', { destination: `${meta}/metadata.sqlite` }],
    ['PROPFIND', meta, { depth: '0' }],
    ['PROPPATCH', meta, {}, '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">1</z:a></D:prop></D:set></D:propertyupdate>'],
    ['LOCK', meta, {}, '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>'],
  ];
  for (const [method, url, headers, body] of attempts) {
    const res = await s.request(method, url, { headers, ...(body ? { body } : {}) });
    t.equal(res.status, 403, `${method} ${url} ${JSON.stringify(headers)}`);
  }
  t.notOk(existsSync(path.join(s.root, 'stolen')));
  t.equal((await s.request('GET', '/f.txt')).body, 'f');
  t.match((await s.request('PROPFIND', '/f.txt', { headers: { depth: '0' } })).body, '<z:a', 'the store still works');
});
