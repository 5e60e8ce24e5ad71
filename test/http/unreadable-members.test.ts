/**
 * COPY of a tree holding members the server may not read (issue 11 item 7). Root reads
 * everything, so the built server runs as the unprivileged user `nobody`: a mode-000 folder and
 * a mode-000 file are answered 403 each in the 207 (not 500), nothing of them appears at the
 * destination (no empty folder), the rest is copied, and the log says which member and why.
 */
import t from 'tap';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { multistatus, request, tempDir } from '../helpers/server.js';
import { serve } from '../helpers/cli.js';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const CI = process.env['CI'] === 'true';
if (!isRoot && CI) t.fail('under CI=true this test runs as root (it starts the server as nobody)');

t.test('COPY with unreadable members: 403 each, no leftovers, a log line', { skip: isRoot ? false : 'needs root to run the server as an unprivileged user' }, async (t) => {
  const root = tempDir(t);
  mkdirSync(path.join(root, 'src/sub'), { recursive: true });
  mkdirSync(path.join(root, 'src/locked/inner'), { recursive: true });
  writeFileSync(path.join(root, 'src/ok.txt'), 'readable');
  writeFileSync(path.join(root, 'src/sub/ok2.txt'), 'readable too');
  writeFileSync(path.join(root, 'src/locked/inner/x.txt'), 'behind a locked door');
  writeFileSync(path.join(root, 'src/secret.txt'), 'unreadable');
  const chownTree = (p: string): void => {
    chownSync(p, NOBODY, NOBODY);
    if (!p.endsWith('.txt')) for (const n of readdirSync(p)) chownTree(path.join(p, n));
  };
  chownTree(root);
  chmodSync(path.join(root, 'src/locked'), 0o000);
  chmodSync(path.join(root, 'src/secret.txt'), 0o000);
  t.teardown(() => chmodSync(path.join(root, 'src/locked'), 0o700)); // so the temporary folder can be removed

  const s = await serve(t, ['--root', root, '--log-level', 'info'], {}, { uid: NOBODY, gid: NOBODY });
  const res = await request(s.origin, 'COPY', '/src/', { headers: { destination: '/dst/' } });
  t.equal(res.status, 207);
  const statuses = Object.fromEntries(multistatus(res.body).map((r) => [r.href, r.status]));
  t.same(statuses, { '/dst/locked/': 403, '/dst/secret.txt': 403 }, 'each unreadable member 403, nothing else reported');
  t.same(readdirSync(path.join(root, 'dst')).sort(), ['ok.txt', 'sub'], 'no empty folder, no empty file left for them');
  t.equal(readFileSync(path.join(root, 'dst/sub/ok2.txt'), 'utf8'), 'readable too', 'the rest is copied');
  t.same(readdirSync(root).filter((n) => n.startsWith('.fastdav-part-')), [], 'no temporary folder left');
  await new Promise((r) => setTimeout(r, 200));
  t.match(s.output(), /"member":"\/dst\/locked".*"reason":"EACCES".*member not copied/, 'the log names the folder and why');
  t.match(s.output(), /"member":"\/dst\/secret.txt".*"reason":"EACCES"/, 'and the file');

  const whole = await request(s.origin, 'COPY', '/src/locked/', { headers: { destination: '/locked-copy/' } });
  t.equal(whole.status, 403, 'COPY of the unreadable folder itself: 403');
  t.notOk(existsSync(path.join(root, 'locked-copy')), 'and nothing made');
});
