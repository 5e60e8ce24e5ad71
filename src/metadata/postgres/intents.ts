/** The intent journal (src/metadata/store.ts, Intent) in PostgreSQL (table from migration 50). */
import { IntentGoneError, type Intent, type IntentJournal, type RecordedIntent } from '../store.js';
import type { Sql } from './sql.js';

interface Row {
  id: string; // bigserial arrives as text
  op: Intent['op'];
  src: string;
  dst: string;
  depth: Intent['depth'];
  dst_etag: string | null;
  owner: string;
}

export function journal(sql: Sql): IntentJournal {
  return {
    async record(i) {
      const rows = await sql<{ id: string }>('INSERT INTO intents (op, src, dst, depth, dst_etag, owner) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id', [
        i.op, i.from, i.to, i.depth, i.toEtag, i.owner,
      ]);
      return Number(rows[0]!.id);
    },
    async pending(): Promise<RecordedIntent[]> {
      const rows = await sql<Row>('SELECT id, op, src, dst, depth, dst_etag, owner FROM intents ORDER BY id');
      return rows.map((r) => ({ id: Number(r.id), op: r.op, from: r.src, to: r.dst, depth: r.depth, toEtag: r.dst_etag, owner: r.owner }));
    },
  };
}

/** Inside a transaction: removes the intent, or throws when another process already did. */
export function writer(sql: Sql): { done(id: number): Promise<void> } {
  return {
    async done(id) {
      if ((await sql('DELETE FROM intents WHERE id = $1 RETURNING id', [id])).length !== 1) throw new IntentGoneError(id);
    },
  };
}
