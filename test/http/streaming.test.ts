/** Big bodies go to and from disk as streams: memory stays flat however large the file. */
import t from 'tap';
import http from 'node:http';
import { statSync } from 'node:fs';
import path from 'node:path';
import { startServer } from '../helpers/server.js';

const SIZE = 256 * 1024 * 1024;
const CHUNK = Buffer.alloc(1024 * 1024, 'z');

/** Highest RSS seen while `fn` runs, minus the RSS before it. */
async function rssGrowth(fn: () => Promise<void>): Promise<number> {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage().rss) - base;
}

t.test('a 256 MiB PUT and GET never hold the body in memory', async (t) => {
  const s = await startServer(t);
  const putGrowth = await rssGrowth(
    () =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(`${s.origin}/big.bin`, { method: 'PUT', agent: false, headers: { 'content-length': SIZE } }, (res) => {
          t.equal(res.statusCode, 201);
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        let sent = 0;
        const pump = () => {
          while (sent < SIZE) {
            sent += CHUNK.length;
            if (!req.write(CHUNK)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      }),
  );
  t.equal(statSync(path.join(s.root, 'big.bin')).size, SIZE);
  t.ok(putGrowth < SIZE / 2, `memory grew by ${Math.round(putGrowth / 2 ** 20)} MiB during a ${SIZE / 2 ** 20} MiB upload`);

  let received = 0;
  const getGrowth = await rssGrowth(
    () =>
      new Promise<void>((resolve, reject) => {
        http.get(`${s.origin}/big.bin`, { agent: false }, (res) => {
          t.equal(res.statusCode, 200);
          t.equal(res.headers['content-length'], String(SIZE));
          res.on('data', (c: Buffer) => (received += c.length));
          res.on('end', resolve);
          res.on('error', reject);
        }).on('error', reject);
      }),
  );
  t.equal(received, SIZE, 'every byte arrives');
  t.ok(getGrowth < SIZE / 2, `memory grew by ${Math.round(getGrowth / 2 ** 20)} MiB during a ${SIZE / 2 ** 20} MiB download`);
});
