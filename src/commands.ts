/**
 * The commands beside serving, with the same configuration (flags, environment, config file):
 *   fastdav gc [--grace SECONDS] [options]   one sweep of object storage (src/storage/catalog/gc.ts)
 *   fastdav export DIR [options]             the tree, with modification times, into a folder
 *   fastdav import DIR [options]             a folder into the tree
 * Exit codes as for serving: 0 done, 2 configuration error, 1 failure.
 */
import { ConfigError, loadConfig } from './config.js';
import { SweepLease, describeSweep, sweep, sweeperName } from './storage/catalog/gc.js';
import { openStorage } from './storage/open.js';
import { systemClock } from './metadata/store.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CatalogStorage } from './storage/catalog/catalog-storage.js';
import { exportTree, importTree, type TransferReport } from './storage/transfer.js';

export const COMMANDS: ReadonlySet<string> = new Set(['gc', 'export', 'import']);

function describeTransfer(verb: string, r: TransferReport): string {
  const lines = [`${verb} ${r.files} files (${r.bytes} bytes) and ${r.collections} folders; dead properties of ${r.withProperties} resources`];
  for (const s of r.skipped) lines.push(`skipped ${s}`);
  return lines.join('\n');
}

/** Seconds the command's lease lasts; renewed between listing pages. */
const COMMAND_LEASE_SECONDS = 60;

/**
 * `fastdav gc`: one sweep, the only one under way. It takes the lease from a server that holds it
 * between two sweeps, and waits (saying so) while a sweep runs elsewhere; the servers' background
 * sweeps resume once it hands the lease back.
 */
async function sweepOnce(storage: CatalogStorage, graceSeconds: number, out: NodeJS.WritableStream): Promise<string> {
  const lease = new SweepLease(storage.sql.run, sweeperName('fastdav gc'));
  for (let told = false; !(await lease.take(COMMAND_LEASE_SECONDS, true)); told = true) {
    const other = await lease.other();
    if (!told && other) out.write(`gc: waiting for the sweep under way on ${other.holder} (lease ends in ${other.leftSeconds} s at the latest)\n`);
    await sleep(1000);
  }
  try {
    return describeSweep(await sweep(storage.sql.run, storage.blobs, graceSeconds, () => lease.renew(COMMAND_LEASE_SECONDS)));
  } finally {
    await lease.done(false);
  }
}

/** Runs `command` with its arguments; resolves with the exit code. */
export async function runCommand(command: string, args: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const rest = [...args];
  let dir: string | undefined;
  let grace: number | undefined;
  if (command === 'gc') {
    const at = rest.findIndex((a) => a === '--grace' || a.startsWith('--grace='));
    if (at >= 0) {
      const [flag, inline] = rest[at]!.split('=', 2) as [string, string | undefined];
      const value = inline ?? rest[at + 1];
      rest.splice(at, inline === undefined ? 2 : 1);
      if (value === undefined || !/^\d+$/.test(value)) throw new ConfigError(`${flag}: must be a whole number of seconds, got "${value ?? ''}"`);
      grace = Number(value);
    }
  } else {
    dir = rest.shift();
    if (dir === undefined || dir.startsWith('-')) throw new ConfigError(`${command}: name the folder: fastdav ${command} DIR [options]`);
  }
  const config = loadConfig({ argv: rest });
  if (command === 'gc' && !config.s3Bucket) throw new ConfigError('gc: only object storage has something to collect: give --s3-bucket (and --metadata-url)');
  const opened = await openStorage(config, { clock: systemClock });
  try {
    if (command === 'gc') {
      out.write(`${await sweepOnce(opened.objectStorage!.storage, grace ?? config.gcGrace, out)}\n`);
    } else if (command === 'export') {
      out.write(`${describeTransfer('exported', await exportTree(opened.storage, opened.metadata, dir!))}\n`);
    } else {
      out.write(`${describeTransfer('imported', await importTree(opened.storage, opened.metadata, dir!))}\n`);
    }
  } finally {
    await opened.close();
  }
  return 0;
}
