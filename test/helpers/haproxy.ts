/**
 * Test support: HAProxy (Debian's haproxy 2.6) on a free loopback port in front of N local
 * fastdav instances, as the README's "Running several instances" configures it: every request is
 * balanced on its own (round robin, also over one keep-alive connection: no sticky sessions),
 * backends are checked on fastdav's health endpoint every 500 ms, bodies are streamed both ways,
 * and `tune.bufsize 65536` lets long If/Lock-Token headers through. Stopped by its PID when the
 * test ends. The admin socket reports each backend's state and request count.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort, until } from './instances.js';
import { tempDir, type TapLike } from './server.js';

export const HEALTH_PATH = '/.well-known/fastdav/health';

/** The haproxy binary, or null when it is not installed. */
export function haproxyBinary(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v haproxy || ls /usr/sbin/haproxy 2>/dev/null'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  return found || null;
}

/** The configuration the tests use; docker/haproxy.cfg is the same with container names. */
export function haproxyConfig(port: number, backendPorts: readonly number[], adminSocket: string): string {
  return [
    'global',
    '    maxconn 4096',
    `    stats socket ${adminSocket} mode 600 level admin`,
    '    # the default 16 KiB buffer caps request heads near 15 KiB; WebDAV If and Lock-Token lists can be long',
    '    tune.bufsize 65536',
    'defaults',
    '    mode http',
    '    log stdout format raw local0',
    '    option httplog',
    '    option http-keep-alive',
    '    option redispatch',
    '    retries 2',
    '    timeout connect 5s',
    '    timeout http-request 30s',
    '    timeout http-keep-alive 30s',
    '    timeout client 10m',
    '    timeout server 10m',
    '    timeout check 3s',
    'frontend dav',
    `    bind 127.0.0.1:${port}`,
    '    default_backend fastdav',
    'backend fastdav',
    '    balance roundrobin',
    '    option httpchk',
    `    http-check send meth GET uri ${HEALTH_PATH} ver HTTP/1.1 hdr Host 127.0.0.1`,
    '    http-check expect status 200',
    '    default-server check inter 500ms fall 2 rise 1',
    ...backendPorts.map((p, i) => `    server s${i + 1} 127.0.0.1:${p}`),
    '',
  ].join('\n');
}

export interface BackendStat {
  /** s1, s2, … in the order of the backend ports. */
  readonly name: string;
  /** UP, DOWN, MAINT, … */
  readonly status: string;
  /** Requests sent to it so far (HAProxy's session count: with per-request balancing, one per request it was given). */
  readonly total: number;
}

export interface Balancer {
  readonly port: number;
  /** http://127.0.0.1:PORT (no trailing slash) */
  readonly origin: string;
  readonly pid: number;
  /** The HAProxy access log so far (one line per request, naming the backend). */
  log(): string;
  /** Each backend's state, from the admin socket's `show stat`. */
  backends(): Promise<BackendStat[]>;
  /** Waits until every backend in `names` (default: all) is UP. */
  waitUp(names?: readonly string[], timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Sends one command to the admin socket and returns its answer. */
function adminCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let answer = '';
    socket.setEncoding('utf8').on('data', (d: string) => (answer += d));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.end(`${command}\n`);
  });
}

/** Starts HAProxy in front of `backendPorts` (they may come up later: DOWN until a check passes). */
export async function startHaproxy(t: TapLike, backendPorts: readonly number[]): Promise<Balancer> {
  const binary = haproxyBinary();
  if (!binary) throw new Error('haproxy is not installed (apt-get install haproxy)');
  const dir = tempDir(t, 'fastdav-haproxy-');
  const port = await freePort();
  const adminSocket = path.join(dir, 'admin.sock');
  const configFile = path.join(dir, 'haproxy.cfg');
  writeFileSync(configFile, haproxyConfig(port, backendPorts, adminSocket));
  const check = spawnSync(binary, ['-c', '-q', '-f', configFile], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy rejected its configuration:\n${check.stderr}${check.stdout}`);

  // -db: stay in the foreground, so the child is HAProxy itself and its PID is the one to stop.
  const child: ChildProcess = spawn(binary, ['-db', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  t.teardown(stop);
  await until('haproxy to listen and open its admin socket', async () => {
    if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}):\n${log}`);
    if (!existsSync(adminSocket)) return false;
    return new Promise<boolean>((resolve) => {
      const probe = net.connect(port, '127.0.0.1');
      probe.on('connect', () => (probe.destroy(), resolve(true)));
      probe.on('error', () => resolve(false));
    });
  });

  const backends = async (): Promise<BackendStat[]> => {
    const csv = await adminCommand(adminSocket, 'show stat');
    const [header, ...rows] = csv.replace(/^# /, '').trim().split('\n');
    const columns = header!.split(',');
    const col = (row: string[], name: string) => row[columns.indexOf(name)] ?? '';
    return rows
      .map((r) => r.split(','))
      .filter((r) => col(r, 'pxname') === 'fastdav' && /^s\d+$/.test(col(r, 'svname')))
      .map((r) => ({ name: col(r, 'svname'), status: col(r, 'status'), total: Number(col(r, 'stot')) }));
  };

  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    log: () => log,
    backends,
    waitUp: async (names, timeoutMs = 20_000) => {
      const wanted = names ?? backendPorts.map((_, i) => `s${i + 1}`);
      await until(`haproxy backends ${wanted.join(', ')} UP`, async () => {
        const stats = await backends();
        return wanted.every((n) => stats.find((s) => s.name === n)?.status === 'UP');
      }, timeoutMs);
    },
    stop,
  };
}
