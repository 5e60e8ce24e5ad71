/**
 * The catalog's tables in PostgreSQL (migration versions 100 and up; 1-99 belong to the
 * metadata store). The tree is one row per resource, found by (parent, name); a file's content
 * is an immutable blob in the object store, named by a random key and reference counted, so
 * that COPY shares it and nothing is ever written over a live object.
 *
 * A blob's life: 'pending' while its upload runs (a crash leaves it for the sweep), 'live' once
 * a node points at it, 'released' when the last node let go of it (the sweep deletes the object
 * after the grace period, so a GET still streaming it elsewhere is not cut).
 *
 * Dead properties hang on the node's id, not its path: they follow a MOVE with no row changed,
 * go with a DELETE (ON DELETE CASCADE) and are copied by COPY's own statement, all in the
 * storage's transaction (dead-props.ts).
 */
import { MIGRATIONS, type Migration } from '../../metadata/postgres/migrations.js';

export const CATALOG_MIGRATIONS: readonly Migration[] = [
  {
    version: 100,
    name: 'catalog: nodes and blobs',
    sql: `
CREATE TABLE catalog_blobs (
  key         text PRIMARY KEY,
  state       text NOT NULL CHECK (state IN ('pending', 'live', 'released')),
  refs        integer NOT NULL DEFAULT 0,
  size        bigint,
  created     timestamptz NOT NULL DEFAULT now(),
  released    timestamptz
);
CREATE INDEX catalog_blobs_unused ON catalog_blobs (state, created) WHERE state <> 'live';
CREATE TABLE catalog_nodes (
  id            bigserial PRIMARY KEY,
  -- NULL only for the root. Not ON DELETE CASCADE: a subtree is deleted in one statement that
  -- returns every row's blob (the check runs at the end of the statement).
  parent        bigint REFERENCES catalog_nodes (id),
  name          text NOT NULL,
  is_collection boolean NOT NULL,
  blob          text REFERENCES catalog_blobs (key),
  size          bigint NOT NULL DEFAULT 0,
  etag          text NOT NULL,
  mtime_ms      bigint NOT NULL,
  created_ms    bigint NOT NULL,
  UNIQUE (parent, name)
);
CREATE UNIQUE INDEX catalog_nodes_one_root ON catalog_nodes ((true)) WHERE parent IS NULL;
CREATE INDEX catalog_nodes_blob ON catalog_nodes (blob) WHERE blob IS NOT NULL;
CREATE TABLE catalog_props (
  node  bigint NOT NULL REFERENCES catalog_nodes (id) ON DELETE CASCADE,
  ns    text COLLATE "C" NOT NULL,
  name  text COLLATE "C" NOT NULL,
  xml   text NOT NULL,
  PRIMARY KEY (node, ns, name)
);
INSERT INTO catalog_nodes (parent, name, is_collection, etag, mtime_ms, created_ms)
  VALUES (NULL, '', true, '', (extract(epoch FROM now()) * 1000)::bigint, (extract(epoch FROM now()) * 1000)::bigint);
`,
  },
  {
    version: 101,
    name: 'catalog: the background sweep lease',
    // One row: which instance runs the sweeps, until when (database clock), and whether one is
    // under way (gc.ts).
    sql: `
CREATE TABLE catalog_gc_lease (
  one       boolean PRIMARY KEY DEFAULT true CHECK (one),
  holder    text NOT NULL,
  until     timestamptz NOT NULL,
  sweeping  boolean NOT NULL DEFAULT false
);
INSERT INTO catalog_gc_lease (holder, until) VALUES ('', '-infinity');
`,
  },
  {
    // catalog-storage.ts atomicTree: COPY, MOVE and DELETE in one statement each, lock check included. Each function
    // first queues behind lock grants (fastdav_queue_behind_grants, the order every caller uses) and
    // then reads: a VOLATILE function takes a new snapshot per statement, so no LOCK granted on
    // another instance slips in between the check and the change. Everything a request changes
    // (nodes, blobs, dead properties by cascade, locks) commits together or not at all.
    // Numbered apart (110) so that other branches can add catalog steps 102-109 without clashing.
    version: 110,
    name: 'catalog: COPY, MOVE and DELETE with their lock check in one statement',
    sql: `
-- The node at the path of segments p (one (parent, name) index lookup per segment), or NULL.
CREATE FUNCTION fastdav_catalog_node(p text[]) RETURNS catalog_nodes LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  found_node catalog_nodes;
  s text;
BEGIN
  SELECT * INTO found_node FROM catalog_nodes WHERE parent IS NULL;
  FOREACH s IN ARRAY p LOOP
    SELECT * INTO found_node FROM catalog_nodes WHERE parent = found_node.id AND name = s;
    IF NOT FOUND THEN RETURN NULL; END IF;
  END LOOP;
  RETURN found_node;
END
$fn$;

-- Queues behind the lock grants on p_keys and their ancestors (as fastdav_guarded does), then
-- hands back the relevant locks unless they are exactly p_expected (NULL: they are, or no check).
CREATE FUNCTION fastdav_catalog_locks_changed(p_keys text[], p_ancestors text[], p_roots text[], p_expected text[]) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  relevant jsonb;
  tokens text[];
BEGIN
  PERFORM fastdav_queue_behind_grants(p_keys, p_ancestors);
  IF p_expected IS NULL THEN RETURN NULL; END IF;
  SELECT coalesce(jsonb_agg(fastdav_lock_json(l) ORDER BY l.token), '[]'::jsonb), coalesce(array_agg(l.token ORDER BY l.token), '{}'::text[])
    INTO relevant, tokens
    FROM fastdav_relevant_locks(p_keys, p_ancestors, p_roots) AS l;
  IF tokens IS DISTINCT FROM ARRAY(SELECT DISTINCT e FROM unnest(p_expected) AS e ORDER BY e) THEN RETURN relevant; END IF;
  RETURN NULL;
END
$fn$;

-- Deletes the node p_top and everything below it except the nodes p_keep, their members and
-- their ancestors (in one statement: the parent references are checked at its end), releasing
-- the blobs of the deleted files (at 0 references; the sweep deletes the objects later).
-- (PL/pgSQL rather than SQL, here and below: a session plans its statements once, not per call.)
CREATE FUNCTION fastdav_catalog_drop(p_top bigint, p_keep bigint[]) RETURNS void LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  WITH RECURSIVE sub AS (
    SELECT id FROM catalog_nodes WHERE id = p_top
    UNION ALL
    SELECT n.id FROM catalog_nodes n JOIN sub s ON n.parent = s.id WHERE NOT (n.id = ANY (p_keep))
  ), up AS (
    SELECT parent AS id FROM catalog_nodes WHERE id = ANY (p_keep)
    UNION
    SELECT n.parent FROM catalog_nodes n JOIN up ON n.id = up.id WHERE n.parent IS NOT NULL
  ), gone AS (
    DELETE FROM catalog_nodes WHERE id IN (SELECT id FROM sub) AND NOT (id = ANY (p_keep))
      AND id NOT IN (SELECT id FROM up WHERE id IS NOT NULL)
    RETURNING blob
  )
  UPDATE catalog_blobs b SET refs = b.refs - g.n,
    state = CASE WHEN b.refs - g.n <= 0 THEN 'released' ELSE b.state END,
    released = CASE WHEN b.refs - g.n <= 0 THEN now() ELSE b.released END
  FROM (SELECT blob, count(*) AS n FROM gone WHERE blob IS NOT NULL GROUP BY blob) g WHERE b.key = g.blob;
END
$fn$;

-- The locks rooted at key k or below it.
CREATE FUNCTION fastdav_catalog_drop_locks(k text) RETURNS void LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  DELETE FROM locks WHERE root = k OR (root >= k || '/' AND root < k || '0');
END
$fn$;

-- COPY or MOVE (RFC 4918 §9.8, §9.9) of the node at p_from to p_to (segments; keys p_from_key,
-- p_to_key). p_replace: what may be at p_to already ('none', 'file': a file, 'any': anything,
-- deleted first as §9.8.4/§9.9.3 ask, its locks with it). p_collection_only: the source URL
-- named a collection. The lock check: p_keys, p_ancestors, p_roots, p_expected as for
-- fastdav_guarded (p_expected NULL: none). Returns {status: 201 | 204 | 404 | 409 | 412} or
-- {locks: […]} when the relevant locks are not those expected (nothing changed).
-- MOVE updates the top node's parent and name, nothing below it; its locks stay behind and
-- go (§7.6). COPY makes new nodes sharing the blobs (counted) and copies the dead properties.
CREATE FUNCTION fastdav_catalog_transfer(
  p_move boolean, p_from text[], p_to text[], p_from_key text, p_to_key text, p_replace text,
  p_collection_only boolean, p_infinity boolean, p_now bigint, p_mtime bigint,
  p_keys text[], p_ancestors text[], p_roots text[], p_expected text[]
) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  changed jsonb;
  v_src catalog_nodes;
  v_parent catalog_nodes;
  v_taken catalog_nodes;
  v_name text := p_to[cardinality(p_to)];
  v_top bigint;
BEGIN
  changed := fastdav_catalog_locks_changed(p_keys, p_ancestors, p_roots, p_expected);
  v_src := fastdav_catalog_node(p_from);
  IF v_src.id IS NULL OR (p_collection_only AND NOT v_src.is_collection) THEN RETURN jsonb_build_object('status', 404); END IF;
  v_parent := fastdav_catalog_node(p_to[1:cardinality(p_to) - 1]);
  IF v_parent.id IS NOT NULL THEN
    SELECT * INTO v_taken FROM catalog_nodes WHERE parent = v_parent.id AND name = v_name FOR UPDATE;
  END IF;
  IF v_taken.id IS NOT NULL AND (p_replace = 'none' OR (p_replace = 'file' AND v_taken.is_collection)) THEN
    RETURN jsonb_build_object('status', 412);
  END IF;
  IF changed IS NOT NULL THEN RETURN jsonb_build_object('locks', changed); END IF;
  IF v_parent.id IS NULL OR NOT v_parent.is_collection THEN RETURN jsonb_build_object('status', 409); END IF;
  -- The source, row-locked: gone or moved away meanwhile, it is no longer here (nothing written yet).
  SELECT * INTO v_src FROM catalog_nodes WHERE id = v_src.id AND parent IS NOT DISTINCT FROM v_src.parent AND name = v_src.name FOR UPDATE;
  IF NOT FOUND THEN RETURN jsonb_build_object('status', 404); END IF;
  IF v_taken.id IS NOT NULL THEN
    PERFORM fastdav_catalog_drop(v_taken.id, '{}');
    PERFORM fastdav_catalog_drop_locks(p_to_key);
  END IF;
  IF p_move THEN
    UPDATE catalog_nodes SET parent = v_parent.id, name = v_name, mtime_ms = coalesce(p_mtime, mtime_ms) WHERE id = v_src.id;
    PERFORM fastdav_catalog_drop_locks(p_from_key);
  ELSE
    -- The copies get fresh ids (mapped once: MATERIALIZED), the top one the new parent and name.
    WITH RECURSIVE sub AS (
      SELECT id, parent, 0 AS depth FROM catalog_nodes WHERE id = v_src.id
      UNION ALL
      SELECT n.id, n.parent, s.depth + 1 FROM catalog_nodes n JOIN sub s ON n.parent = s.id WHERE p_infinity
    ), mapped AS MATERIALIZED (
      SELECT id AS old, nextval('catalog_nodes_id_seq') AS new, parent, depth FROM sub
    ), ins AS (
      INSERT INTO catalog_nodes (id, parent, name, is_collection, blob, size, etag, mtime_ms, created_ms)
      SELECT m.new, CASE WHEN m.depth = 0 THEN v_parent.id ELSE p.new END, CASE WHEN m.depth = 0 THEN v_name ELSE n.name END,
             n.is_collection, n.blob, n.size, n.etag, CASE WHEN m.depth = 0 THEN coalesce(p_mtime, p_now) ELSE p_now END, p_now
      FROM mapped m JOIN catalog_nodes n ON n.id = m.old LEFT JOIN mapped p ON p.old = m.parent
      RETURNING blob
    ), props AS (
      INSERT INTO catalog_props (node, ns, name, xml) SELECT m.new, p.ns, p.name, p.xml FROM mapped m JOIN catalog_props p ON p.node = m.old
    )
    UPDATE catalog_blobs b SET refs = b.refs + c.n
    FROM (SELECT blob, count(*) AS n FROM ins WHERE blob IS NOT NULL GROUP BY blob) c WHERE b.key = c.blob;
  END IF;
  RETURN jsonb_build_object('status', CASE WHEN v_taken.id IS NULL THEN 201 ELSE 204 END);
END
$fn$;

-- DELETE (RFC 4918 §9.6) of the node at p_path (key p_key), except the members p_keep (a JSON
-- array of segment arrays: locked members, kept with their ancestors). The locks of what is
-- gone go too. Lock check and result as for fastdav_catalog_transfer ({status: 204 | 404}).
CREATE FUNCTION fastdav_catalog_delete(
  p_path text[], p_key text, p_collection_only boolean, p_keep jsonb,
  p_keys text[], p_ancestors text[], p_roots text[], p_expected text[]
) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  changed jsonb;
  v_node catalog_nodes;
BEGIN
  changed := fastdav_catalog_locks_changed(p_keys, p_ancestors, p_roots, p_expected);
  v_node := fastdav_catalog_node(p_path);
  IF v_node.id IS NULL OR (p_collection_only AND NOT v_node.is_collection) THEN RETURN jsonb_build_object('status', 404); END IF;
  IF changed IS NOT NULL THEN RETURN jsonb_build_object('locks', changed); END IF;
  IF jsonb_array_length(p_keep) = 0 THEN
    PERFORM fastdav_catalog_drop(v_node.id, '{}');
    PERFORM fastdav_catalog_drop_locks(p_key);
  ELSE
    PERFORM fastdav_catalog_drop(v_node.id, array_remove(ARRAY(
      SELECT (fastdav_catalog_node(ARRAY(SELECT jsonb_array_elements_text(k)))).id FROM jsonb_array_elements(p_keep) AS k
    ), NULL));
    -- The locks of the resources no longer there (those of kept members and their ancestors stay).
    DELETE FROM locks WHERE (root = p_key OR (root >= p_key || '/' AND root < p_key || '0'))
      AND (fastdav_catalog_node(CASE WHEN root = '' THEN '{}'::text[] ELSE string_to_array(substr(root, 2), '/') END)).id IS NULL;
  END IF;
  RETURN jsonb_build_object('status', 204);
END
$fn$;
`,
  },
  {
    // PUT's commit in one statement instead of a transaction of five (BEGIN, the queue behind lock
    // grants, the read, the write, COMMIT): every loopback round trip costs the sender a system
    // call and the receiver a wake-up. Its checks are optimistic, as fastdav_guarded's: it writes
    // only when the locks that can cover the resource, and (for a conditional request) the
    // resource's entity tag, are what the caller expects; otherwise it writes nothing and hands
    // them back for a decision (423, 412) and another try (catalog-storage.ts commitPut, through
    // PostgresLocks.untilAccepted). It first takes the advisory locks a lock grant on the resource
    // takes (a VOLATILE function takes a new snapshot per statement), so a LOCK granted on another
    // instance during a long upload is never missed (RFC 4918 §7.5). Numbered apart (120), like 110.
    version: 120,
    name: 'catalog: PUT commit in one statement',
    sql: `
-- Answers {"created": bool} when written. Else nothing is written, and it answers {"status": 409}
-- (no parent collection), {"status": 507} (p_quota > 0 and the files' sizes plus p_size pass it),
-- {"status": 405} (a collection is there), {"status": 503} (the pending blob is gone: the sweep
-- took it), or {"changed": true, "created", "old", "locks"} when the locks rooted at the resource
-- or an ancestor (unexpired) are not p_expected (NULL: no lock check) or the resource's entity tag
-- is not p_old_etag ('' for no resource; NULL: no check; '?', which no tag is, only reads).
CREATE FUNCTION fastdav_catalog_put(
  p_parent text[], p_name text, p_blob text, p_size bigint, p_etag text, p_mtime bigint, p_now bigint,
  p_quota bigint, p_old_etag text, p_key text, p_ancestors text[], p_expected text[]
) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_parent catalog_nodes;
  v_old catalog_nodes;
  v_locks jsonb := '[]'::jsonb;
  v_tokens text[] := '{}';
BEGIN
  IF p_expected IS NOT NULL THEN PERFORM fastdav_queue_behind_grants(ARRAY[p_key], p_ancestors); END IF;
  v_parent := fastdav_catalog_node(p_parent);
  IF v_parent.id IS NULL OR NOT v_parent.is_collection THEN RETURN jsonb_build_object('status', 409); END IF;
  -- Counted as if added (the replaced file too), as the check before the upload does.
  IF p_quota > 0 AND (SELECT coalesce(sum(size), 0) FROM catalog_nodes) + p_size > p_quota THEN
    RETURN jsonb_build_object('status', 507);
  END IF;
  -- A concurrent PUT of the same name waits here until this one commits.
  SELECT * INTO v_old FROM catalog_nodes WHERE parent = v_parent.id AND name = p_name FOR UPDATE;
  IF v_old.id IS NOT NULL AND v_old.is_collection THEN RETURN jsonb_build_object('status', 405); END IF;
  IF p_expected IS NOT NULL THEN
    SELECT coalesce(jsonb_agg(fastdav_lock_json(l) ORDER BY l.token), '[]'::jsonb), coalesce(array_agg(l.token ORDER BY l.token), '{}'::text[])
      INTO v_locks, v_tokens
      FROM locks l WHERE l.expires > now() AND (l.root = p_key OR l.root = ANY(p_ancestors));
  END IF;
  IF (p_expected IS NOT NULL AND v_tokens IS DISTINCT FROM ARRAY(SELECT DISTINCT e FROM unnest(p_expected) AS e ORDER BY e))
     OR (p_old_etag IS NOT NULL AND coalesce(v_old.etag, '') <> p_old_etag) THEN
    RETURN jsonb_build_object('changed', true, 'created', v_old.id IS NULL, 'locks', v_locks, 'old', CASE WHEN v_old.id IS NOT NULL THEN jsonb_build_object(
      'id', v_old.id::text, 'parent', v_old.parent::text, 'name', v_old.name, 'is_collection', v_old.is_collection, 'blob', v_old.blob,
      'size', v_old.size::text, 'etag', v_old.etag, 'mtime_ms', v_old.mtime_ms::text, 'created_ms', v_old.created_ms::text) END);
  END IF;
  IF p_blob IS NOT NULL THEN
    -- Row-locked and made live at once: the sweep deletes only pending rows, and waits for this one.
    UPDATE catalog_blobs SET state = 'live', refs = 1, size = p_size WHERE key = p_blob AND state = 'pending';
    IF NOT FOUND THEN RETURN jsonb_build_object('status', 503); END IF;
  END IF;
  IF v_old.id IS NOT NULL THEN
    UPDATE catalog_nodes SET blob = p_blob, size = p_size, etag = p_etag, mtime_ms = p_mtime WHERE id = v_old.id;
    UPDATE catalog_blobs SET refs = refs - 1,
      state = CASE WHEN refs - 1 <= 0 THEN 'released' ELSE state END,
      released = CASE WHEN refs - 1 <= 0 THEN now() ELSE released END
    WHERE key = v_old.blob;
    RETURN jsonb_build_object('created', false);
  END IF;
  INSERT INTO catalog_nodes (parent, name, is_collection, blob, size, etag, mtime_ms, created_ms)
  VALUES (v_parent.id, p_name, false, p_blob, p_size, p_etag, p_mtime, p_now);
  RETURN jsonb_build_object('created', true);
END
$fn$;
`,
  },
  {
    // PROPFIND Depth 1 streams a folder's members in the order of their names' bytes, as the
    // database sends them (catalog-storage.ts MEMBERS). For the first row to come at once, not
    // after a sort of the whole folder, the rows must come out of an index in that order: the
    // name column takes the C collation (byte order; equality is unchanged, so is uniqueness),
    // and the (parent, name) index carries what a listing row needs (INCLUDE), so a listing is an
    // index-only scan that the planner prefers to a scan and a sort even for large folders.
    // What it costs: the index grows by the size of those columns (125 MB per million nodes, beside
    // 159 MB of rows, in a test); the rebuild took 0.9 s per million nodes.
    // An index build records the table's row count for the planner. On a new database that
    // count would be 1 (the root), and the planner, believing it, picks sequential scans that
    // sessions keep (the foreign-key checks': a COPY of 10,000 files took 4.6 s instead of 0.1
    // until autovacuum's first ANALYZE). So a new database's table is emptied first (TRUNCATE
    // leaves the count unknown, and an index built on no rows keeps it so) and the root put back.
    version: 130,
    name: 'catalog: listings in name order straight from the (parent, name) index',
    sql: `
DO $migrate$
DECLARE
  v_new boolean := (SELECT count(*) FROM catalog_nodes) = 1 AND NOT EXISTS (SELECT 1 FROM catalog_props);
  v_id bigint;
  v_mtime bigint;
  v_created bigint;
BEGIN
  IF v_new THEN
    SELECT id, mtime_ms, created_ms INTO v_id, v_mtime, v_created FROM catalog_nodes WHERE parent IS NULL;
    TRUNCATE catalog_nodes, catalog_props;
  END IF;
  ALTER TABLE catalog_nodes
    DROP CONSTRAINT catalog_nodes_parent_name_key,
    ALTER COLUMN name TYPE text COLLATE "C",
    ADD CONSTRAINT catalog_nodes_parent_name_key UNIQUE (parent, name) INCLUDE (id, is_collection, size, mtime_ms, created_ms, etag);
  IF v_new THEN
    INSERT INTO catalog_nodes (id, parent, name, is_collection, etag, mtime_ms, created_ms) VALUES (v_id, NULL, '', true, '', v_mtime, v_created);
  END IF;
END
$migrate$;
`,
  },
];

/** Everything a PostgreSQL database holds in object-storage mode: the metadata store's steps and the catalog's. */
export const OBJECT_STORAGE_MIGRATIONS: readonly Migration[] = [...MIGRATIONS, ...CATALOG_MIGRATIONS];
