/**
 * Test support for HTTPS: self-signed certificates made by openssl (tests that need one skip
 * locally without openssl and fail without it under CI), and an HTTPS client that accepts them.
 */
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
/** The `skip` option of a test that needs openssl. */
export const skipWithoutOpenssl = !hasOpenssl && process.env['CI'] !== 'true' ? 'openssl not installed' : false;

/** A self-signed P-256 certificate for CN=localhost: NAME.pem and NAME.key in `dir`; null when openssl fails. */
export function selfSigned(dir: string, name: string): { cert: string; key: string } | null {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  return r.status === 0 ? { cert, key } : null;
}

export interface HttpsResult {
  status: number;
  body: string;
  protocol: string;
  /** The certificate the server presented, in DER. */
  peerCertificate: Buffer;
}

/** One HTTPS request on a fresh connection, or on `agent`'s kept-alive ones. */
export function httpsRequest(port: number, urlPath: string, headers: Record<string, string> = {}, method = 'GET', agent: https.Agent | false = false): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: urlPath, method, headers, rejectUnauthorized: false, agent }, (res) => {
      const socket = res.socket as TLSSocket;
      const protocol = socket.getProtocol() ?? '';
      const peerCertificate = socket.getPeerCertificate().raw;
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol, peerCertificate }));
    });
    req.on('error', reject);
    req.end();
  });
}
