/**
 * Test support: a private PostgreSQL 15 cluster for one test file.
 *
 * `startPostgres(t)` runs initdb in a temporary folder and starts the server on a free 127.0.0.1 port
 * (no Unix socket; fsync off: test use only, yet a SIGKILL of the server loses no acknowledged
 * commit), as the `postgres` user via runuser when running as root, else as the current user. Password login (scram-sha-256) for a non-superuser role `fastdav` that may
 * create databases. The cluster is stopped and its folder removed when `t` ends (and killed on process
 * exit should the test crash).
 *
 *   const reason = postgresSkipReason();          // string when the binaries are missing (never under CI=true)
 *   t.test('…', { skip: reason }, async (t) => {
 *     const pg = await startPostgres(t);
 *     const url = await pg.createDatabase();      // a fresh, empty database per test
 *     const quick = await pg.createSchema();      // or a fresh schema (search_path in the URL): ~100 times quicker
 *     await pg.stop(); await pg.start();          // outage tests; pg.kill() = SIGKILL of the postmaster
 *   });
 *
 * `sharedPostgres()` is one cluster per test process (started on first use, stopped when the process's
 * root test ends), for suites that run many servers each on their own database.
 *
 * Binaries: /usr/lib/postgresql/15/bin (Debian's postgresql-15), or the folder in FASTDAV_PG_BIN.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { t as rootTest } from 'tap';
import type { TapLike } from './server.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

export const POSTGRES_BIN = process.env.FASTDAV_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const ROLE = 'fastdav';

export interface PostgresServer {
  /** postgres://fastdav:PASSWORD@127.0.0.1:PORT/postgres — the role may CREATE DATABASE. */
  url: string;
  port: number;
  /** The cluster's temporary folder (data in ./data, server log in ./postgres.log). */
  dir: string;
  /** PID of the running postmaster (0 while stopped). */
  readonly pid: number;
  /** Creates a fresh empty database owned by `fastdav` (name generated when omitted); returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /**
   * Creates a fresh empty schema in one database shared by the cluster's schemas and returns a URL
   * whose connections use it (`options=-c search_path=…`). Far quicker than createDatabase; the
   * tables are as separate, but advisory locks are per database, so they are shared.
   */
  createSchema(): Promise<string>;
  /** Clean shutdown (fast mode: open sessions are ended); resolves when the server is gone. */
  stop(): Promise<void>;
  /** SIGKILL of the postmaster (its backends follow); resolves when it is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (after stop() or kill()); resolves when it accepts connections. */
  start(): Promise<void>;
  /**
   * Freezes the whole cluster (SIGSTOP to the postmaster and its backends): connections stay open
   * and nothing answers, so no server-side timeout can fire. Until thaw() (SIGCONT).
   */
  freeze(): void;
  thaw(): void;
}

/**
 * Why PostgreSQL tests cannot run here (binaries missing), or false when they can. Under CI=true this
 * is always false, so that a missing PostgreSQL fails the tests instead of skipping them.
 */
export function postgresSkipReason(): string | false {
  if (process.env.CI === 'true') return false;
  if (!existsSync(path.join(POSTGRES_BIN, 'postgres')) || !existsSync(path.join(POSTGRES_BIN, 'initdb'))) {
    return `PostgreSQL 15 binaries not found in ${POSTGRES_BIN} (apt-get install postgresql-15, or set FASTDAV_PG_BIN)`;
  }
  return false;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a PostgreSQL binary, as the `postgres` user when we are root (the server refuses to run as root). */
async function pgBinary(name: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const file = path.join(POSTGRES_BIN, name);
  const [cmd, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
  try {
    const { stdout } = await run(cmd, argv, { timeout: timeoutMs });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${name} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie (exited, not yet reaped by its parent) still answers kill(0): look at its state
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** PIDs whose parent is `parent`, from /proc. */
function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The fields after the command name: state, then the parent's PID.
      if (Number(readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]) === parent) children.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return children;
}

async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`postgres pid ${pid} still running after ${timeoutMs} ms`);
    await sleep(25);
  }
}

/** Waits for process $1 to end, then stops the postmaster of data folder $2 (by its pid file) and removes $3. */
const WATCHDOG = `
while kill -0 "$1" 2>/dev/null; do sleep 1; done
pid=$(head -n 1 "$2/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; then
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
fi
rm -rf "$3"`;

/** Starts a private cluster that lives until `t` ends. */
export async function startPostgres(t: TapLike): Promise<PostgresServer> {
  const server = await createCluster();
  t.teardown(() => server.destroy());
  return server;
}

let shared: Promise<PostgresServer> | undefined;

/**
 * Set by a test that starts child test processes (test/http/postgres-mode.test.ts) to its shared
 * cluster's url: sharedPostgres() in the children then borrows that cluster instead of starting one.
 */
export const SHARED_POSTGRES_ENV = 'FASTDAV_TEST_PG_URL';

/** One cluster per test process, started on first use and stopped when the process's root test ends. */
export function sharedPostgres(): Promise<PostgresServer> {
  const borrowed = process.env[SHARED_POSTGRES_ENV];
  if (!shared && borrowed) {
    const message = 'a borrowed cluster (FASTDAV_TEST_PG_URL) is not stopped, started or frozen here';
    const owned = () => Promise.reject(new Error(message));
    const refuse = () => {
      throw new Error(message);
    };
    shared = Promise.resolve({ url: borrowed, port: Number(new URL(borrowed).port), dir: '', pid: 0, ...databaseFactory(() => borrowed), stop: owned, kill: owned, start: owned, freeze: refuse, thaw: refuse });
  }
  if (!shared) {
    shared = createCluster().then((server) => {
      rootTest.teardown(() => server.destroy());
      return server;
    });
  }
  return shared;
}

interface Cluster extends PostgresServer {
  destroy(): Promise<void>;
}

async function createCluster(): Promise<Cluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastdav-pg-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'postgres.log');
  const password = randomBytes(12).toString('hex');
  const superPassword = randomBytes(12).toString('hex');
  let pid = 0;
  let port = 0;
  let destroyed = false;

  // last resort if the test process dies without running its teardowns: no orphaned postmaster
  const onExit = () => {
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  // And if this process is killed outright (a test runner's timeout), a small watchdog outlives it
  // and stops the cluster and removes its folder all the same.
  const watchdog = spawn('sh', ['-c', WATCHDOG, 'fastdav-pg-watchdog', String(process.pid), data, dir], { detached: true, stdio: 'ignore' });
  watchdog.unref();

  if (isRoot) {
    const { uid, gid } = postgresUser();
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const pwFile = path.join(dir, 'pw');
  writeFileSync(pwFile, `${superPassword}\n`, { mode: 0o600 });
  if (isRoot) chownSync(pwFile, postgresUser().uid, postgresUser().gid);
  await pgBinary('initdb', ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwFile}`, '--no-sync']);
  rmSync(pwFile);
  appendFileSync(
    path.join(data, 'postgresql.conf'),
    [
      '# --- throwaway test settings (fastdav test/helpers/postgres.ts) ---',
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = ''",
      'max_connections = 200',
      // fsync off only risks data on a machine crash; synchronous_commit stays on, so a killed
      // server (kill()) keeps every commit it acknowledged, as a real one does.
      'fsync = off',
      'full_page_writes = off',
      'shared_buffers = 32MB',
      'log_min_messages = warning',
      '',
    ].join('\n'),
  );

  const readPid = (): number => {
    try {
      return Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]) || 0;
    } catch {
      return 0;
    }
  };

  const start = async (): Promise<void> => {
    if (pid && processAlive(pid)) return;
    // A killed postmaster leaves postmaster.pid; PostgreSQL refuses to start while the PID in it lives
    // (it lingers briefly after SIGKILL), so wait for it, then drop the stale file.
    const stale = readPid();
    if (stale) {
      await waitGone(stale, 10_000);
      rmSync(path.join(data, 'postmaster.pid'), { force: true });
    }
    for (let attempt = 1; ; attempt++) {
      if (!port) port = await freePort();
      try {
        await pgBinary('pg_ctl', ['-D', data, '-l', log, '-o', `-p ${port}`, '-w', '-t', '60', 'start']);
        break;
      } catch (err) {
        // the port was taken in the meantime, or the old server's backends still hold shared memory
        if (attempt >= 5) throw new Error(`${(err as Error).message}\n${tail(log)}`);
        rmSync(path.join(data, 'postmaster.pid'), { force: true });
        if (/could not bind|Address already in use/i.test(tail(log))) port = 0;
        await sleep(200 * attempt);
      }
    }
    pid = readPid();
  };

  /** The processes freeze() stopped: the postmaster and its children at that moment. */
  let frozen: number[] = [];
  const signalAll = (pids: number[], signal: NodeJS.Signals): void => {
    for (const p of pids) {
      try {
        process.kill(p, signal);
      } catch {
        /* gone */
      }
    }
  };
  const freeze = (): void => {
    if (!pid || frozen.length > 0) return;
    frozen = [pid, ...childrenOf(pid)];
    signalAll(frozen, 'SIGSTOP');
  };
  const thaw = (): void => {
    signalAll(frozen, 'SIGCONT');
    frozen = [];
  };

  const stop = async (): Promise<void> => {
    thaw();
    if (!pid) return;
    const old = pid;
    try {
      process.kill(old, 'SIGINT'); // fast shutdown: roll back open transactions, end sessions
    } catch {
      /* already gone */
    }
    await waitGone(old, 30_000);
    pid = 0;
  };

  const kill = async (): Promise<void> => {
    thaw();
    if (!pid) return;
    const old = pid;
    try {
      process.kill(old, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await waitGone(old, 10_000);
    pid = 0;
  };

  await start();
  const adminUrl = () => `postgres://postgres:${superPassword}@127.0.0.1:${port}/postgres`;
  await withClient(adminUrl(), (c) => c.query(`CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${password}'`));

  const url = () => `postgres://${ROLE}:${password}@127.0.0.1:${port}/postgres`;
  const factory = databaseFactory(url);
  const server: Cluster = {
    get url() {
      return url();
    },
    get port() {
      return port;
    },
    dir,
    get pid() {
      return pid;
    },
    ...factory,
    stop,
    kill,
    start,
    freeze,
    thaw,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stop().catch(() => kill());
      process.removeListener('exit', onExit);
      watchdog.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** createDatabase and createSchema for the cluster that `clusterUrl()` (role fastdav, database postgres) reaches. */
function databaseFactory(clusterUrl: () => string): Pick<PostgresServer, 'createDatabase' | 'createSchema'> {
  let created = 0;
  let schemaDatabase: Promise<string> | undefined;
  const createDatabase = async (name?: string): Promise<string> => {
    const db = name ?? `test_${process.pid}_${++created}_${randomBytes(3).toString('hex')}`;
    if (!/^[a-z_][a-z0-9_]*$/.test(db)) throw new Error(`database name must be a plain identifier: ${db}`);
    await withClient(clusterUrl(), (c) => c.query(`CREATE DATABASE ${db}`));
    const url = new URL(clusterUrl());
    url.pathname = `/${db}`;
    return url.toString();
  };
  return {
    createDatabase,
    async createSchema() {
      schemaDatabase ??= createDatabase(`schemas_${process.pid}_${randomBytes(3).toString('hex')}`);
      const url = await schemaDatabase;
      const schema = `s${++created}_${randomBytes(3).toString('hex')}`;
      await withClient(url, (c) => c.query(`CREATE SCHEMA ${schema}`));
      return `${url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    },
  };
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let postgresIds: { uid: number; gid: number } | undefined;
/** uid and gid of the `postgres` system user (the servers run as it when the tests run as root). */
export function postgresUser(): { uid: number; gid: number } {
  if (!postgresIds) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    postgresIds = { uid, gid };
  }
  return postgresIds;
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
