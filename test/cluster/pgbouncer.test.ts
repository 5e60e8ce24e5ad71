/**
 * fastdav behind PgBouncer in transaction mode (issue 9: "nothing may depend on session state"):
 * two instances behind HAProxy whose --metadata-url names a private PgBouncer (test/helpers/pgbouncer.ts,
 * pool_mode = transaction, 3 server connections) in front of the private PostgreSQL. Every
 * transaction, or statement outside one, may run on another server connection than the one before
 * it, and the instances' client connections share those three.
 *
 * - litmus 104/104 without warnings through the balancer (locks taken through one instance are used,
 *   refreshed and released through the other);
 * - 50 concurrent LOCKs of one resource spread over both instances: one 200, 49 × 423 (the grant's
 *   transaction-scoped advisory locks serialize it whichever server connection runs it);
 * - PgBouncer's own counters show that more client connections than server connections were used;
 * - the bouncer killed (a failing part of its own): 503 with Retry-After meanwhile, service back by
 *   itself when it is started again, and nothing lost.
 */
import t from 'tap';
import { TAG_NS, clusterPrerequisites, setTagBody, startCluster } from '../helpers/cluster.js';
import { healthy, until } from '../helpers/instances.js';
import { litmusBinary, runLitmus } from '../helpers/litmus.js';
import { pgbouncerSkipReason } from '../helpers/pgbouncer.js';
import { lockBody, multistatus, propText, request } from '../helpers/server.js';

const litmus = litmusBinary();
if (!litmus && process.env['CI'] === 'true') t.fail('litmus is not installed (CI=true: .ci/run should have installed it)');
const skip = clusterPrerequisites(t) || pgbouncerSkipReason() || (!litmus && 'needs litmus');

t.test('two instances, metadata through PgBouncer in transaction mode', { skip }, async (t) => {
  const cluster = await startCluster(t, { instances: 2, metadata: 'pgbouncer' });
  const bouncer = cluster.pgbouncer!;
  const database = new URL(cluster.metadataUrl!).pathname.slice(1);
  t.equal(new URL(cluster.metadataUrl!).port, String(bouncer.port), 'the instances reach PostgreSQL through the bouncer');
  const pool = async () => (await bouncer.show('POOLS')).find((p) => p['database'] === database);
  const connections = async (what: 'CLIENTS' | 'SERVERS') => (await bouncer.show(what)).filter((c) => c['database'] === database).length;

  await t.test('litmus through the load balancer: 104/104, no warnings', async (t) => {
    t.equal((await cluster.request('MKCOL', '/litmus/')).status, 201);
    await runLitmus(t, litmus, `${cluster.origin}/litmus/`);
    const served = (await cluster.balancer.backends()).map((b) => b.total);
    t.ok(served.every((n) => n > 20), `both instances answered a share of litmus's requests (${served.join(', ')} balanced requests)`);
  });

  await t.test('50 concurrent LOCKs of one resource: one 200, 49 × 423', async (t) => {
    t.equal((await cluster.request('PUT', '/contended.txt', { body: 'x' })).status, 201);
    const before = await cluster.balancer.backends();
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        cluster.request('LOCK', '/contended.txt', { body: lockBody('exclusive', 'racer'), headers: { 'content-type': 'application/xml', timeout: 'Second-600' } }),
      ),
    );
    t.same(answers.map((a) => a.status).sort(), [200, ...Array(49).fill(423)], 'exactly one lock granted');
    const after = await cluster.balancer.backends();
    t.same(after.map((s, i) => s.total - before[i]!.total > 0), [true, true], 'the LOCKs reached both instances');
    const clients = await connections('CLIENTS');
    const servers = await connections('SERVERS');
    t.ok(clients > bouncer.poolSize, `the instances opened ${clients} client connections to the bouncer`);
    t.ok(servers <= bouncer.poolSize, `which shared ${servers} server connections (pool size ${bouncer.poolSize})`);
    t.equal((await pool())?.['pool_mode'], 'transaction', 'in transaction mode');
  });

  await t.test('the bouncer killed and started again: 503 meanwhile, then full service, locks intact', async (t) => {
    const [a, b] = cluster.instances.map((i) => i.origin) as [string, string];
    const proppatch = (origin: string, value: string) =>
      request(origin, 'PROPPATCH', '/tagged.txt', { body: setTagBody(value), headers: { 'content-type': 'application/xml' } });
    t.equal((await cluster.request('PUT', '/tagged.txt', { body: 't' })).status, 201);
    await bouncer.kill();
    const lostAt = Date.now();
    const refused = [await proppatch(a, 'during'), await request(b, 'LOCK', '/other.txt', { body: lockBody(), headers: { 'content-type': 'application/xml' } })];
    t.same(refused.map((r) => r.status), [503, 503], 'PROPPATCH and LOCK answer 503');
    t.ok(refused.every((r) => r.headers['retry-after'] !== undefined), 'with Retry-After');
    t.ok(Date.now() - lostAt < 12_000, `within a bounded time (${Date.now() - lostAt} ms for both)`);
    t.same(await Promise.all([a, b].map(async (o) => (await request(o, 'GET', '/.well-known/fastdav/health')).status)), [503, 503], 'both health endpoints answer 503');

    await bouncer.start();
    const back = Date.now();
    await until('both instances healthy again', async () => (await healthy(a)) && (await healthy(b)));
    t.pass(`both instances healthy again ${Date.now() - back} ms after the bouncer started`);
    t.equal((await proppatch(b, 'after')).status, 207, 'PROPPATCH works again');
    const tag = await request(a, 'PROPFIND', '/tagged.txt', {
      headers: { depth: '0', 'content-type': 'application/xml' },
      body: `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><z:tag xmlns:z="${TAG_NS}"/></D:prop></D:propfind>`,
    });
    t.equal(propText(multistatus(tag.body)[0]!, TAG_NS, 'tag'), 'after', 'the refused change was never stored, the later one is');
    t.equal((await request(a, 'PUT', '/contended.txt', { body: 'no token' })).status, 423, 'the lock granted before still holds');
  });

  if (!t.passing()) t.comment(`the end of pgbouncer's log:\n${bouncer.log().split('\n').slice(-40).join('\n')}`);
});
