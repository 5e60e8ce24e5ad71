/**
 * The metadata store when it fails (issue 11): a garbage database file stops start-up with one
 * line naming the file and what to do (exit 2); a full metadata disk answers 507 Insufficient
 * Storage (RFC 4918 §11.5, RFC 4331 §6 sufficient-disk-space) for PROPPATCH and LOCK, never 500.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorConditions, lockBody, multistatus, startServer, tempDir } from '../helpers/server.js';
import { runCli } from '../helpers/cli.js';

const CI = process.env['CI'] === 'true';
const isRoot = process.getuid?.() === 0;

t.test('a garbage metadata database: exit 2, one line naming the file and the remedy (item 9)', async (t) => {
  const root = tempDir(t);
  const meta = path.join(root, '.fastdav');
  mkdirSync(meta);
  const file = path.join(meta, 'metadata.sqlite');
  writeFileSync(file, 'this is not a database, just some text that happens to be here\n'.repeat(100));
  const r = await runCli(['--root', root, '--port', '0']);
  t.equal(r.status, 2, 'exit code 2, as for every operator error');
  t.match(r.output, file, 'the message names the file');
  t.match(r.output, /not a usable SQLite database/);
  t.match(r.output, /restore it from a backup|move it aside/, 'and says what to do');
  t.notMatch(r.output, /\n\s+at /, 'no stack trace');
  t.equal(r.output.trim().split('\n').length, 1, 'one line');
  t.notMatch(r.output, /serving/);
});

t.test('a full metadata disk: PROPPATCH and LOCK answer 507, and work again once there is room (item 8)', { skip: isRoot ? false : 'needs root to mount a small tmpfs' }, async (t) => {
  const metadataDir = mkdtempSync(path.join(os.tmpdir(), 'fastdav-fullmeta-'));
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', metadataDir], { encoding: 'utf8' });
  if (mount.status !== 0) {
    if (CI) t.fail(`mount tmpfs failed: ${mount.stderr}`);
    else t.comment(`skipped: cannot mount a tmpfs here: ${mount.stderr.trim()}`);
    return;
  }
  // A lazy unmount: the server (stopped by a later teardown) may still hold the database open.
  t.teardown(() => {
    spawnSync('umount', ['-l', metadataDir]);
    rmSync(metadataDir, { recursive: true, force: true });
  });
  const s = await startServer(t, { metadataDir });
  t.equal((await s.request('PUT', '/f.txt', { body: 'x' })).status, 201);

  // Fill the metadata filesystem to the last byte.
  const filler = path.join(metadataDir, 'filler');
  let size = 1024 * 1024;
  for (let bytes = size; bytes >= 512; bytes = Math.floor(bytes / 2)) {
    try {
      writeFileSync(`${filler}-${bytes}`, Buffer.alloc(bytes));
    } catch {
      /* smaller pieces fill what is left */
    }
  }
  const bigValue = 'v'.repeat(64 * 1024);
  const proppatch = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:big>${bigValue}</Z:big></D:prop></D:set></D:propertyupdate>`;
  const full = await s.request('PROPPATCH', '/f.txt', { body: proppatch });
  t.equal(full.status, 507, 'PROPPATCH: 507 Insufficient Storage, not 500');
  t.same(errorConditions(full.body).map((c) => c.name), ['sufficient-disk-space'], 'with the RFC 4331 condition');
  const lock = await s.request('LOCK', '/f.txt', { body: lockBody('exclusive', 'x'.repeat(64 * 1024)) });
  t.equal(lock.status, 507, 'LOCK: 507');
  t.same(errorConditions(lock.body).map((c) => c.name), ['sufficient-disk-space']);
  const newFile = await s.request('LOCK', '/new.txt', { body: lockBody('exclusive', 'y'.repeat(64 * 1024)) });
  t.equal(newFile.status, 507, 'LOCK of an unmapped URL: 507');
  t.equal((await s.request('GET', '/new.txt')).status, 404, 'and no empty file was left behind');

  for (let bytes = size; bytes >= 512; bytes = Math.floor(bytes / 2)) rmSync(`${filler}-${bytes}`, { force: true });
  size = 0;
  const again = await s.request('PROPPATCH', '/f.txt', { body: proppatch });
  t.equal(again.status, 207, 'with room again, PROPPATCH works');
  t.equal(multistatus(again.body)[0]!.propstats[0]!.status, 200);
  t.equal((await s.request('LOCK', '/f.txt', { body: lockBody() })).status, 200, 'and so does LOCK');
});
