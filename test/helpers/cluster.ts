/**
 * Test support: several fastdav instances (real processes) serving one shared data folder with one
 * PostgreSQL metadata database (test/helpers/postgres.ts, one private cluster per test file, a
 * fresh database per cluster) behind HAProxy, as in the README's "Running several instances".
 * Instances are addressed one by one (`instances[i].origin`) or through the balancer (`origin`);
 * each can be killed and restarted, and so can PostgreSQL (`postgres.stop()`, `postgres.start()`).
 */
import { lockTokenOf, multistatus, propText, request, tempDir, type RequestOptions, type Response, type TapLike } from './server.js';
import { haproxyBinary, startHaproxy, type Balancer } from './haproxy.js';
import { startInstance, type Instance } from './instances.js';
import { postgresSkipReason, sharedPostgres, type PostgresServer } from './postgres.js';
import { sharedPgBouncer, type PgBouncer } from './pgbouncer.js';

export interface ClusterOptions {
  /** How many instances (default 3). */
  readonly instances?: number;
  /** Mount prefix, e.g. '/dav/' (default '/'). */
  readonly prefix?: string;
  /** Flags every instance gets. */
  readonly args?: readonly string[];
  /** Environment every instance gets, e.g. an S3 endpoint's (test/helpers/rgw.ts `env`). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Where locks and dead properties live: one PostgreSQL database (default), the same reached through
   * PgBouncer in transaction mode (test/helpers/pgbouncer.ts), or SQLite in the shared folder.
   */
  readonly metadata?: 'postgres' | 'pgbouncer' | 'sqlite';
  /** Flags or environment for one instance only (by index), e.g. a clock that disagrees. */
  readonly perInstance?: (index: number) => { args?: readonly string[]; env?: NodeJS.ProcessEnv };
}

export interface Cluster {
  /** The shared data folder. */
  readonly root: string;
  readonly balancer: Balancer;
  /** The balancer's origin: http://127.0.0.1:PORT (no trailing slash). */
  readonly origin: string;
  readonly instances: readonly Instance[];
  /** The PostgreSQL server holding the metadata (null with SQLite). */
  readonly postgres: PostgresServer | null;
  /** The PgBouncer between the instances and PostgreSQL (only with metadata 'pgbouncer'). */
  readonly pgbouncer: PgBouncer | null;
  /** --metadata-url of the instances (null with SQLite). */
  readonly metadataUrl: string | null;
  /** A request through the balancer. */
  request(method: string, urlPath: string, options?: RequestOptions): Promise<Response>;
}

/** Starts the instances on one fresh folder (or `root`), then HAProxy in front once all are UP. */
export async function startCluster(t: TapLike, options: ClusterOptions = {}, root = tempDir(t, 'fastdav-cluster-')): Promise<Cluster> {
  const count = options.instances ?? 3;
  const pgbouncer = options.metadata === 'pgbouncer' ? await sharedPgBouncer() : null;
  const postgres = options.metadata === 'sqlite' ? null : (pgbouncer?.postgres ?? (await sharedPostgres()));
  const metadataUrl = (await pgbouncer?.createDatabase()) ?? (await postgres?.createDatabase()) ?? null;
  const common = [...(options.prefix ? ['--prefix', options.prefix] : []), ...(metadataUrl ? ['--metadata-url', metadataUrl] : []), ...(options.args ?? [])];
  // One after the other: the first creates the metadata store (or migrates the database).
  const instances: Instance[] = [];
  for (let i = 0; i < count; i++) {
    const own = options.perInstance?.(i) ?? {};
    // Each picks its own free port (startInstance tries another should one be taken meanwhile).
    instances.push(await startInstance(t, { root, args: [...common, ...(own.args ?? [])], env: { ...options.env, ...own.env } }));
  }
  const balancer = await startHaproxy(t, instances.map((instance) => instance.port));
  await balancer.waitUp();
  return {
    root,
    balancer,
    origin: balancer.origin,
    instances,
    postgres,
    pgbouncer,
    metadataUrl,
    request: (method, urlPath, o) => request(balancer.origin, method, urlPath, o),
  };
}

/**
 * False when the cluster tests can run here; otherwise why not (the test then skips). Under
 * CI=true a missing prerequisite is a failure: .ci/run installs haproxy and postgresql-15
 * (postgresSkipReason() never skips under CI).
 */
export function clusterPrerequisites(t: TapLike & { fail(message: string): void }): string | false {
  const missing: string[] = [];
  if (!haproxyBinary()) missing.push('haproxy');
  const noPostgres = postgresSkipReason();
  if (noPostgres) missing.push(noPostgres);
  if (missing.length === 0) return false;
  const reason = `needs ${missing.join(', ')}`;
  if (process.env['CI'] === 'true') t.fail(`${reason}: under CI=true the cluster tests must run (.ci/run installs it)`);
  return reason;
}

/** For test/clients/ run against a cluster: three instances behind HAProxy, on the shared store. */
export function clusterForClients(t: TapLike, options: { prefix?: string }): Promise<Cluster> {
  return startCluster(t, options);
}

/** Namespace of the dead property the load tests set. */
export const TAG_NS = 'urn:fastdav:test';

/** A PROPPATCH body setting `{urn:fastdav:test}tag` to `value`. */
export const setTagBody = (value: string): string =>
  `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:z="${TAG_NS}"><D:set><D:prop><z:tag>${value}</z:tag></D:prop></D:set></D:propertyupdate>`;

/**
 * What a load acknowledged (answered 2xx), to check afterwards that none of it was lost: upload
 * contents, `tag` dead properties and lock tokens, by path.
 */
export class AcknowledgedWrites {
  readonly files = new Map<string, string>();
  readonly props = new Map<string, string>();
  readonly locks = new Map<string, string>();

  /** Records a PUT answer; true when it was acknowledged. */
  put(path: string, content: string, res: Response | null): boolean {
    const ok = res !== null && res.status >= 200 && res.status < 300;
    if (ok) this.files.set(path, content);
    return ok;
  }

  /** Records a PROPPATCH answer (acknowledged: 207 with every property 200). */
  proppatch(path: string, value: string, res: Response | null): void {
    if (res?.status === 207 && multistatus(res.body)[0]?.propstats.every((ps) => ps.status === 200)) this.props.set(path, value);
  }

  /** Records a LOCK answer (acknowledged: 200 or 201 with a token). */
  lock(path: string, res: Response | null): void {
    if (res && (res.status === 200 || res.status === 201)) this.locks.set(path, lockTokenOf(res));
  }

  /** What is missing now, read through `origin`: uploads not there whole, properties gone, locks not reported or not enforced. */
  async lost(origin: string): Promise<{ files: string[]; props: string[]; locks: string[] }> {
    const files: string[] = [];
    for (const [path, content] of this.files) {
      const got = await request(origin, 'GET', path);
      if (got.status !== 200 || got.body !== content) files.push(`${path}: ${got.status}`);
    }
    const props: string[] = [];
    for (const [path, value] of this.props) {
      const res = await request(origin, 'PROPFIND', path, {
        headers: { depth: '0', 'content-type': 'application/xml' },
        body: `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><z:tag xmlns:z="${TAG_NS}"/></D:prop></D:propfind>`,
      });
      const r = res.status === 207 ? multistatus(res.body)[0] : undefined;
      if (!r || propText(r, TAG_NS, 'tag') !== value) props.push(path);
    }
    const locks: string[] = [];
    for (const [path, token] of this.locks) {
      const discovery = await request(origin, 'PROPFIND', path, {
        headers: { depth: '0', 'content-type': 'application/xml' },
        body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>',
      });
      if (!discovery.body.includes(token)) locks.push(`${path}: not in lockdiscovery`);
      const refused = await request(origin, 'PUT', path, { body: 'no token' });
      if (refused.status !== 423) locks.push(`${path}: PUT without the token answered ${refused.status}`);
    }
    return { files, props, locks };
  }
}
