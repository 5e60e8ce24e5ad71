/**
 * GNOME gvfs (what Nautilus uses) against fastdav under a prefix, through `gio` in a private
 * D-Bus session (dbus-run-session), as root without a desktop: mount, list, info, copy both
 * ways, save, move, rename, remove, then the same files through the gvfsd-fuse path.
 *
 * HOME and the XDG folders point into a temporary folder, so gvfsd-fuse mounts at
 * $XDG_RUNTIME_DIR/gvfs there; remote volume monitors are switched off (no udisks here).
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../helpers/server.js';
import { clientTarget, isMounted, missingPrerequisites, run, sh, sha256, startBackground, stopBackground, storedTree, waitFor } from './client-kit.js';

const skip = missingPrerequisites(t, {
  tools: ['gio', 'dbus-run-session', 'fusermount3', '/usr/libexec/gvfsd-dav', '/usr/libexec/gvfsd-fuse'],
  root: true,
  fuse: true,
});

t.test('gvfs (gio)', { skip }, async (t) => {
  const s = await clientTarget(t, { prefix: '/dav/' });
  const stored = storedTree(s);
  const port = new URL(s.origin).port;
  const root = `dav://127.0.0.1:${port}/dav/`;
  const work = tempDir(t, 'fastdav-gvfs-');
  const runtime = path.join(work, 'run');
  mkdirSync(runtime, { mode: 0o700 });
  chmodSync(runtime, 0o700);
  const local = path.join(work, 'local');
  mkdirSync(local);
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: work,
    XDG_RUNTIME_DIR: runtime,
    XDG_CACHE_HOME: path.join(work, 'cache'),
    XDG_CONFIG_HOME: path.join(work, 'config'),
    XDG_DATA_HOME: path.join(work, 'data'),
    GVFS_REMOTE_VOLUME_MONITOR_IGNORE: '1',
  };

  // A session bus that lives as long as `sleep` does; the first line names its PID and address.
  const session = startBackground('dbus-run-session', ['--', 'sh', '-c', 'echo "$$ $DBUS_SESSION_BUS_ADDRESS"; exec sleep 600'], baseEnv);
  // Should the bus never answer, the session ends with the test, not 600 s later (once it has
  // answered, the teardown below unmounts first and then ends it).
  let answered = false;
  t.teardown(() => (answered ? undefined : stopBackground(session)));
  // The echo's line is read from stdout alone: output() mixes in stderr, where dbus-daemon's
  // warnings (as root in a container: "Failed to set fd limit") may end without a newline.
  let stdout = '';
  session.stdout!.on('data', (d: string) => (stdout += d));
  const [sleeperPid, busAddress] = await waitFor('the D-Bus session', () => {
    const found = /^(\d+) (unix:\S+)$/m.exec(stdout);
    return found ? ([Number(found[1]), found[2]!] as const) : null;
  });
  answered = true;
  const env: NodeJS.ProcessEnv = { ...baseEnv, DBUS_SESSION_BUS_ADDRESS: busAddress };
  const fuseRoot = path.join(runtime, 'gvfs');
  t.teardown(async () => {
    await run('gio', ['mount', '-u', root], { env, timeout: 20_000 }).catch(() => undefined);
    if (await isMounted(fuseRoot)) await run('fusermount3', ['-u', '-z', fuseRoot]);
    try {
      process.kill(sleeperPid, 'SIGTERM'); // ends the session: dbus-run-session stops its bus
    } catch {
      /* already gone */
    }
    await waitFor('dbus-run-session to end', () => session.exitCode !== null || session.signalCode !== null, 10_000).catch(() => undefined);
    await stopBackground(session);
  });

  const uri = (rel: string): string => root + rel.split('/').map(encodeURIComponent).join('/');
  const gio = async (...args: string[]): Promise<string> => {
    const r = await run('gio', args, { env, timeout: 60_000 });
    if (r.code !== 0) throw new Error(`gio ${args.join(' ')} exited ${r.code}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };

  // What the server already holds.
  const names = ['é & #%;+.txt', 'cafe\u0301 NFD.txt', '日本 😀.txt', 'Case.txt', 'case.txt'];
  await stored.mkdir('shared/sub 日本');
  for (const n of names) await stored.writeFile(`shared/${n}`, `content of ${n}\n`);
  const blob = randomBytes(3 * 1024 * 1024 + 7);
  writeFileSync(path.join(local, 'blob.bin'), blob);

  await t.test('mount', async (t) => {
    await gio('mount', root);
    t.match(await gio('mount', '-l'), `-> ${root.slice(0, -1)}`, 'gio lists the mount');
  });

  await t.test('list', async (t) => {
    const listed = (await gio('list', uri('shared/'))).split('\n').filter(Boolean).sort();
    t.same(listed, [...names, 'sub 日本'].sort(), 'names exactly as stored, NFD and case kept');
  });

  await t.test('info', async (t) => {
    const info = await gio('info', uri('shared/日本 😀.txt'));
    t.match(info, 'type: regular');
    t.match(info, `size:  ${Buffer.byteLength('content of 日本 😀.txt\n')}`);
    t.match(info, 'standard::content-type: text/plain');
    const fsInfo = await gio('info', '-f', root);
    const free = Number(/filesystem::free: (\d+)/.exec(fsInfo)?.[1]);
    const real = await stored.usage();
    t.ok(Math.abs(free - real.available) < real.availableSlack, `filesystem::free ${free} is the space the server offers (${real.available})`);
  });

  await t.test('copy up and down', async (t) => {
    await gio('mkdir', uri('up'));
    await gio('copy', path.join(local, 'blob.bin'), uri('up/blob # 1.bin'));
    t.ok((await stored.readFile('up/blob # 1.bin')).equals(blob), 'uploaded bytes stored');
    await gio('copy', uri('up/blob # 1.bin'), path.join(local, 'down.bin'));
    t.ok((await fsp.readFile(path.join(local, 'down.bin'))).equals(blob), 'downloaded bytes');
  });

  await t.test('save (new, then replacing)', async (t) => {
    let r = await run('gio', ['save', uri('up/saved.txt')], { env, input: 'first version\n' });
    t.equal(r.code, 0, r.stderr);
    t.equal(await stored.readFile('up/saved.txt').then(String), 'first version\n');
    r = await run('gio', ['save', uri('up/saved.txt')], { env, input: 'second version\n' });
    t.equal(r.code, 0, r.stderr);
    t.equal(await stored.readFile('up/saved.txt').then(String), 'second version\n');
    t.equal(await gio('cat', uri('up/saved.txt')), 'second version\n', 'gio cat reads it');
  });

  await t.test('move and rename', async (t) => {
    await gio('move', uri('up/saved.txt'), uri('shared/sub 日本/saved.txt'));
    await t.rejects(stored.stat('up/saved.txt'));
    t.equal(await stored.readFile('shared/sub 日本/saved.txt').then(String), 'second version\n');
    const out = await gio('rename', uri('shared/sub 日本/saved.txt'), 'renamed 50%.txt');
    t.match(out, 'renamed%2050%25.txt');
    t.ok((await stored.stat('shared/sub 日本/renamed 50%.txt')).isFile());
    await gio('rename', uri('shared/sub 日本/'), 'sub renamed');
    t.ok((await stored.stat('shared/sub renamed/renamed 50%.txt')).isFile(), 'a folder renamed');
  });

  await t.test('remove', async (t) => {
    await gio('remove', uri('shared/sub renamed/renamed 50%.txt'));
    await gio('remove', uri('shared/sub renamed/'));
    await t.rejects(stored.stat('shared/sub renamed'));
    await gio('remove', uri('shared/Case.txt'));
    t.ok((await stored.stat('shared/case.txt')).isFile(), 'the other case stays');
  });

  await t.test('the gvfsd-fuse path', async (t) => {
    const mounts = await waitFor('gvfsd-fuse', async () => (await isMounted(fuseRoot)) && (await fsp.readdir(fuseRoot)));
    const dir = mounts.find((m) => m.startsWith(`dav:host=127.0.0.1,port=${port}`));
    t.ok(dir, `the share appears under ${fuseRoot}: ${mounts.join(', ')}`);
    const fuse = path.join(fuseRoot, dir!);
    const listing = await sh(`ls -la --quoting-style=literal "${fuse}/shared"`);
    for (const n of names.filter((n) => n !== 'Case.txt')) t.ok(listing.includes(` ${n}\n`), `ls lists ${n}`);
    t.equal(await sh(`cat "${fuse}/shared/日本 😀.txt"`), 'content of 日本 😀.txt\n', 'cat');
    t.equal(await sha256(path.join(fuse, 'up/blob # 1.bin')), await sha256(path.join(local, 'blob.bin')), 'checksum of a read');
    // FUSE release is asynchronous: gvfs uploads after close() has returned.
    const uploaded = (rel: string, content: Buffer | string) =>
      waitFor(`${rel} on the server`, async () => (await stored.readFile(rel).catch(() => Buffer.alloc(0))).equals(Buffer.from(content)));
    await sh(`mkdir "${fuse}/via fuse" && cp "${local}/blob.bin" "${fuse}/via fuse/copied.bin"`);
    t.ok(await uploaded('via fuse/copied.bin', blob), 'cp into the mount');
    await sh(`mv "${fuse}/via fuse/copied.bin" "${fuse}/via fuse/moved + 1.bin"`);
    t.ok(await uploaded('via fuse/moved + 1.bin', blob), 'mv inside the mount');
    await sh(`printf 'written through fuse\\n' > "${fuse}/via fuse/new.txt"`);
    t.ok(await uploaded('via fuse/new.txt', 'written through fuse\n'), 'a shell redirect');
    await sh(`rm "${fuse}/via fuse/moved + 1.bin" "${fuse}/via fuse/new.txt" && rmdir "${fuse}/via fuse"`);
    await t.rejects(stored.stat('via fuse'), 'rm and rmdir');
  });

  await t.test('unmount', async (t) => {
    // gvfs answers "busy" while a FUSE upload is still being released.
    await waitFor('gio mount -u', () => gio('mount', '-u', root).then(() => true));
    t.notMatch(await gio('mount', '-l'), `-> ${root.slice(0, -1)}`);
  });
});
