/**
 * The README's nginx configuration, taken from the README itself, in front of fastdav on a
 * non-default port (issue 11 item 20): COPY and MOVE with absolute Destination URLs work, and
 * hrefs name the proxy. The same configuration with `$host` (which drops the port) is shown to
 * fail, so the test would catch the documentation going back.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startNginx, skipWithoutNginx } from '../helpers/nginx.js';
import { request, startServer } from '../helpers/server.js';

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** The ```nginx block of the README's "Behind a reverse proxy" section. */
function documentedLocation(): string {
  const section = README.slice(README.indexOf('### Behind a reverse proxy'));
  const m = /```nginx\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('no nginx block in README "Behind a reverse proxy"');
  return m[1]!;
}

t.test('the documented nginx configuration on a non-default port: COPY and MOVE work through it', { skip: skipWithoutNginx }, async (t) => {
  const location = documentedLocation();
  t.match(location, /proxy_set_header X-Forwarded-Host \$http_host;/, 'the README sends the Host with its port');
  t.match(README, /fastdav --prefix \/dav\/ --trust-proxy 127\.0\.0\.1/);
  const dav = await startServer(t, { prefix: '/dav/', trustProxy: '127.0.0.1' });
  const proxy = await startNginx(t, location.replace('http://127.0.0.1:8080', dav.origin));
  const via = (method: string, url: string, headers: Record<string, string> = {}, body?: string) =>
    request(proxy.origin, method, url, { headers, ...(body === undefined ? {} : { body }) });

  t.equal((await via('PUT', '/dav/a.txt', {}, 'through nginx')).status, 201);
  t.equal((await via('MKCOL', '/dav/dir/')).status, 201);
  t.equal((await via('COPY', '/dav/a.txt', { destination: `${proxy.origin}/dav/dir/b.txt` })).status, 201, 'COPY');
  t.equal((await via('MOVE', '/dav/dir/', { destination: `${proxy.origin}/dav/moved/` })).status, 201, 'MOVE');
  t.equal((await via('GET', '/dav/moved/b.txt')).body, 'through nginx');
  const listing = await via('PROPFIND', '/dav/moved/', { depth: '1' });
  t.equal(listing.status, 207);
  t.match(listing.body, /<D:href>\/dav\/moved\/b\.txt<\/D:href>/);

  // What the README said before: X-Forwarded-Host $host drops the port, and Destination no longer matches.
  const old = await startNginx(t, location.replace('http://127.0.0.1:8080', dav.origin).replace('$http_host', '$host'));
  const r = await request(old.origin, 'COPY', '/dav/a.txt', { headers: { destination: `${old.origin}/dav/c.txt` } });
  t.equal(r.status, 502, 'with $host: 502, the defect this guards against');
});
