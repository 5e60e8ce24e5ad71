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
];

/** Everything a PostgreSQL database holds in object-storage mode: the metadata store's steps and the catalog's. */
export const OBJECT_STORAGE_MIGRATIONS: readonly Migration[] = [...MIGRATIONS, ...CATALOG_MIGRATIONS];
