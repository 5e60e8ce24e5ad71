/**
 * Dead properties (RFC 4918 §4.2) in PostgreSQL: the statements of the seam's DeadPropertyStore,
 * each one round trip, run through a pool or inside a transaction (store.ts decides).
 * Keys and the subtree range as in SQLite (columns are COLLATE "C", see migrations.ts).
 */
import type { DavPath } from '../../core/paths.js';
import { type DeadProperty, type DeadPropertyChange, type DeadPropertyWriter, descendantRange, groupByPath, parentKey } from '../store.js';
import type { Sql } from './sql.js';

interface Row {
  path: string;
  ns: string;
  name: string;
  xml: string;
}

const COLUMNS = 'path, ns, name, xml';

export async function get(sql: Sql, path: DavPath): Promise<DeadProperty[]> {
  return (await sql<Row>('SELECT ns, name, xml FROM dead_props WHERE path = $1 ORDER BY ns, name', [path.key])).map((r) => ({ ns: r.ns, name: r.name, xml: r.xml }));
}

export async function getListing(sql: Sql, path: DavPath): Promise<Map<string, DeadProperty[]>> {
  return groupByPath(await sql<Row>(`SELECT ${COLUMNS} FROM dead_props WHERE parent = $1 OR path = $1 ORDER BY path, ns, name`, [path.key]));
}

export async function getTree(sql: Sql, path: DavPath): Promise<Map<string, DeadProperty[]>> {
  const [lo, hi] = descendantRange(path.key);
  return groupByPath(await sql<Row>(`SELECT ${COLUMNS} FROM dead_props WHERE path = $1 OR (path >= $2 AND path < $3) ORDER BY path, ns, name`, [path.key, lo, hi]));
}

export async function keysInTree(sql: Sql, path: DavPath): Promise<string[]> {
  const [lo, hi] = descendantRange(path.key);
  return (await sql<{ path: string }>('SELECT DISTINCT path FROM dead_props WHERE path = $1 OR (path >= $2 AND path < $3) ORDER BY path', [path.key, lo, hi])).map((r) => r.path);
}

/** The writes, for a transaction's client (several statements must commit together). */
export function writer(sql: Sql): DeadPropertyWriter {
  const deleteTree = async (path: DavPath): Promise<void> => {
    const [lo, hi] = descendantRange(path.key);
    await sql('DELETE FROM dead_props WHERE path = $1 OR (path >= $2 AND path < $3)', [path.key, lo, hi]);
  };
  return {
    async apply(path: DavPath, changes: readonly DeadPropertyChange[]) {
      const key = path.key;
      for (const c of changes) {
        if (c.op === 'set') {
          await sql(
            `INSERT INTO dead_props (path, parent, ns, name, xml) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (path, ns, name) DO UPDATE SET xml = EXCLUDED.xml`,
            [key, parentKey(key), c.prop.ns, c.prop.name, c.prop.xml],
          );
        } else {
          await sql('DELETE FROM dead_props WHERE path = $1 AND ns = $2 AND name = $3', [key, c.ns, c.name]);
        }
      }
    },
    async clear(path) {
      await sql('DELETE FROM dead_props WHERE path = $1', [path.key]);
    },
    deleteTree,
    async copyTree(from, to, depth) {
      await deleteTree(to);
      await sql('INSERT INTO dead_props (path, parent, ns, name, xml) SELECT $1, $2, ns, name, xml FROM dead_props WHERE path = $3', [to.key, parentKey(to.key), from.key]);
      if (depth === 'infinity') {
        const [lo, hi] = descendantRange(from.key);
        // length() counts characters, as substr() does.
        await sql(
          `INSERT INTO dead_props (path, parent, ns, name, xml)
           SELECT $1::text || substr(path, length($2::text) + 1), $1::text || substr(parent, length($2::text) + 1), ns, name, xml
           FROM dead_props WHERE path >= $3 AND path < $4`,
          [to.key, from.key, lo, hi],
        );
      }
    },
    async moveTree(from, to) {
      await deleteTree(to);
      const [lo, hi] = descendantRange(from.key);
      await sql(
        `UPDATE dead_props SET
           path = CASE WHEN path = $2 THEN $1::text ELSE $1::text || substr(path, length($2::text) + 1) END,
           parent = CASE WHEN path = $2 THEN $5::text ELSE $1::text || substr(parent, length($2::text) + 1) END
         WHERE path = $2 OR (path >= $3 AND path < $4)`,
        [to.key, from.key, lo, hi, parentKey(to.key)],
      );
    },
    async deleteKeys(keys) {
      if (keys.length > 0) await sql('DELETE FROM dead_props WHERE path = ANY($1::text[])', [keys]);
    },
  };
}
