/**
 * Test support: the built `fastdav` command (dist/cli.js, build first; or another executable such
 * as an installed copy) as a real process, optionally as another user: serving until stopped or
 * killed (`startCli`, `serve`), or run to completion for a command or a refusal (`runCli`,
 * `runCliSync`).
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TapLike } from './server.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Run as this user (needs root), without the test runner's NODE_OPTIONS (its process tracking could not write). */
  user?: { uid: number; gid: number };
  /** An executable to run instead of `node dist/cli.js` (e.g. an installed `fastdav`). */
  command?: string;
}

export interface RunningCli {
  child: ChildProcess;
  pid: number;
  /** e.g. http://127.0.0.1:PORT, without the prefix. */
  origin: string;
  port: number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves once `pattern` has appeared `count` times in the output (rejects after 20 s). */
  waitFor(pattern: RegExp, count?: number): Promise<void>;
  /** The exit code (null after a signal). */
  exit: Promise<number | null>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export type Running = RunningCli;

function commandLine(args: string[], options: CliOptions): [string, string[], SpawnOptions] {
  const spawnOptions: SpawnOptions = { env: { PATH: process.env['PATH'] ?? '', ...options.env }, ...(options.cwd ? { cwd: options.cwd } : {}), ...(options.user ?? {}) };
  const [command, prefix] = options.command ? [options.command, []] : [process.execPath, [CLI]];
  if (options.user) return ['env', ['-u', 'NODE_OPTIONS', command, ...prefix, ...args], spawnOptions];
  return [command, [...prefix, ...args], spawnOptions];
}

export function startCli(t: TapLike, args: string[], options: CliOptions = {}): Promise<RunningCli> {
  const [command, argv, spawnOptions] = commandLine(args, options);
  const child = spawn(command, argv, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    output += d;
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const exit = exited.then(({ code }) => code);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const waitFor = (pattern: RegExp, count = 1) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if ([...output.matchAll(new RegExp(pattern, 'g'))].length < count) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => (waiters.delete(check), reject(new Error(`no ${pattern} ×${count} in: ${output}`))), 20_000);
      waiters.add(check);
      check();
    });
  const serving = / at (https?:\/\/127\.0\.0\.1:(\d+))\//;
  return Promise.race([
    waitFor(serving).then(() => {
      const m = serving.exec(output)!;
      return { child, pid: child.pid!, origin: m[1]!, port: Number(m[2]), output: () => output, waitFor, exit, exited };
    }),
    exit.then((code) => Promise.reject(new Error(`exited with ${code}: ${output}`))),
  ]);
}

/** Serves on a free port (`--port 0` first, so `args` may override it). */
/** Runs the CLI on a free port (as `as.uid`/`as.gid` when given: the test runs as root). */
export function serve(t: TapLike, args: string[], env: Record<string, string> = {}, as: { uid?: number; gid?: number } = {}): Promise<Running> {
  const user = as.uid === undefined ? {} : { user: { uid: as.uid, gid: as.gid ?? as.uid } };
  return startCli(t, ['--port', '0', ...args], { env, ...user });
}

/** kill -9, and wait until the process is gone. */
export async function killHard(running: Running): Promise<void> {
  running.child.kill('SIGKILL');
  await running.exit;
}

/** Runs the CLI to completion. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<{ status: number | null; output: string }> {
  const [command, argv, spawnOptions] = commandLine(args, { env });
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, output }));
  });
}

/** Runs the CLI to completion, synchronously, with the options of startCli. */
export function runCliSync(args: string[], options: CliOptions = {}): { status: number | null; stdout: string; stderr: string; output: string } {
  const [command, argv, spawnOptions] = commandLine(args, options);
  const r = spawnSync(command, argv, { ...spawnOptions, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: r.stdout + r.stderr };
}
