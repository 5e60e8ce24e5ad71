/**
 * Never half-write (issue 11 items 4-6): the built server is killed with SIGKILL (`kill -9`, no
 * handler runs) in the middle of an upload or a tree COPY, then started again on the same
 * folder. What a client sees afterwards must be whole or absent, and what the dead process left
 * behind must be reclaimed without touching the uploads of a live instance sharing the folder.
 */
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { multistatus, request, tempDir, type TapLike } from '../helpers/server.js';
import { killHard, serve } from '../helpers/cli.js';

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
  const first = await serve(t, ['--root', root, '--log-level', 'silent']);
  const copying = request(first.origin, 'COPY', '/src/', { headers: { destination: '/cp/' } }).catch(() => null);
  // Wait until the copy is under way (members are being written, wherever), then kill.
  const started = (dir: string | undefined) => dir !== undefined && existsSync(dir) && readdirSync(dir).length > 1;
  await until('the copy to start', () => started(path.join(root, 'cp')) || started(partials(root).map((p) => path.join(root, p))[0]));
  await killHard(first);
  t.equal(await copying, null, 'the client got no answer');
  t.notOk(existsSync(path.join(root, 'cp')), 'nothing is visible at the destination: no empty or partial member');

  const second = await serve(t, ['--root', root, '--log-level', 'silent']);
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
  const doomed = await serve(t, args);
  const live = await serve(t, args);

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
  await killHard(doomed);
  t.ok(existsSync(path.join(root, leftover)), 'the killed upload left its partial file');

  const restarted = await serve(t, args);
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
  const s = await serve(t, ['--root', root, '--idle-timeout', '1', '--log-level', 'silent']);
  await until('the partial folder to be reclaimed', () => !existsSync(stale), 20_000);
  t.pass('gone, with everything in it');
  t.ok(existsSync(path.join(root, 'sub')), 'its folder stays');
  t.equal((await request(s.origin, 'GET', '/sub/')).status, 200);
});

const PROPS = (value: string) =>
  `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:tag>${value}</Z:tag></D:prop></D:set></D:propertyupdate>`;
const ASK = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:tag/></D:prop></D:propfind>';

/** The Z:tag value of every resource below `url` (Depth infinity), by href; absent ones left out. */
async function tags(origin: string, url: string): Promise<Record<string, string>> {
  const res = await request(origin, 'PROPFIND', url, { headers: { depth: 'infinity' }, body: ASK });
  if (res.status === 404) return {};
  const out: Record<string, string> = {};
  for (const r of multistatus(res.body)) {
    const m = /<Z:tag[^>]*>([^<]*)<\/Z:tag>/.exec(res.body.slice(res.body.indexOf(`<D:href>${r.href}</D:href>`)));
    const ok = r.propstats.find((p) => p.status === 200 && p.props.some((e) => e.local === 'tag'));
    if (ok && m) out[r.href] = m[1]!;
  }
  return out;
}

/**
 * A server that dies (SIGKILL) at a crash point: between the filesystem step of a method and the
 * metadata update that follows (src/core/crash-points.ts).
 */
async function crashingServer(t: TapLike, root: string, at: string) {
  return serve(t, ['--root', root, '--log-level', 'warn'], { FASTDAV_TEST_CRASH_AT: at });
}

/** /tree/ with 3 folders of 10 files, every resource with a dead property naming it. */
async function treeWithProps(origin: string): Promise<Record<string, string>> {
  const expected: Record<string, string> = {};
  const tag = async (href: string) => {
    t.equal((await request(origin, 'PROPPATCH', href, { body: PROPS(`p-${href}`) })).status, 207);
    expected[href] = `p-${href}`;
  };
  await request(origin, 'MKCOL', '/tree/');
  await tag('/tree/');
  for (let d = 0; d < 3; d++) {
    await request(origin, 'MKCOL', `/tree/d${d}/`);
    await tag(`/tree/d${d}/`);
    for (let f = 0; f < 10; f++) {
      await request(origin, 'PUT', `/tree/d${d}/f${f}.txt`, { body: `file ${d} ${f}` });
      await tag(`/tree/d${d}/f${f}.txt`);
    }
  }
  return expected;
}

const rebase = (props: Record<string, string>, from: string, to: string) =>
  Object.fromEntries(Object.entries(props).map(([href, v]) => [href.replace(from, to), v]));

t.test('no crash point of MOVE loses or misattaches a dead property (item 6)', async (t) => {
  const root = tempDir(t);
  const setup = await serve(t, ['--root', root, '--log-level', 'silent']);
  const expected = await treeWithProps(setup.origin);
  await request(setup.origin, 'PUT', '/old.txt', { body: 'old destination' });
  await request(setup.origin, 'PROPPATCH', '/old.txt', { body: PROPS('old destination') });
  await killHard(setup);

  const doomed = await crashingServer(t, root, 'move-after-storage');
  const moved = await request(doomed.origin, 'MOVE', '/tree/', { headers: { destination: '/moved/' } }).catch(() => null);
  t.equal(moved, null, 'the server died after the rename, before the metadata update');
  t.equal(await doomed.exit, null, 'killed by a signal');
  t.ok(existsSync(path.join(root, 'moved/d2/f9.txt')) && !existsSync(path.join(root, 'tree')), 'the tree was moved on disk');

  const after = await serve(t, ['--root', root, '--log-level', 'warn']);
  t.same(await tags(after.origin, '/moved/'), rebase(expected, '/tree/', '/moved/'), 'every dead property followed the tree');
  t.match(after.output(), /completed the metadata of an operation cut short/, 'logged');

  // Overwriting a file: the destination gets the source's properties, never keeps its own.
  await killHard(after);
  const doomed2 = await crashingServer(t, root, 'move-after-storage');
  await request(doomed2.origin, 'MOVE', '/moved/d0/f0.txt', { headers: { destination: '/old.txt', overwrite: 'T' } }).catch(() => null);
  await doomed2.exit;
  const again = await serve(t, ['--root', root, '--log-level', 'silent']);
  t.same(await tags(again.origin, '/old.txt'), { '/old.txt': 'p-/tree/d0/f0.txt' }, 'the overwritten file carries the moved one\'s property');
  // A new resource where the source was inherits nothing.
  await request(again.origin, 'PUT', '/moved/d0/f0.txt', { body: 'new' });
  t.same(await tags(again.origin, '/moved/d0/f0.txt'), {}, 'nothing left behind at the source');
});

t.test('no crash point of COPY loses a dead property (item 6)', async (t) => {
  const root = tempDir(t);
  const setup = await serve(t, ['--root', root, '--log-level', 'silent']);
  const expected = await treeWithProps(setup.origin);
  await killHard(setup);
  const doomed = await crashingServer(t, root, 'copy-after-storage');
  t.equal(await request(doomed.origin, 'COPY', '/tree/', { headers: { destination: '/copy/' } }).catch(() => null), null, 'died after the copy');
  await doomed.exit;
  t.ok(existsSync(path.join(root, 'copy/d2/f9.txt')), 'the copy is on disk');
  const after = await serve(t, ['--root', root, '--log-level', 'silent']);
  t.same(await tags(after.origin, '/copy/'), rebase(expected, '/tree/', '/copy/'), 'the copy has every dead property');
  t.same(await tags(after.origin, '/tree/'), expected, 'the source keeps its own');
});

t.test('no crash point of DELETE or PUT lets a new resource inherit old dead properties (item 6)', async (t) => {
  const root = tempDir(t);
  const setup = await serve(t, ['--root', root, '--log-level', 'silent']);
  await treeWithProps(setup.origin);
  await request(setup.origin, 'PUT', '/p.txt', { body: 'x' });
  await request(setup.origin, 'PROPPATCH', '/p.txt', { body: PROPS('of the deleted p.txt') });
  await killHard(setup);

  const doomed = await crashingServer(t, root, 'delete-after-storage');
  t.equal(await request(doomed.origin, 'DELETE', '/tree/').catch(() => null), null, 'died after the delete');
  await doomed.exit;
  t.notOk(existsSync(path.join(root, 'tree')), 'gone from disk');
  const after = await serve(t, ['--root', root, '--log-level', 'silent']);
  await request(after.origin, 'MKCOL', '/tree/');
  await request(after.origin, 'MKCOL', '/tree/d1/');
  await request(after.origin, 'PUT', '/tree/d1/f1.txt', { body: 'new' });
  t.same(await tags(after.origin, '/tree/'), {}, 'new resources at the deleted paths have no old properties');
  await killHard(after);

  // p.txt deleted behind the server's back, then a PUT that dies right after the file appears.
  rmSync(path.join(root, 'p.txt'));
  const doomedPut = await crashingServer(t, root, 'put-after-storage');
  await request(doomedPut.origin, 'PUT', '/p.txt', { body: 'new p' }).catch(() => null);
  await doomedPut.exit;
  const last = await serve(t, ['--root', root, '--log-level', 'silent']);
  t.equal((await request(last.origin, 'GET', '/p.txt')).body, 'new p');
  t.same(await tags(last.origin, '/p.txt'), {}, 'the new p.txt does not carry the old one\'s property');
});
