/**
 * Dead properties (RFC 4918 §4.2) in the SQLite metadata database, keyed by the resource's path.
 * The statements are synchronous (libsql); SqliteMetadataStore (store.ts) wraps them in the
 * asynchronous seam of src/metadata/store.ts and runs a transaction's writes in one go.
 */
import type { DavPath } from '../../core/paths.js';
import { type DeadProperty, type DeadPropertyChange, descendantRange, groupByPath, parentKey } from '../store.js';
import type { Db } from './database.js';

interface Row {
  path: string;
  ns: string;
  name: string;
  xml: string;
}

/** Statement-level operations; every write must run inside a write transaction (writeTransaction). */
export class SqliteDeadProps {
  private readonly q;

  constructor(db: Db) {
    const prepare = (sql: string) => db.prepare(sql);
    this.q = {
      ofPath: prepare('SELECT path, ns, name, xml FROM dead_props WHERE path = ?'),
      ofListing: prepare('SELECT path, ns, name, xml FROM dead_props WHERE parent = ? OR path = ?'),
      any: prepare('SELECT 1 FROM dead_props WHERE path = ? LIMIT 1').raw(),
      anyInTree: prepare('SELECT 1 FROM dead_props WHERE path = ? OR (path >= ? AND path < ?) LIMIT 1').raw(),
      ofTree: prepare('SELECT path, ns, name, xml FROM dead_props WHERE path = ? OR (path >= ? AND path < ?)'),
      set: prepare('INSERT OR REPLACE INTO dead_props (path, parent, ns, name, xml) VALUES (?, ?, ?, ?, ?)'),
      remove: prepare('DELETE FROM dead_props WHERE path = ? AND ns = ? AND name = ?'),
      deletePath: prepare('DELETE FROM dead_props WHERE path = ?'),
      deleteTree: prepare('DELETE FROM dead_props WHERE path = ? OR (path >= ? AND path < ?)'),
      copyTop: prepare('INSERT OR REPLACE INTO dead_props (path, parent, ns, name, xml) SELECT ?, ?, ns, name, xml FROM dead_props WHERE path = ?'),
      copyBelow: prepare(`INSERT OR REPLACE INTO dead_props (path, parent, ns, name, xml)
        SELECT ?1 || substr(path, length(?2) + 1), ?1 || substr(parent, length(?2) + 1), ns, name, xml FROM dead_props WHERE path >= ?3 AND path < ?4`),
      moveTop: prepare('UPDATE dead_props SET path = ?, parent = ? WHERE path = ?'),
      moveBelow: prepare('UPDATE dead_props SET path = ?1 || substr(path, length(?2) + 1), parent = ?1 || substr(parent, length(?2) + 1) WHERE path >= ?3 AND path < ?4'),
    };
  }

  get(path: DavPath): DeadProperty[] {
    return (this.q.ofPath.all(path.key) as Row[]).map((r) => ({ ns: r.ns, name: r.name, xml: r.xml }));
  }

  getListing(path: DavPath): Map<string, DeadProperty[]> {
    return groupByPath(this.q.ofListing.all(path.key, path.key) as Row[]);
  }

  getTree(path: DavPath): Map<string, DeadProperty[]> {
    const [lo, hi] = descendantRange(path.key);
    return groupByPath(this.q.ofTree.all(path.key, lo, hi) as Row[]);
  }

  apply(path: DavPath, changes: readonly DeadPropertyChange[]): void {
    const key = path.key;
    const parent = parentKey(key);
    for (const c of changes) {
      if (c.op === 'set') this.q.set.run(key, parent, c.prop.ns, c.prop.name, c.prop.xml);
      else this.q.remove.run(key, c.ns, c.name);
    }
  }

  /** Looks first: a read costs half of an empty write transaction, and there is rarely anything. */
  hasAny(path: DavPath): boolean {
    return this.q.any.get(path.key) !== undefined;
  }

  clear(path: DavPath): void {
    this.q.deletePath.run(path.key);
  }

  /**
   * True when the resource or a descendant has dead properties. Tree operations look first:
   * most trees have none, and a read costs half of an empty write transaction.
   */
  anyInTree(path: DavPath): boolean {
    const [lo, hi] = descendantRange(path.key);
    return this.q.anyInTree.get(path.key, lo, hi) !== undefined;
  }

  deleteTree(path: DavPath): void {
    const [lo, hi] = descendantRange(path.key);
    this.q.deleteTree.run(path.key, lo, hi);
  }

  copyTree(from: DavPath, to: DavPath, depth: 0 | 'infinity'): void {
    const [lo, hi] = descendantRange(from.key);
    this.deleteTree(to);
    this.q.copyTop.run(to.key, parentKey(to.key), from.key);
    // SQLite counts characters, not UTF-16 units: the prefix length is computed in SQL.
    if (depth === 'infinity') this.q.copyBelow.run(to.key, from.key, lo, hi);
  }

  moveTree(from: DavPath, to: DavPath): void {
    const [lo, hi] = descendantRange(from.key);
    this.deleteTree(to);
    this.q.moveTop.run(to.key, parentKey(to.key), from.key);
    this.q.moveBelow.run(to.key, from.key, lo, hi);
  }

  deleteKeys(keys: readonly string[]): void {
    for (const k of keys) this.q.deletePath.run(k);
  }
}
