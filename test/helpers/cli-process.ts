/**
 * Test support: the built `fastdav` command (dist/cli.js; npm test builds it first) as a real
 * process on a free loopback port, for what only a real process shows: exit codes, start-up
 * refusals, a `kill -9` in the middle of a request, a server running as an unprivileged user.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TapLike } from './server.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliOptions {
  /** Extra environment (PATH is always passed on). */
  readonly env?: Record<string, string>;
  /** Run as this user and group id (the test runs as root). */
  readonly uid?: number;
  readonly gid?: number;
}

export interface RunningCli {
  readonly child: ChildProcess;
  /** http://127.0.0.1:PORT */
  readonly origin: string;
  readonly port: number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exit: Promise<number | null>;
  /** SIGKILL, as `kill -9` does: no handler runs; resolves when the process is gone. */
  kill9(): Promise<void>;
}

/** Starts the command with `--port 0`; resolves once it prints the URL it serves. */
export function startCli(t: TapLike, args: readonly string[], options: CliOptions = {}): Promise<RunningCli> {
  const child = spawn(process.execPath, [CLI, '--port', '0', ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  return new Promise((resolve, reject) => {
    const onData = (): void => {
      const m = / at (https?:\/\/127\.0\.0\.1:(\d+))\//.exec(output);
      if (!m) return;
      child.stdout!.off('data', onData);
      resolve({
        child,
        origin: m[1]!,
        port: Number(m[2]),
        output: () => output,
        exit,
        kill9: async () => {
          child.kill('SIGKILL');
          await exit;
        },
      });
    };
    child.stdout!.on('data', onData);
    void exit.then((code) => reject(new Error(`fastdav exited with ${code} before serving: ${output}`)));
  });
}

/** Runs the command to completion (start-up refusals). */
export function runCli(args: readonly string[], env: Record<string, string> = {}): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: r.stdout + r.stderr };
}
