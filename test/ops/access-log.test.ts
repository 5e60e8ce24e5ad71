/** One log line per request: method, path, status, bytes sent, duration, user; nothing else. */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../../src/config.js';
import { request, tempDir } from '../helpers/server.js';

t.test('every request leaves exactly one line with its method, path, status, bytes and duration', async (t) => {
  const root = tempDir(t);
  writeFileSync(`${root}/f.txt`, 'x'.repeat(1000));
  const lines: Record<string, unknown>[] = [];
  const app = await buildApp(testConfig({ root }), {
    logger: { level: 'info', stream: { write: (line: string) => void lines.push(JSON.parse(line)) } },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const address = app.server.address();
  const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
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
  t.ok(typeof g!['bytes'] === 'number' && (g!['bytes'] as number) > 1000, 'bytes counts the body and the head sent');
  t.ok(typeof g!['ms'] === 'number' && (g!['ms'] as number) >= 0, 'duration in ms');
  t.match(p, { method: 'PROPFIND', path: '/nope', status: 404 });
  t.equal(lines.slice(before).filter((l) => l['msg'] === 'incoming request' || l['msg'] === 'request completed').length, 0);
});
