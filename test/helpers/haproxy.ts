/**
 * Test support: HAProxy (Debian's haproxy 2.6) on a free loopback port in front of N local
 * fastdav instances, with the configuration the README documents (docker/haproxy.cfg): every request is
 * balanced on its own (round robin, also over one keep-alive connection: no sticky sessions),
 * backends are checked on fastdav's health endpoint every 500 ms, bodies are streamed both ways,
 * and `tune.bufsize 65536` lets long If/Lock-Token headers through. Stopped by its PID when the
 * test ends. The admin socket reports each backend's state and request count.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from './instances.js';
import { freePort } from './ports.js';
import { tempDir, type TapLike } from './server.js';


/** The haproxy binary, or null when it is not installed. */
export function haproxyBinary(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v haproxy || ls /usr/sbin/haproxy 2>/dev/null'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  return found || null;
}

/** The configuration the README documents and docker/compose.cluster.yaml uses. */
export const DOCUMENTED_CONFIG = fileURLToPath(new URL('../../docker/haproxy.cfg', import.meta.url));

/**
 * docker/haproxy.cfg made local: listening on 127.0.0.1:`port`, the backends on loopback ports
 * instead of container names (no Docker DNS), checks every 500 ms, and an admin socket. Everything
 * else (balancing, health check, buffers, timeouts) is the documented configuration as it is.
 */
export function haproxyConfig(port: number, backendPorts: readonly number[], adminSocket: string): string {
  const documented = readFileSync(DOCUMENTED_CONFIG, 'utf8');
  const lines: string[] = [];
  let inResolvers = false;
  let serversWritten = false;
  for (const line of documented.split('\n')) {
    if (/^resolvers /.test(line)) inResolvers = true;
    else if (/^\S/.test(line)) inResolvers = false;
    if (inResolvers) continue;
    if (/^\s+bind :8080$/.test(line)) lines.push(`    bind 127.0.0.1:${port}`);
    else if (/^\s+default-server /.test(line)) lines.push(line.replace(/ resolvers docker init-addr \S+/, '').replace('inter 1s', 'inter 500ms'));
    else if (/^\s+server /.test(line)) {
      if (!serversWritten) lines.push(...backendPorts.map((p, i) => `    server s${i + 1} 127.0.0.1:${p}`));
      serversWritten = true;
    } else lines.push(line);
    if (/^global$/.test(line)) lines.push(`    stats socket ${adminSocket} mode 600 level admin`);
  }
  const config = lines.join('\n');
  if (!serversWritten || !config.includes(`bind 127.0.0.1:${port}`) || !config.includes('inter 500ms')) {
    throw new Error(`${DOCUMENTED_CONFIG} no longer has the shape this helper adapts (bind :8080, default-server … inter 1s, server lines)`);
  }
  return config;
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
