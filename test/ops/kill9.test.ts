/**
 * Never half-write (issue 11 items 4-6): the built server is killed with SIGKILL (`kill -9`, no
 * handler runs) in the middle of an upload or a tree COPY, then started again on the same
 * folder. What a client sees afterwards must be whole or absent, and what the dead process left
 * behind must be reclaimed without touching the uploads of a live instance sharing the folder.
 */
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
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
