/**
 * One round trip per metadata transaction: the writes of `transaction(fn)` are collected while `fn`
 * runs and sent at the end as ONE statement, `SELECT fastdav_apply($1::jsonb)` (migration 20 in
 * migrations.ts), which runs them in order. One statement in autocommit is one transaction, so they
 * commit together or not at all, exactly as BEGIN … COMMIT did, in one round trip instead of 3 + N.
 * The seam allows it: reads inside `fn` need not see the transaction's own writes (store.ts).
 *
 * The operations are the writers of the seam (DeadPropertyWriter, LockWriter, intents.done), with
 * the same statements as dead-props.ts and locks.ts, now in PL/pgSQL. An intent that another process
 * already resolved raises SQLSTATE FD404 (DETAIL: its id), which becomes IntentGoneError.
 */
import { IntentGoneError, type DeadPropertyWriter, type LockWriter, type MetadataWriter, parentKey } from '../store.js';
import type { Sql } from './sql.js';

/** One write, as fastdav_apply reads it (keys are DavPath keys). */
export type BatchOp =
  | { op: 'set'; path: string; parent: string; ns: string; name: string; xml: string }
  | { op: 'remove'; path: string; ns: string; name: string }
  | { op: 'clear'; path: string }
  | { op: 'delete_tree'; path: string }
  | { op: 'copy_tree'; from: string; to: string; parent: string; infinity: boolean }
  | { op: 'move_tree'; from: string; to: string; parent: string }
  | { op: 'delete_keys'; keys: readonly string[] }
  | { op: 'remove_locks'; tokens: readonly string[] }
  | { op: 'remove_lock_tree'; path: string }
  | { op: 'intent_done'; id: number };

/** SQLSTATE that fastdav_apply raises for an intent no longer there. */
export const INTENT_GONE_STATE = 'FD404';

/** A MetadataWriter that only collects; `ops` then go to the database with `sendBatch`. */
export function collectingWriter(): { tx: MetadataWriter; ops: BatchOp[] } {
  const ops: BatchOp[] = [];
  const add = async (op: BatchOp): Promise<void> => void ops.push(op);
  const deadProps: DeadPropertyWriter = {
    async apply(path, changes) {
      for (const c of changes) {
        await add(c.op === 'set' ? { op: 'set', path: path.key, parent: parentKey(path.key), ...c.prop } : { op: 'remove', path: path.key, ns: c.ns, name: c.name });
      }
    },
    clear: (path) => add({ op: 'clear', path: path.key }),
    deleteTree: (path) => add({ op: 'delete_tree', path: path.key }),
    copyTree: (from, to, depth) => add({ op: 'copy_tree', from: from.key, to: to.key, parent: parentKey(to.key), infinity: depth === 'infinity' }),
    moveTree: (from, to) => add({ op: 'move_tree', from: from.key, to: to.key, parent: parentKey(to.key) }),
    deleteKeys: async (keys) => (keys.length > 0 ? add({ op: 'delete_keys', keys: [...keys] }) : undefined),
  };
  const locks: LockWriter = {
    remove: async (tokens) => (tokens.length > 0 ? add({ op: 'remove_locks', tokens: [...tokens] }) : undefined),
    removeTree: (path) => add({ op: 'remove_lock_tree', path: path.key }),
  };
  // The intent goes first, as in SQLite: when it is gone, the statement fails before writing anything.
  const intents = { done: async (id: number): Promise<void> => void ops.unshift({ op: 'intent_done', id }) };
  return { tx: { deadProps, locks, intents }, ops };
}

/** Sends the collected writes as one statement (none when there is nothing to write). */
export async function sendBatch(sql: Sql, ops: readonly BatchOp[]): Promise<void> {
  if (ops.length === 0) return;
  await sql('SELECT fastdav_apply($1::jsonb)', [JSON.stringify(ops)]).catch(intentGone);
}

/** Rethrows fastdav_apply's "intent already resolved" as IntentGoneError, anything else as it is. */
export function intentGone(err: unknown): never {
  const e = err as { code?: unknown; detail?: unknown };
  if (e.code === INTENT_GONE_STATE) throw new IntentGoneError(Number(e.detail));
  throw err;
}
