/**
 * The object-storage catalog's migration 130 (src/storage/catalog/schema.ts): names C-collated
 * and the (parent, name) index covering a listing row, on a database that already holds files
 * (nothing lost, listings in byte order from the index) and on a new one (the root kept, and
 * the planner's row count left unknown instead of 1, see the migration's comment).
 */
import t from 'tap';
import pg from 'pg';
import { migrate } from '../../src/metadata/postgres/migrations.js';
import { OBJECT_STORAGE_MIGRATIONS } from '../../src/storage/catalog/schema.js';
import { postgresSkipReason, sharedPostgres } from '../helpers/postgres.js';

const skip = postgresSkipReason();
const BEFORE_130 = OBJECT_STORAGE_MIGRATIONS.filter((m) => m.version < 130);

async function withPool<T>(url: string, fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

const LISTING = `SELECT name FROM catalog_nodes WHERE parent = (SELECT id FROM catalog_nodes WHERE name = 'docs') ORDER BY name`;

t.test('catalog migration 130', { skip }, async (t) => {
  const server = await sharedPostgres();

  t.test('a catalog with files: every row kept, names in byte order, the index covers a listing', async (t) => {
    const url = await server.createDatabase();
    await withPool(url, async (pool) => {
      t.same(await migrate(pool, BEFORE_130), BEFORE_130.map((m) => m.version).sort((a, b) => a - b));
      const names = ['b', 'B', 'a', 'é', 'Z', '_x', '~', '10', '9'];
      await pool.query(`INSERT INTO catalog_nodes (parent, name, is_collection, etag, mtime_ms, created_ms) SELECT id, 'docs', true, '', 1, 1 FROM catalog_nodes WHERE parent IS NULL`);
      await pool.query(
        `INSERT INTO catalog_nodes (parent, name, is_collection, size, etag, mtime_ms, created_ms)
         SELECT (SELECT id FROM catalog_nodes WHERE name = 'docs'), n, false, length(n), '"' || n || '"', 2, 2 FROM unnest($1::text[]) n`,
        [names],
      );
      const docs = (await pool.query(`SELECT id FROM catalog_nodes WHERE name = 'docs'`)).rows[0].id as string;
      await pool.query(`INSERT INTO catalog_props (node, ns, name, xml) VALUES ($1, 'urn:x', 'p', '<p xmlns="urn:x">v</p>')`, [docs]);
      const before = (await pool.query('SELECT * FROM catalog_nodes ORDER BY id')).rows;

      t.same(await migrate(pool, OBJECT_STORAGE_MIGRATIONS), [130]);
      t.same((await pool.query('SELECT * FROM catalog_nodes ORDER BY id')).rows, before, 'every node as it was, ids included');
      t.equal((await pool.query('SELECT count(*)::int AS n FROM catalog_props')).rows[0].n, 1, 'the dead property stays');
      const inByteOrder = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      t.same((await pool.query(LISTING)).rows.map((r) => r.name), inByteOrder, "a listing comes in the order of the names' bytes");
      const collation = await pool.query(`SELECT collation_name FROM information_schema.columns WHERE table_name = 'catalog_nodes' AND column_name = 'name'`);
      t.equal(collation.rows[0].collation_name, 'C');
      const index = await pool.query(`SELECT pg_get_indexdef('catalog_nodes_parent_name_key'::regclass) AS def`);
      t.match(index.rows[0].def, /UNIQUE.*\(parent, name\) INCLUDE \(id, is_collection, size, mtime_ms, created_ms, etag\)/);
      const duplicate = await pool.query(`INSERT INTO catalog_nodes (parent, name, is_collection, etag, mtime_ms, created_ms) VALUES ($1, 'b', false, '', 0, 0)`, [docs]).then(
        () => 'inserted',
        (err: { code?: string }) => err.code,
      );
      t.equal(duplicate, '23505', 'a name is still unique in its folder');
      // What a listing row needs comes from the index alone, in order (as the planner reads a
      // folder too large for a sequential scan and a sort; forced here on a small table).
      const client = await pool.connect();
      try {
        await client.query('VACUUM catalog_nodes');
        await client.query('SET enable_seqscan = off; SET enable_bitmapscan = off');
        const plan = (await client.query(`EXPLAIN SELECT concat(size, '/', mtime_ms, '/', created_ms, '/', id, '/', name, '/', etag, is_collection) FROM catalog_nodes WHERE parent = $1 ORDER BY name`, [docs])).rows
          .map((r) => r['QUERY PLAN'] as string)
          .join('\n');
        t.match(plan, /Index Only Scan using catalog_nodes_parent_name_key/, `read from the index alone:\n${plan}`);
        t.notMatch(plan, /Sort/, 'in its order, no sort');
      } finally {
        client.release(true);
      }
    });
  });

  t.test('a new catalog: the root as it was, the planner not told the table holds one row', async (t) => {
    const url = await server.createDatabase();
    await withPool(url, async (pool) => {
      await migrate(pool, BEFORE_130);
      const root = (await pool.query('SELECT * FROM catalog_nodes')).rows;
      t.equal(root.length, 1);
      await migrate(pool, OBJECT_STORAGE_MIGRATIONS);
      t.same((await pool.query('SELECT * FROM catalog_nodes')).rows, root, 'the root, id included');
      const stats = await pool.query(`SELECT reltuples FROM pg_class WHERE relname = 'catalog_nodes'`);
      t.ok(stats.rows[0].reltuples < 0, `row count unknown to the planner until ANALYZE (reltuples ${stats.rows[0].reltuples})`);
      // A new row gets a fresh id after the root's (the sequence was not reset).
      const next = await pool.query(`INSERT INTO catalog_nodes (parent, name, is_collection, etag, mtime_ms, created_ms) SELECT id, 'a', true, '', 0, 0 FROM catalog_nodes WHERE parent IS NULL RETURNING id`);
      t.ok(Number(next.rows[0].id) > Number(root[0].id));
    });
  });
});
