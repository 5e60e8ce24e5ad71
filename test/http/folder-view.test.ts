/**
 * Issue 12 on the wire: the folder page, its assets under the reserved PREFIX/.fastdav-ui/,
 * which no user file can take, and CORS preflights, which are never approved.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer } from '../helpers/server.js';

const assetsOf = (html: string) => [...html.matchAll(/(?:src|href)="([^"]*\/\.fastdav-ui\/[^"]+)"/g)].map((m) => m[1]!);

for (const prefix of ['/', '/dav/']) {
  t.test(`the page and its assets under the prefix ${prefix}`, async (t) => {
    const s = await startServer(t, { prefix });
    mkdirSync(path.join(s.root, 'docs'));
    writeFileSync(path.join(s.root, 'docs', 'a.txt'), 'hello');
    const page = await s.request('GET', `${prefix}docs/`, { headers: { accept: 'text/html' } });
    t.equal(page.status, 200);
    t.match(page.body, '<meta name="viewport" content="width=device-width, initial-scale=1">', 'made for phones too');
    t.match(page.body, `href="${prefix}docs/a.txt"`, 'every name a link, without JavaScript');
    t.match(page.body, 'title="5 bytes">5 B<', 'sizes');
    t.match(page.body, /<time datetime="\d{4}-\d\d-\d\dT[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/time>/, 'dates');
    t.match(page.body, `<a href="${prefix}">${prefix}</a>`, 'the path as links');
    const assets = assetsOf(page.body);
    t.same(assets.map((a) => a.split('/').pop()).sort(), ['app.js', 'style.css']);
    for (const url of assets) {
      t.match(url, new RegExp(`^${prefix}\\.fastdav-ui/[0-9a-f]{16}/`), `${url}: versioned by content under the prefix`);
      const res = await s.request('GET', url);
      t.equal(res.status, 200, `${url} is served without credentials`);
      t.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
      t.match(res.headers['content-type'], url.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      t.equal(res.headers['x-content-type-options'], 'nosniff');
      t.ok(res.body.length > 100);
      t.notMatch(res.body, /sourceMappingURL/, 'no pointer to a source map that is not served');
    }
    const app = assets.find((a) => a.endsWith('app.js'))!;
    t.equal((await s.request('GET', app.replace('app.js', 'format.js'))).status, 200, 'the module app.js imports');
    t.equal((await s.request('GET', app.replace(/[0-9a-f]{16}/, '0000000000000000'))).status, 404, "another build's URL");
    t.equal((await s.request('GET', app.replace('app.js', 'stylesheet.js'))).status, 404, 'only the listed assets');
    t.equal((await s.request('GET', app.replace('app.js', 'app.js.map'))).status, 404);
  });
}

t.test('the reserved name .fastdav-ui cannot be created, written or reached as data', async (t) => {
  const s = await startServer(t);
  mkdirSync(path.join(s.root, 'sub'));
  const attempts: [string, string, Record<string, string>][] = [
    ['MKCOL', '/.fastdav-ui/', {}],
    ['PUT', '/.fastdav-ui', {}],
    ['PUT', '/.fastdav-ui/x/app.js', {}],
    ['PUT', '/%2efastdav-ui/x', {}],
    ['DELETE', '/.fastdav-ui/', {}],
    ['PROPFIND', '/.fastdav-ui/', { depth: '0' }],
    ['LOCK', '/.fastdav-ui', {}],
  ];
  for (const [method, url, headers] of attempts) t.equal((await s.request(method, url, { headers, body: method === 'PUT' ? 'x' : undefined })).status, 403, `${method} ${url}`);
  await s.request('PUT', '/f.txt', { body: 'x' });
  t.equal((await s.request('MOVE', '/f.txt', { headers: { destination: '/.fastdav-ui' } })).status, 403, 'not as a MOVE destination');
  t.equal((await s.request('COPY', '/f.txt', { headers: { destination: `${s.origin}/.fastdav-ui` } })).status, 403, 'nor a COPY destination');
  t.equal((await s.request('PUT', '/sub/.fastdav-ui', { body: 'x' })).status, 201, 'deeper down it is an ordinary name');
});

t.test('WebDAV clients get the same listing as before: a plain HTML page, every member linked', async (t) => {
  const s = await startServer(t);
  writeFileSync(path.join(s.root, 'a.txt'), 'x');
  const res = await s.request('GET', '/', { headers: { accept: '*/*', 'user-agent': 'davfs2/1.6.1 neon/0.32.5' } });
  t.equal(res.status, 200);
  t.match(res.headers['content-type'], /^text\/html/);
  t.match(res.body, 'href="/a.txt"');
});

t.test('a CORS preflight from another origin is never approved', async (t) => {
  const s = await startServer(t);
  await s.request('PUT', '/f.txt', { body: 'x' });
  for (const method of ['DELETE', 'PUT', 'MOVE', 'PROPFIND', 'GET']) {
    const res = await s.request('OPTIONS', '/f.txt', {
      headers: { origin: 'https://evil.example', 'access-control-request-method': method, 'access-control-request-headers': 'destination, overwrite' },
    });
    const cors = Object.keys(res.headers).filter((h) => h.startsWith('access-control-'));
    t.same(cors, [], `preflight for ${method}: no Access-Control-* header`);
  }
  const get = await s.request('GET', '/f.txt', { headers: { origin: 'https://evil.example' } });
  t.equal(get.headers['access-control-allow-origin'], undefined, 'nor on a plain cross-origin GET');
});
