/** The intent journal (src/metadata/store.ts, Intent) in the SQLite metadata database. */
import { IntentGoneError, type Intent, type IntentJournal, type IntentRow, intentOfRow, type LockGuard, type RecordOptions, type RecordedIntent } from '../store.js';
import { type Db, writeTransaction } from './database.js';

export class SqliteIntents implements IntentJournal {
  private readonly q;

  constructor(
    private readonly db: Db,
    /** Checks a guard against the locks (checkGuard in store.ts). */
    private readonly check: (guard: LockGuard) => Promise<void>,
    /** True when a tree holds a dead property or a lock (RecordOptions.onlyWithMetadata). */
    private readonly holdsMetadata: (key: string) => boolean,
  ) {
    this.q = {
      insert: db.prepare('INSERT INTO intents (op, src, dst, depth, dst_etag, owner) VALUES (?, ?, ?, ?, ?, ?)'),
      all: db.prepare('SELECT id, op, src, dst, depth, dst_etag, owner FROM intents ORDER BY id'),
      remove: db.prepare('DELETE FROM intents WHERE id = ?'),
    };
  }

  async record(i: Intent, options: RecordOptions = {}): Promise<number | null> {
    if (options.guard) await this.check(options.guard);
    if (options.onlyWithMetadata && !this.holdsMetadata(i.from) && (i.op === 'delete' || !this.holdsMetadata(i.to))) return null;
    return writeTransaction(this.db, () => Number(this.q.insert.run(i.op, i.from, i.to, i.depth, i.toEtag, i.owner).lastInsertRowid));
  }

  async pending(): Promise<RecordedIntent[]> {
    return (this.q.all.all() as IntentRow[]).map(intentOfRow);
  }

  /** Inside a write transaction: removes the intent, or throws when another process already did. */
  remove(id: number): void {
    if (this.q.remove.run(id).changes !== 1) throw new IntentGoneError(id);
  }
}
