/**
 * Races between instances (RFC 4918 §6.1, §7): three instances on one folder and one metadata
 * store behind HAProxy. Conflicting locks are granted exactly once whichever instances the
 * requests reach, and two uploads racing for one path leave one complete version.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { clusterPrerequisites, startCluster } from '../helpers/cluster.js';
import { lockBody, request } from '../helpers/server.js';

const skip = clusterPrerequisites(t);
const xml = { 'content-type': 'application/xml' };

t.test('races through different instances', { skip }, async (t) => {
  const cluster = await startCluster(t);
  const origins = cluster.instances.map((i) => i.origin);

  await t.test('50 concurrent LOCKs of one resource: one 200, 49 × 423', async (t) => {
    t.equal((await cluster.request('PUT', '/contended.txt', { body: 'x' })).status, 201);
    const before = await cluster.balancer.backends();
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => cluster.request('LOCK', '/contended.txt', { body: lockBody('exclusive', 'racer'), headers: { ...xml, timeout: 'Second-600' } })),
    );
    const statuses = answers.map((a) => a.status).sort();
    t.same(statuses, [200, ...Array(49).fill(423)], 'exactly one lock granted');
    const after = await cluster.balancer.backends();
    t.same(after.map((s, i) => s.total - before[i]!.total > 0), [true, true, true], 'the LOCKs reached all three instances');
  });

  await t.test('depth-infinity LOCK of a folder against a LOCK of its member: exactly one wins', async (t) => {
    const rounds = 12;
    for (let r = 0; r < rounds; r++) {
      t.equal((await cluster.request('MKCOL', `/race${r}/`)).status, 201);
      t.equal((await cluster.request('PUT', `/race${r}/member.txt`, { body: 'm' })).status, 201);
      // Alternate which instance gets which request, and the order they are sent in.
      const [a, b] = [origins[r % 3]!, origins[(r + 1) % 3]!];
      const folder = () => request(a, 'LOCK', `/race${r}/`, { body: lockBody(), headers: { ...xml, depth: 'infinity' } });
      const member = () => request(b, 'LOCK', `/race${r}/member.txt`, { body: lockBody(), headers: { ...xml, depth: '0' } });
      const [f, m] = r % 2 === 0 ? await Promise.all([folder(), member()]) : (await Promise.all([member(), folder()])).reverse();
      const winners = [f!, m!].filter((x) => x.status === 200).length;
      t.equal(winners, 1, `round ${r}: folder ${f!.status}, member ${m!.status}`);
      // The loser is refused as RFC 4918 says: 423, or 207 naming the locked member (§9.10.9).
      for (const loser of [f!, m!].filter((x) => x.status !== 200)) t.ok([423, 207].includes(loser.status), `round ${r}: refused with ${loser.status}`);
    }
  });

  await t.test('two PUTs racing through different instances leave one complete version', async (t) => {
    for (let r = 0; r < 10; r++) {
      const one = randomBytes(512 * 1024 + r);
      const two = randomBytes(768 * 1024 + r);
      const [p1, p2] = await Promise.all([request(origins[r % 3]!, 'PUT', '/raced.bin', { body: one }), request(origins[(r + 1) % 3]!, 'PUT', '/raced.bin', { body: two })]);
      t.ok([201, 204].includes(p1.status) && [201, 204].includes(p2.status), `round ${r}: both answered ${p1.status}/${p2.status}`);
      const got = (await cluster.request('GET', '/raced.bin')).raw;
      t.ok(got.equals(one) || got.equals(two), `round ${r}: the file is one of the two uploads, whole (${got.length} bytes)`);
    }
    t.same(readdirSync(cluster.root).filter((n) => n.startsWith('.fastdav-part')), [], 'no temporary file left behind');
  });
});
