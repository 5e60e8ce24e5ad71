/**
 * Dead properties (RFC 4918 §4.2) in object-storage mode: the metadata seam's DeadPropertyStore
 * over catalog node ids instead of paths. Properties hang on the node, so
 * - MOVE changes nothing here (the node moved, its properties with it),
 * - DELETE removes them with the nodes (ON DELETE CASCADE, in the storage's statement),
 * - COPY copies them in the storage's own statement (catalog-storage.ts copyTree),
 * all in the same transaction as the tree change. moveTree and copyTree below therefore have
 * nothing left to do. Locks stay with the metadata store (keyed by path: they never follow a
 * MOVE, RFC 4918 §7.6).
 */
import { DavError } from '../../core/errors.js';
import { DavPath } from '../../core/paths.js';
import type { PostgresMetadataStore } from '../../metadata/postgres/store.js';
import { type Sql, sqlOf } from '../../metadata/postgres/sql.js';
import { type DeadProperty, type DeadPropertyStore, type DeadPropertyWriter, type LockGuard, type MetadataStore, type MetadataWriter, checkGuard } from '../../metadata/store.js';
import { collectingWriter, sendBatch } from '../../metadata/postgres/batch.js';
import { TARGET, WALK } from './walk.js';

export interface PropRow {
  rel: string[];
  ns: string;
  name: string;
  xml: string;
}

/** Groups rows by the key of `top` joined with their relative path. */
export function byKey(top: DavPath, rows: readonly PropRow[]): Map<string, DeadProperty[]> {
  const out = new Map<string, DeadProperty[]>();
  for (const r of rows) {
    const key = r.rel.length === 0 ? top.key : top.concat(DavPath.of(r.rel)).key;
    let list = out.get(key);
    if (!list) out.set(key, (list = []));
    list.push({ ns: r.ns, name: r.name, xml: r.xml });
  }
  return out;
}

/** The collection at $1 and its members (n), joined with their dead properties (p): getListing's rows. */
export const LISTING_PROPS_FROM = `FROM (SELECT ${TARGET} AS id) t JOIN catalog_nodes n ON n.id = t.id OR n.parent = t.id JOIN catalog_props p ON p.node = n.id`;

/** getListing's columns: each property with its node's path relative to the collection. */
export const LISTING_PROPS_COLUMNS = `CASE WHEN n.id = t.id THEN ARRAY[]::text[] COLLATE "C" ELSE ARRAY[n.name] END AS rel, p.ns, p.name, p.xml`;

/** The node at `path` and every node below it, each with its path relative to `path`. */
const SUBTREE = `${WALK}, sub AS (
  SELECT id, ARRAY[]::text[] COLLATE "C" AS rel FROM catalog_nodes WHERE id = ${TARGET}
  UNION ALL
  SELECT n.id, s.rel || n.name FROM sub s JOIN catalog_nodes n ON n.parent = s.id
)`;

function writer(sql: Sql): DeadPropertyWriter {
  const clear = async (path: DavPath): Promise<void> => {
    await sql(`${WALK} DELETE FROM catalog_props WHERE node = ${TARGET}`, [path.segments]);
  };
  return {
    async apply(path, changes) {
      const node = (await sql<{ id: string }>(`${WALK} SELECT id FROM walk WHERE depth = cardinality($1::text[])`, [path.segments]))[0];
      if (!node) throw new DavError(404, 'Not Found');
      for (const c of changes) {
        if (c.op === 'set') {
          await sql(
            `INSERT INTO catalog_props (node, ns, name, xml) VALUES ($1, $2, $3, $4) ON CONFLICT (node, ns, name) DO UPDATE SET xml = EXCLUDED.xml`,
            [node.id, c.prop.ns, c.prop.name, c.prop.xml],
          );
        } else {
          await sql(`DELETE FROM catalog_props WHERE node = $1 AND ns = $2 AND name = $3`, [node.id, c.ns, c.name]);
        }
      }
    },
    clear,
    async deleteTree(path) {
      await sql(`${SUBTREE} DELETE FROM catalog_props WHERE node IN (SELECT id FROM sub)`, [path.segments]);
    },
    // Done by the storage in the tree change's own statement (see above).
    copyTree: async () => undefined,
    moveTree: async () => undefined,
    async deleteKeys(keys) {
      for (const key of keys) await clear(DavPath.fromKey(key));
    },
  };
}

/** The metadata store of object-storage mode: dead properties by node id, locks as PostgreSQL keeps them. */
export class CatalogMetadataStore implements MetadataStore {
  readonly kind = 'postgres';
  readonly deadProps: DeadPropertyStore;

  constructor(private readonly store: PostgresMetadataStore) {
    const sql = sqlOf(store.pool);
    const read = async (text: string, path: DavPath) => byKey(path, await sql<PropRow>(text, [path.segments]));
    this.deadProps = {
      ...writer(sql),
      get: async (path) => (await read(`${WALK} SELECT ARRAY[]::text[] COLLATE "C" AS rel, ns, name, xml FROM catalog_props WHERE node = ${TARGET} ORDER BY ns, name`, path)).get(path.key) ?? [],
      getListing: (path) =>
        read(`${WALK} SELECT ${LISTING_PROPS_COLUMNS} ${LISTING_PROPS_FROM} ORDER BY rel, p.ns, p.name`, path),
      getTree: (path) => read(`${SUBTREE} SELECT s.rel, p.ns, p.name, p.xml FROM sub s JOIN catalog_props p ON p.node = s.id ORDER BY s.rel, p.ns, p.name`, path),
      keysInTree: async (path) => [...(await this.deadProps.getTree(path)).keys()],
    };
  }

  get locks() {
    return this.store.locks;
  }

  /**
   * The writes are collected while `fn` runs, then made: none, one statement alone (atomic on its
   * own: the common PUT and MKCOL case), or BEGIN … COMMIT with the lock writes batched (batch.ts).
   * A guard is checked first, by reading the locks.
   */
  async transaction(fn: (tx: MetadataWriter) => Promise<void>, guard?: LockGuard): Promise<void> {
    if (guard) await checkGuard(this.locks, guard);
    const writes: { run: (w: DeadPropertyWriter) => Promise<void>; oneStatement: boolean }[] = [];
    const add = async (run: (w: DeadPropertyWriter) => Promise<void>, oneStatement = false): Promise<void> => void writes.push({ run, oneStatement });
    const collecting: DeadPropertyWriter = {
      apply: (path, changes) => add((w) => w.apply(path, changes)),
      clear: (path) => add((w) => w.clear(path), true),
      deleteTree: (path) => add((w) => w.deleteTree(path), true),
      // Done by the storage in the tree change's own statement (see above).
      copyTree: async () => undefined,
      moveTree: async () => undefined,
      deleteKeys: (keys) => add((w) => w.deleteKeys(keys), keys.length <= 1),
    };
    const { tx, ops } = collectingWriter();
    await fn({ deadProps: collecting, locks: tx.locks });
    if (writes.length === 0) return sendBatch(sqlOf(this.store.pool), ops);
    if (writes.length === 1 && writes[0]!.oneStatement && ops.length === 0) return writes[0]!.run(writer(sqlOf(this.store.pool)));
    await this.store.withTransaction(async (client) => {
      const sql = sqlOf(client);
      for (const w of writes) await w.run(writer(sql));
      await sendBatch(sql, ops);
    });
  }

  check(): Promise<void> {
    return this.store.check();
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
