/**
 * Schema of the PostgreSQL metadata store: one ordered list of versioned SQL steps, applied at
 * start-up by `migrate()` in ONE transaction that first takes a transaction-scoped advisory lock, so
 * several instances starting at the same moment apply each step once (the others wait, then find it
 * done). Applied versions are recorded in `schema_migrations`.
 *
 * Version ranges: 1-99 locks and dead properties (this folder); 100+ the object-storage catalog
 * (src/storage/catalog/). Never edit a step that has shipped: add a new one.
 *
 * Paths are DavPath keys ('' for the root, '/a/b' below it) in columns with COLLATE "C": byte order,
 * so a subtree is the key range [key + '/', key + '0') whatever the database's default collation.
 */
import type pg from 'pg';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'dead properties and locks',
    sql: `
      CREATE TABLE dead_props (
        path   text COLLATE "C" NOT NULL,  -- DavPath key of the resource
        parent text COLLATE "C" NOT NULL,  -- key of its parent collection: one query per listing
        ns     text COLLATE "C" NOT NULL,
        name   text COLLATE "C" NOT NULL,
        xml    text NOT NULL,              -- the property element, serialized self-contained
        PRIMARY KEY (path, ns, name)
      );
      CREATE INDEX dead_props_parent ON dead_props (parent);
      CREATE TABLE locks (
        token     text PRIMARY KEY,          -- urn:uuid:<v4>
        root      text COLLATE "C" NOT NULL, -- DavPath key of the lock root
        depth     text NOT NULL CHECK (depth IN ('0', 'infinity')),
        scope     text NOT NULL CHECK (scope IN ('exclusive', 'shared')),
        owner     text,                      -- the DAV:owner element as sent, or NULL
        principal text,                      -- authenticated user who took the lock, or NULL
        timeout   integer NOT NULL,          -- seconds granted
        expires   timestamptz NOT NULL       -- on the database's clock
      );
      CREATE INDEX locks_root ON locks (root);
      CREATE INDEX locks_expires ON locks (expires);
    `,
  },
  {
    // Numbered apart from the steps of the metadata seam so that branches add theirs without clashing.
    version: 50,
    name: 'intent journal of tree operations (src/metadata/intents.ts)',
    sql: `
      CREATE TABLE intents (
        id       bigserial PRIMARY KEY,
        op       text NOT NULL CHECK (op IN ('copy', 'move', 'delete')),
        src      text COLLATE "C" NOT NULL,  -- DavPath key of the source
        dst      text COLLATE "C" NOT NULL,  -- DavPath key of the destination ('' for delete)
        depth    text NOT NULL CHECK (depth IN ('0', 'infinity')),
        dst_etag text,                       -- entity tag of what was at the destination before
        owner    text NOT NULL               -- 'host:pid:start' of the process that recorded it
      );
    `,
  },
];

/**
 * Key of the advisory lock held while migrating (the two-int form, whose key space is separate from
 * the one-bigint form that lock grants use; see locks.ts).
 */
const MIGRATION_LOCK: readonly [number, number] = [0x66617374, 1]; // 'fast', 1

/** Applies the steps of `migrations` that the database lacks, in order, in one transaction. Returns the versions applied. */
export async function migrate(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of sorted) {
      if (done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
