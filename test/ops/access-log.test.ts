/** One log line per request: method, path, status, body bytes sent, duration, user; nothing else. */
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../../src/config.js';
import { request, tempDir } from '../helpers/server.js';

/** A server on `root` whose log lines are collected, parsed. */
async function serveLogged(t: Test, root: string): Promise<{ lines: Record<string, unknown>[]; origin: string }> {
  const lines: Record<string, unknown>[] = [];
  const app = await buildApp(testConfig({ root }), {
    logger: { level: 'info', stream: { write: (line: string) => void lines.push(JSON.parse(line)) } },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const address = app.server.address();
  return { lines, origin: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

t.test('every request leaves exactly one line with its method, path, status, bytes and duration', async (t) => {
  const root = tempDir(t);
  writeFileSync(`${root}/f.txt`, 'x'.repeat(1000));
  const { lines, origin } = await serveLogged(t, root);
  const before = lines.length;

  const get = await request(origin, 'GET', '/f.txt');
  const missing = await request(origin, 'PROPFIND', '/nope', { headers: { depth: '0' } });
  t.equal(get.status, 200);
  t.equal(missing.status, 404);
  const requestLines = () => lines.slice(before).filter((l) => l['msg'] === 'request' || l['msg'] === 'request failed');
  // The line is written when the server has finished the response, which can trail the client.
  for (let i = 0; i < 100 && requestLines().length < 2; i++) await new Promise((r) => setTimeout(r, 20));

  const requests = requestLines();
  t.equal(requests.length, 2, 'one line per request, no "incoming request" lines');
  const [g, p] = requests;
  t.match(g, { method: 'GET', path: '/f.txt', status: 200 });
  t.equal(g!['bytes'], 1000, 'bytes counts the body sent, not the head (issue 11 item 21)');
  t.ok(typeof g!['ms'] === 'number' && (g!['ms'] as number) >= 0, 'duration in ms');
  t.match(p, { method: 'PROPFIND', path: '/nope', status: 404, bytes: Buffer.byteLength(missing.body) });
  t.equal(lines.slice(before).filter((l) => l['msg'] === 'incoming request' || l['msg'] === 'request completed').length, 0);
});

t.test('bytes is the body: 0 for HEAD, the listing for a 207, the whole file for a large GET', async (t) => {
  const root = tempDir(t);
  writeFileSync(`${root}/big.bin`, Buffer.alloc(300_000, 7));
  const { lines, origin } = await serveLogged(t, root);
  const logged = async (n: number) => {
    for (let i = 0; i < 100 && lines.filter((l) => l['msg'] === 'request').length < n; i++) await new Promise((r) => setTimeout(r, 20));
    return lines.filter((l) => l['msg'] === 'request');
  };
  const head = await request(origin, 'HEAD', '/big.bin');
  t.equal(head.headers['content-length'], '300000');
  const big = await request(origin, 'GET', '/big.bin');
  t.equal(big.raw.length, 300_000);
  const listing = await request(origin, 'PROPFIND', '/', { headers: { depth: '1' } });
  const [h, g, p] = await logged(3);
  t.match(h, { method: 'HEAD', bytes: 0 });
  t.match(g, { method: 'GET', bytes: 300_000 });
  t.match(p, { method: 'PROPFIND', status: 207 });
  const framing = listing.headers['transfer-encoding'] === 'chunked' ? 64 : 0;
  t.ok((p!['bytes'] as number) >= listing.raw.length && (p!['bytes'] as number) <= listing.raw.length + framing, `the listing's ${listing.raw.length} bytes (logged ${p!['bytes']})`);
});
