/**
 * Test support: a private PgBouncer in transaction mode in front of a private PostgreSQL cluster
 * (test/helpers/postgres.ts), to prove that nothing in fastdav depends on session state.
 *
 * `startPgBouncer(t, postgres)` writes the README's pgbouncer.ini (pool_mode = transaction,
 * scram-sha-256) made local in a temporary folder (127.0.0.1 on a free port, no Unix socket, an
 * auth_file holding the cluster's `fastdav` role, every database name passed through to the
 * cluster, a small server pool so that client sessions really share server connections) and
 * runs pgbouncer in the foreground, as the `postgres` user when we are root (pgbouncer refuses to
 * run as root). It is stopped by its PID when `t` ends (and by a watchdog should the test process
 * be killed).
 *
 *   const reason = pgbouncerSkipReason();        // string when pgbouncer or PostgreSQL is missing (never under CI=true)
 *   t.test('…', { skip: reason }, async (t) => {
 *     const bouncer = await startPgBouncer(t, await sharedPostgres());
 *     const url = await bouncer.createDatabase();  // a fresh database, reached through the bouncer
 *     await bouncer.show('POOLS');                 // the admin console: SHOW POOLS, SERVERS, CLIENTS…
 *     await bouncer.kill(); await bouncer.start(); // the bouncer lost and back, on the same port
 *   });
 *
 * `sharedPgBouncer()` is one bouncer per test process, in front of `sharedPostgres()`.
 *
 * Not through the bouncer: PostgresServer.createSchema() URLs (PgBouncer 1.18 refuses the `options`
 * startup parameter that carries their search_path); use createDatabase() here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { t as rootTest } from 'tap';
import { postgresSkipReason, postgresUser, sharedPostgres, type PostgresServer } from './postgres.js';
import { freePort } from './ports.js';
import type { TapLike } from './server.js';

/** Server connections per database and user: fewer than the clients of a test, so they share them. */
export const DEFAULT_POOL_SIZE = 3;

export interface PgBouncerOptions {
  /** default_pool_size (default DEFAULT_POOL_SIZE). */
  readonly poolSize?: number;
}

export interface PgBouncer {
  /** postgres://fastdav:PASSWORD@127.0.0.1:PORT/postgres, through the bouncer. */
  readonly url: string;
  readonly port: number;
  readonly poolSize: number;
  /** The temporary folder (pgbouncer.ini, userlist.txt, pgbouncer.log). */
  readonly dir: string;
  /** PID of the pgbouncer process (0 once stopped). */
  readonly pid: number;
  /** The cluster behind it. */
  readonly postgres: PostgresServer;
  /** Creates a fresh database on the cluster and returns its URL through the bouncer. */
  createDatabase(): Promise<string>;
  /** Runs `SHOW <what>` on the admin console (POOLS, SERVERS, CLIENTS, STATS, CONFIG…) and returns its rows. */
  show(what: string): Promise<Record<string, unknown>[]>;
  /** Everything pgbouncer logged so far. */
  log(): string;
  /** Immediate shutdown (SIGTERM: client and server connections are closed); resolves when the process is gone. */
  stop(): Promise<void>;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
  /** Starts pgbouncer again on the same port (after stop() or kill()); resolves when it answers. */
  start(): Promise<void>;
  /** Stops it for good and removes its folder (done when the test ends). */
  destroy(): Promise<void>;
}

/** The pgbouncer binary, or '' when it is not installed (Debian puts it in /usr/sbin). */
export function pgbouncerBinary(): string {
  return spawnSync('sh', ['-c', 'command -v pgbouncer || ls /usr/sbin/pgbouncer 2>/dev/null'], { encoding: 'utf8' }).stdout.trim().split('\n')[0] ?? '';
}

/**
 * Why the PgBouncer tests cannot run here (pgbouncer or PostgreSQL missing), or false when they can.
 * Under CI=true this is always false: .ci/run installs pgbouncer, and a missing one must fail.
 */
export function pgbouncerSkipReason(): string | false {
  if (process.env['CI'] === 'true') return false;
  if (!pgbouncerBinary()) return 'pgbouncer not found (apt-get install pgbouncer)';
  return postgresSkipReason();
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for process $1 (the test process) to end, then stops the pgbouncer of pidfile $2 and removes folder $3. */
const WATCHDOG = `
while kill -0 "$1" 2>/dev/null; do sleep 1; done
pid=$(cat "$2" 2>/dev/null)
[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
rm -rf "$3"`;

/** The ```ini block of the README's "Running several instances" section: the documented pgbouncer.ini. */
export function documentedConfig(): string {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const section = readme.slice(readme.indexOf('## Running several instances'));
  const block = /```ini\n([\s\S]*?)```/.exec(section.slice(0, section.indexOf('\n## ')));
  if (!block) throw new Error('no ```ini block in README "Running several instances"');
  return block[1]!.replace(/^ {2}/gm, '');
}

/**
 * The README's pgbouncer.ini made local: listening on 127.0.0.1:`port`, every database name
 * forwarded to the cluster on `postgresPort` (the fallback entry `*`), the auth_file in `dir`, a
 * pool of `poolSize` server connections, no Unix socket, an admin console for the role, a log
 * file and a pidfile. Everything else (pool mode, authentication, limits, retries) is the documented
 * configuration as it is.
 */
export function pgbouncerConfig(documented: string, dir: string, port: number, postgresPort: number, poolSize: number): string {
  const local: Record<string, string> = {
    listen_addr: '127.0.0.1',
    listen_port: String(port),
    auth_file: path.join(dir, 'userlist.txt'),
    default_pool_size: String(poolSize),
  };
  const lines: string[] = [];
  let section = '';
  let databases = 0;
  for (const line of documented.split('\n')) {
    const heading = /^\[(\w+)\]$/.exec(line);
    if (heading) section = heading[1]!;
    const setting = /^(\S+)\s*=/.exec(line);
    if (section === 'databases' && setting) {
      if (databases++ === 0) lines.push(`* = host=127.0.0.1 port=${postgresPort}`);
    } else if (section === 'pgbouncer' && setting && setting[1]! in local) {
      lines.push(`${setting[1]} = ${local[setting[1]!]}`);
      delete local[setting[1]!];
    } else lines.push(line);
  }
  if (Object.keys(local).length > 0 || databases === 0 || !/^pool_mode = transaction$/m.test(documented)) {
    throw new Error(`the README's pgbouncer.ini no longer has the shape this helper adapts (missing: ${Object.keys(local).join(', ') || '[databases] entry or pool_mode = transaction'})`);
  }
  lines.push('unix_socket_dir =', 'admin_users = fastdav', `logfile = ${path.join(dir, 'pgbouncer.log')}`, `pidfile = ${path.join(dir, 'pgbouncer.pid')}`, '');
  return lines.join('\n');
}

/** Starts a bouncer in front of `postgres` that lives until `t` ends. */
export async function startPgBouncer(t: TapLike, postgres: PostgresServer, options: PgBouncerOptions = {}): Promise<PgBouncer> {
  const bouncer = await createBouncer(postgres, options);
  t.teardown(() => bouncer.destroy());
  return bouncer;
}

let shared: Promise<PgBouncer> | undefined;

/** One bouncer per test process in front of sharedPostgres(), stopped when the process's root test ends. */
export function sharedPgBouncer(): Promise<PgBouncer> {
  shared ??= sharedPostgres().then(async (postgres) => {
    const bouncer = await createBouncer(postgres, {});
    rootTest.teardown(() => bouncer.destroy());
    return bouncer;
  });
  return shared;
}

async function createBouncer(postgres: PostgresServer, options: PgBouncerOptions): Promise<PgBouncer> {
  const binary = pgbouncerBinary();
  if (!binary) throw new Error('pgbouncer is not installed (apt-get install pgbouncer)');
  const poolSize = options.poolSize ?? DEFAULT_POOL_SIZE;
  const documented = documentedConfig();
  const direct = new URL(postgres.url);
  const user = decodeURIComponent(direct.username);
  const password = decodeURIComponent(direct.password);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastdav-pgbouncer-'));
  const logFile = path.join(dir, 'pgbouncer.log');
  const ini = path.join(dir, 'pgbouncer.ini');
  // A plain-text password lets pgbouncer both check the client's SCRAM login and log in to the cluster.
  writeFileSync(path.join(dir, 'userlist.txt'), `"${user}" "${password}"\n`, { mode: 0o600 });
  const owner = isRoot ? postgresUser() : undefined;
  if (owner) {
    for (const f of [dir, path.join(dir, 'userlist.txt')]) chownSync(f, owner.uid, owner.gid);
  }
  chmodSync(dir, 0o700);

  let child: ChildProcess | undefined;
  let port = 0;
  let started = false;
  const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
  const adminUrl = () => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/pgbouncer`;

  const start = async (): Promise<void> => {
    if (running()) return;
    for (let attempt = 1; ; attempt++) {
      if (!port) port = await freePort();
      writeFileSync(ini, pgbouncerConfig(documented, dir, port, postgres.port, poolSize), { mode: 0o600 });
      if (owner) chownSync(ini, owner.uid, owner.gid);
      child = spawn(binary, [ini], { stdio: 'ignore', ...(owner ?? {}) });
      if (await ready(child, adminUrl())) {
        started = true;
        return;
      }
      // The port was taken between freePort() and the bind: a first start takes another one, a
      // restart must keep its port (the instances' URL names it) and tries again.
      if (attempt >= 5 || !/Address already in use|could not bind|listen/i.test(tail(logFile))) throw new Error(`pgbouncer did not start:\n${tail(logFile)}`);
      if (started) await sleep(200 * attempt);
      else port = 0;
    }
  };

  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc || !running()) return;
    const exited = once(proc, 'exit');
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  // Last resorts should the test process end without its teardowns: at exit, and a watchdog that
  // outlives a killed test process (it reads the PID of the moment from pgbouncer's pidfile).
  const onExit = () => child?.kill('SIGKILL');
  process.once('exit', onExit);
  const watchdog = spawn('sh', ['-c', WATCHDOG, 'fastdav-pgbouncer-watchdog', String(process.pid), path.join(dir, 'pgbouncer.pid'), dir], { detached: true, stdio: 'ignore' });
  watchdog.unref();
  const destroy = async (): Promise<void> => {
    await end('SIGTERM');
    process.removeListener('exit', onExit);
    watchdog.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await start();
  } catch (err) {
    await destroy();
    throw err;
  }

  const through = (directUrl: string): string => {
    const url = new URL(directUrl);
    url.port = String(port);
    return url.toString();
  };

  return {
    url: through(postgres.url),
    port,
    poolSize,
    dir,
    get pid() {
      return running() ? (child?.pid ?? 0) : 0;
    },
    postgres,
    createDatabase: async () => through(await postgres.createDatabase()),
    async show(what) {
      if (!/^[A-Z_]+$/i.test(what)) throw new Error(`not a SHOW subject: ${what}`);
      // The admin console speaks the simple query protocol only: a query without parameters.
      const client = new pg.Client({ connectionString: adminUrl(), connectionTimeoutMillis: 5000 });
      await client.connect();
      try {
        return (await client.query(`SHOW ${what}`)).rows as Record<string, unknown>[];
      } finally {
        await client.end();
      }
    },
    log: () => readFile(logFile),
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    start,
    destroy,
  };
}

/** True once the admin console of the bouncer `child` answers; false when the process ended first. */
async function ready(child: ChildProcess, adminUrl: string): Promise<boolean> {
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 20_000;
  while (!exited) {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query('SHOW VERSION');
      return true;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error('pgbouncer did not answer within 20 s');
      }
      await sleep(50);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return false;
}

function readFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function tail(file: string, lines = 20): string {
  return readFile(file).split('\n').slice(-lines).join('\n');
}
