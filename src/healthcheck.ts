/**
 * `node dist/healthcheck.js`: the container HEALTHCHECK. Reads the configuration the server reads
 * (environment and config file; flags given to the container are not seen here, so configure
 * containers through FASTDAV_* variables) and asks the server's health endpoint on this host.
 * Exit 0 when it answers 200, else 1.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { loadConfig } from './config.js';
import { HEALTH_URL_PATH } from './http/context.js';

const TIMEOUT_MS = 4000;

function probe(): Promise<number> {
  const config = loadConfig({ argv: process.argv.slice(2) });
  // A wildcard address is reached on loopback; the certificate names the public host, not this one.
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
  const request = config.tlsCert ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request({ host, port: config.port, path: HEALTH_URL_PATH, timeout: TIMEOUT_MS, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

probe().then(
  (status) => {
    process.stdout.write(`health: ${status}\n`);
    process.exit(status === 200 ? 0 : 1);
  },
  (err: unknown) => {
    process.stdout.write(`health: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
