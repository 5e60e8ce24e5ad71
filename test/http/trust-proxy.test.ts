import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, ConfigError } from '../../src/config.js';
import { startServer, tempDir } from '../helpers/server.js';

// What a reverse proxy (nginx, Caddy) forwards for https://files.example.org/dav/a.txt.
const proxied = {
  host: '127.0.0.1',
  'x-forwarded-host': 'files.example.org',
  'x-forwarded-proto': 'https',
};

t.test('without trustProxy an absolute Destination must name the Host the request used', async (t) => {
  const s = await startServer(t, { prefix: '/dav/' });
  writeFileSync(path.join(s.root, 'a.txt'), 'a');
  const res = await s.request('MOVE', '/dav/a.txt', { headers: { ...proxied, destination: 'https://files.example.org/dav/b.txt' } });
  t.equal(res.status, 502, 'X-Forwarded-* are not believed by default');
  const direct = await s.request('COPY', '/dav/a.txt', { headers: { destination: `${s.origin}/dav/c.txt` } });
  t.equal(direct.status, 201);
});

t.test('with trustProxy the forwarded scheme and host are the server own', async (t) => {
  const s = await startServer(t, { prefix: '/dav/', trustProxy: true });
  writeFileSync(path.join(s.root, 'a.txt'), 'a');
  const moved = await s.request('MOVE', '/dav/a.txt', { headers: { ...proxied, destination: 'https://files.example.org/dav/b.txt' } });
  t.equal(moved.status, 201);
  t.equal((await s.request('GET', '/dav/b.txt')).body, 'a');

  const withPort = await s.request('COPY', '/dav/b.txt', {
    headers: { ...proxied, destination: 'https://files.example.org:443/dav/c.txt' },
  });
  t.equal(withPort.status, 201, 'the default port of the forwarded scheme is the same authority');

  const other = await s.request('COPY', '/dav/b.txt', { headers: { ...proxied, destination: 'https://elsewhere.example.org/dav/d.txt' } });
  t.equal(other.status, 502, 'another host is still another server');

  const outside = await s.request('COPY', '/dav/b.txt', { headers: { ...proxied, destination: 'https://files.example.org/d.txt' } });
  t.equal(outside.status, 502, 'outside the prefix is outside the server namespace');
});

t.test('with trustProxy a tagged If list names the forwarded URL', async (t) => {
  const s = await startServer(t, { trustProxy: true });
  writeFileSync(path.join(s.root, 'l.txt'), 'l');
  const lock = await s.request('LOCK', '/l.txt', {
    headers: { ...proxied, depth: '0' },
    body: '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>',
  });
  t.equal(lock.status, 200);
  const token = String(lock.headers['lock-token']);
  const put = await s.request('PUT', '/l.txt', { headers: { ...proxied, if: `<https://files.example.org/l.txt> (${token})` }, body: 'new' });
  t.equal(put.status, 204, 'the tag matches the resource through the proxy');
  const wrongTag = await s.request('PUT', '/l.txt', { headers: { ...proxied, if: `<http://127.0.0.1/l.txt> (${token})` }, body: 'x' });
  t.equal(wrongTag.status, 412, 'a tag naming the backend address is not this resource');
});

t.test('trustProxy accepts addresses and only believes those peers', async (t) => {
  const root = tempDir(t);
  const load = (value: string) => loadConfig({ argv: ['--root', root, '--trust-proxy', value], env: {} }).trustProxy;
  t.equal(load('true'), true);
  t.equal(load('false'), false);
  t.equal(load('127.0.0.1, 10.0.0.0/8,::1,loopback'), '127.0.0.1,10.0.0.0/8,::1,loopback');
  t.throws(() => load('10.0.0.0/33'), ConfigError);
  t.throws(() => load('proxy.example.org'), ConfigError);
  t.equal(loadConfig({ argv: ['--root', root], env: { FASTDAV_TRUST_PROXY: '1' } }).trustProxy, true);

  const s = await startServer(t, { trustProxy: '10.1.2.3' });
  writeFileSync(path.join(s.root, 'a.txt'), 'a');
  const res = await s.request('COPY', '/a.txt', { headers: { ...proxied, destination: 'https://files.example.org/b.txt' } });
  t.equal(res.status, 502, 'a request from 127.0.0.1 is not from the trusted proxy');
});
