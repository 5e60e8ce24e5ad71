/**
 * The account files on disk. Read at start-up, where any error stops the server; read again when
 * they change (looked at no more than every RECHECK_MS), so `htpasswd -B` takes effect without a
 * restart. A changed file that does not parse is logged and the accounts in use stay.
 * Users' root folders are created inside the data root when missing.
 */
import fsp from 'node:fs/promises';
import { ConfigError, unreadableFile } from '../config.js';
import { DavError } from '../core/errors.js';
import { DavPath } from '../core/paths.js';
import type { Storage } from '../storage/storage.js';
import { type Account, buildAccounts, parseAccessFile, parseHtpasswd, type UserAccess } from './accounts.js';

const RECHECK_MS = 2000;

export interface AccountLog {
  error(fields: object, message: string): void;
}

export class AccountFiles {
  private accounts: ReadonlyMap<string, Account> = new Map();
  private stamp = '';
  private checkedAt = 0;
  private checking: Promise<void> | null = null;

  private constructor(
    private readonly usersFile: string,
    private readonly accessFile: string | undefined,
    private readonly storage: Storage,
    private readonly log: AccountLog,
    private readonly createRoots: boolean,
  ) {}

  /**
   * Reads the files; ConfigError when they are missing or invalid. Users' missing root folders
   * are created unless `createRoots` is false (--read-only), where they must exist.
   */
  static async open(usersFile: string, accessFile: string | undefined, storage: Storage, log: AccountLog, createRoots = true): Promise<AccountFiles> {
    const files = new AccountFiles(usersFile, accessFile, storage, log, createRoots);
    await files.reload(await files.currentStamp());
    return files;
  }

  /** Reads the files again now (SIGHUP); ConfigError when they are invalid, and the accounts in use stay. */
  async reloadNow(): Promise<void> {
    await this.reload(await this.currentStamp());
  }

  /** The accounts, re-read first when a file changed since the last look. */
  async current(): Promise<ReadonlyMap<string, Account>> {
    if (Date.now() - this.checkedAt >= RECHECK_MS) {
      this.checking ??= this.recheck().finally(() => (this.checking = null));
      await this.checking;
    }
    return this.accounts;
  }

  private async recheck(): Promise<void> {
    this.checkedAt = Date.now();
    try {
      const stamp = await this.currentStamp();
      if (stamp !== this.stamp) await this.reload(stamp);
    } catch (err) {
      this.log.error({ err }, 'account files not reloaded; the accounts in use stay');
    }
  }

  private async currentStamp(): Promise<string> {
    const stamps = await Promise.all(
      [['users', this.usersFile], ['userAccess', this.accessFile]].map(async ([setting, file]) => {
        if (!file) return '';
        try {
          const st = await fsp.stat(file);
          return `${st.ino}:${st.size}:${st.mtimeMs}`;
        } catch (err) {
          throw unreadableFile(setting!, file, err);
        }
      }),
    );
    return stamps.join('|');
  }

  private async reload(stamp: string): Promise<void> {
    const hashes = parseHtpasswd(await readAccountFile('users', this.usersFile), this.usersFile);
    const access: Map<string, UserAccess> = this.accessFile ? parseAccessFile(await readAccountFile('userAccess', this.accessFile), this.accessFile) : new Map();
    const accounts = buildAccounts(hashes, access, this.accessFile ?? '');
    for (const account of accounts.values()) await ensureRoot(this.storage, account, this.createRoots);
    this.accounts = accounts;
    this.stamp = stamp;
    this.checkedAt = Date.now();
  }
}

/** The text of an account file; ConfigError naming the setting when it cannot be read (a folder, no permission). */
async function readAccountFile(setting: string, file: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw unreadableFile(setting, file, err);
  }
}

/** Makes sure the user's root is a folder of the tree, creating what is missing. */
async function ensureRoot(storage: Storage, account: Account, create: boolean): Promise<void> {
  let path = DavPath.root;
  for (const segment of account.root.segments) {
    path = path.child(segment);
    const where = `root ${account.root} of user "${account.name}"`;
    if (storage.isReserved(path)) throw new ConfigError(`userAccess: ${where} is reserved by the server`);
    try {
      let entry = await storage.stat(path);
      if (!entry && create) {
        // Another server process may create it at the same moment: look again on failure.
        await storage.createCollection(path).catch(() => undefined);
        entry = await storage.stat(path);
      }
      if (!entry?.isCollection) throw new ConfigError(`userAccess: ${where} is not a folder${create ? ' and could not be created' : ' (the server is read-only: create it)'}`);
    } catch (err) {
      if (err instanceof DavError) throw new ConfigError(`userAccess: ${where}: ${err.message}`);
      throw err;
    }
  }
}
