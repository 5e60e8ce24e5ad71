/**
 * Operator errors stop start-up with exit code 2 and one line saying what is wrong and what to do,
 * never a stack trace (issue 11 item 10): an accounts file that is a folder, a port in use (also
 * with --workers 2), an address that is not this machine's, a metadata folder that cannot be
 * created, certificate files that are not what they should be, a boolean flag without a value.
 * Runs the built command (dist/cli.js).
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { runCliSync, type CliOptions } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';
import { selfSigned, skipWithoutOpenssl } from '../helpers/tls.js';

function run(args: string[], options: CliOptions = {}): { status: number | null; output: string } {
  return runCliSync(['--port', '0', ...args], options);
}

/** Exit 2 and exactly one line "fastdav: SETTING: …" matching `pattern`, no stack trace. */
function refused(t: Test, r: { status: number | null; output: string }, pattern: RegExp, what: string): void {
  t.equal(r.status, 2, `${what}: exit 2`);
  const lines = r.output.trim().split('\n');
  t.equal(lines.length, 1, `${what}: one line (${JSON.stringify(r.output)})`);
  t.match(lines[0], /^fastdav: [-a-zA-Z/]+: /, `${what}: names the setting`);
  t.match(lines[0], pattern, what);
  t.notMatch(r.output, /\n\s+at |Error:/, `${what}: no stack trace`);
}

function occupiedPort(t: Test): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
    t.teardown(() => server.close());
  });
}

t.test('--users naming a folder', async (t) => {
  const root = tempDir(t);
  refused(t, run(['--root', root, '--users', root]), /^fastdav: users: cannot read .* \(a folder, not a file\)$/, 'users folder');
});

t.test('a port in use, with one process and with --workers 2', async (t) => {
  const root = tempDir(t);
  const port = await occupiedPort(t);
  for (const workers of ['1', '2']) {
    const r = run(['--root', root, '--port', String(port), '--workers', workers]);
    refused(t, r, new RegExp(`^fastdav: port: ${port} on 127\\.0\\.0\\.1 is already in use by another program; choose another --port$`), `--workers ${workers}`);
  }
});

t.test('an address that is not one of this machine\'s (bind fails locally, nothing is sent)', async (t) => {
  const root = tempDir(t);
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never assigned to a machine.
  for (const workers of ['1', '2']) {
    const r = run(['--root', root, '--host', '192.0.2.1', '--anonymous', 'read-only', '--workers', workers]);
    refused(t, r, /^fastdav: host: 192\.0\.2\.1 is not an address of this machine/, `--workers ${workers}`);
  }
});

t.test('a metadata folder that cannot be created', async (t) => {
  const root = tempDir(t);
  writeFileSync(path.join(root, 'a-file'), 'x');
  refused(t, run(['--root', root, '--metadata-dir', path.join(root, 'a-file', 'meta')]), /^fastdav: metadataDir: cannot create the metadata folder .*a-file\/meta \(ENOTDIR\): .*--metadata-dir.*--read-only$/, 'under a file');

  // A data folder of another owner (a host folder mounted into a container): EACCES.
  const readOnlyRoot = tempDir(t);
  chmodSync(readOnlyRoot, 0o555);
  t.teardown(() => chmodSync(readOnlyRoot, 0o755));
  const asOther = process.getuid?.() === 0 ? { user: { uid: 65534, gid: 65534 } } : {};
  refused(t, run(['--root', readOnlyRoot], asOther), /^fastdav: metadataDir: cannot create the metadata folder .*\.fastdav \(EACCES\): give the server's user write access there/, 'EACCES');
});

t.test('certificate and key files that are not what they should be', { skip: skipWithoutOpenssl }, async (t) => {
  const dir = tempDir(t);
  t.ok(selfSigned(dir, 'a') && selfSigned(dir, 'b'), 'openssl made two certificates');
  const enc = spawnSync('openssl', ['pkey', '-in', path.join(dir, 'a.key'), '-aes128', '-passout', 'pass:secret', '-out', path.join(dir, 'enc.key')]);
  t.equal(enc.status, 0);
  writeFileSync(path.join(dir, 'garbage.pem'), 'not a certificate\n');
  const f = (name: string) => path.join(dir, name);
  const cases: [string, string, RegExp][] = [
    ['garbage.pem', 'a.key', /^fastdav: tlsCert: .*garbage\.pem holds no PEM certificate/],
    ['a.key', 'a.key', /^fastdav: tlsCert: .*a\.key holds no PEM certificate/],
    ['a.pem', 'garbage.pem', /^fastdav: tlsKey: .*garbage\.pem holds no PEM private key/],
    ['a.pem', 'b.key', /^fastdav: tlsKey: .*b\.key is not the private key of the certificate in .*a\.pem$/],
    ['a.pem', 'enc.key', /^fastdav: tlsKey: .*enc\.key is encrypted; give the key without a passphrase/],
  ];
  for (const [cert, key, pattern] of cases) refused(t, run(['--root', dir, '--tls-cert', f(cert), '--tls-key', f(key)]), pattern, `${cert} + ${key}`);
});

t.test('a boolean flag without a value means true, as --help shows it', async (t) => {
  const root = tempDir(t);
  const base = ['--root', root];
  t.equal(loadConfig({ argv: [...base, '--locking'], env: {} }).locking, true, 'last on the line');
  t.equal(loadConfig({ argv: [...base, '--locking', '--port', '0'], env: {} }).locking, true, 'followed by another flag');
  t.equal(loadConfig({ argv: [...base, '--locking', 'false'], env: {} }).locking, false, 'with a value');
  t.equal(loadConfig({ argv: [...base, '--locking=off'], env: {} }).locking, false, 'with =value');
  // The command: no "argument is ambiguous"; the next problem on the line is the one reported.
  refused(t, run([...base, '--locking', '--max-upload-bytes', 'lots']), /^fastdav: --max-upload-bytes: maxUploadBytes must be a size/, '--locking then a bad flag');
});

t.test('--metadata-pool-size and --metadata-timeout out of range', async (t) => {
  const root = tempDir(t);
  const url = 'postgres://fastdav@127.0.0.1:1/none';
  refused(t, run(['--root', root, '--metadata-url', url, '--metadata-pool-size', '0']), /metadataPoolSize must be between 1 and 1000/, 'pool size 0');
  refused(t, run(['--root', root, '--metadata-url', url, '--metadata-timeout', 'soon']), /metadataTimeout must be a whole number/, 'timeout not a number');
});
