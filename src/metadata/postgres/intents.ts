/** The intent journal (src/metadata/store.ts, Intent) in PostgreSQL (table from migration 50). */
import { type Intent, type IntentJournal, type RecordOptions, type IntentRow, intentOfRow, type RecordedIntent } from '../store.js';
import type { Sql } from './sql.js';

/** `recordGuarded` records an intent together with its lock check, or alone (locks.ts guarded). */
export function journal(sql: Sql, recordGuarded: (intent: Intent, options: RecordOptions) => Promise<number | null>): IntentJournal {
  return {
    async record(i, options = {}) {
      if (options.guard || options.onlyWithMetadata) return recordGuarded(i, options);
      const rows = await sql<{ id: string }>('INSERT INTO intents (op, src, dst, depth, dst_etag, owner) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id', [
        i.op, i.from, i.to, i.depth, i.toEtag, i.owner,
      ]);
      return Number(rows[0]!.id);
    },
    async pending(): Promise<RecordedIntent[]> {
      return (await sql<IntentRow>('SELECT id, op, src, dst, depth, dst_etag, owner FROM intents ORDER BY id')).map(intentOfRow);
    },
  };
}
