/**
 * rclone's webdav backend (vendor other) against fastdav: a tree of a few hundred files with
 * awkward names and a 32 MiB file, check --download, lsjson -R, moveto, a folder rename,
 * purge, modification times through X-OC-Mtime (vendor owncloud), then `rclone mount` and the
 * same shell operations through FUSE.
 *
 * rclone is configured through RCLONE_CONFIG_* variables and an empty temporary config file,
 * never the user's.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../helpers/server.js';
import { clientTarget, isMounted, missingPrerequisites, rcloneRunner, run, sh, sha256, startBackground, stopBackground, storedTree, USED_BYTES_SLACK, waitFor, writeAwkwardTree } from './client-kit.js';

const skip = missingPrerequisites(t, { tools: ['rclone', 'fusermount3', 'cp', 'ls'], root: true, fuse: true });

interface LsEntry {
  Path: string;
  Size: number;
  IsDir: boolean;
  ModTime: string;
}

t.test('rclone', { skip }, async (t) => {
  const s = await clientTarget(t);
  const stored = storedTree(s);
  const work = tempDir(t, 'fastdav-rclone-');
  const local = path.join(work, 'local');
  const mnt = path.join(work, 'mnt');
  mkdirSync(local);
  mkdirSync(mnt);
  const { env, rclone } = rcloneRunner(work, s.origin, 'other');

  const tree = path.join(local, 'tree');
  const files = writeAwkwardTree(tree, 300);
  const longest = `${'ü'.repeat(120)}-${'z'.repeat(10)}.bin`; // 255 bytes, ext4's limit
  writeFileSync(path.join(tree, longest), 'longest name');
  writeFileSync(path.join(tree, 'big.bin'), randomBytes(32 * 1024 * 1024 + 5));
  files.push(longest, 'big.bin');

  await t.test('copy a tree of awkward names and a 32 MiB file', async (t) => {
    await rclone(['copy', tree, 'fastdav:tree']);
    for (const f of files) t.equal(await stored.sha256(`tree/${f}`), await sha256(path.join(tree, f)), f);
  });

  await t.test('check --download', async (t) => {
    const out = await rclone(['check', '--download', tree, 'fastdav:tree']);
    t.match(out, '0 differences found');
    t.match(out, `${files.length} matching files`);
  });

  await t.test('lsjson -R', async (t) => {
    const entries = JSON.parse(await rclone(['lsjson', '-R', 'fastdav:tree'])) as LsEntry[];
    const listed = entries.filter((e) => !e.IsDir).map((e) => e.Path).sort();
    t.same(listed, [...files].sort(), 'every file once, names exact');
    const big = entries.find((e) => e.Path === 'big.bin');
    t.equal(big?.Size, 32 * 1024 * 1024 + 5);
    const dirs = entries.filter((e) => e.IsDir).map((e) => e.Path);
    t.ok(dirs.includes('deep/er/😀 still') && dirs.includes('é & #%;+'), 'folders with awkward names');
  });

  await t.test('about: the bytes served, the space left', async (t) => {
    const about = JSON.parse(await rclone(['about', '--json', 'fastdav:'])) as { used: number; free: number };
    const real = await stored.usage();
    t.ok(Math.abs(about.used - real.used) < USED_BYTES_SLACK, `used ${about.used}: the served tree (RFC 4331)`);
    t.ok(Math.abs(about.free - real.available) < real.availableSlack, `free ${about.free}`);
  });

  await t.test('moveto a file', async (t) => {
    await rclone(['moveto', 'fastdav:tree/plain.txt', 'fastdav:tree/é & #%;+/moved 50%.txt']);
    await t.rejects(stored.stat('tree/plain.txt'));
    t.equal(await stored.sha256('tree/é & #%;+/moved 50%.txt'), await sha256(path.join(tree, 'plain.txt')));
  });

  await t.test('rename a folder', async (t) => {
    await rclone(['moveto', 'fastdav:tree/sub dir', 'fastdav:tree/renamed 日本 dir']);
    await t.rejects(stored.stat('tree/sub dir'));
    const moved = files.filter((f) => f.startsWith('sub dir/'));
    for (const f of moved) {
      const now = `tree/${f.replace(/^sub dir\//, 'renamed 日本 dir/')}`;
      t.equal(await stored.sha256(now), await sha256(path.join(tree, f)), `moved along: ${f}`);
    }
  });

  await t.test('purge', async (t) => {
    await rclone(['purge', 'fastdav:tree/renamed 日本 dir']);
    await t.rejects(stored.stat('tree/renamed 日本 dir'));
    const left = JSON.parse(await rclone(['lsjson', '-R', 'fastdav:tree'])) as LsEntry[];
    t.notOk(left.some((e) => e.Path.startsWith('renamed')), 'nothing of it listed');
  });

  await t.test('modification times through X-OC-Mtime (vendor owncloud)', async (t) => {
    const old = path.join(local, 'old.txt');
    writeFileSync(old, 'from 2001');
    utimesSync(old, 1e9, 1e9);
    await rclone(['copyto', old, 'fastdav:mtime/old.txt'], 'owncloud');
    t.equal((await stored.stat('mtime/old.txt')).mtimeMs, 1e12, 'PUT set the mtime it stores');
    await rclone(['copyto', 'fastdav:mtime/old.txt', 'fastdav:mtime/copy.txt'], 'owncloud');
    t.equal((await stored.stat('mtime/copy.txt')).mtimeMs, 1e12, 'server-side COPY kept it');
    const entries = JSON.parse(await rclone(['lsjson', 'fastdav:mtime'], 'owncloud')) as LsEntry[];
    for (const e of entries) t.equal(Date.parse(e.ModTime), 1e12, `rclone reads it back: ${e.Path}`);
    const check = await rclone(['check', local, 'fastdav:mtime', '--include', 'old.txt'], 'owncloud');
    t.match(check, '0 differences found');
  });

  await t.test('rclone mount: shell operations through FUSE', async (t) => {
    const daemon = startBackground('rclone', ['mount', 'fastdav:tree', mnt, '--vfs-cache-mode', 'off', '--dir-cache-time', '1s'], env('other'));
    t.teardown(async () => {
      if (await isMounted(mnt)) await run('fusermount3', ['-u', mnt]).then((r) => (r.code === 0 ? r : run('umount', ['-l', mnt])));
      await stopBackground(daemon);
    });
    await waitFor('rclone mount', () => isMounted(mnt));

    await t.test('ls -la', async (t) => {
      const listing = await sh(`ls -la --quoting-style=literal "${mnt}" "${mnt}/deep/er/😀 still"`);
      t.match(listing, new RegExp(`\\s${32 * 1024 * 1024 + 5}\\s.*big\\.bin`), 'big.bin with its size');
      t.ok(listing.includes(` ${longest}\n`), 'the 255-byte name');
      t.ok(listing.includes(' 日本語のファイル.txt\n'));
    });
    await t.test('cat', async (t) => {
      const name = files.find((f) => f.startsWith('emoji'))!;
      t.equal(await sh(`cat "${mnt}/${name}"`), await fsp.readFile(path.join(tree, name), 'utf8'));
    });
    await t.test('checksums (reads are ranged GETs)', async (t) => {
      t.equal(await sha256(path.join(mnt, 'big.bin')), await sha256(path.join(tree, 'big.bin')), 'big.bin');
      t.equal(await sha256(path.join(mnt, longest)), await sha256(path.join(tree, longest)), 'longest name');
    });
    const small = files.find((f) => f.startsWith('amp & plus'))!;
    await t.test('mkdir and cp', async (t) => {
      await sh(`mkdir "${mnt}/from mount" && cp "${tree}/big.bin" "${tree}/${small}" "${mnt}/from mount/"`);
      t.equal(await stored.sha256('tree/from mount/big.bin'), await sha256(path.join(tree, 'big.bin')), 'big.bin uploaded');
      t.equal(await stored.sha256(`tree/from mount/${small}`), await sha256(path.join(tree, small)), small);
    });
    await t.test('mv', async (t) => {
      await sh(`mv "${mnt}/from mount/big.bin" "${mnt}/from mount/big + renamed.bin" && mv "${mnt}/from mount" "${mnt}/moved folder"`);
      t.equal(await stored.sha256('tree/moved folder/big + renamed.bin'), await sha256(path.join(tree, 'big.bin')));
      await t.rejects(stored.stat('tree/from mount'));
    });
    await t.test('rm', async (t) => {
      await sh(`rm "${mnt}/moved folder/big + renamed.bin" && rm -r "${mnt}/deep"`);
      await t.rejects(stored.stat('tree/moved folder/big + renamed.bin'));
      await t.rejects(stored.stat('tree/deep'));
      t.ok((await stored.stat(`tree/moved folder/${small}`)).isFile(), 'the other file stays');
    });
    await t.test('unmount', async (t) => {
      const r = await run('fusermount3', ['-u', mnt]);
      t.equal(r.code, 0, r.stderr);
      await waitFor('rclone to unmount', async () => !(await isMounted(mnt)));
    });
  });
});
