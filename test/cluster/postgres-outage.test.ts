/**
 * PostgreSQL stopped for a few seconds under load, then started again: requests that need it get
 * 503 with Retry-After within a bounded time (no hang, no 500, no crash), the health endpoint
 * answers 503 so the balancer takes the instances out, service comes back by itself, and nothing
 * that was acknowledged is lost. Once with the instances connected to PostgreSQL directly, once
 * through PgBouncer in transaction mode (test/helpers/pgbouncer.ts), which keeps accepting the
 * instances' connections while the database is away and holds their queries: the store's own
 * query timeout must still answer them in time.
 */
import t, { type Test } from 'tap';
import { AcknowledgedWrites, clusterPrerequisites, setTagBody, startCluster } from '../helpers/cluster.js';
import { healthy } from '../helpers/instances.js';
import { pgbouncerSkipReason } from '../helpers/pgbouncer.js';
import { lockBody, request, type Response } from '../helpers/server.js';

const skip = clusterPrerequisites(t);
/** No answer may take longer: the store's connect (3 s) and query (5 s) timeouts, plus slack. */
const ANSWER_WITHIN_MS = 12_000;
/** Shortest time PostgreSQL stays away: past QUERY_TIMEOUT_MS (5 s) of the store. */
const MIN_OUTAGE_MS = 7000;

t.test('PostgreSQL stopped under load and started again', { skip }, (t) => outage(t, 'postgres'));
t.test('PostgreSQL behind PgBouncer stopped under load and started again', { skip: skip || pgbouncerSkipReason() }, (t) => outage(t, 'pgbouncer'));

async function outage(t: Test, metadata: 'postgres' | 'pgbouncer'): Promise<void> {
  const cluster = await startCluster(t, { metadata });
  const pg = cluster.postgres!;
  const origins = cluster.instances.map((i) => i.origin);
  t.equal((await cluster.request('MKCOL', '/load/')).status, 201);

  interface Outcome { status: number | 'error'; started: number; ended: number; retryAfter?: string; what: string }
  const outcomes: Outcome[] = [];
  const acked = new AcknowledgedWrites();
  let outageFrom = Infinity; // PostgreSQL stopped
  let healthyFrom = Infinity; // every instance healthy again after it started

  const timed = async (what: string, fn: () => Promise<Response>): Promise<Response | null> => {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const res = await Promise.race([fn(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer in time')), ANSWER_WITHIN_MS * 2)))]);
      outcomes.push({ status: res.status, started, ended: Date.now(), retryAfter: res.headers['retry-after'] as string | undefined, what });
      return res;
    } catch (err) {
      outcomes.push({ status: 'error', started, ended: Date.now(), what: `${what}: ${(err as Error).message}` });
      return null;
    } finally {
      clearTimeout(timer);
    }
  };

  let stop = false;
  // Each client talks to one instance directly (the balancer would hide their answers behind its own 503).
  const client = async (c: number): Promise<void> => {
    const origin = origins[c % origins.length]!;
    for (let n = 0; !stop && n < 400; n++) {
      const path = `/load/c${c}-${n}.txt`;
      const content = `client ${c} op ${n}\n`;
      acked.put(path, content, await timed(`PUT ${path}`, () => request(origin, 'PUT', path, { body: content })));
      acked.proppatch(path, `v${n}`, await timed(`PROPPATCH ${path}`, () => request(origin, 'PROPPATCH', path, { body: setTagBody(`v${n}`), headers: { 'content-type': 'application/xml' } })));
      if (n % 4 === 0) {
        const lockPath = `/load/locked-c${c}-${n}.txt`;
        acked.lock(lockPath, await timed(`LOCK ${lockPath}`, () => request(origin, 'LOCK', lockPath, { body: lockBody(), headers: { 'content-type': 'application/xml' } })));
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const load = Promise.all([0, 1, 2, 3, 4, 5].map(client));

  await new Promise((resolve) => setTimeout(resolve, 1000));
  outageFrom = Date.now();
  await pg.stop();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const health = await Promise.all(origins.map((o) => request(o, 'GET', '/.well-known/fastdav/health')));
  t.same(health.map((h) => h.status), [503, 503, 503], 'every health endpoint answers 503 while the database is away');
  // Behind a bouncer the health query is held, not refused: the balancer's checks time out (3 s)
  // instead of failing, so it may take them a few seconds longer to take the instances out.
  let through = await cluster.request('PROPFIND', '/load/', { headers: { depth: '0' } });
  for (const deadline = Date.now() + 10_000; through.status !== 503 && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    through = await cluster.request('PROPFIND', '/load/', { headers: { depth: '0' } });
  }
  t.equal(through.status, 503, 'the balancer, with every instance out, answers 503');
  await new Promise((resolve) => setTimeout(resolve, 2500));
  // Away for longer than the store's query timeout (5 s): a bouncer holds queries rather than
  // refusing them, and one that got its answer in time would have no 503 to show.
  const awayFor = Date.now() - outageFrom;
  if (awayFor < MIN_OUTAGE_MS) await new Promise((resolve) => setTimeout(resolve, MIN_OUTAGE_MS - awayFor));
  await pg.start();
  const back = Date.now();
  for (const origin of origins) {
    while (!(await healthy(origin))) {
      if (Date.now() - back > 20_000) throw new Error(`${origin} did not come back`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  healthyFrom = Date.now();
  t.pass(`every instance healthy again ${healthyFrom - back} ms after PostgreSQL started`);
  await new Promise((resolve) => setTimeout(resolve, 2500));
  stop = true;
  await load;

  t.same(cluster.instances.map((i) => i.alive()), [true, true, true], 'no instance crashed');
  t.same(outcomes.filter((o) => o.status === 'error' || o.status === 500), [], 'no request failed without an answer, none answered 500');
  const slowest = Math.max(...outcomes.map((o) => o.ended - o.started));
  t.ok(slowest < ANSWER_WITHIN_MS, `every request was answered within ${ANSWER_WITHIN_MS} ms (slowest ${slowest} ms)`);
  const unavailable = outcomes.filter((o) => o.status === 503);
  t.ok(unavailable.length > 0, `${unavailable.length} requests answered 503 during the outage`);
  t.same(unavailable.filter((o) => o.retryAfter === undefined).map((o) => o.what), [], 'every 503 carries Retry-After');
  const failed = (o: Outcome) => typeof o.status !== 'number' || o.status >= 500;
  t.same(outcomes.filter((o) => failed(o) && o.ended < outageFrom).map((o) => o.what), [], 'nothing failed before the outage');
  const after = outcomes.filter((o) => o.started > healthyFrom);
  t.ok(after.length > 6, `${after.length} requests once every instance was healthy again`);
  t.same(after.filter(failed).map((o) => `${o.what}: ${o.status}`), [], 'full service once healthy: every one of them succeeded');

  await cluster.balancer.waitUp();
  t.equal((await cluster.request('PROPFIND', '/load/', { headers: { depth: '0' } })).status, 207, 'the balancer has taken every instance back');

  // Nothing acknowledged was lost.
  const lost = await acked.lost(cluster.origin);
  t.same(lost.files, [], `all ${acked.files.size} acknowledged uploads are there`);
  t.same(lost.props, [], `all ${acked.props.size} acknowledged dead properties are there`);
  t.same(lost.locks, [], `all ${acked.locks.size} granted locks are there and hold`);
}
