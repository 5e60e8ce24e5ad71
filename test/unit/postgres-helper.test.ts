/**
 * The PostgreSQL test helper itself (other suites rely on it for outage tests): a private cluster on a
 * loopback port with password login, a fresh database per call, and stop/kill/start that really take the
 * server away and bring it back with its data.
 */
import t from 'tap';
import pg from 'pg';
import { postgresSkipReason, startPostgres } from '../helpers/postgres.js';

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

t.test('private cluster: databases, stop, kill, start', { skip: postgresSkipReason() }, async (t) => {
  const server = await startPostgres(t);
  t.match(server.url, /^postgres:\/\/fastdav:[0-9a-f]+@127\.0\.0\.1:\d+\/postgres$/);
  const a = await server.createDatabase();
  const b = await server.createDatabase();
  t.not(a, b, 'each call gives a new database');
  await query(a, 'CREATE TABLE kept (v text)');
  await query(a, "INSERT INTO kept VALUES ('before')");
  t.same(await query(b, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'kept'"), [{ n: 0 }], 'databases are separate');
  await t.rejects(query(a.replace(/:[0-9a-f]+@/, ':wrong@'), 'SELECT 1'), /password/, 'a wrong password is refused');

  await server.stop();
  t.equal(server.pid, 0);
  await t.rejects(query(a, 'SELECT 1'), 'no server while stopped');
  await server.start();
  t.same(await query(a, 'SELECT v FROM kept'), [{ v: 'before' }], 'data survives stop/start');

  const before = server.pid;
  await server.kill();
  await t.rejects(query(a, 'SELECT 1'), 'no server after kill');
  await server.start();
  t.not(server.pid, before, 'a new postmaster');
  t.same(await query(a, 'SELECT v FROM kept'), [{ v: 'before' }], 'data survives kill/start');
});
