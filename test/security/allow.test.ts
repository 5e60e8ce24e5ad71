/**
 * Issue 11 item 14: OPTIONS' Allow lists what THIS requester may do. A read-only user is never
 * told PUT, DELETE, MOVE, LOCK… (davfs2 then reports writes as "Invalid argument" instead of
 * mounting read-only), and every method offered really is open to them.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, tempDir } from '../helpers/server.js';
import { basic, instantThrottle, writeUsers } from './support.js';
import { READ_METHODS } from '../../src/auth/authenticator.js';

const WRITES = ['PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPPATCH', 'LOCK', 'UNLOCK'];
const allowOf = (res: { headers: Record<string, unknown> }) => String(res.headers['allow'] ?? '').split(', ').filter(Boolean).sort();

t.test('a read-only user is offered only the methods they may use; a read-write user all of them', async (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  mkdirSync(path.join(data, 'dir'), { recursive: true });
  writeFileSync(path.join(data, 'f.txt'), 'x');
  const users = writeUsers(dir, { alice: 'alice-pw', carol: 'carol-pw' });
  const access = path.join(dir, 'access');
  writeFileSync(access, 'carol:/:ro\n');
  const s = await startServer(t, { root: data, users, userAccess: access, anonymous: 'read-only' }, { logger: false, loginThrottle: instantThrottle() });
  const carol = { authorization: basic('carol', 'carol-pw') };
  const alice = { authorization: basic('alice', 'alice-pw') };

  for (const url of ['/f.txt', '/dir/', '/', '/unmapped']) {
    for (const [who, headers] of [['carol (ro)', carol], ['anonymous (read-only)', {}]] as const) {
      const res = await s.request('OPTIONS', url, { headers });
      t.equal(res.status, 200, `${who} OPTIONS ${url}`);
      const allow = allowOf(res);
      t.same(allow.filter((m) => WRITES.includes(m)), [], `${who} on ${url}: no write method offered (${allow.join(', ')})`);
      t.ok(allow.every((m) => READ_METHODS.has(m)), `${who} on ${url}: only read methods`);
      t.ok(allow.includes('OPTIONS'), `${who} on ${url}: OPTIONS is offered`);
    }
    const rw = allowOf(await s.request('OPTIONS', url, { headers: alice }));
    t.ok(rw.some((m) => WRITES.includes(m)), `alice (rw) on ${url} is offered writes: ${rw.join(', ')}`);
  }
  t.same(allowOf(await s.request('OPTIONS', '/f.txt', { headers: carol })), ['GET', 'HEAD', 'OPTIONS', 'PROPFIND']);
  t.same(allowOf(await s.request('OPTIONS', '/unmapped', { headers: carol })), ['OPTIONS'], 'nothing to read or create there');

  // Every method offered to carol works for her; every other one is refused.
  for (const m of allowOf(await s.request('OPTIONS', '/f.txt', { headers: carol }))) {
    t.not((await s.request(m, '/f.txt', { headers: { ...carol, depth: '0' } })).status, 403, `${m} offered and open`);
  }
  for (const m of WRITES) t.equal((await s.request(m, '/f.txt', { headers: { ...carol, destination: '/g.txt' } })).status, 403, `${m} not offered and refused`);
});
