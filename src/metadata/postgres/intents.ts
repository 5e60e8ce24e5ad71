/** The intent journal (src/metadata/store.ts, Intent) in PostgreSQL (table from migration 50). */
import { type IntentJournal, type IntentRow, intentOfRow, type RecordedIntent } from '../store.js';
import type { Sql } from './sql.js';

export function journal(sql: Sql): IntentJournal {
  return {
    async record(i) {
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
