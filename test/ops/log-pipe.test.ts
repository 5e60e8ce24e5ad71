/**
 * The log on standard output can never stop or crash the server (issue 11 item 3): a pipe closed
 * by its reader (`fastdav | head -1`), closed before start-up has finished, or never read at all
 * (a stalled `tee`). In each case the server keeps serving, and SIGTERM/SIGINT stop it with exit
 * code 0 within its announced --shutdown-timeout (plus the 1 s the log gets to drain).
 * Runs the built command (dist/cli.js) with a real pipe as its standard output.
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { request, tempDir } from '../helpers/server.js';
import { freePort } from '../helpers/ports.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SHUTDOWN_TIMEOUT_S = 2;
/** The announced bound: the shutdown timeout, the log's 1 s, and room for a loaded machine. */
const STOP_LIMIT_MS = (SHUTDOWN_TIMEOUT_S + 1 + 3) * 1000;

async function start(t: Test, port: number): Promise<{ child: ChildProcess; stderr: () => string; exit: Promise<{ code: number | null; signal: string | null }> }> {
  const root = tempDir(t);
  const child = spawn(process.execPath, [CLI, '--root', root, '--port', String(port), '--shutdown-timeout', String(SHUTDOWN_TIMEOUT_S)], {
    env: { PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stderr: () => stderr, exit };
}

/** Waits until the server answers its health endpoint. */
async function ready(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await request(`http://127.0.0.1:${port}`, 'GET', '/.well-known/fastdav/health').then((r) => r.status === 200, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the server did not come up');
}

/** Sends the signal; resolves with the exit and how long it took (or a hang after STOP_LIMIT_MS). */
async function stop(child: ChildProcess, exit: Promise<{ code: number | null; signal: string | null }>, signal: NodeJS.Signals) {
  const started = Date.now();
  child.kill(signal);
  const hang = new Promise<'hang'>((resolve) => setTimeout(() => resolve('hang'), STOP_LIMIT_MS).unref());
  const result = await Promise.race([exit, hang]);
  return { result, ms: Date.now() - started };
}

async function someRequests(port: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const r = await request(`http://127.0.0.1:${port}`, 'PROPFIND', '/', { headers: { depth: '1' } });
    if (r.status !== 207) throw new Error(`PROPFIND answered ${r.status}`);
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`the reader closes the pipe after the first line (fastdav | head -1), then ${signal}: served, then exit 0 in time`, async (t) => {
    const port = await freePort();
    const { child, stderr, exit } = await start(t, port);
    const firstLine = await new Promise<string>((resolve) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
    });
    child.stdout!.destroy();
    t.ok(firstLine.length > 0, 'a first line was read');
    await ready(port);
    await someRequests(port, 50);
    const { result, ms } = await stop(child, exit, signal);
    t.same(result, { code: 0, signal: null }, `exit 0 after ${ms} ms`);
    t.notMatch(stderr(), /EPIPE|Error/, 'no crash, no stack');
  });
}

t.test('standard output closed before start-up has finished: no crash, served, SIGTERM exits 0', async (t) => {
  const port = await freePort();
  const { child, stderr, exit } = await start(t, port);
  child.stdout!.destroy();
  await ready(port);
  await someRequests(port, 20);
  const { result, ms } = await stop(child, exit, 'SIGTERM');
  t.same(result, { code: 0, signal: null }, `exit 0 after ${ms} ms`);
  t.notMatch(stderr(), /EPIPE|Error/);
});

t.test('standard output never read (a stalled reader, the pipe full): requests still served, SIGTERM exits 0 in time', async (t) => {
  const port = await freePort();
  const { child, exit } = await start(t, port);
  // Nothing reads child.stdout: after the pipe (64 KiB) and this side's buffer fill, every write waits.
  await ready(port);
  const started = Date.now();
  await someRequests(port, 2000); // ~300 bytes of log each: well past what the pipe holds
  t.ok(true, `2,000 requests answered in ${Date.now() - started} ms while the log could not be written`);
  const { result, ms } = await stop(child, exit, 'SIGTERM');
  t.same(result, { code: 0, signal: null }, `exit 0 after ${ms} ms`);
});

t.test('a read log gets its last lines: "stopped" is written before the process exits', async (t) => {
  // sonic-boom's flush() answers at once while a write is still under way; the command must wait
  // for the write itself, or the lines logged during the stop are lost (they were, every time).
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const s = await start(t, await freePort());
    let out = '';
    s.child.stdout!.on('data', (d) => (out += d));
    while (!/serving/.test(out)) await new Promise((r) => setTimeout(r, 20));
    s.child.kill(signal);
    t.equal((await s.exit).code, 0, `${signal}: exit 0`);
    if (!s.child.stdout!.closed) await new Promise((r) => s.child.stdout!.once('close', r));
    t.match(out, new RegExp(`"signal":"${signal}".*"msg":"stopped"`, 's'), `${signal}: the "stopped" line reached the log`);
  }
});
