/**
 * The account files, parsed: an Apache htpasswd file (bcrypt only) and an optional access file
 * that gives a user a root folder and a read-only flag.
 *
 * htpasswd: `user:hash` per line, `#` comments. Only bcrypt (`$2y$`, `$2a$`, `$2b$`, as written by
 * `htpasswd -B`) is accepted; any other scheme stops start-up with a message naming the user.
 *
 * Access file: `user:root:mode` per line, `#` comments. `root` is a folder inside the data root
 * written as an absolute path (`/` is all of it, `/home/alice` a folder); `mode` is `rw` or `ro`.
 * A user without a line gets the whole tree read-write. The rights live in their own file, not in
 * extra htpasswd fields, because `htpasswd` rewrites a user's line when the password changes and
 * would silently drop them (widening that user's rights).
 */
import { ConfigError } from '../config.js';
import { DavPath, isValidSegment } from '../core/paths.js';

export interface Account {
  readonly name: string;
  /** bcrypt hash. */
  readonly hash: string;
  /** Storage path the user sees as `/`. */
  readonly root: DavPath;
  readonly readOnly: boolean;
}

const BCRYPT = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

/** Names of the schemes htpasswd and friends write, for the refusal message. */
function schemeOf(hash: string): string {
  if (hash.startsWith('$2')) return 'a malformed bcrypt';
  if (hash.startsWith('$apr1$')) return 'an MD5 (apr1)';
  if (hash.startsWith('{SHA}')) return 'a SHA-1';
  if (hash.startsWith('$1$')) return 'an MD5-crypt';
  if (hash.startsWith('$5$') || hash.startsWith('$6$')) return 'a SHA-crypt';
  if (/^[./A-Za-z0-9]{13}$/.test(hash)) return 'a DES crypt';
  return 'a plain-text or unknown';
}

/** Non-comment lines of a file, with their 1-based numbers. */
function* lines(text: string): Generator<[number, string]> {
  const all = text.split(/\r?\n/);
  for (let i = 0; i < all.length; i++) {
    const line = all[i]!.trim();
    if (line !== '' && !line.startsWith('#')) yield [i + 1, line];
  }
}

function checkName(name: string, where: string): void {
  if (name === '' || /[\x00-\x1f\x7f]/.test(name)) throw new ConfigError(`${where}: invalid user name ${JSON.stringify(name)}`);
}

/** user → bcrypt hash; ConfigError naming the file, line and user for anything else. */
export function parseHtpasswd(text: string, file: string): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const [n, line] of lines(text)) {
    const where = `users file ${file} line ${n}`;
    const colon = line.indexOf(':');
    if (colon === -1) throw new ConfigError(`${where}: expected user:hash`);
    const name = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    checkName(name, where);
    if (hashes.has(name)) throw new ConfigError(`${where}: user "${name}" appears twice`);
    if (!BCRYPT.test(hash)) {
      throw new ConfigError(`${where}: user "${name}" has ${schemeOf(hash)} password hash; fastdav accepts only bcrypt (set it with: htpasswd -B ${file} ${name})`);
    }
    hashes.set(name, hash);
  }
  return hashes;
}

export interface UserAccess {
  readonly root: DavPath;
  readonly readOnly: boolean;
}

const MODES: Record<string, boolean> = { rw: false, 'read-write': false, ro: true, 'read-only': true };

/** user → root and mode; the root may hold ':' (user is before the first, mode after the last). */
export function parseAccessFile(text: string, file: string): Map<string, UserAccess> {
  const access = new Map<string, UserAccess>();
  for (const [n, line] of lines(text)) {
    const where = `access file ${file} line ${n}`;
    const first = line.indexOf(':');
    const last = line.lastIndexOf(':');
    if (first === -1 || first === last) throw new ConfigError(`${where}: expected user:root:rw|ro`);
    const name = line.slice(0, first);
    const rootText = line.slice(first + 1, last).trim();
    const mode = line.slice(last + 1).trim().toLowerCase();
    checkName(name, where);
    if (access.has(name)) throw new ConfigError(`${where}: user "${name}" appears twice`);
    const readOnly = MODES[mode];
    if (readOnly === undefined) throw new ConfigError(`${where}: mode must be rw or ro, got "${mode}"`);
    const segments = rootText.split('/').filter((s) => s !== '');
    if (!rootText.startsWith('/') || !segments.every(isValidSegment)) {
      throw new ConfigError(`${where}: root "${rootText}" must be a folder path inside the data root such as /home/${name}`);
    }
    access.set(name, { root: DavPath.of(segments), readOnly });
  }
  return access;
}

/** The accounts: every htpasswd user, with the rights of the access file (default: all, rw). */
export function buildAccounts(hashes: ReadonlyMap<string, string>, access: ReadonlyMap<string, UserAccess>, accessFile: string): Map<string, Account> {
  for (const name of access.keys()) {
    // A misspelt name would leave the real user with the whole tree: refuse instead.
    if (!hashes.has(name)) throw new ConfigError(`access file ${accessFile}: user "${name}" is not in the users file`);
  }
  const accounts = new Map<string, Account>();
  for (const [name, hash] of hashes) {
    const rights = access.get(name) ?? { root: DavPath.root, readOnly: false };
    accounts.set(name, { name, hash, ...rights });
  }
  return accounts;
}
