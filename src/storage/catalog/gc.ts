/**
 * The sweep: deletes the objects nobody needs any more, each only after the grace period, so
 * that an upload or a GET in flight on another instance is never cut.
 * - released blobs (no node points at them since DELETE, MOVE or PUT over a file),
 * - pending blobs (an upload that never committed: its process died, or it failed and could
 *   not clean up),
 * - objects under the prefix that the catalog does not know at all (a row lost with a restored
 *   database backup, or an object whose deletion failed), and unfinished multipart uploads.
 * The catalog row goes first, then the object: should the object's deletion fail, it is an
 * unknown object for the next sweep. Safe to run on several instances at once, but one is enough:
 * a lease (SweepLease) lets one instance sweep at a time.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
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

/** Thrown by a sweep whose lease another sweeper took over (it stops between two listing pages). */
export class LeaseLostError extends Error {
  constructor() {
    super('gc: another sweeper took over the lease; this sweep stopped');
  }
}

/**
 * One sweep. `renew`, when given, is asked between listing pages whether the sweep may go on
 * (it renews the lease); false stops it with LeaseLostError.
 */
export async function sweep(sql: Sql, blobs: BlobStore, graceSeconds: number, renew?: () => Promise<boolean>): Promise<SweepReport> {
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
    if (renew && !(await renew())) throw new LeaseLostError();
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

/** A name for this process as a lease holder: host, PID and a random part (PIDs repeat across restarts). */
export function sweeperName(role = 'server'): string {
  return `${role}@${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/**
 * Who sweeps (table catalog_gc_lease, one row): the holder, until when by the database's clock,
 * and whether a sweep is under way. Every change is one UPDATE that checks the row as it is, so
 * two instances can never both take it; nothing depends on the session (no session advisory
 * lock), so it works behind PgBouncer in transaction mode. A holder killed with -9 simply lets it
 * run out.
 */
export class SweepLease {
  constructor(
    private readonly sql: Sql,
    readonly holder: string,
  ) {}

  /**
   * Takes or renews the lease for `seconds` and marks a sweep under way; false when another
   * holder's lease runs. With `unlessSweeping` it is also taken from a holder between two
   * sweeps (the command: an operator's sweep need not wait a period).
   */
  async take(seconds: number, unlessSweeping = false): Promise<boolean> {
    const rows = await this.sql(
      `UPDATE catalog_gc_lease SET holder = $1, until = now() + make_interval(secs => $2), sweeping = true
       WHERE holder = $1 OR until < now() OR ($3 AND NOT sweeping) RETURNING holder`,
      [this.holder, seconds, unlessSweeping],
    );
    return rows.length === 1;
  }

  /** During a sweep: pushes the end of the lease out; false when another holder took it meanwhile. */
  async renew(seconds: number): Promise<boolean> {
    const rows = await this.sql(`UPDATE catalog_gc_lease SET until = now() + make_interval(secs => $2) WHERE holder = $1 RETURNING holder`, [this.holder, seconds]);
    return rows.length === 1;
  }

  /** A sweep ended; `keep` holds on to the lease for the next period, else it is handed back. */
  async done(keep: boolean): Promise<void> {
    await this.sql(`UPDATE catalog_gc_lease SET sweeping = false, until = CASE WHEN $2 THEN until ELSE '-infinity' END WHERE holder = $1`, [this.holder, keep]);
  }

  /** The other holder whose lease runs now, or null. */
  async other(): Promise<{ holder: string; sweeping: boolean; leftSeconds: number } | null> {
    const [row] = await this.sql<{ holder: string; sweeping: boolean; left: number }>(
      `SELECT holder, sweeping, extract(epoch FROM until - now())::float8 AS left FROM catalog_gc_lease WHERE until >= now() AND holder <> $1`,
      [this.holder],
    );
    return row ? { holder: row.holder, sweeping: row.sweeping, leftSeconds: Math.ceil(row.left) } : null;
  }
}

export interface SweeperLog {
  info(obj: object, message: string): void;
  warn(obj: object, message: string): void;
  debug(obj: object, message: string): void;
}

/**
 * The background sweep of a server: every `intervalSeconds`, one sweep on the instance that
 * holds the lease. The lease lasts two periods and its holder renews it at each one (and between
 * listing pages), so the same instance keeps sweeping; another takes over at most about three
 * periods after the holder died, at once after it stopped cleanly (stop() hands the lease back).
 */
export class BackgroundSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private readonly lease: SweepLease;
  private readonly leaseSeconds: number;

  constructor(
    private readonly sql: Sql,
    private readonly blobs: BlobStore,
    private readonly options: { readonly graceSeconds: number; readonly intervalSeconds: number; readonly log: SweeperLog; readonly holder?: string },
  ) {
    this.lease = new SweepLease(sql, options.holder ?? sweeperName());
    this.leaseSeconds = 2 * options.intervalSeconds;
  }

  start(): this {
    this.timer = setInterval(() => {
      this.running ??= this.tick().finally(() => (this.running = null));
    }, this.options.intervalSeconds * 1000).unref();
    return this;
  }

  private async tick(): Promise<void> {
    const { log } = this.options;
    const holder = this.lease.holder;
    try {
      if (!(await this.lease.take(this.leaseSeconds))) {
        log.debug({ gc: { holder } }, 'gc: another instance holds the sweep lease');
        return;
      }
    } catch (err) {
      log.warn({ err }, 'gc: cannot reach the sweep lease, trying again later');
      return;
    }
    try {
      const report = await sweep(this.sql, this.blobs, this.options.graceSeconds, () => this.lease.renew(this.leaseSeconds));
      log.info({ gc: { ...report, holder } }, describeSweep(report));
    } catch (err) {
      log.warn({ err }, 'gc: sweep failed, trying again later');
    } finally {
      await this.lease.done(true).catch(() => undefined);
    }
  }

  /** Stops the timer, waits for a sweep under way and hands the lease back. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.lease.done(false).catch(() => undefined);
  }
}
