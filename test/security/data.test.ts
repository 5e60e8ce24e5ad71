/**
 * Data survives hostile and unlucky clients: an aborted upload keeps the old content, concurrent
 * uploads to one path leave one complete version, and a storm of concurrent COPY/MOVE/DELETE
 * (with PUT, MKCOL and PROPPATCH mixed in) leaves a tree whose listing matches the disk, no
 * temporary files, only complete file contents, and a live server.
 */
import t from 'tap';
import net from 'node:net';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { startServer } from '../helpers/server.js';

/** Names of temporary upload files anywhere below `dir`. */
function partials(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => path.basename(p).startsWith('.fastdav-part-'));
}

/** Polls `check` until it holds or `ms` pass (cleanup after an abort runs after the socket closes). */
async function eventually(check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

t.test('an aborted PUT keeps the old content and leaves no temporary file', async (t) => {
  const s = await startServer(t);
  t.equal((await s.request('PUT', '/doc.txt', { body: 'old content' })).status, 201);
  for (const [name, head] of [
    ['Content-Length', 'Content-Length: 1000000\r\n'],
    ['chunked', 'Transfer-Encoding: chunked\r\n'],
  ]) {
    await new Promise<void>((resolve) => {
      const socket = net.connect(s.port, '127.0.0.1', () => {
        socket.write(`PUT /doc.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n${head}\r\n`);
        const part = 'x'.repeat(200_000);
        socket.write(name === 'chunked' ? `${part.length.toString(16)}\r\n${part}\r\n` : part, () => setTimeout(() => socket.destroy(), 100));
      });
      socket.on('close', () => resolve());
      socket.on('error', () => undefined);
    });
    t.ok(await eventually(() => partials(s.root).length === 0), `${name}: no temporary file left`);
    const res = await s.request('GET', '/doc.txt');
    t.equal(res.body, 'old content', `${name}: the old content is intact`);
  }
});

t.test('ten concurrent PUTs to one path leave one complete version', async (t) => {
  const s = await startServer(t);
  const size = 512 * 1024;
  const bodies = Array.from({ length: 10 }, (_, i) => Buffer.alloc(size + i * 1000, 65 + i));
  const results = await Promise.all(bodies.map((body) => s.request('PUT', '/same.bin', { body })));
  t.ok(results.every((r) => r.status === 201 || r.status === 204), `statuses ${results.map((r) => r.status).join(' ')}`);
  const final = readFileSync(path.join(s.root, 'same.bin'));
  const match = bodies.find((b) => b.equals(final));
  t.ok(match, `the file is exactly one of the uploads (${final.length} bytes)`);
  t.same(partials(s.root), [], 'no temporary files');
  t.equal((await s.request('GET', '/same.bin')).raw.length, final.length);
});

/** A small deterministic PRNG (mulberry32), so a failing storm can be replayed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('a storm of concurrent COPY/MOVE/DELETE leaves a consistent tree and a live server', async (t) => {
  const s = await startServer(t);
  const contents = new Set<string>();
  const content = (i: number) => {
    const c = `content-${i}-`.repeat(200);
    contents.add(c);
    return c;
  };
  for (const d of ['a', 'b', 'c', 'a/x', 'b/y']) mkdirSync(path.join(s.root, d));
  let n = 0;
  for (const d of ['a', 'b', 'c', 'a/x', 'b/y']) for (const f of ['1.txt', '2.txt']) writeFileSync(path.join(s.root, d, f), content(n++));

  const seed = Number(process.env['STORM_SEED'] ?? 20261121);
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const places = ['/a', '/b', '/c', '/a/x', '/b/y', '/a/x/z', '/c/w', '/a/1.txt', '/b/2.txt', '/c/1.txt', '/a/x/2.txt', '/b/y/1.txt', '/c/new.txt', '/d'];
  let answers = 0;
  const serverErrors: string[] = [];
  for (let round = 0; round < 12; round++) {
    const batch = Array.from({ length: 25 }, () => {
      const op = pick(['COPY', 'MOVE', 'DELETE', 'PUT', 'MKCOL', 'PROPPATCH', 'COPY', 'MOVE']);
      const from = pick(places);
      const headers: Record<string, string> = { destination: pick(places), overwrite: pick(['T', 'F']) };
      const body =
        op === 'PUT'
          ? content(n++)
          : op === 'PROPPATCH'
            ? `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:p xmlns:x="urn:x">${n++}</x:p></D:prop></D:set></D:propertyupdate>`
            : undefined;
      return s.request(op, from, { headers, ...(body !== undefined ? { body } : {}) }).then((r) => {
        answers++;
        if (r.status >= 500) serverErrors.push(`${op} ${from} (Destination ${headers['destination']}): ${r.body.trim()}`);
      });
    });
    await Promise.all(batch);
  }
  t.same(serverErrors, [], `no 5xx among ${answers} answers (seed ${seed}; STORM_SEED replays)`);

  // The listing and the disk agree, every file is one complete content, nothing temporary.
  const listing = await s.request('PROPFIND', '/', { headers: { depth: 'infinity' } });
  t.equal(listing.status, 207, 'the server still answers');
  const listed = [...listing.body.matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => decodeURIComponent(m[1]!).replace(/\/$/, '')).filter((h) => h !== '');
  const onDisk = readdirSync(s.root, { recursive: true, encoding: 'utf8' })
    .filter((p) => !p.startsWith('.fastdav'))
    .map((p) => `/${p}`);
  t.same(listed.sort(), onDisk.sort(), 'the listing is the disk');
  t.same(partials(s.root), [], 'no temporary files');
  for (const p of onDisk) {
    const full = path.join(s.root, p);
    if (statSync(full).isFile()) t.ok(contents.has(readFileSync(full, 'utf8')), `${p} holds one complete content`);
  }
});
