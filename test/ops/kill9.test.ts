/**
 * Never half-write (issue 11 items 4-6): the built server is killed with SIGKILL (`kill -9`, no
 * handler runs) in the middle of an upload or a tree COPY, then started again on the same
 * folder. What a client sees afterwards must be whole or absent, and what the dead process left
 * behind must be reclaimed without touching the uploads of a live instance sharing the folder.
 */
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { multistatus, request, tempDir } from '../helpers/server.js';
import { startCli } from '../helpers/cli-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every few milliseconds until it returns a value (or gives up after `ms`). */
async function until<T>(what: string, check: () => T | undefined | null | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(2);
  }
}

const partials = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('.fastdav-part-'));

/** Every file below `dir` with its size. */
function filesBelow(dir: string, out: Map<string, number> = new Map(), rel = ''): Map<string, number> {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) filesBelow(path.join(dir, d.name), out, r);
    else out.set(r, statSync(path.join(dir, d.name)).size);
  }
  return out;
}

t.test('a tree COPY killed midway leaves no visible member; the next COPY is complete (item 5)', async (t) => {
  const root = tempDir(t);
  // 6,000 small files in 12 folders: the copy takes long enough to be caught in the middle.
  for (let d = 0; d < 12; d++) {
    const dir = path.join(root, 'src', `d${String(d).padStart(2, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 500; f++) writeFileSync(path.join(dir, `f${f}.bin`), Buffer.alloc(1000 + f, f % 251));
  }
  const expected = filesBelow(path.join(root, 'src'));
  const first = await startCli(t, ['--root', root, '--log-level', 'silent']);
  const copying = request(first.origin, 'COPY', '/src/', { headers: { destination: '/cp/' } }).catch(() => null);
  // Wait until the copy is under way (members are being written, wherever), then kill.
  const started = (dir: string | undefined) => dir !== undefined && existsSync(dir) && readdirSync(dir).length > 1;
  await until('the copy to start', () => started(path.join(root, 'cp')) || started(partials(root).map((p) => path.join(root, p))[0]));
  await first.kill9();
  t.equal(await copying, null, 'the client got no answer');
  t.notOk(existsSync(path.join(root, 'cp')), 'nothing is visible at the destination: no empty or partial member');

  const second = await startCli(t, ['--root', root, '--log-level', 'silent']);
  t.equal((await request(second.origin, 'GET', '/cp/d00/f49.bin')).status, 404, 'GET finds nothing');
  const listing = await request(second.origin, 'PROPFIND', '/', { headers: { depth: 'infinity' } });
  const hrefs = multistatus(listing.body).map((r) => r.href);
  t.notOk(hrefs.some((h) => h.startsWith('/cp/') || h.includes('fastdav-part')), 'the listing shows neither the copy nor its partial folder');

  t.equal((await request(second.origin, 'COPY', '/src/', { headers: { destination: '/cp/' } })).status, 201, 'COPY again');
  t.same(filesBelow(path.join(root, 'cp')), expected, 'every member is there, whole');
});

/** A PUT whose body is sent by the caller, piece by piece; `answer` is the raw response. */
function openUpload(port: number, urlPath: string, length: number) {
  const socket = net.connect(port, '127.0.0.1');
  let response = '';
  socket.on('data', (d) => (response += d));
  socket.on('error', () => undefined);
  socket.write(`PUT ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`);
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(response)));
  return { send: (data: Buffer) => new Promise<void>((resolve) => socket.write(data, () => resolve())), answer: closed };
}

t.test('partial files of a killed upload are reclaimed; a live upload of another instance is not touched (item 4)', async (t) => {
  const root = tempDir(t);
  // The idle timeout bounds how long a live upload leaves its partial file unchanged (1 s here,
  // so a partial file is stale after 6 s).
  const args = ['--root', root, '--idle-timeout', '1', '--log-level', 'info'];
  const doomed = await startCli(t, args);
  const live = await startCli(t, args);

  // A slow upload on the live instance: a piece every 200 ms for 10 s, longer than the stale age.
  const piece = Buffer.alloc(10_000, 7);
  const pieces = 50;
  const slow = openUpload(live.port, '/live.bin', piece.length * pieces);
  await slow.send(piece);
  const livePartial = await until('the live upload to start', () => partials(root)[0]);
  const sending = (async () => {
    for (let i = 1; i < pieces; i++) {
      await sleep(200);
      await slow.send(piece);
    }
  })();

  // A 64 MiB upload to the other instance, killed once 8 MiB have arrived.
  const big = openUpload(doomed.port, '/big.bin', 64 * 1024 * 1024);
  const chunk = Buffer.alloc(1024 * 1024, 1);
  for (let i = 0; i < 8; i++) await big.send(chunk);
  const leftover = await until('the big upload to be under way', () => {
    const p = partials(root).find((n) => n !== livePartial);
    return p && statSync(path.join(root, p)).size >= 4 * 1024 * 1024 && p;
  });
  await doomed.kill9();
  t.ok(existsSync(path.join(root, leftover)), 'the killed upload left its partial file');

  const restarted = await startCli(t, args);
  await until('the leftover to be reclaimed', () => !existsSync(path.join(root, leftover)), 20_000);
  t.pass('the partial file of the killed upload is gone');
  t.ok(existsSync(path.join(root, livePartial)), 'the live upload still has its partial file');

  await sending;
  t.match(await slow.answer, /^HTTP\/1\.1 201 /, 'the live upload completes');
  t.same(readFileSync(path.join(root, 'live.bin')), Buffer.concat(Array(pieces).fill(piece)), 'whole');
  t.notOk(existsSync(path.join(root, 'big.bin')), 'the killed upload never appeared');
  t.same(partials(root), [], 'no partial file is left');
  t.match(live.output() + restarted.output(), /removed a partial file left by a process that stopped writing it/, 'the removal is logged');
});

t.test('the partial folder of a killed tree COPY is reclaimed too (items 4, 5)', async (t) => {
  const root = tempDir(t);
  const stale = path.join(root, 'sub', '.fastdav-part-00000000-0000-0000-0000-000000000000');
  mkdirSync(path.join(stale, 'deep'), { recursive: true });
  writeFileSync(path.join(stale, 'deep', 'f.bin'), 'left by a dead copy');
  const s = await startCli(t, ['--root', root, '--idle-timeout', '1', '--log-level', 'silent']);
  await until('the partial folder to be reclaimed', () => !existsSync(stale), 20_000);
  t.pass('gone, with everything in it');
  t.ok(existsSync(path.join(root, 'sub')), 'its folder stays');
  t.equal((await request(s.origin, 'GET', '/sub/')).status, 200);
});
