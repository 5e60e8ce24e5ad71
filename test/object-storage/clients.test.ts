/**
 * Real clients in object-storage mode (tree in PostgreSQL, contents in radosgw): the npm
 * `webdav` client (in process, runs everywhere) and rclone's webdav backend (copy of a tree of
 * awkward names and a 20 MiB file, check --download, modification times, moveto, purge). What
 * they store is checked through the clients and through HTTP, not on a disk.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createClient, type FileStat } from 'webdav';
import { missingPrerequisites, rcloneRunner, writeAwkwardTree } from '../clients/client-kit.js';
import { objectStorageUnavailable, startEngines, startObjectStorageServer } from '../helpers/object-storage.js';
import { tempDir } from '../helpers/server.js';

const skip = objectStorageUnavailable(t);

t.test('clients in object-storage mode', { skip }, async (t) => {
  const engines = await startEngines(t);

  t.test('webdav (npm client)', async (t) => {
    const s = await startObjectStorageServer(t, engines, { prefix: '/files/' });
    const client = createClient(`${s.origin}/files/`);
    const dir = '/a/b/c d/日本 😀';
    const file = `${dir}/blob #1 & 100%.bin`;
    const blob = randomBytes(9 * 1024 * 1024 + 11);
    await client.createDirectory(dir, { recursive: true });
    t.equal(await client.putFileContents(file, blob), true);
    t.ok(Buffer.from((await client.getFileContents(file)) as Buffer).equals(blob), 'bytes read back (multipart upload, ranged reads)');
    const st = (await client.stat(file)) as FileStat;
    t.equal(st.size, blob.length);
    const part = (await client.getFileContents(file, { format: 'binary', details: false, headers: { range: 'bytes=8388600-8388700' } })) as Buffer;
    t.ok(Buffer.from(part).equals(blob.subarray(8_388_600, 8_388_701)), 'a range across a part boundary');
    const deep = (await client.getDirectoryContents('/', { deep: true })) as FileStat[];
    t.ok(deep.some((e) => e.filename === file), 'deep listing');
    await client.copyFile(file, '/copy.bin');
    await client.moveFile('/a', '/moved');
    t.ok(Buffer.from((await client.getFileContents('/copy.bin')) as Buffer).equals(blob), 'the copy');
    t.equal((await client.stat(`/moved/b/c d/日本 😀/blob #1 & 100%.bin`) as FileStat).size, blob.length, 'the moved tree');
    await client.deleteFile('/moved');
    t.equal(await client.exists('/moved'), false);
  });

  const rcloneSkip = missingPrerequisites(t, { tools: ['rclone'] });
  t.test('rclone (webdav backend)', { skip: rcloneSkip }, async (t) => {
    const s = await startObjectStorageServer(t, engines);
    const work = tempDir(t, 'fastdav-rclone-');
    const { rclone } = rcloneRunner(work, s.origin, 'owncloud');
    const tree = path.join(work, 'tree');
    mkdirSync(tree);
    writeAwkwardTree(tree, 120);
    writeFileSync(path.join(tree, 'big.bin'), randomBytes(20 * 1024 * 1024 + 5));
    await rclone(['copy', tree, 'fastdav:tree']);
    // Sizes, then every byte read back through the server; modification times through X-OC-Mtime.
    await rclone(['check', tree, 'fastdav:tree', '--download']);
    t.pass('check --download: every file the same');
    const listed = JSON.parse(await rclone(['lsjson', '-R', '--files-only', 'fastdav:tree'])) as { Path: string; ModTime: string }[];
    t.equal(listed.length, 121, 'every file listed');
    const out = path.join(work, 'back');
    await rclone(['copy', 'fastdav:tree', out]);
    await rclone(['check', tree, out]);
    t.pass('copied back: the same');
    await rclone(['moveto', 'fastdav:tree/big.bin', 'fastdav:big-moved.bin']);
    await rclone(['purge', 'fastdav:tree']);
    const left = JSON.parse(await rclone(['lsjson', '-R', 'fastdav:'])) as { Path: string }[];
    t.same(left.map((e) => e.Path), ['big-moved.bin'], 'only the moved file is left');
  });
});
