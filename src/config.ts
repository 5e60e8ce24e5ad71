/**
 * Configuration: one table of settings, read from (lowest to highest precedence) the defaults,
 * an optional JSON config file, FASTDAV_* environment variables and command-line flags.
 * The result is validated once at start-up and frozen; an invalid value stops start-up with a
 * message that names the setting.
 */
import { parseArgs } from 'node:util';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';

export interface Config {
  /** Absolute path of the folder served. */
  readonly root: string;
  readonly host: string;
  readonly port: number;
  /** URL path under which the tree is served; always starts and ends with '/'. */
  readonly prefix: string;
  /** Folder of the metadata store (dead properties, locks); never served. */
  readonly metadataDir: string;
  /**
   * PostgreSQL URL of a shared metadata store (postgres://USER:PASS@HOST:PORT/DB?sslmode=…), or
   * undefined for the embedded SQLite file in metadataDir (src/metadata/open.ts).
   */
  readonly metadataUrl: string | undefined;
  /** Most PostgreSQL connections this process opens (--metadata-url). */
  readonly metadataPoolSize: number;
  /** Milliseconds PostgreSQL has to answer a statement (a new connection gets 60 % of it); past it, 503. */
  readonly metadataTimeout: number;
  /** Largest XML request body (PROPFIND, PROPPATCH, LOCK) in bytes; larger gets 413. */
  readonly maxXmlBytes: number;
  /** Most entries a Depth: infinity PROPFIND may report; more gets 403 propfind-finite-depth. 0 refuses every such request. */
  readonly propfindInfinityLimit: number;
  /** Bytes of rendered Depth 1 PROPFIND answers kept per process (object storage, props/listing-cache.ts); 0: none. */
  readonly listingCacheBytes: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * Serve without ever writing to the served folder: no metadata folder (an empty store in
   * memory), locking off, and 403 for every method but OPTIONS, GET, HEAD and PROPFIND.
   */
  readonly readOnly: boolean;
  /** Class 2: LOCK/UNLOCK. Off means `DAV: 1`, an empty supportedlock and 405 for LOCK. Always off with readOnly. */
  readonly locking: boolean;
  /** Lock timeout in seconds when the client asks for none. */
  readonly lockTimeoutDefault: number;
  /** Longest lock timeout granted, in seconds (Infinite is capped to it). */
  readonly lockTimeoutMax: number;
  /** Server processes sharing the port (src/cluster.ts); 0 means one per CPU core. */
  readonly workers: number;
  /**
   * Where the filesystem backend's metadata calls run (src/storage/fs/fs-calls.ts): adaptive
   * (directly while the disk is fast, in a thread pool while it is slow), direct, or pool.
   */
  readonly fsCalls: 'adaptive' | 'direct' | 'pool';
  /** Threads of that pool; 0 means 4 per CPU core. */
  readonly fsThreads: number;
  /** Apache htpasswd file (bcrypt) of the accounts, or undefined for none (src/auth). */
  readonly users: string | undefined;
  /** File giving users their own root folder and read-only flag (src/auth/accounts.ts). */
  readonly userAccess: string | undefined;
  /** What a request without credentials may do. */
  readonly anonymous: AnonymousAccess;
  /** Realm named in the 401 challenge. */
  readonly realm: string;
  /** PEM certificate chain and private key: both set means HTTPS. */
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  /** Largest upload (PUT body) in bytes; 0 means no limit. */
  readonly maxUploadBytes: number;
  /** Largest request head (request line and headers) in bytes; larger gets 431. */
  readonly maxHeaderBytes: number;
  /** Seconds a client has to send the complete request head (slow-loris defence). */
  readonly headersTimeout: number;
  /** Seconds a client has to send a complete request, body included; 0 means no limit. */
  readonly requestTimeout: number;
  /** Seconds a connection may stay silent in both directions before it is closed; 0 means never. */
  readonly idleTimeout: number;
  /** Seconds an idle keep-alive connection is kept open for the next request. */
  readonly keepAliveTimeout: number;
  /** Seconds SIGTERM/SIGINT waits for requests in flight before cutting their connections. */
  readonly shutdownTimeout: number;
  /**
   * Behind a reverse proxy: believe X-Forwarded-Proto/X-Forwarded-Host (Fastify's trustProxy)
   * when matching absolute Destination and If URLs against this server. true trusts every
   * peer, a string only the listed addresses/CIDRs.
   */
  readonly trustProxy: boolean | string;
  /** Port of the Prometheus metrics listener (same host), or undefined: no metrics. */
  readonly metricsPort: number | undefined;
  /** Object storage (src/storage/catalog): the S3 bucket of the file contents; undefined: the files live under `root`. */
  readonly s3Bucket: string | undefined;
  /** Key prefix of every object in the bucket: '' or ending in '/'. */
  readonly s3Prefix: string;
  /** S3 endpoint URL (radosgw, MinIO…; path-style addressing); undefined: the AWS SDK's defaults. */
  readonly s3Endpoint: string | undefined;
  /** Bytes offered in object storage (quota properties, 507 beyond); 0: no quota. */
  readonly quotaBytes: number;
  /** Seconds before the sweep deletes unreferenced objects (uploads in flight elsewhere stay safe). */
  readonly gcGrace: number;
  /** Seconds between background sweeps of object storage; 0: none (run `fastdav gc`). */
  readonly gcInterval: number;
  /** Seconds an S3 request may go without a byte either way before it is abandoned. */
  readonly s3Timeout: number;
}

export type AnonymousAccess = 'none' | 'read-only' | 'read-write';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The ConfigError for a file a setting names that cannot be read (missing, a folder, no permission). */
export function unreadableFile(setting: string, file: string, err: unknown): ConfigError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'EISDIR' ? 'a folder, not a file' : code ?? String(err);
  return new ConfigError(`${setting}: cannot read ${file} (${why})`);
}

type Kind = 'string' | 'integer' | 'bytes' | 'boolean' | 'choice';

interface Setting {
  /** Key in the config file and in Config. */
  readonly key: string;
  readonly kind: Kind;
  readonly help: string;
  readonly default?: string;
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
}

/** Every setting; flags are `--kebab-case(key)`, env vars `FASTDAV_SNAKE_CASE(key)`. */
export const SETTINGS: readonly Setting[] = [
  { key: 'root', kind: 'string', default: './storage', help: 'folder to serve' },
  { key: 'host', kind: 'string', default: '127.0.0.1', help: 'address to listen on' },
  { key: 'port', kind: 'integer', default: '8080', min: 0, max: 65535, help: 'TCP port (0 picks a free one)' },
  { key: 'prefix', kind: 'string', default: '/', help: 'URL path the tree is served under, e.g. /dav/' },
  { key: 'metadataDir', kind: 'string', help: 'metadata store folder (default: ROOT/.fastdav)' },
  {
    key: 'metadataUrl', kind: 'string',
    help: 'keep locks and dead properties in PostgreSQL instead: postgres://USER:PASS@HOST:PORT/DB (shared by several instances)',
  },
  { key: 'metadataPoolSize', kind: 'integer', default: '10', min: 1, max: 1000, help: 'most PostgreSQL connections of one server process (--metadata-url)' },
  {
    key: 'metadataTimeout', kind: 'integer', default: '5000', min: 100, max: 600000,
    help: 'milliseconds PostgreSQL has to answer a statement, 503 beyond; a new connection gets 60 % of it',
  },
  { key: 'maxXmlBytes', kind: 'bytes', default: '1MiB', min: 1024, help: 'largest XML request body' },
  {
    key: 'propfindInfinityLimit', kind: 'integer', default: '100000', min: 0,
    help: 'most entries a Depth: infinity PROPFIND reports (0 refuses it)',
  },
  {
    key: 'listingCacheBytes', kind: 'bytes', default: '32MiB', min: 0,
    help: 'object storage: memory for answers to PROPFIND of big folders, sent again while the database shows them unchanged (0: off)',
  },
  {
    key: 'readOnly', kind: 'boolean', default: 'false',
    help: 'never write to the served folder: no metadata folder, no locking, 403 for every write method',
  },
  { key: 'locking', kind: 'boolean', default: 'true', help: 'offer LOCK/UNLOCK (WebDAV class 2; always off with --read-only)' },
  { key: 'lockTimeoutDefault', kind: 'integer', default: '3600', min: 1, help: 'lock timeout in seconds when the client names none' },
  { key: 'lockTimeoutMax', kind: 'integer', default: '86400', min: 1, help: 'longest lock timeout granted, in seconds' },
  {
    key: 'workers', kind: 'integer', default: '1', min: 0, max: 256,
    help: 'server processes sharing the port, 0 = one per CPU core (locks and dead properties are shared)',
  },
  {
    key: 'fsCalls', kind: 'choice', default: 'adaptive', choices: ['adaptive', 'direct', 'pool'],
    help: 'where filesystem metadata calls run: adaptive (directly while the disk is fast, in threads while it is slow), direct, pool',
  },
  { key: 'fsThreads', kind: 'integer', default: '0', min: 0, max: 1024, help: 'threads for slow filesystem calls, 0 = 4 per CPU core' },
  {
    key: 'trustProxy', kind: 'string', default: 'false',
    help: 'believe X-Forwarded-Proto/Host from a reverse proxy: true, false, or the proxy addresses/CIDRs (comma-separated)',
  },
  {
    key: 'logLevel', kind: 'choice', default: 'info',
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], help: 'log level',
  },
  { key: 'users', kind: 'string', help: 'accounts: Apache htpasswd file with bcrypt hashes (htpasswd -B)' },
  { key: 'userAccess', kind: 'string', help: 'per-user root folder and read-only flag: lines USER:ROOT:rw|ro' },
  {
    key: 'anonymous', kind: 'choice', choices: ['none', 'read-only', 'read-write'],
    help: 'access without credentials (default: read-write on a loopback address without --users, else none)',
  },
  { key: 'realm', kind: 'string', default: 'fastdav', help: 'realm of the Basic authentication challenge' },
  { key: 'tlsCert', kind: 'string', help: 'PEM certificate (chain) file: serve HTTPS (needs --tls-key)' },
  { key: 'tlsKey', kind: 'string', help: 'PEM private key file of --tls-cert' },
  { key: 'maxUploadBytes', kind: 'bytes', default: '0', min: 0, help: 'largest PUT body, 413 beyond (0: no limit)' },
  { key: 'maxHeaderBytes', kind: 'bytes', default: '16KiB', min: 1024, help: 'largest request head, 431 beyond' },
  { key: 'headersTimeout', kind: 'integer', default: '20', min: 1, help: 'seconds to receive a request head (slow-loris defence)' },
  { key: 'requestTimeout', kind: 'integer', default: '3600', min: 0, help: 'seconds to receive a whole request, body included (0: no limit)' },
  { key: 'idleTimeout', kind: 'integer', default: '120', min: 0, help: 'seconds a connection may stay silent before it is closed (0: never)' },
  { key: 'keepAliveTimeout', kind: 'integer', default: '60', min: 1, help: 'seconds an idle keep-alive connection stays open' },
  { key: 'shutdownTimeout', kind: 'integer', default: '8', min: 0, help: 'seconds SIGTERM/SIGINT waits for requests in flight' },
  { key: 'metricsPort', kind: 'integer', min: 1, max: 65535, help: 'serve Prometheus metrics at http://HOST:N/metrics (default: off)' },
  { key: 's3Bucket', kind: 'string', help: 'object storage: keep file contents in this S3 bucket, the tree in --metadata-url (--root is then not used for data)' },
  { key: 's3Prefix', kind: 'string', default: '', help: 'object storage: key prefix of every object in the bucket, e.g. fastdav/' },
  { key: 's3Endpoint', kind: 'string', help: 'object storage: S3 endpoint URL for radosgw, MinIO… (default: AWS, or AWS_ENDPOINT_URL_S3)' },
  { key: 's3Timeout', kind: 'integer', default: '30', min: 1, help: 'object storage: seconds an S3 request may go without a byte either way before it is abandoned (retried, then 503)' },
  { key: 'quotaBytes', kind: 'bytes', default: '0', min: 0, help: 'object storage: bytes offered, 507 beyond (0: no quota)' },
  { key: 'gcGrace', kind: 'integer', default: '3600', min: 0, help: 'object storage: seconds an unreferenced object is kept before the sweep deletes it' },
  { key: 'gcInterval', kind: 'integer', default: '600', min: 0, help: 'object storage: seconds between background sweeps (0: none; see fastdav gc)' },
];

const flagName = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (key: string): string => `FASTDAV_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

function parseValue(setting: Setting, raw: string, source: string): string | number | boolean {
  const where = `${source}: ${setting.key}`;
  switch (setting.kind) {
    case 'string':
      return raw;
    case 'boolean': {
      const v = raw.toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new ConfigError(`${where} must be true or false, got "${raw}"`);
    }
    case 'choice':
      if (!setting.choices?.includes(raw)) {
        throw new ConfigError(`${where} must be one of ${setting.choices?.join(', ')}, got "${raw}"`);
      }
      return raw;
    case 'integer':
    case 'bytes': {
      const m = setting.kind === 'integer' ? /^(\d+)()$/.exec(raw.trim()) : /^(\d+)\s*([a-z]*)$/i.exec(raw.trim());
      const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
      if (!m || unit === undefined) {
        throw new ConfigError(`${where} must be ${setting.kind === 'bytes' ? 'a size such as 512KiB or 10MiB' : 'a whole number'}, got "${raw}"`);
      }
      const n = Number(m[1]) * unit;
      if (!Number.isSafeInteger(n) || (setting.min !== undefined && n < setting.min) || (setting.max !== undefined && n > setting.max)) {
        throw new ConfigError(`${where} must be between ${setting.min ?? 0} and ${setting.max ?? Number.MAX_SAFE_INTEGER}, got "${raw}"`);
      }
      return n;
    }
  }
}

/** A boolean flag given alone (`--locking`, or followed by another flag) means true, as `--help`'s `[true|false]` says. */
function withBooleanDefaults(argv: readonly string[]): string[] {
  const booleans = new Set(SETTINGS.filter((s) => s.kind === 'boolean').map((s) => `--${flagName(s.key)}`));
  return argv.map((arg, i) => (booleans.has(arg) && (i + 1 === argv.length || argv[i + 1]!.startsWith('-')) ? `${arg}=true` : arg));
}

export interface ConfigSources {
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** `fastdav --help` text, generated from the settings table. */
export function helpText(): string {
  const lines = [
    'Usage: fastdav [options]                        serve',
    '       fastdav gc [--grace SECONDS] [options]   object storage: delete unreferenced objects once, print what was found',
    '       fastdav export DIR [options]             write the tree, with modification times, into the folder DIR',
    '       fastdav import DIR [options]             load the folder DIR into the tree',
    '', 'Every option is also an environment variable and a key in the --config JSON file.', ''];
  lines.push('  --config FILE  (FASTDAV_CONFIG)  JSON file with settings');
  for (const s of SETTINGS) {
    const value = s.kind === 'boolean' ? '[true|false]' : s.choices ? s.choices.join('|') : s.kind === 'bytes' ? 'SIZE' : s.kind === 'integer' ? 'N' : 'VALUE';
    const def = s.default !== undefined ? ` (default ${s.default})` : '';
    lines.push(`  --${flagName(s.key)} ${value}  (${envName(s.key)}, "${s.key}")  ${s.help}${def}`);
  }
  lines.push('  --version  print the version');
  lines.push('  --help  show this text');
  return lines.join('\n');
}

/** Reads and validates the configuration; throws ConfigError naming the bad setting. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const cwd = sources.cwd ?? process.cwd();
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const s of SETTINGS) options[flagName(s.key)] = { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: withBooleanDefaults(sources.argv ?? []), options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const flags = parsed.values as Record<string, string | undefined>;

  const fromFile: Record<string, unknown> = {};
  const configFile = flags['config'] ?? env['FASTDAV_CONFIG'];
  // Relative paths in the config file are relative to the file's folder (as nginx's and systemd's
  // are), so the file means the same whatever the working directory; flags and env stay relative to it.
  const configDir = configFile ? path.dirname(path.resolve(cwd, configFile)) : cwd;
  if (configFile) {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(path.resolve(cwd, configFile), 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${configFile}: ${(err as Error).message}`);
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new ConfigError(`config file ${configFile}: must hold a JSON object`);
    for (const [k, v] of Object.entries(data)) {
      if (!SETTINGS.some((s) => s.key === k)) throw new ConfigError(`config file ${configFile}: unknown setting "${k}"`);
      fromFile[k] = v;
    }
  }

  const values: Record<string, string | number | boolean | undefined> = {};
  const baseOf: Record<string, string> = {};
  for (const s of SETTINGS) {
    const flag = flags[flagName(s.key)];
    const envValue = env[envName(s.key)];
    const fileValue = fromFile[s.key];
    if (flag !== undefined) values[s.key] = parseValue(s, flag, `--${flagName(s.key)}`);
    else if (envValue !== undefined && envValue !== '') values[s.key] = parseValue(s, envValue, envName(s.key));
    else if (fileValue !== undefined) {
      values[s.key] = parseValue(s, String(fileValue), `config file`);
      baseOf[s.key] = configDir;
    }
    else if (s.default !== undefined) values[s.key] = parseValue(s, s.default, 'default');
  }

  /** A path setting, absolute: relative to the config file's folder when it came from there, else to the working directory. */
  const pathOf = (key: string): string => path.resolve(baseOf[key] ?? cwd, String(values[key]));
  const root = pathOf('root');
  const s3Bucket = values['s3Bucket'] ? String(values['s3Bucket']) : undefined;
  const s3Endpoint = values['s3Endpoint'] ? String(values['s3Endpoint']) : undefined;
  if (s3Endpoint !== undefined && !/^https?:\/\/[^/]/.test(s3Endpoint)) throw new ConfigError(`s3Endpoint: "${s3Endpoint}" must be an http:// or https:// URL`);
  const rawPrefix = String(values['s3Prefix']).replace(/^\/+/, '');
  const s3Prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  // With object storage the root folder holds no data: it need not exist.
  if (s3Bucket === undefined) {
    let rootStat;
    try {
      rootStat = statSync(root);
    } catch {
      throw new ConfigError(`root: ${root} does not exist`);
    }
    if (!rootStat.isDirectory()) throw new ConfigError(`root: ${root} is not a folder`);
  }

  const prefix = normalizePrefix(String(values['prefix']));
  const metadataDir = values['metadataDir'] ? pathOf('metadataDir') : path.join(root, '.fastdav');
  const metadataUrl = values['metadataUrl'] ? String(values['metadataUrl']) : undefined;
  if (metadataUrl !== undefined && !/^postgres(ql)?:\/\//i.test(metadataUrl)) {
    throw new ConfigError('metadataUrl: must be a PostgreSQL URL such as postgres://USER:PASS@HOST:5432/DB');
  }
  if (s3Bucket !== undefined && metadataUrl === undefined) {
    throw new ConfigError('s3Bucket: object storage keeps the tree in PostgreSQL: give --metadata-url postgres://… (FASTDAV_METADATA_URL)');
  }
  const file = (key: string): string | undefined => (values[key] ? pathOf(key) : undefined);
  const users = file('users');
  const userAccess = file('userAccess');
  if (userAccess && !users) throw new ConfigError('userAccess: needs users (the htpasswd file it refers to)');
  const tlsCert = file('tlsCert');
  const tlsKey = file('tlsKey');
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new ConfigError(`${tlsCert ? 'tlsKey' : 'tlsCert'}: HTTPS needs both tlsCert and tlsKey`);
  const realm = String(values['realm']);
  if (!/^[\x20-\x7e]+$/.test(realm) || /["\\]/.test(realm)) throw new ConfigError(`realm: "${realm}" must be printable ASCII without quotes or backslashes`);
  const anonymous = resolveAnonymous(values['anonymous'] as AnonymousAccess | undefined, users, String(values['host']));
  const requestTimeout = Number(values['requestTimeout']);
  const headersTimeout = Number(values['headersTimeout']);
  if (requestTimeout > 0 && headersTimeout > requestTimeout) throw new ConfigError('headersTimeout: must not be longer than requestTimeout');
  const metricsPort = values['metricsPort'] === undefined ? undefined : Number(values['metricsPort']);
  if (metricsPort !== undefined && metricsPort === Number(values['port'])) throw new ConfigError(`metricsPort: ${metricsPort} is already the WebDAV port`);

  return Object.freeze({
    root,
    host: String(values['host']),
    port: Number(values['port']),
    prefix,
    metadataDir,
    metadataUrl,
    metadataPoolSize: Number(values['metadataPoolSize']),
    metadataTimeout: Number(values['metadataTimeout']),
    maxXmlBytes: Number(values['maxXmlBytes']),
    propfindInfinityLimit: Number(values['propfindInfinityLimit']),
    listingCacheBytes: Number(values['listingCacheBytes']),
    logLevel: values['logLevel'] as Config['logLevel'],
    readOnly: Boolean(values['readOnly']),
    // RFC 4918 §6: a lock is state the server writes; a server that writes nothing offers none.
    locking: Boolean(values['locking']) && !values['readOnly'],
    lockTimeoutDefault: Number(values['lockTimeoutDefault']),
    lockTimeoutMax: Number(values['lockTimeoutMax']),
    workers: Number(values['workers']),
    fsCalls: values['fsCalls'] as Config['fsCalls'],
    fsThreads: Number(values['fsThreads']),
    users,
    userAccess,
    anonymous,
    realm,
    tlsCert,
    tlsKey,
    maxUploadBytes: Number(values['maxUploadBytes']),
    maxHeaderBytes: Number(values['maxHeaderBytes']),
    headersTimeout,
    requestTimeout,
    idleTimeout: Number(values['idleTimeout']),
    keepAliveTimeout: Number(values['keepAliveTimeout']),
    shutdownTimeout: Number(values['shutdownTimeout']),
    trustProxy: parseTrustProxy(String(values['trustProxy'])),
    metricsPort,
    s3Bucket,
    s3Prefix,
    s3Endpoint,
    quotaBytes: Number(values['quotaBytes']),
    gcGrace: Number(values['gcGrace']),
    gcInterval: Number(values['gcInterval']),
    s3Timeout: Number(values['s3Timeout']),
  });
}

/** The URL the server announces at start-up, for the port it really listens on. */
export function servingUrl(config: Config, port: number): string {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `${config.tlsCert ? 'https' : 'http'}://${host}:${port}${config.prefix}`;
}

/** Where --metrics-port serves Prometheus metrics (plain HTTP, same host). */
export function metricsUrl(config: Config): string {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${config.metricsPort}/metrics`;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h.startsWith('::ffff:127.');
}

/**
 * Anonymous access is what the operator says. Unsaid, it is none once there are accounts, and
 * read-write for a server without accounts on loopback (a local tool). A server reachable from
 * other machines with neither accounts nor an explicit choice refuses to start.
 */
function resolveAnonymous(explicit: AnonymousAccess | undefined, users: string | undefined, host: string): AnonymousAccess {
  if (explicit === 'none' && !users) throw new ConfigError('anonymous: "none" without users would let nobody in; give --users FILE');
  if (explicit) return explicit;
  if (users) return 'none';
  if (isLoopback(host)) return 'read-write';
  throw new ConfigError(
    `host: ${host} is reachable from other machines, but there are no accounts and anonymous access is not configured. ` +
      'Give --users FILE (FASTDAV_USERS; htpasswd -B), or allow access without a password explicitly with ' +
      '--anonymous read-only|read-write (FASTDAV_ANONYMOUS).',
  );
}

/** `true`, `false`, or a list of addresses, CIDRs and proxy-addr names such as `loopback`. */
function parseTrustProxy(raw: string): boolean | string {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  const items = v.split(',').map((i) => i.trim());
  const valid = (item: string): boolean => {
    if (['loopback', 'linklocal', 'uniquelocal'].includes(item)) return true;
    const [address, bits, ...rest] = item.split('/');
    const family = isIP(address ?? '');
    if (family === 0 || rest.length > 0) return false;
    return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
  };
  if (!items.every(valid)) throw new ConfigError(`trustProxy: "${raw}" must be true, false or a list of addresses/CIDRs such as 127.0.0.1,10.0.0.0/8`);
  return items.join(',');
}

function normalizePrefix(raw: string): string {
  const segments = raw.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..' || /[%?#\\]/.test(s))) {
    throw new ConfigError(`prefix: "${raw}" must be a plain path such as /dav/`);
  }
  if (segments[0] === '.well-known' && segments[1] === 'fastdav') throw new ConfigError(`prefix: "${raw}" lies in /.well-known/fastdav/, which the server keeps for itself`);
  return segments.length === 0 ? '/' : `/${segments.join('/')}/`;
}

/** A configuration for tests and embedding: the defaults for `root`, silent logs, then the overrides. */
export function testConfig(overrides: Partial<Config> & { root: string }): Config {
  const base = loadConfig({ argv: ['--root', overrides.root, '--log-level', 'silent'], env: {} });
  // As at start-up: accounts without an explicit anonymous setting mean no anonymous access.
  const anonymous = overrides.anonymous ?? (overrides.users ? 'none' : base.anonymous);
  return Object.freeze({ ...base, ...overrides, anonymous });
}
