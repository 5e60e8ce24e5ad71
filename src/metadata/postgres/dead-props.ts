/**
 * Dead properties (RFC 4918 §4.2) in PostgreSQL: the reads of the seam's DeadPropertyStore, each one
 * round trip. The writes are fastdav_apply's (batch.ts, migration 20).
 * Keys and the subtree range as in SQLite (columns are COLLATE "C", see migrations.ts).
 */
import type { DavPath } from '../../core/paths.js';
import { type DeadProperty, descendantRange, groupByPath } from '../store.js';
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
