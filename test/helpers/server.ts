/**
 * Test support: a fastdav app on a temporary root, listening on a free loopback port, and a
 * small HTTP client that sends any method with any headers and returns status, headers, body.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/app.js';
import { testConfig, type Config } from '../../src/config.js';

export interface TapLike {
  teardown(fn: () => unknown): void;
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  raw: Buffer;
}

export interface RequestOptions {
  headers?: Record<string, string | number>;
  body?: string | Buffer;
}

export interface TestServer {
  app: FastifyInstance;
  config: Config;
  root: string;
  /** http://127.0.0.1:PORT (no trailing slash) */
  origin: string;
  port: number;
  request(method: string, urlPath: string, options?: RequestOptions): Promise<Response>;
}

/** A fresh empty folder, removed when the test ends. */
export function tempDir(t: TapLike, name = 'fastdav-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), name));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Sends one request to `origin` and collects the whole response. */
export function request(origin: string, method: string, urlPath: string, options: RequestOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${urlPath}`, { method, headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString('utf8'), raw });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Starts an app on a temporary root (or `overrides.root`) and stops it when the test ends. */
export async function startServer(t: TapLike, overrides: Partial<Config> = {}, options: AppOptions = {}): Promise<TestServer> {
  const root = overrides.root ?? tempDir(t);
  const config = testConfig({ ...overrides, root });
  const app = await buildApp(config, options);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const origin = `http://127.0.0.1:${port}`;
  t.teardown(() => app.close());
  return { app, config, root, origin, port, request: (method, urlPath, o) => request(origin, method, urlPath, o) };
}
