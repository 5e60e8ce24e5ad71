import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, SETTINGS, helpText, loadConfig } from '../../src/config.js';
import { tempDir } from '../helpers/server.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The ConfigError message `fn` throws, or undefined. */
function configError(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return undefined;
}

t.test('defaults', async (t) => {
  const root = tempDir(t);
  const c = loadConfig({ argv: ['--root', root], env: {} });
  t.equal(c.root, root);
  t.equal(c.host, '127.0.0.1', 'loopback by default');
  t.equal(c.port, 8080);
  t.equal(c.prefix, '/');
  t.equal(c.metadataDir, path.join(root, '.fastdav'));
  t.equal(c.metadataUrl, undefined, 'SQLite unless a PostgreSQL URL is given');
  t.equal(c.maxXmlBytes, 1024 * 1024);
  t.equal(c.propfindInfinityLimit, 100_000);
  t.equal(c.locking, true);
  t.equal(c.lockTimeoutDefault, 3600);
  t.equal(c.lockTimeoutMax, 86400);
  t.equal(c.logLevel, 'info');
  t.ok(Object.isFrozen(c));
});

t.test('precedence: flags > environment > config file > defaults', async (t) => {
  const root = tempDir(t);
  const file = path.join(root, 'fastdav.json');
  writeFileSync(file, JSON.stringify({ port: 1111, host: '127.0.0.2', lockTimeoutMax: 500, locking: false }));
  const env = { FASTDAV_CONFIG: file, FASTDAV_PORT: '2222', FASTDAV_HOST: '127.0.0.3' };
  const all = loadConfig({ argv: ['--root', root, '--port', '3333'], env });
  t.equal(all.port, 3333, 'flag beats env and file');
  t.equal(all.host, '127.0.0.3', 'env beats file');
  t.equal(all.lockTimeoutMax, 500, 'file beats default');
  t.equal(all.locking, false, 'booleans from JSON');
  const noFlag = loadConfig({ argv: ['--root', root], env });
  t.equal(noFlag.port, 2222);
  const fileOnly = loadConfig({ argv: ['--root', root, '--config', file], env: {} });
  t.equal(fileOnly.port, 1111, '--config names the file too');
  t.equal(fileOnly.host, '127.0.0.2');
  const emptyEnv = loadConfig({ argv: ['--root', root, '--config', file], env: { FASTDAV_PORT: '' } });
  t.equal(emptyEnv.port, 1111, 'an empty variable counts as unset');
  const rootFromEnv = loadConfig({ argv: [], env: { FASTDAV_ROOT: root } });
  t.equal(rootFromEnv.root, root, 'FASTDAV_ROOT');
});

t.test('every setting has a flag, an environment variable and appears in --help', async (t) => {
  const help = helpText();
  for (const s of SETTINGS) {
    const flag = `--${s.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    const env = `FASTDAV_${s.key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    t.match(help, flag, `${s.key} flag`);
    t.match(help, env, `${s.key} env`);
  }
});

t.test('values are parsed and normalised', async (t) => {
  const root = tempDir(t);
  const cwd = path.dirname(root);
  const load = (...argv: string[]) => loadConfig({ argv: ['--root', root, ...argv], env: {}, cwd });
  t.equal(load('--max-xml-bytes', '10MiB').maxXmlBytes, 10 * 1024 * 1024);
  t.equal(load('--max-xml-bytes', '512kb').maxXmlBytes, 512 * 1024);
  t.equal(load('--max-xml-bytes', '4096').maxXmlBytes, 4096);
  t.equal(load('--locking', 'off').locking, false);
  t.equal(load('--locking', 'YES').locking, true);
  t.equal(load('--port', '0').port, 0, 'port 0 picks a free port');
  t.equal(load('--prefix', 'dav').prefix, '/dav/');
  t.equal(load('--prefix', '/a//b').prefix, '/a/b/');
  t.equal(load('--prefix', '/').prefix, '/');
  t.equal(load('--metadata-dir', 'meta').metadataDir, path.join(cwd, 'meta'), 'relative to the working directory');
  const url = 'postgres://fastdav:secret@db.example:5432/fastdav?sslmode=require';
  t.equal(load('--metadata-url', url).metadataUrl, url, 'a PostgreSQL URL is kept as given (libpq options pass through)');
  t.equal(loadConfig({ argv: ['--root', root], env: { FASTDAV_METADATA_URL: 'postgresql://h/db' } }).metadataUrl, 'postgresql://h/db');
  t.equal(load().metadataPoolSize, 10, 'ten PostgreSQL connections by default');
  t.equal(load().metadataTimeout, 5000, 'and 5 s for a statement');
  t.equal(load('--metadata-pool-size', '32').metadataPoolSize, 32);
  t.equal(loadConfig({ argv: ['--root', root], env: { FASTDAV_METADATA_POOL_SIZE: '3', FASTDAV_METADATA_TIMEOUT: '1500' } }).metadataPoolSize, 3);
  t.equal(loadConfig({ argv: ['--root', root], env: { FASTDAV_METADATA_TIMEOUT: '1500' } }).metadataTimeout, 1500);
  t.equal(loadConfig({ argv: ['--root', path.basename(root)], env: {}, cwd }).root, root, 'a relative root');
});

t.test('invalid values stop start-up with a message naming the setting', async (t) => {
  const root = tempDir(t);
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--port', 'abc'], {}, /--port: port must be a whole number, got "abc"/],
    [['--port', '70000'], {}, /port must be between 0 and 65535/],
    [['--port', '-1'], {}, /port/],
    [[], { FASTDAV_PORT: '80x' }, /FASTDAV_PORT: port/],
    [[], { FASTDAV_LOCKING: 'maybe' }, /FASTDAV_LOCKING: locking must be true or false, got "maybe"/],
    [['--max-xml-bytes', '10 parsecs'], {}, /maxXmlBytes must be a size/],
    [['--max-xml-bytes', '100'], {}, /maxXmlBytes must be between 1024/],
    [['--log-level', 'loud'], {}, /logLevel must be one of fatal, error/],
    [['--lock-timeout-max', '0'], {}, /lockTimeoutMax/],
    [['--lock-timeout-default', '1.5'], {}, /lockTimeoutDefault/],
    [['--propfind-infinity-limit', 'many'], {}, /propfindInfinityLimit/],
    [['--prefix', '/a/../b'], {}, /prefix: .* must be a plain path/],
    [['--prefix', '/a%2Fb'], {}, /prefix/],
    [['--metadata-url', 'mysql://h/db'], {}, /metadataUrl: must be a PostgreSQL URL/],
    [[], { FASTDAV_METADATA_URL: '/var/lib/meta' }, /metadataUrl/],
    [['--metadata-pool-size', '0'], {}, /metadataPoolSize must be between 1 and 1000/],
    [['--metadata-pool-size', 'lots'], {}, /metadataPoolSize must be a whole number/],
    [[], { FASTDAV_METADATA_TIMEOUT: '50' }, /FASTDAV_METADATA_TIMEOUT: metadataTimeout must be between 100 and 600000/],
    [['--metadata-timeout', '2.5'], {}, /metadataTimeout/],
    [['--no-such-flag', 'x'], {}, /no-such-flag/],
    [['stray-positional'], {}, /stray-positional|positional/i],
  ];
  for (const [argv, env, message] of cases) {
    const got = configError(() => loadConfig({ argv: ['--root', root, ...argv], env }));
    t.match(got, message, `${[...argv, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(' ')}`);
  }
});

t.test('config file problems name the file', async (t) => {
  const root = tempDir(t);
  const bad = path.join(root, 'bad.json');
  writeFileSync(bad, '{ not json');
  t.match(configError(() => loadConfig({ argv: ['--root', root, '--config', bad], env: {} })), /config file .*bad\.json/);
  const unknown = path.join(root, 'unknown.json');
  writeFileSync(unknown, JSON.stringify({ prot: 1 }));
  t.match(configError(() => loadConfig({ argv: ['--root', root, '--config', unknown], env: {} })), /unknown setting "prot"/);
  const array = path.join(root, 'array.json');
  writeFileSync(array, '[1]');
  t.match(configError(() => loadConfig({ argv: ['--root', root, '--config', array], env: {} })), /must hold a JSON object/);
  const badValue = path.join(root, 'value.json');
  writeFileSync(badValue, JSON.stringify({ port: 'eighty' }));
  t.match(configError(() => loadConfig({ argv: ['--root', root, '--config', badValue], env: {} })), /port/);
  t.match(configError(() => loadConfig({ argv: ['--root', root, '--config', path.join(root, 'missing.json')], env: {} })), /missing\.json/);
});

t.test('a root that is missing or not a folder', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'plain-file');
  writeFileSync(file, 'x');
  t.match(configError(() => loadConfig({ argv: ['--root', path.join(dir, 'nope')], env: {} })), /root: .*nope does not exist/);
  t.match(configError(() => loadConfig({ argv: ['--root', file], env: {} })), /root: .*plain-file is not a folder/);
});

/** Builds dist/ when it is missing or older than the sources (npm test has built it already). */
function ensureBuilt(): void {
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((d) => (d.isDirectory() ? newest(path.join(dir, d.name)) : statSync(path.join(dir, d.name)).mtimeMs)));
  // tsc only rewrites what changed, so compare the newest output with the newest source.
  const built = existsSync(path.join(repo, 'dist', 'cli.js')) ? newest(path.join(repo, 'dist')) : 0;
  if (built >= newest(path.join(repo, 'src'))) return;
  const r = spawnSync('npx', ['tsc', '-p', '.'], { cwd: repo, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed: ${r.stdout}${r.stderr}`);
}

t.test('the fastdav command', async (t) => {
  ensureBuilt();
  const cli = path.join(repo, 'dist', 'cli.js');
  const run = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('error', reject);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });
  const dir = tempDir(t);
  const file = path.join(dir, 'f');
  writeFileSync(file, '');
  const [missing, notFolder, badPort, help] = await Promise.all([
    run(['--root', '/nonexistent']),
    run(['--root', file]),
    run(['--root', dir], { FASTDAV_PORT: 'http' }),
    run(['--help']),
  ]);

  t.equal(missing.status, 2, 'a missing root exits with 2');
  t.match(missing.stderr, /fastdav: root: \/nonexistent does not exist/);
  t.equal(missing.stdout, '');
  t.equal(notFolder.status, 2);
  t.match(notFolder.stderr, /is not a folder/);
  t.equal(badPort.status, 2);
  t.match(badPort.stderr, /FASTDAV_PORT/);
  t.equal(help.status, 0);
  t.match(help.stdout, /--root/);
});

t.test('the fastdav command serves, prints its URL and stops on SIGTERM', async (t) => {
  ensureBuilt();
  const root = tempDir(t);
  mkdirSync(path.join(root, 'sub'));
  const child = spawn(process.execPath, [path.join(repo, 'dist', 'cli.js'), '--root', root, '--port', '0', '--log-level', 'silent', '--prefix', '/dav/'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /at (http:\/\/127\.0\.0\.1:\d+\/dav\/)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`exited early with ${code}: ${out}`)));
  });
  const res = await fetch(`${url}sub/`, { method: 'PROPFIND', headers: { depth: '0' } });
  t.equal(res.status, 207);
  t.match(await res.text(), '<D:href>/dav/sub/</D:href>');
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', (c) => resolve(c));
    child.kill('SIGTERM');
  });
  t.equal(code, 0, 'a clean stop exits with 0');
});
