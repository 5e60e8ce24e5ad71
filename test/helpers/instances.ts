/**
 * Test support: fastdav instances as real processes (the built dist/cli.js, as an operator runs
 * it), each on its own free loopback port, for tests of several instances, metrics, kill -9 and
 * restarts. Every instance is stopped by its PID when the test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { request, type TapLike } from './server.js';

/** The built command (npm test builds it first, as for test/ops/cli.test.ts). */
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface InstanceOptions {
  /** The folder served (shared by every instance of a cluster). */
  readonly root: string;
  /** Further command-line flags, e.g. ['--metadata-url', url]. */
  readonly args?: readonly string[];
  /** Extra environment variables. */
  readonly env?: NodeJS.ProcessEnv;
  /** Port to serve on (default: a free one, kept across restarts). */
  readonly port?: number;
}

export interface Instance {
  readonly port: number;
  /** http://127.0.0.1:PORT (no trailing slash) */
  readonly origin: string;
  /** PID of the running process (changes on restart). */
  readonly pid: number;
  /** Everything the process printed (stdout and stderr) since it last started. */
  output(): string;
  /** Sends `signal` to the process and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the process again on the same port with the same settings. */
  restart(): Promise<void>;
  /** True while the process runs. */
  alive(): boolean;
}

/** Polls `check` every 100 ms until it is true (an error thrown by it ends the wait); throws naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** True when the instance's health endpoint answers 200. */
export async function healthy(origin: string): Promise<boolean> {
  try {
    return (await request(origin, 'GET', '/.well-known/fastdav/health')).status === 200;
  } catch {
    return false;
  }
}

/**
 * Starts one instance and waits until its health endpoint answers 200. Stopped with SIGKILL at
 * teardown if still running (the tests that care about graceful stops stop it themselves).
 */
export async function startInstance(t: TapLike, options: InstanceOptions): Promise<Instance> {
  let port = options.port ?? (await freePort());
  let origin = `http://127.0.0.1:${port}`;
  let child: ChildProcess;
  let out = '';

  const launch = async (): Promise<void> => {
    out = '';
    child = spawn(process.execPath, [CLI, '--root', options.root, '--port', String(port), '--log-level', 'warn', ...(options.args ?? [])], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    await until(`fastdav on port ${port}`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`fastdav on port ${port} exited at start (${child.exitCode ?? child.signalCode}):\n${out}`);
      // Its own line too: a port taken meanwhile by another test's fastdav would answer healthy.
      return out.includes(`fastdav serving `) && (await healthy(origin));
    });
  };

  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (!alive()) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  };

  // freePort() only found the port free: a test running beside this one may take it before the
  // instance binds it. When the port was ours to choose, another one is tried (a restart keeps
  // the port the instance got: a balancer in front knows it).
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      if (options.port !== undefined || attempt === 5 || !/already in use/.test(out)) throw err;
      port = await freePort();
      origin = `http://127.0.0.1:${port}`;
    }
  }
  t.teardown(() => kill('SIGKILL'));
  return {
    get port() {
      return port;
    },
    get origin() {
      return origin;
    },
    get pid() {
      return child.pid ?? 0;
    },
    output: () => out,
    kill,
    restart: launch,
    alive,
  };
}

/** Environment that makes an instance's clock run `skewMs` ahead (behind when negative): test/helpers/skewed-clock.mjs. */
export function skewedClockEnv(skewMs: number): NodeJS.ProcessEnv {
  const preload = new URL('./skewed-clock.mjs', import.meta.url).href;
  return { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${preload}`.trim(), FASTDAV_TEST_CLOCK_SKEW_MS: String(skewMs) };
}
