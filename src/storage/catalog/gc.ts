/**
 * The sweep: deletes the objects nobody needs any more, each only after the grace period, so
 * that an upload or a GET in flight on another instance is never cut.
 * - released blobs (no node points at them since DELETE, MOVE or PUT over a file),
 * - pending blobs (an upload that never committed: its process died, or it failed and could
 *   not clean up),
 * - objects under the prefix that the catalog does not know at all (a row lost with a restored
 *   database backup, or an object whose deletion failed), and unfinished multipart uploads.
 * The catalog row goes first, then the object: should the object's deletion fail, it is an
 * unknown object for the next sweep. Safe to run on several instances at once.
 */
import type { BlobStore } from '../../blobs/blob-store.js';
import type { Sql } from './sql.js';

export interface SweepReport {
  /** Blobs released by DELETE/MOVE/PUT and deleted. */
  readonly released: number;
  /** Uploads that never committed, deleted. */
  readonly abandoned: number;
  /** Objects the catalog does not know, deleted. */
  readonly unknown: number;
  /** Unfinished multipart uploads aborted. */
  readonly unfinishedUploads: number;
  /** Objects looked at in the bucket listing. */
  readonly listed: number;
}

export async function sweep(sql: Sql, blobs: BlobStore, graceSeconds: number): Promise<SweepReport> {
  // The grace period is judged by the database's clock for rows, by this machine's for objects.
  const released = (
    await sql<{ key: string }>(
      `DELETE FROM catalog_blobs WHERE state = 'released' AND released <= now() - make_interval(secs => $1) RETURNING key`,
      [graceSeconds],
    )
  ).map((r) => r.key);
  const abandoned = (
    await sql<{ key: string }>(
      `DELETE FROM catalog_blobs WHERE state = 'pending' AND created <= now() - make_interval(secs => $1) RETURNING key`,
      [graceSeconds],
    )
  ).map((r) => r.key);
  await blobs.deleteMany([...released, ...abandoned]);

  const cutoff = new Date(Date.now() - graceSeconds * 1000);
  let unknown = 0;
  let listed = 0;
  for await (const page of blobs.list()) {
    listed += page.length;
    const old = page.filter((b) => b.lastModified <= cutoff).map((b) => b.key);
    if (old.length === 0) continue;
    const known = new Set((await sql<{ key: string }>(`SELECT key FROM catalog_blobs WHERE key = ANY($1::text[])`, [old])).map((r) => r.key));
    const strays = old.filter((k) => !known.has(k));
    await blobs.deleteMany(strays);
    unknown += strays.length;
  }
  const unfinishedUploads = await blobs.abortUnfinished(cutoff);
  return { released: released.length, abandoned: abandoned.length, unknown, unfinishedUploads, listed };
}

/** One line for the operator. */
export function describeSweep(r: SweepReport): string {
  return (
    `gc: ${r.listed} objects listed; deleted ${r.released} released, ${r.abandoned} abandoned uploads, ` +
    `${r.unknown} unknown to the catalog; aborted ${r.unfinishedUploads} unfinished multipart uploads`
  );
}
