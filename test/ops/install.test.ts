/**
 * Installing without Docker (issue 11 item 12), with npm itself:
 * - `npm pack` makes a tarball whose `npm install -g` gives a working `fastdav` command
 *   (--version, serving, SIGTERM), with the systemd unit beside it that `systemd-analyze verify`
 *   accepts;
 * - `npm ci --omit=dev` works (no install script needs TypeScript);
 * - `npm start` compiles only when dist/ is missing or older than the sources.
 * npm fetches the production dependencies (from its cache when it has them).
 */
import t, { type Test } from 'tap';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCli } from '../helpers/cli.js';
import { request, tempDir } from '../helpers/server.js';

const TOP = fileURLToPath(new URL('../..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(path.join(TOP, 'package.json'), 'utf8')) as { version: string }).version;
const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
const npmEnv = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

function npm(t: Test, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync('npm', args, { cwd, env: npmEnv, encoding: 'utf8', timeout: 240_000 });
  t.equal(r.status, 0, `npm ${args.join(' ')}${r.status === 0 ? '' : `: ${r.stdout}${r.stderr}`}`);
  return r;
}

/** Runs `command` until it prints its URL; PUT and GET a file; SIGTERM; resolves with the exit code. */
async function serveOnce(t: Test, command: string): Promise<number | null> {
  const { origin, child, exit } = await startCli(t, ['--root', tempDir(t), '--port', '0'], { command });
  t.equal((await request(origin, 'PUT', '/hello.txt', { body: 'installed' })).status, 201);
  t.equal((await request(origin, 'GET', '/hello.txt')).body, 'installed');
  child.kill('SIGTERM');
  return exit;
}

t.test('npm pack, then npm install -g of the tarball: a working fastdav command and a valid systemd unit', async (t) => {
  const work = tempDir(t);
  const packed = npm(t, ['pack', '--pack-destination', work], TOP);
  const tarball = path.join(work, packed.stdout.trim().split('\n').pop()!);
  const files = spawnSync('tar', ['tzf', tarball], { encoding: 'utf8' }).stdout.split('\n');
  t.ok(files.includes('package/dist/cli.js'), 'the compiled command is in the tarball');
  t.ok(files.includes('package/docker/fastdav.service'), 'so is the systemd unit');
  t.notOk(files.some((f) => f.endsWith('.map') || f.endsWith('.tsbuildinfo') || f.startsWith('package/src/')), 'no sources, maps or build state');

  const prefix = path.join(work, 'global');
  npm(t, ['install', '-g', '--prefix', prefix, '--prefer-offline', tarball], work);
  const fastdav = path.join(prefix, 'bin', 'fastdav');
  const version = spawnSync(fastdav, ['--version'], { encoding: 'utf8' });
  t.equal(version.stdout, `fastdav ${VERSION}\n`, 'fastdav --version');
  t.equal(await serveOnce(t, fastdav), 0, 'serves, and stops with exit 0 on SIGTERM');

  t.test('systemd-analyze verify accepts the unit (ExecStart pointed at this install)', { skip: !hasSystemdAnalyze && process.env['CI'] !== 'true' ? 'systemd-analyze not installed' : false }, async (t) => {
    const unit = readFileSync(path.join(prefix, 'lib', 'node_modules', 'fastdav', 'docker', 'fastdav.service'), 'utf8');
    t.match(unit, /^ExecStart=\/usr\/local\/bin\/fastdav$/m, 'the unit runs the command npm install -g puts in /usr/local/bin');
    t.match(unit, /^Restart=on-failure$/m);
    t.match(unit, /^User=fastdav$/m, 'as a dedicated user');
    t.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m, 'reload is SIGHUP');
    const here = path.join(work, 'fastdav.service');
    writeFileSync(here, unit.replace(/^ExecStart=.*$/m, `ExecStart=${fastdav}`));
    const r = spawnSync('systemd-analyze', ['verify', here], { encoding: 'utf8' });
    t.equal(r.status, 0);
    t.equal(r.stdout + r.stderr, '', 'no warnings');
  });
});

t.test('npm ci --omit=dev works; npm start compiles only when dist/ is older than the sources', async (t) => {
  const copy = tempDir(t);
  // A checkout with dist/ already built (as after `npm run build`), installed without dev dependencies.
  for (const name of ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'src', 'dist']) {
    if (existsSync(path.join(TOP, name))) cpSync(path.join(TOP, name), path.join(copy, name), { recursive: true, preserveTimestamps: true });
  }
  const stamp = path.join(copy, 'dist', '.built');
  writeFileSync(stamp, 'test\n');
  npm(t, ['ci', '--omit=dev', '--prefer-offline'], copy);
  t.notOk(existsSync(path.join(copy, 'node_modules', 'typescript')), 'no TypeScript installed');

  const builtAt = statSync(stamp).mtimeMs;
  const current = npm(t, ['start', '--silent', '--', '--version'], copy);
  t.equal(current.stdout.trim(), `fastdav ${VERSION}`, 'npm start with a current dist/ starts without compiling (there is no compiler)');
  t.equal(statSync(stamp).mtimeMs, builtAt);

  // A source newer than the build: npm start must compile first.
  const later = new Date(Date.now() + 5000);
  utimesSync(path.join(copy, 'src', 'cli.ts'), later, later);
  const stale = spawnSync('npm', ['start', '--silent', '--', '--version'], { cwd: copy, env: npmEnv, encoding: 'utf8' });
  t.not(stale.status, 0, 'stale, and nothing to compile with: refused');
  t.match(stale.stderr, /dist\/ is missing or out of date and TypeScript is not installed/);
  // The dev dependencies (compiler, type definitions), as `npm ci` without --omit=dev would bring them.
  const dev = (JSON.parse(readFileSync(path.join(TOP, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies;
  for (const name of Object.keys(dev)) {
    mkdirSync(path.dirname(path.join(copy, 'node_modules', name)), { recursive: true });
    symlinkSync(path.join(TOP, 'node_modules', name), path.join(copy, 'node_modules', name));
  }
  const rebuilt = npm(t, ['start', '--silent', '--', '--version'], copy);
  t.equal(rebuilt.stdout.trim(), `fastdav ${VERSION}`);
  t.ok(statSync(stamp).mtimeMs > builtAt, 'compiled, and the stamp renewed');
});
