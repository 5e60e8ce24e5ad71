import t from 'tap';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer } from '../helpers/server.js';

// Files above storage.smallFileBytes and every range are streamed; rclone mount read them as
// empty before the dispatcher returned the reply to Fastify.
t.test('GET streams a large file whole and in ranges', async (t) => {
  const s = await startServer(t);
  const data = randomBytes(3 * 1024 * 1024 + 17);
  writeFileSync(path.join(s.root, 'big.bin'), data);

  const whole = await s.request('GET', '/big.bin');
  t.equal(whole.status, 200);
  t.equal(whole.raw.length, data.length, 'whole body arrives');
  t.ok(whole.raw.equals(data), 'bytes are the file');

  const mid = await s.request('GET', '/big.bin', { headers: { range: 'bytes=1000000-1999999' } });
  t.equal(mid.status, 206);
  t.equal(mid.headers['content-range'], `bytes 1000000-1999999/${data.length}`);
  t.ok(mid.raw.equals(data.subarray(1000000, 2000000)), 'range bytes are the file slice');

  writeFileSync(path.join(s.root, 'small.txt'), 'hello world');
  const small = await s.request('GET', '/small.txt', { headers: { range: 'bytes=6-' } });
  t.equal(small.status, 206);
  t.equal(small.body, 'world', 'a range of a small file is streamed too');
});
