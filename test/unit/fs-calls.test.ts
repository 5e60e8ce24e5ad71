import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { FsCalls, Lane } from '../../src/storage/fs/fs-calls.js';
import { tempDir } from '../helpers/server.js';

function folder(t: Parameters<typeof tempDir>[0], files: number): string {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.symlinkSync('sub', path.join(dir, 'link'));
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(dir, `f${i}.txt`), 'x'.repeat(i));
  return dir;
}

t.test('calls made in the worker threads answer as the direct ones do', async (t) => {
  const dir = folder(t, 5);
  const direct = new FsCalls({ mode: 'direct' });
  const pool = new FsCalls({ mode: 'pool', threads: 2 });
  t.teardown(() => pool.close());
  for (const name of ['f3.txt', 'sub', 'link']) {
    const p = path.join(dir, name);
    const [a, b] = [(await direct.stat(p))!, (await pool.stat(p))!];
    t.same([b.isFile(), b.isDirectory(), b.size, b.ino, b.mtimeMs, b.mode], [a.isFile(), a.isDirectory(), a.size, a.ino, a.mtimeMs, a.mode], name);
    t.equal(await pool.realpath(p), await direct.realpath(p));
  }
  t.equal(await pool.stat(path.join(dir, 'missing')), undefined, 'a missing path stats as undefined');
  await t.rejects(pool.lstat(path.join(dir, 'missing')), { code: 'ENOENT' }, 'errors keep their code');
  const list = (entries: Awaited<ReturnType<FsCalls['readdir']>>) =>
    entries.map((d) => [d.name, d.isFile(), d.isDirectory(), d.isSymbolicLink()]).sort();
  t.same(list(await pool.readdir(dir)), list(await direct.readdir(dir)));
  const fd = await pool.open(path.join(dir, 'f4.txt'), 'r');
  t.equal((await pool.fstat(fd)).size, 4);
  fs.closeSync(fd);
  await pool.mkdir(path.join(dir, 'made'));
  await pool.rename(path.join(dir, 'made'), path.join(dir, 'moved'));
  await pool.utimes(path.join(dir, 'moved'), 1_000_000);
  t.equal(fs.statSync(path.join(dir, 'moved')).mtimeMs, 1_000_000_000);
  await pool.rmdir(path.join(dir, 'moved'));
  await pool.unlink(path.join(dir, 'f0.txt'));
  t.same(fs.readdirSync(dir).filter((n) => n === 'moved' || n === 'f0.txt'), []);
  t.equal(pool.counts.direct, 0, 'pool mode makes no call on the event loop');
  t.ok(pool.counts.pooled >= 15);
});

t.test('lanes take turns: a single call waits for one call of a long listing, not for all of it', async (t) => {
  const dir = folder(t, 200);
  const pool = new FsCalls({ mode: 'pool', threads: 1 });
  t.teardown(() => pool.close());
  const order: string[] = [];
  const listing = new Lane();
  const listed = Array.from({ length: 200 }, (_, i) => pool.stat(path.join(dir, `f${i}.txt`), listing).then(() => order.push(`list${i}`)));
  const single = pool.stat(path.join(dir, 'sub')).then(() => order.push('single'));
  await Promise.all([...listed, single]);
  // With one thread: the listing's first call is under way and its next one has its turn already;
  // then comes the single call.
  t.ok(order.indexOf('single') <= 2, `served among the first three, not after the 200 listing calls (order: ${order.slice(0, 4).join(', ')}…)`);
  t.same(order.filter((o) => o !== 'single'), Array.from({ length: 200 }, (_, i) => `list${i}`), 'a lane keeps its order');
});

t.test('two listings share the threads in turn', async (t) => {
  const dir = folder(t, 20);
  const pool = new FsCalls({ mode: 'pool', threads: 1 });
  t.teardown(() => pool.close());
  const order: string[] = [];
  const [a, b] = [new Lane(), new Lane()];
  const calls = [];
  for (let i = 0; i < 10; i++) calls.push(pool.stat(path.join(dir, `f${i}.txt`), a).then(() => order.push('a')));
  for (let i = 0; i < 10; i++) calls.push(pool.stat(path.join(dir, `f${i}.txt`), b).then(() => order.push('b')));
  await Promise.all(calls);
  const longestRun = Math.max(...order.join('').match(/a+|b+/g)!.map((run) => run.length));
  t.ok(longestRun <= 2, `no lane runs ahead (order ${order.join('')})`);
});

t.test('adaptive mode stays on the event loop for a fast disk', async (t) => {
  const dir = folder(t, 50);
  const calls = new FsCalls();
  t.teardown(() => calls.close());
  for (let i = 0; i < 50; i++) await calls.stat(path.join(dir, `f${i}.txt`));
  t.ok(calls.direct);
  // A loaded machine may slow a few calls; most were direct.
  t.ok(calls.counts.direct > calls.counts.pooled, `direct ${calls.counts.direct}, pooled ${calls.counts.pooled}`);
});

t.test('the pool keeps the process alive while a call is in flight, never once idle', async (t) => {
  const dir = folder(t, 1);
  // A child process that makes calls in the pool and never closes it: it must finish its calls
  // (no early exit with a call pending) and then exit by itself.
  const script = `
    import { FsCalls } from ${JSON.stringify(new URL('../../src/storage/fs/fs-calls.ts', import.meta.url).href)};
    const pool = new FsCalls({ mode: 'pool', threads: 2 });
    const stats = await Promise.all([pool.stat(${JSON.stringify(path.join(dir, 'f0.txt'))}), pool.readdir(${JSON.stringify(dir)})]);
    console.log(JSON.stringify({ file: stats[0].isFile(), names: stats[1].length }));
  `;
  const { execFile } = await import('node:child_process');
  const started = Date.now();
  const out = await new Promise<{ code: number | null; stdout: string; timedOut: boolean }>((resolve) => {
    // Only the TypeScript loader of the test's own flags (tap's others expect a test runner).
    const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
    const file = path.join(tempDir(t), 'child.mjs');
    fs.writeFileSync(file, script);
    const child = execFile(process.execPath, [...loader, file], { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: child.exitCode, stdout: stdout + stderr, timedOut: (err as { killed?: boolean } | null)?.killed === true }),
    );
  });
  t.notOk(out.timedOut, `the process exited by itself (after ${Date.now() - started} ms)`);
  t.equal(out.code, 0);
  t.match(out.stdout, /\{"file":true,"names":3\}/, 'the calls in flight finished first');
});
