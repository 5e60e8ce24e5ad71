/**
 * What PgBouncer in transaction mode costs (run by hand, not in CI: `npx tap test/bench/pgbouncer.ts`):
 * one database round trip (`SELECT 1` from a pg.Pool) and the WebDAV requests that need the
 * database (LOCK + UNLOCK, PROPPATCH, PROPFIND of a dead property), each against one fastdav
 * server on PostgreSQL directly and one on the same cluster through the bouncer, the two
 * alternating in one run. Prints medians; asserts only that the work was done. On these shared
 * 2-core machines, compare the two columns of one run, not runs.
 */
import t from 'tap';
import pg from 'pg';
import { pgbouncerSkipReason, sharedPgBouncer } from '../helpers/pgbouncer.js';
import { lockBody, lockTokenOf, startServer, type TestServer } from '../helpers/server.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 400);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;

type Step = (server: TestServer, round: number) => Promise<void>;

const steps: Record<string, Step> = {
  'LOCK + UNLOCK': async (s) => {
    const lock = await s.request('LOCK', '/f.txt', { body: lockBody(), headers: { 'content-type': 'application/xml', timeout: 'Second-60' } });
    if (lock.status !== 200) throw new Error(`LOCK ${lock.status}`);
    const unlock = await s.request('UNLOCK', '/f.txt', { headers: { 'lock-token': `<${lockTokenOf(lock)}>` } });
    if (unlock.status !== 204) throw new Error(`UNLOCK ${unlock.status}`);
  },
  PROPPATCH: async (s, round) => {
    const body = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:z="urn:b"><D:set><D:prop><z:v>${round}</z:v></D:prop></D:set></D:propertyupdate>`;
    const res = await s.request('PROPPATCH', '/f.txt', { body, headers: { 'content-type': 'application/xml' } });
    if (res.status !== 207) throw new Error(`PROPPATCH ${res.status}`);
  },
  'PROPFIND (dead property)': async (s) => {
    const body = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><z:v xmlns:z="urn:b"/></D:prop></D:propfind>';
    const res = await s.request('PROPFIND', '/f.txt', { body, headers: { depth: '0', 'content-type': 'application/xml' } });
    if (res.status !== 207) throw new Error(`PROPFIND ${res.status}`);
  },
};

t.test('PgBouncer in transaction mode: cost per round trip and per request', { skip: pgbouncerSkipReason() }, async (t) => {
  const bouncer = await sharedPgBouncer();
  const urls = { direct: await bouncer.postgres.createDatabase(), bouncer: await bouncer.createDatabase() };

  const pools = { direct: new pg.Pool({ connectionString: urls.direct, max: 1 }), bouncer: new pg.Pool({ connectionString: urls.bouncer, max: 1 }) };
  t.teardown(() => Promise.all(Object.values(pools).map((p) => p.end())));
  const trips: Record<keyof typeof pools, number[]> = { direct: [], bouncer: [] };
  for (let i = 0; i < ROUNDS * 5; i++) {
    for (const via of ['direct', 'bouncer'] as const) {
      const start = process.hrtime.bigint();
      await pools[via].query('SELECT 1');
      trips[via].push(ms(start));
    }
  }

  const servers = { direct: await startServer(t, { metadataUrl: urls.direct }), bouncer: await startServer(t, { metadataUrl: urls.bouncer }) };
  const rows: string[] = [`| one round trip (SELECT 1) | ${median(trips.direct).toFixed(3)} | ${median(trips.bouncer).toFixed(3)} |`];
  for (const [name, step] of Object.entries(steps)) {
    const took: Record<keyof typeof servers, number[]> = { direct: [], bouncer: [] };
    for (const s of Object.values(servers)) {
      if (![200, 201, 204].includes((await s.request('PUT', '/f.txt', { body: 'x' })).status)) throw new Error('PUT failed');
      await step(s, -1); // warm up
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const via of ['direct', 'bouncer'] as const) {
        const start = process.hrtime.bigint();
        await step(servers[via], round);
        took[via].push(ms(start));
      }
    }
    rows.push(`| ${name} | ${median(took.direct).toFixed(3)} | ${median(took.bouncer).toFixed(3)} |`);
  }
  t.comment(['', `medians in ms over ${ROUNDS} rounds (round trips: ${ROUNDS * 5}), alternating:`, '| | PostgreSQL | through PgBouncer |', '|---|---|---|', ...rows].join('\n'));
  t.pass('every request answered as expected');
});
