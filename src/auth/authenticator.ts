/**
 * Who is asking and what they may do: HTTP Basic authentication (RFC 7617) against the account
 * files, anonymous access exactly as configured, and read-only rights.
 *
 * bcrypt is slow on purpose (pure JS here: bcryptjs, no native module), so verified credentials
 * are cached: the key is an HMAC of user and password under a key made at start-up (the password
 * itself is never kept), the entry remembers the hash it was checked against, so a changed
 * password file invalidates it. Refusals are cached briefly too (clients retry a stale password on
 * every request), and parallel requests with the same credentials share one check. A refusal
 * never says why (unknown user and wrong password look the same, an unknown user costs a bcrypt
 * check too) and is slowed per client (login-throttle.ts).
 */
import { createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { Config } from '../config.js';
import { DavError } from '../core/errors.js';
import { DavPath } from '../core/paths.js';
import type { Account } from './accounts.js';
import { LoginThrottle } from './login-throttle.js';

export interface Access {
  /** The user name, or null for anonymous access. */
  readonly principal: string | null;
  /** Storage path the requester sees as `/`. */
  readonly root: DavPath;
  readonly readOnly: boolean;
}

/** Methods a read-only requester may use. Any other method, including one added later, writes. */
export const READ_METHODS: ReadonlySet<string> = new Set(['OPTIONS', 'GET', 'HEAD', 'PROPFIND']);

/**
 * Whether this requester may use the method at all: the one answer behind both the 403 of
 * authorize() and the Allow header of OPTIONS (a read-only requester is never offered a write).
 */
export function permits(access: Access, method: string): boolean {
  return !access.readOnly || READ_METHODS.has(method);
}

const VERIFIED_TTL_MS = 10 * 60_000;
const REFUSED_TTL_MS = 60_000;
const MAX_CACHED = 10_000;

export type Verify = (password: string, hash: string) => Promise<boolean>;

export interface AuthLog {
  warn(fields: object, message: string): void;
}

/** Where the accounts come from (account-files.ts). */
export interface AccountSource {
  current(): Promise<ReadonlyMap<string, Account>>;
}

interface Check {
  readonly hash: string;
  readonly ok: Promise<boolean>;
  expires: number;
}

export class Authenticator {
  private readonly challenge: DavError;
  private readonly anonymous: Access | null;
  private readonly cacheKey = randomBytes(32);
  private readonly checks = new Map<string, Check>();
  /** A hash of nothing anyone knows, per cost, checked for unknown users so they take as long. */
  private readonly decoys = new Map<string, string>();

  constructor(
    config: Pick<Config, 'anonymous' | 'realm'> & Partial<Pick<Config, 'readOnly'>>,
    private readonly accounts: AccountSource | null,
    private readonly log: AuthLog,
    private readonly throttle = new LoginThrottle(),
    private readonly verify: Verify = (password, hash) => bcrypt.compare(password, hash),
  ) {
    this.challenge = new DavError(401, 'authentication required', {
      headers: { 'www-authenticate': `Basic realm="${config.realm}", charset="UTF-8"` },
    });
    this.anonymous = config.anonymous === 'none' ? null : { principal: null, root: DavPath.root, readOnly: config.anonymous === 'read-only' };
    this.serverReadOnly = config.readOnly === true;
  }

  /** --read-only: nobody may write, whoever they are (so 403 even before credentials: logging in would not help). */
  private readonly serverReadOnly: boolean;

  /** The access of a request, from its Authorization header; 401 when it gets none. */
  async authenticate(authorization: string | undefined, client: string): Promise<Access> {
    if (authorization === undefined || !this.accounts) {
      // Without accounts there is nothing to check credentials against: they are ignored.
      if (this.anonymous) return this.anonymous;
      throw this.challenge;
    }
    const credentials = parseBasic(authorization);
    if (!credentials) throw this.challenge;
    const { user, password } = credentials;
    const accounts = await this.accounts.current();
    const account = accounts.get(user);
    const ok = await this.check(user, password, account?.hash ?? this.decoy(accounts), client);
    if (!account || !ok) {
      this.log.warn({ user: user.slice(0, 128), client }, 'login failed');
      await this.throttle.failed(client);
      throw this.challenge;
    }
    return { principal: account.name, root: account.root, readOnly: account.readOnly };
  }

  /** Read-only requesters get 403 for every method that writes (401 for anonymous ones, who may log in). */
  authorize(access: Access, method: string): void {
    if (READ_METHODS.has(method)) return;
    if (this.serverReadOnly) throw new DavError(403, 'this server is read-only');
    if (permits(access, method)) return;
    if (access.principal === null && this.accounts) throw this.challenge;
    throw new DavError(403, 'read-only access');
  }

  private async check(user: string, password: string, hash: string, client: string): Promise<boolean> {
    const key = createHmac('sha256', this.cacheKey).update(user).update('\0').update(password).digest('base64');
    const now = Date.now();
    let check = this.checks.get(key);
    if (!check || check.hash !== hash || check.expires <= now) {
      // The entry is made before anything is awaited, so parallel requests find it and share it.
      const ok = this.throttle
        .turn(client)
        .then(() => this.verify(password, hash))
        .catch(() => false);
      check = { hash, ok, expires: Infinity };
      this.checks.delete(key);
      this.checks.set(key, check);
      if (this.checks.size > MAX_CACHED) this.checks.delete(this.checks.keys().next().value!);
      const entry = check;
      void ok.then((result) => (entry.expires = Date.now() + (result ? VERIFIED_TTL_MS : REFUSED_TTL_MS)));
    }
    return check.ok;
  }

  /** A decoy hash with the cost of the real ones. */
  private decoy(accounts: ReadonlyMap<string, { hash: string }>): string {
    const first = accounts.values().next().value;
    const cost = first ? first.hash.slice(4, 6) : '10';
    let decoy = this.decoys.get(cost);
    if (!decoy) this.decoys.set(cost, (decoy = bcrypt.hashSync(randomBytes(16).toString('base64'), Number(cost))));
    return decoy;
  }
}

/** RFC 7617: `Basic base64(user ":" password)`, UTF-8; null when malformed. */
export function parseBasic(header: string): { user: string; password: string } | null {
  const m = /^basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
