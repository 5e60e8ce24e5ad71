/**
 * Dead properties (RFC 4918 §4.2): stored per resource, keyed by its path, in the metadata
 * database. They follow COPY and MOVE and vanish with DELETE; a PROPPATCH is one transaction.
 */
import type { DavPath } from '../core/paths.js';
import { type Db, descendantRange } from '../metadata/database.js';

export interface DeadProperty {
  readonly ns: string;
  readonly name: string;
  /** The whole property element as self-contained XML. */
  readonly xml: string;
}

export type DeadPropertyChange =
  | { readonly op: 'set'; readonly prop: DeadProperty }
  | { readonly op: 'remove'; readonly ns: string; readonly name: string };

interface Row {
  path: string;
  ns: string;
  name: string;
  xml: string;
}

const parentKey = (key: string): string => key.slice(0, Math.max(0, key.lastIndexOf('/')));

export class DeadPropertyStore {
  private readonly db: Db;
  private readonly q;

  constructor(db: Db) {
    this.db = db;
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

  /** Dead properties of one resource. */
  get(path: DavPath): DeadProperty[] {
    return (this.q.ofPath.all(path.key) as Row[]).map(toProp);
  }

  /** Dead properties of a collection and of every member, by key: one query per listing. */
  getListing(path: DavPath): Map<string, DeadProperty[]> {
    return group(this.q.ofListing.all(path.key, path.key) as Row[]);
  }

  /** Dead properties of a resource and all its descendants, by key. */
  getTree(path: DavPath): Map<string, DeadProperty[]> {
    const [lo, hi] = descendantRange(path.key);
    return group(this.q.ofTree.all(path.key, lo, hi) as Row[]);
  }

  /** Applies the changes in order, all or none (RFC 4918 §9.2). */
  apply(path: DavPath, changes: readonly DeadPropertyChange[]): void {
    const key = path.key;
    const parent = parentKey(key);
    this.db.transaction(() => {
      for (const c of changes) {
        if (c.op === 'set') this.q.set.run(key, parent, c.prop.ns, c.prop.name, c.prop.xml);
        else this.q.remove.run(key, c.ns, c.name);
      }
    }).immediate();
  }

  /**
   * Forgets the properties of one resource (a new resource was created at its path). Looks
   * first: a read costs half of an empty write transaction, and there is rarely anything.
   */
  clear(path: DavPath): void {
    if (this.q.any.get(path.key) !== undefined) this.q.deletePath.run(path.key);
  }

  deleteTree(path: DavPath): void {
    const [lo, hi] = descendantRange(path.key);
    if (this.anyInTree(path)) this.q.deleteTree.run(path.key, lo, hi);
  }

  /**
   * True when the resource or a descendant has dead properties. Tree operations look first:
   * most trees have none, and a read costs half of an empty write transaction.
   */
  private anyInTree(path: DavPath): boolean {
    const [lo, hi] = descendantRange(path.key);
    return this.q.anyInTree.get(path.key, lo, hi) !== undefined;
  }

  /**
   * Copies the properties of `from` (and with depth infinity its descendants) onto `to`,
   * replacing what `to` had.
   */
  copyTree(from: DavPath, to: DavPath, depth: 0 | 'infinity'): void {
    const [lo, hi] = descendantRange(from.key);
    if (!this.anyInTree(from) && !this.anyInTree(to)) return;
    this.db.transaction(() => {
      this.deleteTree(to);
      this.q.copyTop.run(to.key, parentKey(to.key), from.key);
      // SQLite counts characters, not UTF-16 units: the prefix length is computed in SQL.
      if (depth === 'infinity') this.q.copyBelow.run(to.key, from.key, lo, hi);
    }).immediate();
  }

  /** Moves the properties of `from` and its descendants to `to`, replacing what `to` had. */
  moveTree(from: DavPath, to: DavPath): void {
    const [lo, hi] = descendantRange(from.key);
    if (!this.anyInTree(from) && !this.anyInTree(to)) return;
    this.db.transaction(() => {
      this.deleteTree(to);
      this.q.moveTop.run(to.key, parentKey(to.key), from.key);
      this.q.moveBelow.run(to.key, from.key, lo, hi);
    }).immediate();
  }

  /** Keys in the tree at `path` that have dead properties (for partial deletes and copies). */
  keysInTree(path: DavPath): string[] {
    return [...this.getTree(path).keys()];
  }

  /** Deletes the properties stored under the given keys, in one transaction. */
  deleteKeys(keys: readonly string[]): void {
    this.db.transaction(() => {
      for (const k of keys) this.q.deletePath.run(k);
    }).immediate();
  }
}

function toProp(r: Row): DeadProperty {
  return { ns: r.ns, name: r.name, xml: r.xml };
}

function group(rows: Row[]): Map<string, DeadProperty[]> {
  const out = new Map<string, DeadProperty[]>();
  for (const r of rows) {
    let list = out.get(r.path);
    if (!list) out.set(r.path, (list = []));
    list.push(toProp(r));
  }
  return out;
}
