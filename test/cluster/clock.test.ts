/**
 * Lock expiry is decided by the database's clock, never an instance's (instances on different
 * hosts disagree about the time). Three instances on one PostgreSQL database, one with its clock an
 * hour ahead and one an hour behind (test/helpers/skewed-clock.mjs): a lock is active, and then
 * expired, for all three at the same moment, whichever instance granted it. A control run on
 * SQLite (which judges expiry by the instance's clock) shows the skew is real.
 */
import t from 'tap';
import { clusterPrerequisites, startCluster } from '../helpers/cluster.js';
import { skewedClockEnv } from '../helpers/instances.js';
import { lockBody, lockTokenOf, request } from '../helpers/server.js';

const skip = clusterPrerequisites(t);
const HOUR = 3600_000;
const SKEWS = [0, HOUR, -HOUR];
const lock = (origin: string, path: string, seconds: number) =>
  request(origin, 'LOCK', path, { body: lockBody(), headers: { 'content-type': 'application/xml', timeout: `Second-${seconds}` } });

t.test('expiry on the database clock, with instance clocks an hour apart', { skip }, async (t) => {
  const cluster = await startCluster(t, { perInstance: (i) => ({ env: skewedClockEnv(SKEWS[i]!) }) });
  const [normal, ahead, behind] = cluster.instances.map((i) => i.origin) as [string, string, string];

  const short = await lock(normal, '/short.txt', 3);
  t.equal(short.status, 201, 'a 3-second lock granted by the instance with the right time');
  t.equal((await request(ahead, 'PUT', '/short.txt', { body: 'x' })).status, 423, 'the instance an hour ahead still sees it');
  t.equal((await request(behind, 'PUT', '/short.txt', { body: 'x' })).status, 423, 'and so does the one an hour behind');
  const discovery = await request(ahead, 'PROPFIND', '/short.txt', { headers: { depth: '0' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>' });
  const left = Number(/<D:timeout>Second-(\d+)<\/D:timeout>/.exec(discovery.body)?.[1]);
  t.ok(left >= 1 && left <= 3, `the instance ahead reports the time left on the database's clock (Second-${left})`);

  const long = await lock(behind, '/long.txt', 600);
  t.equal(long.status, 201, 'a 10-minute lock granted by the instance an hour behind');
  t.equal((await request(normal, 'PUT', '/long.txt', { body: 'x' })).status, 423, 'is active for the others');
  t.equal((await request(ahead, 'PUT', '/long.txt', { body: 'x' })).status, 423);

  await new Promise((resolve) => setTimeout(resolve, 4000));
  t.equal((await request(behind, 'PUT', '/short.txt', { body: 'after' })).status, 204, 'the 3-second lock has expired for the instance behind too');
  t.equal((await request(ahead, 'PUT', '/long.txt', { body: 'x', headers: { if: `(<${lockTokenOf(long)}>)` } })).status, 204, 'the 10-minute lock still holds its token');
  t.equal((await request(normal, 'PUT', '/long.txt', { body: 'x' })).status, 423, 'and refuses writes without it');
});

t.test('control: on SQLite the instance an hour ahead sees a fresh 10-minute lock as expired', { skip }, async (t) => {
  const cluster = await startCluster(t, { instances: 2, metadata: 'sqlite', perInstance: (i) => ({ env: skewedClockEnv(SKEWS[i]!) }) });
  const [normal, ahead] = cluster.instances.map((i) => i.origin) as [string, string];
  t.equal((await lock(normal, '/x.txt', 600)).status, 201);
  t.equal((await request(normal, 'PUT', '/x.txt', { body: 'x' })).status, 423, 'locked for the instance that granted it');
  t.equal((await request(ahead, 'PUT', '/x.txt', { body: 'x' })).status, 204, 'expired for the instance whose clock is ahead: the skew is real');
});
