/**
 * What the PostgreSQL metadata store must also get right behind PgBouncer in transaction mode
 * (test/helpers/pgbouncer.ts), beyond the contract suite's PgBouncer variant:
 *
 * - several instances opening at once migrate once: the transaction-scoped advisory lock holds for
 *   the whole migrating transaction, which the bouncer keeps on one server connection;
 * - a statement that waits in the bouncer's queue (every server connection busy) past the query
 *   timeout is MetadataUnavailableError (503), its write is not applied when the queue moves on,
 *   and the store's later reads answer each its own path.
 */
import t from 'tap';
import pg from 'pg';
import { DavPath } from '../../src/core/paths.js';
import { MetadataUnavailableError } from '../../src/metadata/store.js';
import { PostgresMetadataStore } from '../../src/metadata/postgres/store.js';
import { MIGRATIONS } from '../../src/metadata/postgres/migrations.js';
import { pgbouncerSkipReason, sharedPgBouncer } from '../helpers/pgbouncer.js';

const prop = (value: string) => ({ ns: 'urn:t', name: 'v', xml: `<X:v xmlns:X="urn:t">${value}</X:v>` });
const valueOf = async (store: PostgresMetadataStore, path: DavPath) => (await store.deadProps.get(path)).map((p) => /<X:v[^>]*>(.*)<\/X:v>/.exec(p.xml)![1]);

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  return client;
}

t.test('postgres store behind PgBouncer', { skip: pgbouncerSkipReason() }, async (t) => {
  const bouncer = await sharedPgBouncer();

  t.test('six instances opening at once apply each migration exactly once', async (t) => {
    const url = await bouncer.createDatabase();
    const stores = await Promise.all(Array.from({ length: 6 }, () => PostgresMetadataStore.open(url)));
    t.teardown(() => Promise.all(stores.map((s) => s.close())));
    const check = await connect(url);
    t.teardown(() => check.end());
    const applied = (await check.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows;
    t.same(applied.map((r) => r.version), MIGRATIONS.map((m) => m.version), 'each version recorded once');
  });

  t.test('a statement queued in the bouncer past the query timeout: 503, nothing applied, right answers after', async (t) => {
    const url = await bouncer.createDatabase();
    const store = await PostgresMetadataStore.open(url, { queryTimeoutMs: 500 });
    t.teardown(() => store.close());
    const [a, b] = [DavPath.of(['a']), DavPath.of(['b'])];
    await store.deadProps.apply(a, [{ op: 'set', prop: prop('A') }]);
    await store.deadProps.apply(b, [{ op: 'set', prop: prop('B') }]);

    // Every server connection of this database's pool held by an open transaction.
    const blockers = await Promise.all(Array.from({ length: bouncer.poolSize }, () => connect(url)));
    t.teardown(() => Promise.all(blockers.map((c) => c.end().catch(() => undefined))));
    for (const c of blockers) await c.query('BEGIN; SELECT 1');

    const started = Date.now();
    await t.rejects(store.deadProps.get(a), MetadataUnavailableError, 'a read waiting in the queue: 503');
    await t.rejects(store.deadProps.apply(a, [{ op: 'set', prop: prop('lost') }]), MetadataUnavailableError, 'a write waiting in the queue: 503');
    t.ok(Date.now() - started < 3000, `both within the query timeout and a little (${Date.now() - started} ms)`);

    for (const c of blockers) await c.query('COMMIT');
    for (let i = 0; i < 5; i++) {
      t.same(await valueOf(store, b), ['B'], `read ${i + 1} of /b answers /b's property`);
      t.same(await valueOf(store, a), ['A'], `read ${i + 1} of /a: the refused write was not applied`);
    }
  });
});
