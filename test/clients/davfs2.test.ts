/**
 * davfs2 (`mount -t davfs`) against fastdav served under a prefix: shell tools on the mount,
 * checksums, the lock a file held open takes, content uploaded on unmount, and a second mount
 * with an empty cache reading everything back.
 *
 * davfs2 1.6.1 needs `buf_size 64` on kernels >= 6.16; it runs as user davfs2, so its cache
 * folder is root:davfs2 0775 and the folders above it are searchable. Credentials live in the
 * secrets file only (the lock owner davfs2 sends is the user name from it).
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { tempDir } from '../helpers/server.js';
import {
  EXCLUSIVE_LOCK_BODY,
  isMounted,
  clientTarget,
  lockDiscovery,
  missingPrerequisites,
  run,
  sh,
  sha256,
  startBackground,
  stopBackground,
  storedTree,
  urlOf,
  USED_BYTES_SLACK,
  waitFor,
  writeAwkwardTree,
} from './client-kit.js';

const skip = missingPrerequisites(t, { tools: ['mount.davfs', 'umount', 'df', 'cp', 'ls'], root: true, fuse: true });

/** davfs2's group, whose members (its daemon) use the cache. */
function davfs2Gid(): number {
  const line = execFileSync('getent', ['group', 'davfs2'], { encoding: 'utf8' });
  return Number(line.split(':')[2]);
}

t.test('davfs2', { skip }, async (t) => {
  const s = await clientTarget(t, { prefix: '/dav/' });
  const stored = storedTree(s);
  const url = `${s.origin}/dav/`;
  const work = tempDir(t, 'fastdav-davfs2-');
  chmodSync(work, 0o755); // the daemon runs as davfs2 and must reach its cache below
  const mnt = path.join(work, 'mnt');
  const local = path.join(work, 'local');
  mkdirSync(mnt);
  mkdirSync(local);

  const gid = davfs2Gid();
  const secrets = path.join(work, 'secrets');
  writeFileSync(secrets, `${url} tester s3cret\n`, { mode: 0o600 });
  const config = (name: string): string => {
    const cache = path.join(work, `cache-${name}`);
    mkdirSync(cache);
    chownSync(cache, 0, gid);
    chmodSync(cache, 0o775);
    const file = path.join(work, `davfs2-${name}.conf`);
    // delay_upload: changed files go up when closed + 600 s, i.e. here on unmount.
    writeFileSync(file, ['buf_size 64', `cache_dir ${cache}`, `secrets ${secrets}`, 'ask_auth 0', 'use_locks 1', 'delay_upload 600', ''].join('\n'));
    return file;
  };
  const mount = async (conf: string): Promise<void> => {
    const r = await run('mount', ['-t', 'davfs', url, mnt, '-o', `conf=${conf}`], { timeout: 30_000 });
    if (r.code !== 0) throw new Error(`mount -t davfs failed (${r.code}): ${r.stdout}${r.stderr}`);
    await waitFor('the davfs2 mount', () => isMounted(mnt));
  };
  const unmount = async (): Promise<void> => {
    const r = await run('umount', [mnt], { timeout: 120_000 });
    if (r.code !== 0) throw new Error(`umount failed (${r.code}): ${r.stdout}${r.stderr}`);
    await waitFor('davfs2 to unmount', async () => !(await isMounted(mnt)));
  };
  t.teardown(async () => {
    if (await isMounted(mnt)) {
      const r = await run('umount', [mnt], { timeout: 60_000 });
      if (r.code !== 0) await run('umount', ['-l', mnt]);
    }
  });

  const tree = writeAwkwardTree(path.join(local, 'tree'), 60);
  const big = randomBytes(8 * 1024 * 1024 + 123);
  writeFileSync(path.join(local, 'big.bin'), big);
  const files = ['big.bin', ...tree.map((f) => `tree/${f}`)];
  const checksums = new Map<string, string>();
  for (const f of files) checksums.set(f, await sha256(path.join(local, f)));

  await t.test('mount with a per-test config, credentials in its secrets file', async (t) => {
    await mount(config('first'));
    t.ok(await isMounted(mnt));
    const ls = await sh(`ls -la "${mnt}"`);
    t.match(ls, /\.\n|\s\.$/m, 'the root lists');
  });

  await t.test('mkdir', async (t) => {
    await sh(`mkdir -p "${mnt}/docs/sub dir/日本 😀"`);
    t.ok((await stored.stat('docs/sub dir/日本 😀')).isDirectory(), 'MKCOL reached the store');
  });

  await t.test('cp', async (t) => {
    await sh(`cp -r "${local}/tree" "${local}/big.bin" "${mnt}/docs/"`);
    for (const f of files) t.ok((await stored.stat(`docs/${f}`)).isFile(), `exists on the server: ${f}`);
  });

  await t.test('ls -la', async (t) => {
    const listing = await sh(`ls -la --quoting-style=literal "${mnt}/docs" "${mnt}/docs/tree"`);
    t.match(listing, new RegExp(`\\s${big.length}\\s.*big\\.bin`), 'big.bin with its size');
    for (const f of tree.filter((f) => !f.includes('/'))) t.ok(listing.includes(` ${f}\n`), `listed: ${f}`);
    const deep = await sh(`ls -la --quoting-style=literal "${mnt}/docs/tree/deep/er/😀 still"`);
    for (const f of tree.filter((f) => f.startsWith('deep/er/😀 still/'))) t.ok(deep.includes(` ${path.basename(f)}\n`), `listed: ${f}`);
  });

  await t.test('cat', async (t) => {
    const name = tree.find((f) => f.includes('日本語'))!;
    t.equal(await sh(`cat "${mnt}/docs/tree/${name}"`), await fsp.readFile(path.join(local, 'tree', name), 'utf8'));
  });

  await t.test('checksums through the mount', async (t) => {
    for (const f of files) t.equal(await sha256(path.join(mnt, 'docs', f)), checksums.get(f), f);
  });

  await t.test('mv renames files and folders on the server', async (t) => {
    await sh(`mv "${mnt}/docs/tree/plain.txt" "${mnt}/docs/tree/renamed # 1.txt"`);
    await sh(`mv "${mnt}/docs/tree/sub dir" "${mnt}/docs/tree/moved dir"`);
    checksums.set('tree/renamed # 1.txt', checksums.get('tree/plain.txt')!);
    checksums.delete('tree/plain.txt');
    for (const [f, sum] of [...checksums]) {
      if (f.startsWith('tree/sub dir/')) {
        checksums.delete(f);
        checksums.set(f.replace('tree/sub dir/', 'tree/moved dir/'), sum);
      }
    }
    t.ok((await stored.stat('docs/tree/moved dir')).isDirectory(), 'folder moved on the server');
    await t.rejects(stored.stat('docs/tree/sub dir'), 'old folder gone');
    t.ok((await stored.stat('docs/tree/renamed # 1.txt')).isFile(), 'file renamed on the server');
    const listing = await sh(`ls --quoting-style=literal "${mnt}/docs/tree"`);
    t.match(listing, 'renamed # 1.txt');
    t.notMatch(listing, /^plain\.txt$/m);
  });

  await t.test('rm', async (t) => {
    await sh(`rm "${mnt}/docs/tree/UPPER.TXT" && rm -r "${mnt}/docs/tree/deep"`);
    for (const f of [...checksums.keys()]) if (f === 'tree/UPPER.TXT' || f.startsWith('tree/deep/')) checksums.delete(f);
    await t.rejects(stored.stat('docs/tree/UPPER.TXT'), 'file deleted on the server');
    await t.rejects(stored.stat('docs/tree/deep'), 'folder deleted on the server');
    t.ok((await stored.stat('docs/tree/upper.txt')).isFile(), 'its lower-case twin stays');
  });

  await t.test('df shows the quota: the bytes served, the space left', async (t) => {
    const out = await sh(`df -B1 --output=used,avail "${mnt}"`);
    const [used, avail] = out.trim().split('\n')[1]!.trim().split(/\s+/).map(Number);
    const real = await stored.usage();
    t.ok(Math.abs(used! - real.used) < USED_BYTES_SLACK, `used ${used} ≈ ${real.used} (the served tree, RFC 4331)`);
    t.ok(Math.abs(avail! - real.available) < real.availableSlack, `available ${avail} ≈ ${real.available}`);
  });

  await t.test('a file held open is locked against another client', async (t) => {
    const rel = 'docs/tree/upper.txt';
    const holder = startBackground('sh', ['-c', `exec 3>>"${mnt}/${rel}"; echo appended >&3; exec sleep 60`]);
    t.teardown(() => stopBackground(holder));
    const discovery = await waitFor('davfs2 to lock the open file', async () => {
      const body = await lockDiscovery(s.origin, urlOf('/dav/', rel));
      return body.includes('<D:activelock>') ? body : null;
    });
    t.match(discovery, /<D:exclusive\/>/, 'an exclusive lock');
    t.match(discovery, /tester/, 'owned by the user from the secrets file');
    const put = await s.request('PUT', urlOf('/dav/', rel), { body: 'second client' });
    t.equal(put.status, 423, 'PUT without the token: 423 Locked');
    const lock = await s.request('LOCK', urlOf('/dav/', rel), { headers: { depth: '0' }, body: EXCLUSIVE_LOCK_BODY });
    t.equal(lock.status, 423, 'a second LOCK: 423 Locked');
    await stopBackground(holder);
    checksums.set('tree/upper.txt', (await sh(`sha256sum "${mnt}/${rel}"`)).split(' ')[0]!);
  });

  await t.test('content written before unmount is uploaded on unmount', async (t) => {
    await sh(`printf 'written last\\n' > "${mnt}/docs/late.txt"`);
    const before = await stored.readFile('docs/late.txt').then(String, () => '');
    t.equal(before, '', 'not uploaded yet (delay_upload 600)');
    await unmount();
    t.equal((await stored.readFile('docs/late.txt')).toString(), 'written last\n', 'stored after unmount');
    checksums.set('late.txt', await stored.sha256('docs/late.txt'));
    for (const [f, sum] of checksums) t.equal(await stored.sha256(`docs/${f}`), sum, `stored: ${f}`);
    t.notMatch(await lockDiscovery(s.origin, urlOf('/dav/', 'docs/tree/upper.txt')), '<D:activelock>', 'the lock was released');
  });

  await t.test('a second mount with an empty cache reads it all back', async (t) => {
    await mount(config('second'));
    t.teardown(async () => {
      if (await isMounted(mnt)) await unmount();
    });
    const listing = await sh(`ls -la --quoting-style=literal "${mnt}/docs/tree"`);
    t.match(listing, 'renamed # 1.txt');
    for (const [f, sum] of checksums) t.equal(await sha256(path.join(mnt, 'docs', f)), sum, `read back: ${f}`);
    await unmount();
  });
});
