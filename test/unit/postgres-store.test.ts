/**
 * What only the PostgreSQL metadata store has (the shared behaviour is in test/contract/metadata.test.ts):
 * migrations applied once when several instances start together, and a database that goes away:
 * MetadataUnavailableError (503) quickly, never a hang, and service back by itself when it returns.
 */
import t from 'tap';
import pg from 'pg';
import { DavPath } from '../../src/core/paths.js';
import { MetadataUnavailableError } from '../../src/metadata/store.js';
import { PostgresMetadataStore } from '../../src/metadata/postgres/store.js';
import { MIGRATIONS, migrate } from '../../src/metadata/postgres/migrations.js';
import { isUnavailable } from '../../src/metadata/postgres/sql.js';
import { postgresSkipReason, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';

const skip = postgresSkipReason();

async function rows(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Milliseconds `promise` takes to settle, and whether it was rejected with MetadataUnavailableError. */
async function timed(promise: Promise<unknown>): Promise<{ ms: number; unavailable: boolean; error?: unknown }> {
  const start = Date.now();
  try {
    await promise;
    return { ms: Date.now() - start, unavailable: false };
  } catch (error) {
    return { ms: Date.now() - start, unavailable: error instanceof MetadataUnavailableError, error };
  }
}

t.test('which errors mean "try again later" (503) and which are mistakes (500) or a full disk (507)', async (t) => {
  const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  const unavailable = [
    withCode('ECONNREFUSED'), withCode('ECONNRESET'), withCode('ETIMEDOUT'), withCode('57P01', 'terminating connection due to administrator command'),
    withCode('57P03', 'the database system is starting up'), withCode('08006'), withCode('53300', 'too many connections'),
    withCode('57014', 'canceling statement due to statement timeout'), withCode('40P01', 'deadlock detected'), withCode('40001'),
    new Error('Connection terminated unexpectedly'), new Error('Query read timeout'), new Error('timeout exceeded when trying to connect'),
    new MetadataUnavailableError(),
  ];
  for (const err of unavailable) t.ok(isUnavailable(err), `${String((err as { code?: string }).code ?? '')} ${err.message}`);
  const mistakes = [withCode('42601', 'syntax error'), withCode('23505', 'duplicate key'), withCode('53100', 'could not extend file: No space left on device'), new TypeError('x is undefined')];
  for (const err of mistakes) t.notOk(isUnavailable(err), `${String((err as { code?: string }).code ?? '')} ${err.message}`);
});

t.test('postgres store', { skip }, async (t) => {
  let server: PostgresServer;
  t.before(async () => {
    server = await startPostgres(t);
  });

  t.test('six instances starting at once apply each migration exactly once', async (t) => {
    const url = await server.createDatabase();
    const stores = await Promise.all(Array.from({ length: 6 }, () => PostgresMetadataStore.open(url)));
    t.teardown(() => Promise.all(stores.map((s) => s.close())));
    const applied = await rows(url, 'SELECT version, name FROM schema_migrations ORDER BY version');
    t.same(applied.map((r) => r['version']), MIGRATIONS.map((m) => m.version), 'each version recorded once');
    const tables = await rows(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
    t.same(tables.map((r) => r['tablename']), ['dead_props', 'intents', 'locks', 'schema_migrations']);
    t.same(await migrate(stores[0]!.pool), [], 'opening again applies nothing');
    // A backend adds its own steps (versions 100+) to the list.
    const extra = [...MIGRATIONS, { version: 100, name: 'catalog', sql: 'CREATE TABLE catalog_probe (id int)' }];
    const results = await Promise.all(stores.map((s) => migrate(s.pool, extra)));
    t.same(results.filter((r) => r.length > 0), [[100]], 'a new step is applied by one instance only');
    t.same((await rows(url, 'SELECT max(version) AS v FROM schema_migrations'))[0], { v: 100 });
  });

  t.test('a guarded write holds LOCK grants on its paths until it commits, and only those', async (t) => {
    const url = await server.createDatabase();
    const store = await PostgresMetadataStore.open(url);
    const writer = new pg.Client({ connectionString: url });
    await writer.connect();
    t.teardown(async () => {
      await writer.end().catch(() => undefined);
      await store.close();
    });
    // The write of a PROPPATCH on /d/f, as locks.ts guarded() sends it, left open in a transaction.
    await writer.query('BEGIN');
    const [written] = (await writer.query(`SELECT fastdav_guarded(ARRAY['/d/f'], ARRAY['', '/d'], '{}', '{}', $1::jsonb, NULL) AS r`, [
      JSON.stringify([{ op: 'set', path: '/d/f', parent: '/d', ns: 'urn:x', name: 'a', xml: '<a xmlns="urn:x">1</a>' }]),
    ])).rows;
    t.same(written.r, { ok: true, intent: null }, 'the write passed its check');
    const grant = (root: string, depth: '0' | 'infinity') =>
      store.locks.grant({ root, depth, scope: 'exclusive', owner: null, principal: null, timeout: 60 }, () => undefined);
    const waiting = async (n: number): Promise<boolean> => {
      for (let i = 0; i < 100; i++) {
        const [{ w }] = (await writer.query(`SELECT count(*)::int AS w FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)).rows as [{ w: number }];
        if (w >= n) return true;
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    };
    let settled = 0;
    const onFile = grant('/d/f', '0').finally(() => settled++);
    const onFolder = grant('/d', 'infinity').finally(() => settled++);
    t.ok(await waiting(2), 'a LOCK of the file and a depth-infinity LOCK of its folder wait for the write');
    const unrelated = await grant('/e', '0');
    t.equal(unrelated.root, '/e', 'a LOCK elsewhere does not wait');
    t.equal(settled, 0, 'the two LOCKs are still waiting');
    await writer.query('COMMIT');
    const [a, b] = await Promise.allSettled([onFile, onFolder]);
    // Granted in turn after the write: whichever came first holds it, the other conflicts in the lock manager (not here).
    t.equal([a, b].filter((r) => r.status === 'fulfilled').length, 2, 'both are granted once the write has committed (the store grants; conflicts are the lock manager\'s)');
    t.same((await store.deadProps.get(DavPath.fromKey('/d/f'))).map((p) => p.name), ['a'], 'the write is there');
  });

  t.test('many grants and writes on one path at once: every one done, none turned away', async (t) => {
    const url = await server.createDatabase();
    // Few connections, as behind a busy pool: the contended tries queue for them too.
    const store = await PostgresMetadataStore.open(url, { maxConnections: 4 });
    t.teardown(() => store.close());
    const path = DavPath.fromKey('/f');
    let decisions = 0;
    // Shared locks are compatible with each other (the lock manager's rule, reduced to what this needs).
    const sharedOnly = (current: readonly { scope: string }[]) => {
      decisions++;
      if (current.some((l) => l.scope === 'exclusive')) throw new Error('conflict');
    };
    const grants = Array.from({ length: 30 }, () =>
      store.locks.grant({ root: '/f', depth: '0', scope: 'shared', owner: null, principal: null, timeout: 60 }, sharedOnly),
    );
    const writes = Array.from({ length: 10 }, (_, i) =>
      store.transaction((tx) => tx.deadProps.apply(path, [{ op: 'set', prop: { ns: 'urn:x', name: `p${i}`, xml: `<p${i} xmlns="urn:x"/>` } }]), {
        paths: [path],
        decide: () => void decisions++,
      }),
    );
    const results = await Promise.allSettled([...grants, ...writes]);
    t.same(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), [], 'nothing refused, nothing unavailable');
    t.equal((await store.locks.relevantTo(path)).length, 30, 'thirty shared locks');
    t.equal((await store.deadProps.get(path)).length, 10, 'ten properties');
    t.ok(decisions >= 40, `every grant and write decided at least once (${decisions} decisions)`);
  });

  t.test('a failing migration leaves nothing behind', async (t) => {
    const url = await server.createDatabase();
    const broken = [...MIGRATIONS, { version: 2, name: 'broken', sql: 'CREATE TABLE half_done (id int); SELECT no_such_function()' }];
    await t.rejects(PostgresMetadataStore.open(url, { migrations: broken }), /no_such_function/);
    t.same(await rows(url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'"), [{ n: 0 }], 'not even version 1: one transaction');
  });

  t.test('nothing listening: open fails fast with MetadataUnavailableError', async (t) => {
    const port = await freePort();
    const result = await timed(PostgresMetadataStore.open(`postgres://fastdav:x@127.0.0.1:${port}/none`));
    t.ok(result.unavailable, `unavailable (${String(result.error)})`);
    t.ok(result.ms < 4000, `within the connect timeout (${result.ms} ms)`);
  });

  t.test('the database stops and starts again: 503-class errors quickly, then service by itself', async (t) => {
    const url = await server.createDatabase();
    const errors: Error[] = [];
    const store = await PostgresMetadataStore.open(url, { onError: (err) => errors.push(err) });
    t.teardown(() => store.close());
    const f = DavPath.of(['f']);
    await store.deadProps.apply(f, [{ op: 'set', prop: { ns: 'urn:t', name: 'kept', xml: '<kept xmlns="urn:t"/>' } }]);
    // Hold some connections in the pool, idle, so that losing them is exercised too.
    await Promise.all([store.check(), store.check(), store.check()]);

    for (const how of ['stop', 'kill'] as const) {
      await server[how]();
      for (const op of [store.check(), store.deadProps.get(f), store.locks.relevantTo(f), store.transaction((tx) => tx.deadProps.clear(f))]) {
        const result = await timed(op);
        t.ok(result.unavailable, `${how}: unavailable (${String(result.error)})`);
        t.ok(result.ms < 6000, `${how}: answered in ${result.ms} ms`);
      }
      await server.start();
      await store.check();
      t.same((await store.deadProps.get(f)).map((p) => p.name), ['kept'], `${how}: back, with the data; the failed transaction changed nothing`);
      const lock = await store.locks.grant({ root: '/l', depth: '0', scope: 'exclusive', owner: null, principal: null, timeout: 60 }, () => undefined);
      t.ok(await store.locks.byToken(lock.token), `${how}: locks work again`);
    }
  });

  t.test('a database that accepts connections but never answers: bounded by the connect timeout', async (t) => {
    const url = await server.createDatabase();
    await server.start();
    const pid = server.pid;
    process.kill(pid, 'SIGSTOP'); // the postmaster no longer starts backends
    try {
      const result = await timed(PostgresMetadataStore.open(url, { connectTimeoutMs: 1000 }));
      t.ok(result.unavailable, `unavailable (${String(result.error)})`);
      t.ok(result.ms >= 900 && result.ms < 3000, `after about the connect timeout (${result.ms} ms)`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });
});
