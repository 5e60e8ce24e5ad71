/**
 * What the real-client tests share: finding the client and the privileges it needs (skip
 * locally, fail under CI=true), running commands without blocking the event loop (the server
 * under test lives in this process and a FUSE mount calls back into it), waiting for a state a
 * client reaches in the background, and a tree of files with awkward names.
 *
 * Never touch a mount point with synchronous fs calls: the call would block the very event
 * loop that must answer the FUSE daemon's requests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../src/config.js';
import { multistatus, propText, request, startServer, type RequestOptions, type Response, type TapLike as ServerTapLike } from '../helpers/server.js';

export const CI = process.env['CI'] === 'true';

/** The server a client test talks to: where it answers, and the folder it serves. */
export interface ClientTarget {
  /** http://HOST:PORT (no trailing slash); the tree is under the prefix the test asked for. */
  readonly origin: string;
  /** The served folder on this machine, for checking what the client wrote. */
  readonly root: string;
  /** Where the contents live when not in `root` (object storage): checked through this instead. */
  readonly stored?: StoredTree;
  request(method: string, urlPath: string, options?: RequestOptions): Promise<Response>;
}

/**
 * What a client test checks beside the client: the tree the server stores, by path relative to
 * the served root. On disk for the filesystem backend; through HTTP for object storage, where the
 * contents are blobs under random keys and the tree is in PostgreSQL.
 */
export interface StoredTree {
  /** The bytes of a file; rejects when there is none. */
  readFile(rel: string): Promise<Buffer>;
  /** Rejects when nothing is stored at `rel`. */
  stat(rel: string): Promise<{ isDirectory(): boolean; isFile(): boolean; mtimeMs: number }>;
  writeFile(rel: string, data: string | Buffer): Promise<void>;
  /** Creates a folder and the folders above it. */
  mkdir(rel: string): Promise<void>;
  /** The names in a folder. */
  readdir(rel: string): Promise<string[]>;
  /** The SHA-256 of a file's bytes, hex. */
  sha256(rel: string): Promise<string>;
  /**
   * The RFC 4331 figures a client should show, computed independently of the server's quota
   * properties, and how far `available` may drift while other processes write.
   */
  usage(): Promise<{ used: number; available: number; availableSlack: number }>;
}

/** The tree in the served folder on disk. */
export function storedOnDisk(root: string): StoredTree {
  return {
    readFile: (rel) => fsp.readFile(path.join(root, rel)),
    stat: (rel) => fsp.stat(path.join(root, rel)),
    writeFile: (rel, data) => fsp.writeFile(path.join(root, rel), data),
    mkdir: async (rel) => void (await fsp.mkdir(path.join(root, rel), { recursive: true })),
    readdir: (rel) => fsp.readdir(path.join(root, rel)),
    sha256: (rel) => sha256(path.join(root, rel)),
    usage: async () => {
      const fs = await fsp.statfs(root);
      // The free space of the disk below the folder; other processes write meanwhile: allow 1 % of it.
      return { used: await servedBytes(root), available: fs.bavail * fs.bsize, availableSlack: (fs.blocks * fs.bsize) / 100 };
    },
  };
}

/**
 * The tree as a server at `origin` serves it at `prefix` (GET, PROPFIND, PUT), on a store limited
 * to `quotaBytes` (object storage has no free space of its own: --quota-bytes).
 */
export function storedThroughHttp(origin: string, prefix: string, quotaBytes: number): StoredTree {
  const expect = async (method: string, rel: string, ok: number[], options?: RequestOptions): Promise<Response> => {
    const res = await request(origin, method, urlOf(prefix, rel.replace(/^\/+/, '')), options);
    if (!ok.includes(res.status)) throw new Error(`${method} ${rel}: ${res.status}`);
    return res;
  };
  return {
    readFile: async (rel) => (await expect('GET', rel, [200])).raw,
    stat: async (rel) => {
      const res = await expect('PROPFIND', rel, [207], { headers: { depth: '0' } });
      const collection = /<(\w+:)?collection\s*\/>/.test(res.body);
      const mtimeMs = Date.parse(propText(multistatus(res.body)[0]!, 'DAV:', 'getlastmodified') ?? ''); // whole seconds
      return { isDirectory: () => collection, isFile: () => !collection, mtimeMs };
    },
    writeFile: async (rel, data) => void (await expect('PUT', rel, [201, 204], { body: data })),
    mkdir: async (rel) => {
      const parts = rel.split('/').filter(Boolean);
      // 405: that level exists already (RFC 4918 §9.3.1).
      for (let i = 1; i <= parts.length; i++) await expect('MKCOL', `${parts.slice(0, i).join('/')}/`, [201, 405]);
    },
    readdir: async (rel) => {
      const folder = `${rel.replace(/^\/+|\/+$/g, '')}/`.replace(/^\/$/, '');
      const res = await expect('PROPFIND', folder, [207], { headers: { depth: '1' } });
      const self = decodeURIComponent(urlOf(prefix, folder));
      return multistatus(res.body)
        .map((r) => decodeURIComponent(new URL(r.href, origin).pathname))
        .filter((href) => href !== self)
        .map((href) => href.replace(/\/$/, '').split('/').pop()!);
    },
    sha256: async (rel) => createHash('sha256').update((await expect('GET', rel, [200])).raw).digest('hex'),
    usage: async () => {
      // Every file's length, listed at Depth infinity (not the server's quota-used-bytes).
      const listing = await expect('PROPFIND', '', [207], {
        headers: { depth: 'infinity' },
        body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/></D:prop></D:propfind>',
      });
      const used = multistatus(listing.body).reduce((sum, r) => sum + Number(propText(r, 'DAV:', 'getcontentlength') ?? 0), 0);
      return { used, available: quotaBytes - used, availableSlack: USED_BYTES_SLACK };
    },
  };
}

/** Where a client test checks what is stored on `s`. */
export const storedTree = (s: ClientTarget): StoredTree => s.stored ?? storedOnDisk(s.root);

/** True when something is stored at `rel` on `s`. */
export const isStored = (s: ClientTarget, rel: string): Promise<boolean> => storedTree(s).stat(rel).then(() => true, () => false);

/** The port `s` answers on (a balancer's in front of several instances), for replays over raw sockets. */
export const portOf = (s: ClientTarget): number => Number(new URL(s.origin).port);

export type ClientTargetFactory = (t: ServerTapLike, options: { prefix?: string }) => Promise<ClientTarget>;

/** By default a fresh in-process server; test/cluster/clients-*.test.ts set a cluster behind HAProxy. */
let targetFactory: ClientTargetFactory = (t, options) => startServer(t, options as Partial<Config>);

/** Makes the client tests imported afterwards run against servers made by `factory`. */
export function useClientTargets(factory: ClientTargetFactory): void {
  targetFactory = factory;
}

/**
 * One target per test file instead of one per test, for files whose tests each use names of their
 * own (the wire replays): made on first use, stopped when `file` (the file's tap) ends. Saves
 * starting a cluster for every test.
 */
export function oneTargetPerFile(file: ServerTapLike, factory: ClientTargetFactory): ClientTargetFactory {
  const made = new Map<string, Promise<ClientTarget>>();
  return (_t, options) => {
    const key = options.prefix ?? '/';
    let target = made.get(key);
    if (!target) made.set(key, (target = factory(file, options)));
    return target;
  };
}

/** The server for one client test (a fresh one, served under `prefix` when given). */
export function clientTarget(t: ServerTapLike, options: { prefix?: string } = {}): Promise<ClientTarget> {
  return targetFactory(t, options);
}

interface TapLike {
  fail(message: string): void;
  comment(...message: unknown[]): void;
}

export interface Prerequisites {
  /** Commands that must be on PATH (sbin folders included), or absolute paths. */
  readonly tools: readonly string[];
  readonly root?: boolean;
  readonly fuse?: boolean;
}

const SEARCH_PATH = [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter(Boolean);

/** The full path of a command, or null. */
export function which(tool: string): string | null {
  for (const dir of tool.includes('/') ? [''] : SEARCH_PATH) {
    const candidate = path.join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * False when the client can run; otherwise the reason to skip. Under CI=true a missing
 * prerequisite is also a failure: .ci/run installs the clients, so missing means broken.
 */
export function missingPrerequisites(t: TapLike, p: Prerequisites): string | false {
  const missing: string[] = p.tools.filter((tool) => which(tool) === null);
  if (p.root && process.getuid?.() !== 0) missing.push('root');
  if (p.fuse) {
    try {
      accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
    } catch {
      missing.push('/dev/fuse');
    }
  }
  if (missing.length === 0) return false;
  const reason = `needs ${missing.join(', ')}`;
  if (CI) t.fail(`${reason}: under CI=true this client must run (.ci/run installs it)`);
  return reason;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly input?: string;
  /** Milliseconds before the command is killed (default 60 s). */
  readonly timeout?: number;
}

/** Runs a command to completion, asynchronously. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: options.timeout ?? 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** `sh -c script`, failing with the command's output when it exits non-zero. */
export async function sh(script: string, options: RunOptions = {}): Promise<string> {
  const r = await run('sh', ['-c', script], options);
  if (r.code !== 0) throw new Error(`sh -c ${JSON.stringify(script)} exited ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** A long-running child (a FUSE daemon in the foreground, a process holding a file open). */
export function startBackground(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess & { output: () => string } {
  const child = spawn(command, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.on('error', () => undefined);
  return Object.assign(child, { output: () => output });
}

/** Ends a background child by its PID and waits for it to exit. */
export async function stopBackground(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  // A daemon the child started may still hold its pipes: never let them keep the test alive.
  child.stdout?.destroy();
  child.stderr?.destroy();
}

/** Polls `check` until it returns a truthy value; throws naming `what` after `timeoutMs`. */
type Falsy = false | null | undefined | 0 | '';

export async function waitFor<T>(what: string, check: () => Promise<T | Falsy> | T | Falsy, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** True when `dir` is a mount point (per /proc/self/mountinfo). */
export async function isMounted(dir: string): Promise<boolean> {
  const info = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  const escaped = dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return info.split('\n').some((line) => line.split(' ')[4] === escaped);
}

/** SHA-256 of a file, read as a stream (safe on a mount point). */
export function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Names real users give files, and the characters that break URL and XML handling. */
export const AWKWARD_NAMES: readonly string[] = [
  'plain.txt',
  'with space.txt',
  'café-NFC-\u00e9.txt',
  'cafe\u0301-NFD.txt',
  '日本語のファイル.txt',
  'emoji 😀🎉.txt',
  'percent 100%.txt',
  'hash #1.txt',
  'amp & plus + semi ;.txt',
  "quote's (paren) [bracket] {brace} = ~ ! @ $ ,.txt",
  'UPPER.TXT',
  'upper.txt',
  // 240 bytes: davfs2 keeps a cached copy named NAME-XXXXXX, so it handles names up to 248.
  `long-${'é'.repeat(95)}-${'x'.repeat(40)}.txt`,
];

/**
 * Writes a tree of `count` small files spread over nested folders whose names cycle through
 * AWKWARD_NAMES; returns the relative paths (POSIX separators).
 */
export function writeAwkwardTree(dir: string, count: number): string[] {
  const files: string[] = [];
  const folders = ['', 'sub dir', 'sub dir/日本', 'é & #%;+', 'deep/er/😀 still'];
  for (const folder of folders) mkdirSync(path.join(dir, folder), { recursive: true });
  for (let i = 0; i < count; i++) {
    const folder = folders[i % folders.length]!;
    const base = AWKWARD_NAMES[i % AWKWARD_NAMES.length]!;
    const name = i < AWKWARD_NAMES.length * folders.length ? base : `${i}-${base.slice(0, 60)}`;
    const rel = folder ? `${folder}/${name}` : name;
    if (files.includes(rel)) continue;
    writeFileSync(path.join(dir, rel), `file ${i}: ${rel}\n`.repeat((i % 5) + 1));
    files.push(rel);
  }
  return files;
}

/** The locks on a resource as the server reports them in DAV:lockdiscovery. */
export async function lockDiscovery(origin: string, urlPath: string): Promise<string> {
  const res = await request(origin, 'PROPFIND', urlPath, {
    headers: { depth: '0', 'content-type': 'application/xml' },
    body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>',
  });
  return res.body;
}

/** A LOCK request body, as a second client would send it. */
export const EXCLUSIVE_LOCK_BODY =
  '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>second client</D:owner></D:lockinfo>';

/** Percent-encodes each segment of a relative POSIX path for a URL. */
export const urlOf = (prefix: string, rel: string): string => prefix + rel.split('/').map(encodeURIComponent).join('/');

/**
 * Bytes of the files a server serves from `root` (what its quota-used-bytes counts, RFC 4331):
 * the metadata folder and partial files left out. Not for mount points.
 */
export async function servedBytes(root: string, top = true): Promise<number> {
  let bytes = 0;
  for (const d of await fsp.readdir(root, { withFileTypes: true })) {
    if ((top && d.name === '.fastdav') || d.name.startsWith('.fastdav-part-')) continue;
    const full = path.join(root, d.name);
    if (d.isDirectory()) bytes += await servedBytes(full, false);
    else if (d.isFile()) bytes += (await fsp.lstat(full)).size;
  }
  return bytes;
}

/** Slack for comparing quota-used-bytes with servedBytes: the server counts at most once a minute. */
export const USED_BYTES_SLACK = 64 * 1024 * 1024;

/**
 * rclone with a private configuration in `work` and one webdav remote, `fastdav:`, at `origin`:
 * `env(vendor)` for a background rclone (mount), `rclone(args, vendor)` to run one to completion.
 */
export function rcloneRunner(work: string, origin: string, defaultVendor: string) {
  writeFileSync(path.join(work, 'rclone.conf'), '');
  const env = (vendor: string): NodeJS.ProcessEnv => ({
    ...process.env,
    HOME: work,
    RCLONE_CONFIG: path.join(work, 'rclone.conf'),
    RCLONE_CACHE_DIR: path.join(work, 'cache'),
    RCLONE_CONFIG_FASTDAV_TYPE: 'webdav',
    RCLONE_CONFIG_FASTDAV_URL: `${origin}/`,
    RCLONE_CONFIG_FASTDAV_VENDOR: vendor,
  });
  const rclone = async (args: string[], vendor = defaultVendor): Promise<string> => {
    const r = await run('rclone', args, { env: env(vendor), timeout: 120_000 });
    if (r.code !== 0) throw new Error(`rclone ${args.join(' ')} exited ${r.code}\n${r.stdout}${r.stderr}`);
    return r.stdout + r.stderr;
  };
  return { env, rclone };
}
