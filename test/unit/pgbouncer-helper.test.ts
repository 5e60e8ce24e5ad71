/**
 * The PgBouncer test helper itself (the PgBouncer variants of the metadata contract suite and
 * test/cluster/ rely on it): the README's pgbouncer.ini, in transaction mode, really sits between
 * the clients and PostgreSQL, logs in with a password, and makes client sessions share few server
 * connections, so that any session state would leak from one client to another; kill, start and
 * stop really take it away and bring it back on its port.
 */
import t from 'tap';
import pg from 'pg';
import { documentedConfig, pgbouncerSkipReason, startPgBouncer } from '../helpers/pgbouncer.js';
import { startPostgres } from '../helpers/postgres.js';

t.test('private PgBouncer in transaction mode', { skip: pgbouncerSkipReason() }, async (t) => {
  const postgres = await startPostgres(t);
  const bouncer = await startPgBouncer(t, postgres, { poolSize: 1 });
  t.match(bouncer.url, /^postgres:\/\/fastdav:[0-9a-f]+@127\.0\.0\.1:\d+\/postgres$/);
  t.not(bouncer.port, postgres.port, 'its own port');
  t.ok(bouncer.pid > 0, 'running');

  const config = Object.fromEntries((await bouncer.show('CONFIG')).map((r) => [r['key'], r['value']]));
  t.equal(config['pool_mode'], 'transaction');
  t.equal(config['listen_addr'], '127.0.0.1');
  t.equal(config['default_pool_size'], '1', 'the pool size asked for');
  // The rest is the README's configuration as documented.
  const documented = Object.fromEntries([...documentedConfig().matchAll(/^(\w+) = (.*)$/gm)].map((m) => [m[1], m[2]]));
  for (const key of ['auth_type', 'max_client_conn', 'server_login_retry']) t.equal(config[key], documented[key], `${key} as the README says`);

  const url = await bouncer.createDatabase();
  t.equal(new URL(url).port, String(bouncer.port), 'createDatabase answers a URL through the bouncer');
  const clients = [0, 1, 2].map(() => new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 }));
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => undefined))));
  for (const c of clients) await c.connect();

  const backend = async (c: pg.Client) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const pids = new Set([await backend(clients[0]!), await backend(clients[1]!), await backend(clients[2]!)]);
  t.equal(pids.size, 1, 'three client sessions, one PostgreSQL backend (pool size 1)');

  // Session state set by one client is seen by the next: what fastdav must never rely on or leave behind.
  await clients[0]!.query("SELECT set_config('application_name', 'leaked', false)");
  t.equal((await clients[1]!.query<{ name: string }>("SELECT current_setting('application_name') AS name")).rows[0]!.name, 'leaked', 'session state leaks between clients');

  // A transaction keeps its server connection: a second client waits until it ends.
  await clients[0]!.query('BEGIN');
  await clients[0]!.query('SELECT pg_advisory_xact_lock(7)');
  let secondDone = false;
  const second = clients[1]!.query('SELECT 1').then(() => (secondDone = true));
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(secondDone, 'the second client waits for the only server connection');
  const waiting = (await bouncer.show('POOLS')).find((p) => p['database'] === new URL(url).pathname.slice(1));
  t.equal(Number(waiting?.['cl_waiting']), 1, 'SHOW POOLS counts it as waiting');
  await clients[0]!.query('COMMIT');
  await second;
  t.ok(secondDone, 'served once the transaction ended');

  await t.rejects(new pg.Client({ connectionString: url.replace(/:[0-9a-f]+@/, ':wrong@'), connectionTimeoutMillis: 5000 }).connect(), /SASL authentication failed|password/, 'a wrong password is refused');

  await Promise.all(clients.map((c) => c.end()));
  const query = async (): Promise<unknown> => {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    await c.connect();
    try {
      return (await c.query<{ one: number }>('SELECT 1 AS one')).rows;
    } finally {
      await c.end();
    }
  };
  const first = bouncer.pid;
  await bouncer.kill();
  t.equal(bouncer.pid, 0, 'killed');
  await t.rejects(query(), 'no bouncer after kill');
  await bouncer.start();
  t.not(bouncer.pid, first, 'a new process');
  t.same(await query(), [{ one: 1 }], 'served again on the same port');
  await bouncer.stop();
  t.equal(bouncer.pid, 0, 'stopped');
  await t.rejects(query(), 'no bouncer after stop');
});
