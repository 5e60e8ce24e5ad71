/**
 * --metadata-pool-size and --metadata-timeout take effect (a real server on a private PostgreSQL):
 * many concurrent writes never open more connections than the pool allows, and a statement that
 * PostgreSQL does not answer in time gives 503 with Retry-After after about the configured time,
 * while the server keeps serving once the database answers again.
 */
import t from 'tap';
import pg from 'pg';
import { startServer } from '../helpers/server.js';
import { postgresSkipReason, sharedPostgres } from '../helpers/postgres.js';

const propSet = (i: number) =>
  `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:z="urn:x"><D:set><D:prop><z:n>${i}</z:n></D:prop></D:set></D:propertyupdate>`;

t.test('pool size and statement timeout', { skip: postgresSkipReason() }, async (t) => {
  const cluster = await sharedPostgres();
  const url = await cluster.createDatabase();
  const db = new URL(url).pathname.slice(1);
  const s = await startServer(t, { metadataUrl: url, metadataPoolSize: 2, metadataTimeout: 600 });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  t.teardown(() => admin.end());
  const connections = async () =>
    Number((await admin.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'fastdav'`, [db])).rows[0].n);

  for (let i = 0; i < 8; i++) await s.request('PUT', `/f${i}`, { body: 'x' });
  let most = 0;
  const sampling = setInterval(() => {
    connections().then((n) => (most = Math.max(most, n)), () => undefined);
  }, 5);
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => s.request('PROPPATCH', `/f${i % 8}`, { headers: { 'content-type': 'application/xml' }, body: propSet(i) })));
  clearInterval(sampling);
  t.same([...new Set(answers.map((r) => r.status))], [207], '40 concurrent PROPPATCHes all answered');
  most = Math.max(most, await connections());
  t.ok(most >= 1 && most <= 2, `never more than 2 connections (saw ${most})`);

  // A table lock held elsewhere: the write waits, and is given up after the timeout.
  const blocker = new pg.Client({ connectionString: url });
  await blocker.connect();
  t.teardown(() => blocker.end());
  await blocker.query('BEGIN');
  await blocker.query('LOCK TABLE dead_props IN EXCLUSIVE MODE');
  const started = Date.now();
  const stuck = await s.request('PROPPATCH', '/f0', { headers: { 'content-type': 'application/xml' }, body: propSet(99) });
  const waited = Date.now() - started;
  t.equal(stuck.status, 503, 'no answer from PostgreSQL in time: 503');
  t.equal(stuck.headers['retry-after'], '5');
  t.ok(waited >= 500 && waited < 4000, `after about the 600 ms timeout (${waited} ms)`);
  await blocker.query('ROLLBACK');
  const after = await s.request('PROPPATCH', '/f0', { headers: { 'content-type': 'application/xml' }, body: propSet(100) });
  t.equal(after.status, 207, 'served again once the database answers');
});
