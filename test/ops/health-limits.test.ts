/**
 * The health endpoint (outside the tree, no credentials, shadows nothing) and the request limits
 * that are not hostile-input tests: upload size (413 before or during the body, with a clean
 * close), 100-continue held back for refused uploads, and the settings table.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { isLoopback, loadConfig } from '../../src/config.js';
import { startServer, tempDir } from '../helpers/server.js';
import { rawExchange } from '../security/support.js';

const HEALTH = '/.well-known/fastdav/health';

t.test('health: 200 without credentials, logged only on trouble, 503 when the data root is gone', async (t) => {
  const lines: string[] = [];
  const stream = new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) });
  const root = path.join(tempDir(t), 'root');
  mkdirSync(root);
  const plain = await startServer(t, { root }, { logger: { level: 'info', stream } });
  const res = await plain.request('GET', HEALTH);
  t.equal(res.status, 200);
  t.same(JSON.parse(res.body), { status: 'ok' });
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal((await plain.request('HEAD', HEALTH)).status, 200);
  t.notOk(lines.some((l) => l.includes(HEALTH)), 'health checks do not fill the log');
  renameSync(root, `${root}-gone`);
  t.equal((await plain.request('GET', HEALTH)).status, 503);
  renameSync(`${root}-gone`, root);
});

t.test('health lives outside the tree: its URL space is reserved, so it never shadows a file', async (t) => {
  const s = await startServer(t);
  for (const [method, url, headers] of [
    ['PUT', HEALTH, {}],
    ['MKCOL', '/.well-known/fastdav', {}],
    ['MKCOL', '/.well-known/fastdav/', {}],
    ['PROPFIND', HEALTH, { depth: '0' }],
    ['DELETE', HEALTH, {}],
    ['GET', '/.well-known/fastdav/other', {}],
    ['GET', '/%2ewell-known/%66astdav/health2', {}],
  ] as const) {
    t.equal((await s.request(method, url, { headers })).status, 403, `${method} ${url}`);
  }
  t.equal((await s.request('MKCOL', '/.well-known')).status, 201, 'the rest of /.well-known/ is ordinary');
  t.equal((await s.request('PUT', '/src.txt', { body: 'x' })).status, 201);
  t.equal((await s.request('COPY', '/src.txt', { headers: { destination: '/.well-known/fastdav' } })).status, 403, 'nor can COPY land there');
  t.same(readdirSync(path.join(s.root, '.well-known')), []);

  const prefixed = await startServer(t, { prefix: '/dav/' });
  t.equal((await prefixed.request('GET', HEALTH)).status, 200, 'with a prefix, health is outside the tree anyway');
  t.equal((await prefixed.request('MKCOL', '/dav/.well-known')).status, 201);
  t.equal((await prefixed.request('MKCOL', '/dav/.well-known/fastdav')).status, 201, 'and the name is free inside it');
  t.throws(() => loadConfig({ argv: ['--root', s.root, '--prefix', '/.well-known/fastdav/x/'], env: {} }), { message: /keeps for itself/ });
});

t.test('upload limit: 413 before or during the body, old content kept, the connection closed cleanly', async (t) => {
  const s = await startServer(t, { maxUploadBytes: 1024 * 1024 });
  t.equal((await s.request('PUT', '/f.bin', { body: 'old' })).status, 201);
  const big = 'x'.repeat(2 * 1024 * 1024);
  const head = 'PUT /f.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n';

  const declared = await rawExchange(s.port, `${head}Content-Length: ${big.length}\r\n\r\n${big}`);
  t.same(declared.statuses, [413], 'announced: refused before reading');
  t.match(declared.text, /\r\nconnection: close\r\n/i);
  t.ok(declared.closed);

  let chunked = `${head}Transfer-Encoding: chunked\r\n\r\n`;
  for (let i = 0; i < 32; i++) chunked += `10000\r\n${big.slice(0, 0x10000)}\r\n`;
  const streamed = await rawExchange(s.port, `${chunked}0\r\n\r\n`);
  t.same(streamed.statuses, [413], 'chunked: refused once past the limit');
  t.ok(streamed.closed);

  const expect = await rawExchange(s.port, `${head}Content-Length: ${big.length}\r\nExpect: 100-continue\r\n\r\n`);
  t.same(expect.statuses, [413], 'Expect: 100-continue gets the refusal instead of 100, so the body is never sent');
  t.equal(readFileSync(path.join(s.root, 'f.bin'), 'utf8'), 'old', 'the old content is intact');
  t.same(readdirSync(s.root).filter((n) => n.startsWith('.fastdav-part-')), [], 'no temporary file');

  const small = await rawExchange(s.port, `${head}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n`, { idleMs: 300 });
  t.same(small.statuses, [100], 'an acceptable upload gets its 100 Continue (and then gives up)');
  t.equal((await s.request('PUT', '/ok.bin', { body: 'y'.repeat(1024 * 1024) })).status, 201, 'exactly the limit is fine');

  const unlimited = await startServer(t);
  t.equal((await unlimited.request('PUT', '/big.bin', { body: big })).status, 201, 'no limit by default');
  t.ok(existsSync(path.join(unlimited.root, 'big.bin')));
});

t.test('settings: every limit is a flag, an env var and a config key; bad values are named', async (t) => {
  const root = tempDir(t);
  const c = loadConfig({ argv: ['--root', root, '--max-upload-bytes', '10MiB', '--headers-timeout', '5'], env: { FASTDAV_REQUEST_TIMEOUT: '60', FASTDAV_ANONYMOUS: 'read-only' } });
  t.equal(c.maxUploadBytes, 10 * 1024 * 1024);
  t.equal(c.headersTimeout, 5);
  t.equal(c.requestTimeout, 60);
  t.equal(c.anonymous, 'read-only');
  t.equal(c.maxHeaderBytes, 16 * 1024, 'defaults');
  t.equal(c.shutdownTimeout, 8);
  t.throws(() => loadConfig({ argv: ['--root', root, '--headers-timeout', '30', '--request-timeout', '10'], env: {} }), { message: /headersTimeout: must not be longer than requestTimeout/ });
  t.throws(() => loadConfig({ argv: ['--root', root, '--anonymous', 'none'], env: {} }), { message: /anonymous: "none" without users/ });
  t.throws(() => loadConfig({ argv: ['--root', root, '--anonymous', 'everyone'], env: {} }), { message: /anonymous must be one of none, read-only, read-write/ });
  t.throws(() => loadConfig({ argv: ['--root', root, '--user-access', 'a'], env: {} }), { message: /userAccess: needs users/ });
  t.throws(() => loadConfig({ argv: ['--root', root, '--realm', 'a"b'], env: {} }), { message: /realm/ });
  t.equal(loadConfig({ argv: ['--root', root, '--host', '0.0.0.0', '--users', 'u'], env: {} }).anonymous, 'none', 'accounts: no anonymous access unless asked');
  t.equal(loadConfig({ argv: ['--root', root], env: {} }).anonymous, 'read-write', 'loopback without accounts: a local tool');
  for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) t.ok(isLoopback(host), host);
  for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.org', '::ffff:10.0.0.1']) t.notOk(isLoopback(host), host);
});
