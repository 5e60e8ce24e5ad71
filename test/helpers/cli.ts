/**
 * Test support: the built `fastdav` command (dist/cli.js; build first) as a child process —
 * serving until stopped or killed, or run to completion for a command or a refusal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TapLike } from './server.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface Running {
  child: ChildProcess;
  origin: string;
  port: number;
  output: () => string;
  exit: Promise<number | null>;
}

const baseEnv = (env: Record<string, string>) => ({ PATH: process.env['PATH'] ?? '', ...env });

/** Runs the CLI (as `as.uid`/`as.gid` when given: the test runs as root); resolves once it prints the URL it serves (or rejects with its output when it exits first). */
export function serve(t: TapLike, args: string[], env: Record<string, string> = {}, as: { uid?: number; gid?: number } = {}): Promise<Running> {
  const user = as.uid === undefined ? {} : { uid: as.uid, gid: as.gid ?? as.uid };
  const child = spawn(process.execPath, [CLI, '--port', '0', ...args], { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'], ...user });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    const onData = () => {
      const m = / at (https?:\/\/127\.0\.0\.1:(\d+))\//.exec(output);
      if (m) resolve({ child, origin: m[1]!, port: Number(m[2]), output: () => output, exit });
    };
    child.stdout!.on('data', onData);
    void exit.then((code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
}

/** kill -9, and wait until the process is gone. */
export async function killHard(running: Running): Promise<void> {
  running.child.kill('SIGKILL');
  await running.exit;
}

/** Runs the CLI to completion. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, output }));
  });
}
