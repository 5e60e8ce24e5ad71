/**
 * Crash safety of the tree operations (issue 11 item 6). COPY, MOVE and DELETE change the tree
 * on disk first and the metadata (dead properties, locks) after; a process killed in between
 * would lose or misattach properties. So each records an intent before its filesystem step and
 * removes it in the transaction of the metadata update. At start-up, intents whose process is
 * gone are resolved here by looking at what is on disk: a step that happened gets its metadata
 * update, metadata of resources that are no longer there is dropped, nothing else changes.
 *
 * Whether a destination is the new resource or still the old one is told by its identity: the
 * filesystem backend's entity tags begin with the inode, and a copy or move always lands as a new
 * inode (a rename of a temporary file or folder, or the moved one itself).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { DavPath } from '../core/paths.js';
import type { Storage } from '../storage/storage.js';
import { IntentGoneError, type Intent, type LockGuard, type MetadataStore, type MetadataWriter, type RecordedIntent } from './store.js';

/** This process, as intents name their owner: host, pid and the pid's start time (pids are reused). */
export const THIS_PROCESS = `${os.hostname()}:${process.pid}:${startTimeOf(process.pid) ?? ''}`;

/** The start time of a process (clock ticks since boot, /proc/PID/stat field 22), or null when it is not running. */
function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** True when the process that recorded an intent has certainly stopped (on this host). */
export function ownerIsGone(owner: string): boolean {
  const [host, pidText, started] = owner.split(':');
  if (host !== os.hostname()) return false; // another host's process: it resolves its own
  const pid = Number(pidText);
  if (process.platform !== 'linux' || !started) {
    try {
      process.kill(pid, 0);
      return false;
    } catch (err) {
      return (err as { code?: string }).code === 'ESRCH';
    }
  }
  return startTimeOf(pid) !== started;
}

/**
 * Records an intent of this process once `guard` (the operation's lock check) accepts; null when
 * the store keeps no journal (the guard is then checked alone) or when the trees it names hold no
 * dead property and no lock (nothing a crash could lose; RecordOptions.onlyWithMetadata). Metadata
 * added there by a concurrent request after this look may then be left behind by a crash, as it may
 * be by the operation itself when it comes after the metadata update.
 */
export async function recordIntent(metadata: MetadataStore, intent: Omit<Intent, 'owner'>, guard?: LockGuard): Promise<number | null> {
  if (metadata.intents) return metadata.intents.record({ ...intent, owner: THIS_PROCESS }, { ...(guard ? { guard } : {}), onlyWithMetadata: true });
  if (guard) await metadata.transaction(async () => undefined, guard);
  return null;
}

/** The part of an entity tag that names the resource itself (the inode, see above). */
const identityOf = (etag: string): string => etag.replace(/^"/, '').split('-')[0]!;

/** True when something new is at `to`: not what the intent saw there before. */
async function landed(storage: Storage, intent: Intent): Promise<boolean> {
  const now = await storage.stat(DavPath.fromKey(intent.to));
  return now !== null && (intent.toEtag === null || identityOf(now.etag) !== identityOf(intent.toEtag));
}

/**
 * Writes (through `tx`) the metadata update that matches what is on disk for `intent`, and
 * removes the intent in the same transaction.
 */
export async function resolveIntent(intent: RecordedIntent, storage: Storage, metadata: MetadataStore, tx: MetadataWriter): Promise<void> {
  await tx.intents?.done(intent.id);
  const exists = async (key: string) => (await storage.stat(DavPath.fromKey(key))) !== null;
  /** Drops the properties and locks of resources in the tree at `key` that are not on disk. */
  const dropMissing = async (key: string): Promise<void> => {
    const path = DavPath.fromKey(key);
    const gone: string[] = [];
    for (const k of await metadata.deadProps.keysInTree(path)) if (!(await exists(k))) gone.push(k);
    await tx.deadProps.deleteKeys(gone);
    const locks = (await metadata.locks.relevantTo(path)).filter((l) => path.contains(DavPath.fromKey(l.root)));
    const orphans: string[] = [];
    for (const l of locks) if (!(await exists(l.root))) orphans.push(l.token);
    await tx.locks.remove(orphans);
  };
  /** Copies the properties of the tree at `from` to `to`, then drops those of members that did not arrive. */
  const copyProps = async (depth: 0 | 'infinity'): Promise<void> => {
    const from = DavPath.fromKey(intent.from);
    const to = DavPath.fromKey(intent.to);
    await tx.deadProps.copyTree(from, to, depth);
    const missing: string[] = [];
    for (const k of await metadata.deadProps.keysInTree(from)) {
      const target = to.concat(from.relative(DavPath.fromKey(k))).key;
      if ((depth === 'infinity' || k === intent.from) && !(await exists(target))) missing.push(target);
    }
    await tx.deadProps.deleteKeys(missing);
  };

  if (intent.op === 'delete') return dropMissing(intent.from);
  const arrived = await landed(storage, intent);
  if (!arrived) {
    // The copy or move did not happen (an overwritten destination may be gone, though).
    await dropMissing(intent.to);
    return intent.op === 'move' ? dropMissing(intent.from) : undefined;
  }
  if (intent.toEtag !== null) await tx.locks.removeTree(DavPath.fromKey(intent.to)); // §9.8.4, §9.9.3: overwritten
  if (intent.op === 'copy') return copyProps(intent.depth === '0' ? 0 : 'infinity');
  if (!(await exists(intent.from))) {
    await tx.deadProps.moveTree(DavPath.fromKey(intent.from), DavPath.fromKey(intent.to));
    await tx.locks.removeTree(DavPath.fromKey(intent.from));
    return;
  }
  // A move across filesystems is a copy and a delete: both may be half done.
  await copyProps('infinity');
  await dropMissing(intent.from);
}

/**
 * Resolves an intent of this process whose operation failed (the tree may be half changed):
 * the same as after a crash. Never throws; a failure here leaves the intent for the next start.
 */
export async function resolveFailed(id: number | null, intent: Omit<Intent, 'owner'>, storage: Storage, metadata: MetadataStore): Promise<void> {
  if (id === null) return;
  const recorded: RecordedIntent = { ...intent, id, owner: THIS_PROCESS };
  await metadata.transaction((tx) => resolveIntent(recorded, storage, metadata, tx)).catch(() => undefined);
}

/** Start-up: resolves the intents of processes that are gone; returns how many. */
export async function replayIntents(storage: Storage, metadata: MetadataStore, log: { warn(obj: object, msg: string): void }): Promise<number> {
  if (!metadata.intents) return 0;
  let replayed = 0;
  for (const intent of await metadata.intents.pending()) {
    if (!ownerIsGone(intent.owner)) continue;
    try {
      await metadata.transaction((tx) => resolveIntent(intent, storage, metadata, tx));
      replayed++;
      log.warn({ op: intent.op, from: intent.from || '/', to: intent.to || undefined, owner: intent.owner }, 'completed the metadata of an operation cut short by a stopped process');
    } catch (err) {
      if (!(err instanceof IntentGoneError)) throw err; // another process resolved it meanwhile
    }
  }
  return replayed;
}
