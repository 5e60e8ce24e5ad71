/**
 * Test support: a fastdav app on a temporary root, listening on a free loopback port, and a
 * small HTTP client that sends any method with any headers and returns status, headers, body.
 * Also: raw requests with exact bytes (client replays), chunked uploads, a fake clock, and
 * readers for 207 Multi-Status and DAV:error bodies.
 *
 * With FASTDAV_TEST_METADATA=postgres every server of the test process keeps its metadata in
 * PostgreSQL (one private cluster per process, a fresh database per server; test/helpers/postgres.ts)
 * instead of SQLite, so the same HTTP tests check both stores (test/http/postgres-mode.test.ts).
 */
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/app.js';
import { testConfig, type Config } from '../../src/config.js';
import { DavError } from '../../src/core/errors.js';
import { childElements, parseXml, textOf, type XmlElement } from '../../src/xml/parse.js';
import { sharedPostgres } from './postgres.js';

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

/** The metadata store the HTTP tests use: FASTDAV_TEST_METADATA=postgres or the default, sqlite. */
export function testMetadata(): 'sqlite' | 'postgres' {
  return process.env.FASTDAV_TEST_METADATA === 'postgres' ? 'postgres' : 'sqlite';
}

/** Starts an app on a temporary root (or `overrides.root`) and stops it when the test ends. */
export async function startServer(t: TapLike, overrides: Partial<Config> = {}, options: AppOptions = {}): Promise<TestServer> {
  const root = overrides.root ?? tempDir(t);
  const metadataUrl = overrides.metadataUrl ?? (testMetadata() === 'postgres' ? await (await sharedPostgres()).createSchema() : undefined);
  const config = testConfig({ ...overrides, root, metadataUrl });
  const app = await buildApp(config, options);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const origin = `http://127.0.0.1:${port}`;
  t.teardown(() => app.close());
  return { app, config, root, origin, port, request: (method, urlPath, o) => request(origin, method, urlPath, o) };
}

export interface RawResponse {
  status: number;
  /** Header names lower-cased; repeated headers joined with ', '. */
  headers: Record<string, string>;
  body: string;
  /** Everything the server sent, as text. */
  text: string;
}

/**
 * Sends `requestText` as raw bytes on a fresh TCP connection (headers exactly as given, nothing
 * added) and reads one response (a HEAD request's answer has no body). The request should carry `Connection: close` or a body length,
 * so the server knows where it ends; the response is read until the connection closes or until
 * Content-Length / the final chunk has arrived.
 */
export function rawRequest(port: number, requestText: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const isHead = /^HEAD /.test(typeof requestText === 'string' ? requestText : requestText.subarray(0, 5).toString('latin1'));
    const finish = () => {
      if (done) return;
      const parsed = parseRawResponse(Buffer.concat(chunks), isHead);
      if (!parsed) return;
      done = true;
      socket.destroy();
      resolve(parsed);
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      finish();
    });
    socket.on('end', () => {
      finish();
      if (!done) reject(new Error(`incomplete response: ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`));
    });
    socket.on('error', (err) => {
      if (!done) reject(err);
    });
    socket.write(requestText);
  });
}

/** Parses one complete HTTP/1.1 response (skipping 1xx interim answers); null while incomplete. */
function parseRawResponse(data: Buffer, isHead = false): RawResponse | null {
  let start = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', start);
    if (headEnd === -1) return null;
    const head = data.subarray(start, headEnd).toString('latin1');
    const [statusLine, ...lines] = head.split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
    if (status >= 100 && status < 200) {
      start = headEnd + 4;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let rest = data.subarray(headEnd + 4);
    let body: Buffer;
    if (isHead) {
      body = Buffer.alloc(0); // a HEAD answer has the headers of a GET and no body
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (rest.length < n) return null;
      body = rest.subarray(0, n);
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd === -1) return null;
        const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
        if (size === 0) break;
        if (rest.length < lineEnd + 2 + size + 2) return null;
        parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        rest = rest.subarray(lineEnd + 2 + size + 2);
      }
      body = Buffer.concat(parts);
    } else if (status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else {
      return null; // read until close
    }
    return { status, headers, body: body.toString('utf8'), text: data.toString('utf8') };
  }
}

/** Sends a request whose body goes out in the given chunks (Transfer-Encoding: chunked). */
export function chunkedRequest(origin: string, method: string, urlPath: string, headers: Record<string, string>, chunks: (string | Buffer)[]): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${urlPath}`, { method, headers: { ...headers, 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(parts);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString('utf8'), raw });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

/** A clock the test moves by hand (lock expiry without sleeping). */
export class FakeClock {
  constructor(public ms = Date.UTC(2024, 0, 1)) {}
  now(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** The `Lock-Token` header's token without the angle brackets. */
export function lockTokenOf(res: { headers: http.IncomingHttpHeaders | Record<string, string> }): string {
  const raw = String(res.headers['lock-token'] ?? '');
  const m = /^<(.+)>$/.exec(raw);
  if (!m) throw new Error(`no Lock-Token header in response (got "${raw}")`);
  return m[1]!;
}

/** A LOCK request body (RFC 4918 §9.10). `owner` is inner XML of DAV:owner. */
export function lockBody(scope: 'exclusive' | 'shared' = 'exclusive', owner?: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>\n<D:lockinfo xmlns:D="DAV:">' +
    `<D:lockscope><D:${scope}/></D:lockscope><D:locktype><D:write/></D:locktype>` +
    (owner === undefined ? '' : `<D:owner>${owner}</D:owner>`) +
    '</D:lockinfo>'
  );
}

/** The HTTP status of the DavError `fn` throws (undefined when it throws nothing or something else). */
export function statusThrown(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DavError ? err.statusCode : undefined;
  }
  return undefined;
}

/** One `<D:response>` of a 207 body, namespace-resolved. */
export interface MultistatusResponse {
  href: string;
  /** The response-level status (DELETE/COPY/MOVE/LOCK members), if any. */
  status: number | undefined;
  /** `error` is the condition element inside DAV:error, e.g. {DAV:}lock-token-submitted. */
  propstats: { status: number; props: XmlElement[]; error: XmlElement | undefined }[];
  /** The condition element inside the response's DAV:error, if any. */
  error: XmlElement | undefined;
}

const statusOfLine = (line: string): number => Number(/^HTTP\/\d\.\d (\d{3})/.exec(line.trim())?.[1] ?? NaN);

/** Parses a 207 Multi-Status body (throws if it is not well-formed XML or not a DAV:multistatus). */
export function multistatus(body: string): MultistatusResponse[] {
  const root = parseXml(body);
  if (root.ns !== 'DAV:' || root.local !== 'multistatus') throw new Error(`not a multistatus: {${root.ns}}${root.local}`);
  const dav = (el: XmlElement, local: string) => childElements(el).filter((c) => c.ns === 'DAV:' && c.local === local);
  const condition = (el: XmlElement) => {
    const error = dav(el, 'error')[0];
    return error && childElements(error)[0];
  };
  return dav(root, 'response').map((r) => {
    const status = dav(r, 'status')[0];
    return {
      href: textOf(dav(r, 'href')[0]!),
      status: status ? statusOfLine(textOf(status)) : undefined,
      propstats: dav(r, 'propstat').map((ps) => ({
        status: statusOfLine(textOf(dav(ps, 'status')[0]!)),
        props: childElements(dav(ps, 'prop')[0]!),
        error: condition(ps),
      })),
      error: condition(r),
    };
  });
}

/** The property `{ns}local` of a response, with the status of its propstat. */
export function findProp(r: MultistatusResponse, ns: string, local: string): { status: number; el: XmlElement } | undefined {
  for (const ps of r.propstats) {
    const el = ps.props.find((p) => p.ns === ns && p.local === local);
    if (el) return { status: ps.status, el };
  }
  return undefined;
}

/** The 200 value of a property as text ('' for an empty element), or undefined when not 200. */
export function propText(r: MultistatusResponse, ns: string, local: string): string | undefined {
  const found = findProp(r, ns, local);
  return found && found.status === 200 ? textOf(found.el) : undefined;
}

/** The response for `href` (throws when missing). */
export function responseFor(responses: MultistatusResponse[], href: string): MultistatusResponse {
  const r = responses.find((x) => x.href === href);
  if (!r) throw new Error(`no response for ${href} among ${responses.map((x) => x.href).join(', ')}`);
  return r;
}

/** A namespace-resolved, prefix-free picture of an element, for comparing XML values. */
export function xmlShape(node: XmlElement | string): unknown {
  if (typeof node === 'string') return node;
  return {
    name: `{${node.ns}}${node.local}`,
    lang: node.lang,
    attrs: node.attributes.map((a) => `{${a.ns}}${a.local}=${a.value}`).sort(),
    children: node.children.map(xmlShape),
  };
}

/** The DAV:error condition elements of an error body. */
export function errorConditions(body: string): { name: string; hrefs: string[] }[] {
  const root = parseXml(body);
  if (root.ns !== 'DAV:' || root.local !== 'error') throw new Error(`not a DAV:error: {${root.ns}}${root.local}`);
  return childElements(root).map((c) => ({
    name: c.ns === 'DAV:' ? c.local : `{${c.ns}}${c.local}`,
    hrefs: childElements(c).filter((h) => h.ns === 'DAV:' && h.local === 'href').map(textOf),
  }));
}
