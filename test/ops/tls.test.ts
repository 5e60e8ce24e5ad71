/**
 * HTTPS with --tls-cert/--tls-key: the server speaks TLS (and Basic credentials travel inside it),
 * a key that does not belong to the certificate stops start-up. Needs openssl to make a
 * self-signed certificate: skips without it locally, fails without it under CI.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../../src/config.js';
import { tempDir } from '../helpers/server.js';
import { httpsRequest, selfSigned, skipWithoutOpenssl } from '../helpers/tls.js';
import { basic, instantThrottle, rawExchange, writeUsers } from '../security/support.js';

const get = (port: number, urlPath: string, headers: Record<string, string>, method = 'GET') => httpsRequest(port, urlPath, headers, method);
const skip = skipWithoutOpenssl;

t.test('HTTPS with a certificate and key', { skip }, async (t) => {
  const dir = tempDir(t);
  const pair = selfSigned(dir, 'server');
  if (!pair) return t.fail('openssl could not make a certificate');
  writeFileSync(path.join(dir, 'f.txt'), 'over tls');
  const users = writeUsers(tempDir(t), { alice: 'alice-pw' });
  const app = await buildApp(testConfig({ root: dir, tlsCert: pair.cert, tlsKey: pair.key, users }), { loginThrottle: instantThrottle() });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const port = (app.server.address() as import('node:net').AddressInfo).port;

  const anonymous = await get(port, '/f.txt', {});
  t.equal(anonymous.status, 401);
  t.match(anonymous.protocol, /^TLSv1\.[23]$/);
  const res = await get(port, '/f.txt', { authorization: basic('alice', 'alice-pw') });
  t.equal(res.status, 200);
  t.equal(res.body, 'over tls');
  t.equal((await get(port, '/.well-known/fastdav/health', {})).status, 200);

  const other = selfSigned(dir, 'other')!;
  await t.rejects(buildApp(testConfig({ root: dir, tlsCert: pair.cert, tlsKey: other.key })), { name: 'ConfigError', message: /tlsKey: .*is not the private key of the certificate/ });
  writeFileSync(path.join(dir, 'garbage.pem'), 'not a certificate');
  await t.rejects(buildApp(testConfig({ root: dir, tlsCert: path.join(dir, 'garbage.pem'), tlsKey: pair.key })), { name: 'ConfigError' });
});

t.test('plain HTTP sent to the HTTPS port gets a 400 saying the port speaks HTTPS; TLS on the same port still works', { skip }, async (t) => {
  const dir = tempDir(t);
  const pair = selfSigned(dir, 'server')!;
  writeFileSync(path.join(dir, 'f.txt'), 'over tls');
  const app = await buildApp(testConfig({ root: dir, tlsCert: pair.cert, tlsKey: pair.key, headersTimeout: 1 }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const port = (app.server.address() as import('node:net').AddressInfo).port;

  for (const method of ['GET', 'PROPFIND', 'PUT']) {
    const plain = await rawExchange(port, `${method} /f.txt HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 0\r\n\r\n`);
    t.same(plain.statuses, [400], `${method} over plain HTTP`);
    t.match(plain.text, /\r\n\r\n400 Bad Request: this port speaks HTTPS: use an https:\/\/ URL\n$/);
    t.ok(plain.closed, 'and the connection is closed');
  }
  const res = await get(port, '/f.txt', {});
  t.equal(res.status, 200);
  t.equal(res.body, 'over tls');
  t.match(res.protocol, /^TLSv1\.[23]$/);
  // Several requests on one kept-alive TLS connection.
  const agent = new (await import('node:https')).Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  for (let i = 0; i < 3; i++) t.equal((await httpsRequest(port, '/f.txt', {}, 'GET', agent)).status, 200, `kept-alive request ${i + 1}`);
  // A connection that sends nothing is closed after the head timeout, not kept forever.
  const silent = await rawExchange(port, '', { idleMs: 5000 });
  t.ok(silent.closed, 'a silent connection is closed');
});
