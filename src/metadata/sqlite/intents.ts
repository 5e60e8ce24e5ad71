/** The intent journal (src/metadata/store.ts, Intent) in the SQLite metadata database. */
import { IntentGoneError, type Intent, type IntentJournal, type RecordedIntent } from '../store.js';
import { type Db, writeTransaction } from './database.js';

interface Row {
  id: number;
  op: Intent['op'];
  src: string;
  dst: string;
  depth: Intent['depth'];
  dst_etag: string | null;
  owner: string;
}

export class SqliteIntents implements IntentJournal {
  private readonly q;

  constructor(private readonly db: Db) {
    this.q = {
      insert: db.prepare('INSERT INTO intents (op, src, dst, depth, dst_etag, owner) VALUES (?, ?, ?, ?, ?, ?)'),
      all: db.prepare('SELECT id, op, src, dst, depth, dst_etag, owner FROM intents ORDER BY id'),
      remove: db.prepare('DELETE FROM intents WHERE id = ?'),
    };
  }

  async record(i: Intent): Promise<number> {
    return writeTransaction(this.db, () => Number(this.q.insert.run(i.op, i.from, i.to, i.depth, i.toEtag, i.owner).lastInsertRowid));
  }

  async pending(): Promise<RecordedIntent[]> {
    return (this.q.all.all() as Row[]).map((r) => ({ id: r.id, op: r.op, from: r.src, to: r.dst, depth: r.depth, toEtag: r.dst_etag, owner: r.owner }));
  }

  /** Inside a write transaction: removes the intent, or throws when another process already did. */
  remove(id: number): void {
    if (this.q.remove.run(id).changes !== 1) throw new IntentGoneError(id);
  }
}
