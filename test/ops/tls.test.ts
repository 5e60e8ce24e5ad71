/**
 * HTTPS with --tls-cert/--tls-key: the server speaks TLS (and Basic credentials travel inside it),
 * a key that does not belong to the certificate stops start-up. Needs openssl to make a
 * self-signed certificate: skips without it locally, fails without it under CI.
 */
import t from 'tap';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../../src/config.js';
import { tempDir } from '../helpers/server.js';
import { basic, instantThrottle, writeUsers } from '../security/support.js';

function selfSigned(dir: string, name: string): { cert: string; key: string } | null {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  return r.status === 0 ? { cert, key } : null;
}

function get(port: number, urlPath: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; body: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: urlPath, method, headers, rejectUnauthorized: false, agent: false }, (res) => {
      const protocol = (res.socket as TLSSocket).getProtocol() ?? '';
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol }));
    });
    req.on('error', reject);
    req.end();
  });
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const skip = !hasOpenssl && process.env['CI'] !== 'true' ? 'openssl not installed' : false;

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
