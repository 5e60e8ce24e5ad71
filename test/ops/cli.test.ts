/**
 * The fastdav command as operators run it: refusals at start-up (exit 2 with a reason), --help,
 * graceful stop on SIGTERM/SIGINT (requests in flight finish, a bounded wait, the metadata store
 * flushed, exit 0), and an htpasswd file written by Apache's own `htpasswd -B`.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir, request } from '../helpers/server.js';
import { CLI, serve } from '../helpers/cli.js';

/** Runs the CLI to completion (for refusals). */
function run(args: string[], env: Record<string, string> = {}): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: r.stdout + r.stderr };
}

/** Starts a PUT that sends `first`, and the rest only when `finish()` is called. */
function slowUpload(port: number, urlPath: string, first: string, rest: string) {
  const socket = net.connect(port, '127.0.0.1');
  let response = '';
  socket.write(`PUT ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${first.length + rest.length}\r\n\r\n${first}`);
  socket.on('data', (d) => (response += d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { finish: () => socket.write(rest), closed: closed.then(() => response) };
}

/** True when nothing listens on the port any more. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => (s.destroy(), resolve(false)));
    s.on('error', () => resolve(true));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a non-loopback address without accounts or explicit anonymous access: refused, exit 2, with the reason', async (t) => {
  const root = tempDir(t);
  for (const host of ['0.0.0.0', '::', '192.0.2.1']) {
    const r = run(['--root', root, '--host', host, '--port', '0']);
    t.equal(r.status, 2, host);
    t.match(r.output, /reachable from other machines.*no accounts.*--users FILE.*--anonymous read-only\|read-write/s);
    t.notMatch(r.output, /serving/);
  }
  const env = run(['--root', root], { FASTDAV_HOST: '0.0.0.0' });
  t.equal(env.status, 2, 'also when the host comes from FASTDAV_HOST');
});

t.test('start-up stops with exit 2 and a message naming the problem', async (t) => {
  const root = tempDir(t);
  writeFileSync(path.join(root, 'users'), 'alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n');
  const weak = run(['--root', root, '--users', path.join(root, 'users')]);
  t.equal(weak.status, 2);
  t.match(weak.output, /user "alice" has a SHA-1 password hash; fastdav accepts only bcrypt/);
  const tls = run(['--root', root, '--tls-cert', path.join(root, 'nope.pem'), '--tls-key', path.join(root, 'nope.key')]);
  t.equal(tls.status, 2);
  t.match(tls.output, /tlsCert: cannot read .*nope\.pem/);
  const half = run(['--root', root, '--tls-cert', 'x.pem']);
  t.match(half.output, /HTTPS needs both tlsCert and tlsKey/);
  const bad = run(['--root', root], { FASTDAV_MAX_UPLOAD_BYTES: 'lots' });
  t.equal(bad.status, 2);
  t.match(bad.output, /FASTDAV_MAX_UPLOAD_BYTES: maxUploadBytes must be a size/);
});

t.test('--help lists the operations settings', async (t) => {
  const r = run(['--help']);
  t.equal(r.status, 0);
  for (const flag of ['--users', '--user-access', '--anonymous', '--realm', '--tls-cert', '--tls-key', '--max-upload-bytes', '--max-header-bytes', '--headers-timeout', '--request-timeout', '--idle-timeout', '--keep-alive-timeout', '--shutdown-timeout']) {
    t.match(r.output, new RegExp(`${flag} .*FASTDAV_`), flag);
  }
});

t.test('SIGTERM: no new connections, the request in flight finishes, the store is flushed, exit 0', async (t) => {
  const root = tempDir(t);
  const s = await serve(t, ['--root', root]);
  t.equal((await request(s.origin, 'PROPPATCH', '/', { body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:a xmlns:x="urn:x">1</x:a></D:prop></D:set></D:propertyupdate>' })).status, 207);
  const upload = slowUpload(s.port, '/inflight.txt', 'first half, ', 'second half');
  await sleep(300);
  s.child.kill('SIGTERM');
  await sleep(300);
  t.ok(await refused(s.port), 'new connections are refused');
  upload.finish();
  t.match(await upload.closed, /^HTTP\/1\.1 201 /, 'the upload in flight completed');
  t.equal(await s.exit, 0, 'exit code 0');
  t.equal(readFileSync(path.join(root, 'inflight.txt'), 'utf8'), 'first half, second half');
  t.match(s.output(), /"signal":"SIGTERM".*"msg":"stopping: waiting for requests in flight".*"msg":"stopped"/s);
  const wal = path.join(root, '.fastdav', 'metadata.sqlite-wal');
  t.ok(!existsSync(wal) || statSync(wal).size === 0, 'the metadata journal was folded into the database');
});

t.test('SIGINT with a request that never finishes: cut after the bounded wait, no temporary file, exit 0', async (t) => {
  const root = tempDir(t);
  mkdirSync(path.join(root, 'd'));
  const s = await serve(t, ['--root', root, '--shutdown-timeout', '1']);
  const upload = slowUpload(s.port, '/d/never.txt', 'some bytes', 'never sent');
  await sleep(300);
  s.child.kill('SIGINT');
  t.equal(await s.exit, 0);
  await upload.closed;
  t.match(s.output(), /still busy after 1 s, closing the remaining connections/);
  t.same(readdirSync(path.join(root, 'd')), [], 'the cut upload left nothing behind');
});

const hasHtpasswd = spawnSync('htpasswd', ['-nbB', 'x', 'y']).status === 0;
const skipHtpasswd = !hasHtpasswd && process.env['CI'] !== 'true' ? 'htpasswd not installed (apt-get install apache2-utils)' : false;

t.test('an htpasswd file made by `htpasswd -B` works', { skip: skipHtpasswd }, async (t) => {
  t.ok(hasHtpasswd, 'htpasswd (apache2-utils) is installed');
  const root = tempDir(t);
  const users = path.join(root, 'users');
  t.equal(spawnSync('htpasswd', ['-cbB', users, 'alice', 'pässwörd']).status, 0);
  t.equal(spawnSync('htpasswd', ['-bB', '-C', '12', users, 'bob', 'bob-pw']).status, 0);
  t.match(readFileSync(users, 'utf8'), /^alice:\$2y\$05\$/);
  const s = await serve(t, ['--root', root, '--users', users, '--log-level', 'warn']);
  const as = (user: string, pw: string) => request(s.origin, 'PROPFIND', '/', { headers: { depth: '0', authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` } });
  t.equal((await as('alice', 'pässwörd')).status, 207, 'UTF-8 password');
  t.equal((await as('bob', 'bob-pw')).status, 207, 'cost 12');
  t.equal((await as('alice', 'passwort')).status, 401);
  s.child.kill('SIGTERM');
  t.equal(await s.exit, 0);
});
