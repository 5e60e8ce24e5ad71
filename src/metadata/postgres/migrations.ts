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
    // batch.ts: the writes of one transaction in one statement. Key ranges and statements as in
    // dead-props.ts and locks.ts (a subtree is [key || '/', key || '0') under the columns' "C" order).
    version: 20,
    name: 'one statement per metadata transaction (fastdav_apply)',
    sql: `
      CREATE FUNCTION fastdav_apply(ops jsonb) RETURNS void LANGUAGE plpgsql VOLATILE AS $fn$
      DECLARE
        o jsonb;
        k text;  -- the key written to
        f text;  -- the key copied or moved from
      BEGIN
        FOR o IN SELECT e.value FROM jsonb_array_elements(ops) WITH ORDINALITY AS e(value, i) ORDER BY e.i LOOP
          k := coalesce(o->>'path', o->>'to');
          f := o->>'from';
          CASE o->>'op'
          WHEN 'set' THEN
            INSERT INTO dead_props (path, parent, ns, name, xml) VALUES (k, o->>'parent', o->>'ns', o->>'name', o->>'xml')
            ON CONFLICT (path, ns, name) DO UPDATE SET xml = EXCLUDED.xml;
          WHEN 'remove' THEN
            DELETE FROM dead_props WHERE path = k AND ns = o->>'ns' AND name = o->>'name';
          WHEN 'clear' THEN
            DELETE FROM dead_props WHERE path = k;
          WHEN 'delete_tree' THEN
            DELETE FROM dead_props WHERE path = k OR (path >= k || '/' AND path < k || '0');
          WHEN 'copy_tree' THEN
            DELETE FROM dead_props WHERE path = k OR (path >= k || '/' AND path < k || '0');
            INSERT INTO dead_props (path, parent, ns, name, xml) SELECT k, o->>'parent', ns, name, xml FROM dead_props WHERE path = f;
            IF (o->>'infinity')::boolean THEN
              -- length() counts characters, as substr() does.
              INSERT INTO dead_props (path, parent, ns, name, xml)
              SELECT k || substr(path, length(f) + 1), k || substr(parent, length(f) + 1), ns, name, xml
              FROM dead_props WHERE path >= f || '/' AND path < f || '0';
            END IF;
          WHEN 'move_tree' THEN
            DELETE FROM dead_props WHERE path = k OR (path >= k || '/' AND path < k || '0');
            UPDATE dead_props SET
              path = CASE WHEN path = f THEN k ELSE k || substr(path, length(f) + 1) END,
              parent = CASE WHEN path = f THEN o->>'parent' ELSE k || substr(parent, length(f) + 1) END
            WHERE path = f OR (path >= f || '/' AND path < f || '0');
          WHEN 'delete_keys' THEN
            DELETE FROM dead_props WHERE path = ANY (ARRAY(SELECT jsonb_array_elements_text(o->'keys')));
          WHEN 'remove_locks' THEN
            DELETE FROM locks WHERE token = ANY (ARRAY(SELECT jsonb_array_elements_text(o->'tokens')));
          WHEN 'remove_lock_tree' THEN
            DELETE FROM locks WHERE root = k OR (root >= k || '/' AND root < k || '0');
          WHEN 'intent_done' THEN
            DELETE FROM intents WHERE id = (o->>'id')::bigint;
            IF NOT FOUND THEN
              RAISE EXCEPTION 'intent % was already resolved', o->>'id' USING ERRCODE = 'FD404', DETAIL = o->>'id';
            END IF;
          ELSE
            RAISE EXCEPTION 'fastdav_apply: unknown operation %', o->>'op';
          END CASE;
        END LOOP;
      END
      $fn$;
    `,
  },
  {
    // locks.ts: a LOCK granted in one statement. The advisory locks are those of the earlier
    // BEGIN … COMMIT grant (same keys, same order). This function is VOLATILE, so in READ COMMITTED
    // each statement in it takes a new snapshot: the read that follows the advisory locks sees every
    // grant committed before they were obtained, and no related grant can commit until this
    // statement's transaction ends. Expiry is judged by now(), the database's clock.
    version: 21,
    name: 'LOCK in one statement (fastdav_grant)',
    sql: `
      -- The unexpired locks relevant to any of p_keys (LockStore.relevantTo): rooted at one of them,
      -- depth infinity at one of p_ancestors (the keys' ancestors), or rooted below one of them; and
      -- those rooted exactly at one of p_roots.
      CREATE FUNCTION fastdav_relevant_locks(p_keys text[], p_ancestors text[], p_roots text[] DEFAULT '{}') RETURNS SETOF locks
      LANGUAGE sql STABLE AS $fn$
        SELECT * FROM locks l
        WHERE l.expires > now()
          AND (l.root = ANY (p_keys) OR l.root = ANY (p_roots) OR (l.depth = 'infinity' AND l.root = ANY (p_ancestors))
               OR EXISTS (SELECT 1 FROM unnest(p_keys) AS k WHERE l.root >= k || '/' AND l.root < k || '0'))
      $fn$;
      -- A lock row as locks.ts reads it: the time left (ms) on the database's clock, not its expiry.
      CREATE FUNCTION fastdav_lock_json(l locks) RETURNS jsonb LANGUAGE sql STABLE AS $fn$
        SELECT jsonb_build_object('token', l.token, 'root', l.root, 'depth', l.depth, 'scope', l.scope, 'owner', l.owner,
          'principal', l.principal, 'timeout', l.timeout, 'left_ms', extract(epoch FROM l.expires - now()) * 1000)
      $fn$;
      -- The advisory locks that order lock grants and the writes they guard (locks.ts): exclusive on
      -- p_exclusive, shared on p_shared (a key in both: exclusive), held to the end of the
      -- transaction. All keys in one order, by key (an ancestor sorts before its descendants), so
      -- two callers never wait for each other in a circle.
      CREATE FUNCTION fastdav_queue_behind_grants(p_exclusive text[], p_shared text[]) RETURNS void
      LANGUAGE plpgsql VOLATILE AS $fn$
      BEGIN
        PERFORM CASE WHEN x.excl THEN pg_advisory_xact_lock(hashtextextended(x.k, 0))
                     ELSE pg_advisory_xact_lock_shared(hashtextextended(x.k, 0)) END
          FROM (SELECT u.k, bool_or(u.excl) AS excl
                  FROM (SELECT k, true AS excl FROM unnest(p_exclusive) AS k
                        UNION ALL SELECT k, false FROM unnest(p_shared) AS k) AS u
                 GROUP BY u.k) AS x
         ORDER BY x.k COLLATE "C";
      END
      $fn$;
      CREATE FUNCTION fastdav_grant(
        p_root text, p_ancestors text[], p_depth text, p_scope text, p_owner text, p_principal text,
        p_timeout integer, p_token text, p_expected text[]
      ) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
      DECLARE
        relevant jsonb;
        tokens text[];
        granted locks;
      BEGIN
        -- Shared on the ancestors, exclusive on the root (locks.ts explains why).
        PERFORM fastdav_queue_behind_grants(ARRAY[p_root], p_ancestors);
        SELECT coalesce(jsonb_agg(fastdav_lock_json(l) ORDER BY l.token), '[]'::jsonb), coalesce(array_agg(l.token ORDER BY l.token), '{}'::text[])
          INTO relevant, tokens
          FROM fastdav_relevant_locks(ARRAY[p_root], p_ancestors) AS l;
        -- The caller decided on p_expected: any other set goes back to it, nothing is written.
        IF tokens IS DISTINCT FROM ARRAY(SELECT e FROM unnest(p_expected) AS e ORDER BY e) THEN
          RETURN jsonb_build_object('granted', false, 'locks', relevant);
        END IF;
        DELETE FROM locks WHERE expires <= now();
        INSERT INTO locks (token, root, depth, scope, owner, principal, timeout, expires)
        VALUES (p_token, p_root, p_depth, p_scope, p_owner, p_principal, p_timeout, now() + make_interval(secs => p_timeout))
        RETURNING * INTO granted;
        RETURN jsonb_build_object('granted', true, 'locks', jsonb_build_array(fastdav_lock_json(granted)));
      END
      $fn$;
    `,
  },
  {
    // locks.ts guarded(): a write with its lock check (RFC 4918 §7.5) in one statement. The writes
    // (and the intent, whose id is returned) happen only if the relevant locks are the ones the lock
    // manager approved (p_expected); otherwise the current ones go back and nothing is written. The
    // advisory locks make a concurrent LOCK on the same paths wait until this write has committed.
    version: 22,
    name: 'writes with their lock check in one statement (fastdav_guarded)',
    sql: `
      -- True when the tree at key k holds a dead property or a lock (expired or not).
      CREATE FUNCTION fastdav_holds_metadata(k text) RETURNS boolean LANGUAGE sql STABLE AS $fn$
        SELECT EXISTS (SELECT 1 FROM dead_props WHERE path = k OR (path >= k || '/' AND path < k || '0'))
            OR EXISTS (SELECT 1 FROM locks WHERE root = k OR (root >= k || '/' AND root < k || '0'))
      $fn$;
      CREATE FUNCTION fastdav_guarded(
        p_keys text[], p_ancestors text[], p_roots text[], p_expected text[], ops jsonb, p_intent jsonb,
        p_only_with_metadata boolean DEFAULT false
      )
      RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
      DECLARE
        relevant jsonb;
        tokens text[];
        recorded bigint;
      BEGIN
        -- Queue behind lock grants as a grant does: shared on the ancestors, exclusive on the
        -- written paths, so that no LOCK is granted between this check and this write.
        PERFORM fastdav_queue_behind_grants(p_keys, p_ancestors);
        SELECT coalesce(jsonb_agg(fastdav_lock_json(l) ORDER BY l.token), '[]'::jsonb), coalesce(array_agg(l.token ORDER BY l.token), '{}'::text[])
          INTO relevant, tokens
          FROM fastdav_relevant_locks(p_keys, p_ancestors, p_roots) AS l;
        IF tokens IS DISTINCT FROM ARRAY(SELECT DISTINCT e FROM unnest(p_expected) AS e ORDER BY e) THEN
          RETURN jsonb_build_object('ok', false, 'locks', relevant);
        END IF;
        PERFORM fastdav_apply(ops);
        -- RecordOptions.onlyWithMetadata: no intent when the trees it names hold no dead property or lock.
        IF p_intent IS NOT NULL AND (NOT p_only_with_metadata OR fastdav_holds_metadata(p_intent->>'from')
                                     OR (p_intent->>'op' <> 'delete' AND fastdav_holds_metadata(p_intent->>'to'))) THEN
          INSERT INTO intents (op, src, dst, depth, dst_etag, owner)
          VALUES (p_intent->>'op', p_intent->>'from', p_intent->>'to', p_intent->>'depth', p_intent->>'toEtag', p_intent->>'owner')
          RETURNING id INTO recorded;
        END IF;
        RETURN jsonb_build_object('ok', true, 'intent', recorded);
      END
      $fn$;
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
