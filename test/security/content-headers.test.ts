/**
 * Issue 11 item 1 on the wire: every file response (200, HEAD, 206, 304, 412, 416) carries the
 * sandbox policy and nosniff; the folder page carries the server's strict page policy instead.
 * The browser tests (test/browser/stored-content.test.ts) show what the headers do.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import { CONTENT_POLICY, PAGE_POLICY } from '../../src/http/security-headers.js';

t.test('file responses are sandboxed and never sniffed, whatever their status', async (t) => {
  const s = await startServer(t);
  await s.request('PUT', '/evil.html', { body: '<script>alert(1)</script>' });
  await s.request('PUT', '/clip.webm', { body: 'not really a video' });
  const etag = String((await s.request('HEAD', '/evil.html')).headers['etag']);
  const cases: [string, string, Record<string, string>, number][] = [
    ['GET', '/evil.html', {}, 200],
    ['HEAD', '/evil.html', {}, 200],
    ['GET', '/evil.html', { range: 'bytes=0-3' }, 206],
    ['GET', '/evil.html', { 'if-none-match': etag }, 304],
    ['GET', '/evil.html', { 'if-match': '"other"' }, 412],
    ['GET', '/evil.html', { range: 'bytes=999-' }, 416],
    ['GET', '/missing.html', {}, 404],
    ['PROPFIND', '/evil.html', { depth: '0' }, 207],
  ];
  for (const [method, url, headers, status] of cases) {
    const res = await s.request(method, url, { headers });
    t.equal(res.status, status, `${method} ${url} ${JSON.stringify(headers)}`);
    t.equal(res.headers['content-security-policy'], CONTENT_POLICY, `${method} ${url} ${status}: sandboxed`);
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${method} ${url} ${status}: nosniff`);
  }
  const video = await s.request('GET', '/clip.webm');
  t.equal(video.headers['content-type'], 'video/webm');
  t.equal(video.headers['content-security-policy'], 'sandbox allow-same-origin', "video keeps its origin for the browser's player, still without scripts");
});

t.test("the folder page has the server's strict policy: own script and style only, no inline script, never framed", async (t) => {
  const s = await startServer(t);
  const res = await s.request('GET', '/', { headers: { accept: 'text/html' } });
  t.equal(res.status, 200);
  t.equal(res.headers['content-security-policy'], PAGE_POLICY);
  t.match(PAGE_POLICY, /default-src 'none'/);
  t.match(PAGE_POLICY, /script-src 'self'(;|$)/);
  t.notMatch(PAGE_POLICY, /unsafe-inline|unsafe-eval|\*/);
  t.match(PAGE_POLICY, /frame-ancestors 'none'/);
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.notMatch(res.body, /<script>|<style>|\son[a-z]+=/i, 'no inline script, style or event handler in the page');
});
