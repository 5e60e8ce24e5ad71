/**
 * cadaver, the neon-based command-line client, scripted through its standard input: ls, mkcol,
 * put, get, copy, move, propset/propget/propdel, lock/unlock, rm. Each step is one cadaver
 * session; its transcript is split per command and checked, and what the server stores (on
 * disk, or through HTTP in object-storage mode) and its properties are checked beside it. No root or FUSE needed.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../helpers/server.js';
import { clientTarget, EXCLUSIVE_LOCK_BODY, lockDiscovery, missingPrerequisites, run, storedTree } from './client-kit.js';

const skip = missingPrerequisites(t, { tools: ['cadaver'] });

interface Step {
  readonly command: string;
  readonly output: string;
}

/** Splits a transcript at cadaver's echoed prompts (`dav:/path/> command`). */
function steps(transcript: string): Step[] {
  const out: Step[] = [];
  for (const part of transcript.split(/^dav:[^\n]*?> /m).slice(1)) {
    const newline = part.indexOf('\n');
    out.push({ command: part.slice(0, newline === -1 ? undefined : newline), output: newline === -1 ? '' : part.slice(newline + 1) });
  }
  return out;
}

t.test('cadaver', { skip }, async (t) => {
  const s = await clientTarget(t);
  const work = tempDir(t, 'fastdav-cadaver-');
  const home = path.join(work, 'home');
  mkdirSync(home);
  const cwd = path.join(work, 'local');
  mkdirSync(cwd);
  const report = randomBytes(200 * 1024 + 3);
  writeFileSync(path.join(cwd, 'report.bin'), report);
  writeFileSync(path.join(cwd, 'new version.txt'), 'new version\n');
  const stored = storedTree(s);
  await stored.writeFile('existing é.txt', 'already here\n');

  /** One cadaver session running `lines`; returns its steps. HOME is private (no ~/.cadaverrc, ~/.netrc). */
  const cadaver = async (lines: string[]): Promise<Step[]> => {
    const r = await run('cadaver', [`${s.origin}/`], { cwd, env: { ...process.env, HOME: home }, input: `${lines.join('\n')}\nquit\n`, timeout: 30_000 });
    return steps(r.stdout + r.stderr).filter((st) => st.command !== 'quit');
  };
  const succeeded = (t: Test, got: Step[]): void => {
    for (const st of got.filter((st) => !st.command.startsWith('cd '))) t.match(st.output, /succeeded/, `${st.command}: ${st.output.trim()}`);
  };

  await t.test('ls', async (t) => {
    const [ls] = await cadaver(['ls']);
    t.match(ls!.output, /existing é\.txt\s+13\s/, 'the file with its size');
  });

  await t.test('mkcol', async (t) => {
    succeeded(t, await cadaver(['mkcol docs']));
    t.ok((await stored.stat('docs')).isDirectory());
  });

  await t.test('put', async (t) => {
    succeeded(t, await cadaver(['cd docs', 'put report.bin']));
    t.ok((await stored.readFile('docs/report.bin')).equals(report), 'bytes stored');
  });

  await t.test('get', async (t) => {
    succeeded(t, await cadaver(['get docs/report.bin got.bin']));
    t.ok((await fsp.readFile(path.join(cwd, 'got.bin'))).equals(report), 'bytes downloaded');
  });

  await t.test('copy', async (t) => {
    succeeded(t, await cadaver(['cd docs', 'copy report.bin copy.bin']));
    t.ok((await stored.readFile('docs/copy.bin')).equals(report));
  });

  await t.test('move', async (t) => {
    succeeded(t, await cadaver(['cd docs', 'move copy.bin moved.bin']));
    await t.rejects(stored.stat('docs/copy.bin'));
    t.ok((await stored.readFile('docs/moved.bin')).equals(report));
  });

  await t.test('propset, propget, propdel', async (t) => {
    const set = await cadaver(['cd docs', 'propset moved.bin colour deep-red', 'propget moved.bin colour']);
    t.match(set[1]!.output, /succeeded/);
    t.match(set[2]!.output, /Value of colour is: deep-red/);
    const props = await s.request('PROPFIND', '/docs/moved.bin', { headers: { depth: '0' } });
    t.match(props.body, /<[^>]*colour xmlns(:\w+)?="http:\/\/webdav\.org\/cadaver\/custom-properties\/"[^>]*>deep-red</, 'stored as a dead property');
    const del = await cadaver(['cd docs', 'propdel moved.bin colour', 'propget moved.bin colour']);
    t.match(del[1]!.output, /succeeded/);
    t.match(del[2]!.output, /404 Not Found/, 'gone after propdel');
  });

  await t.test('lock, then unlock with the token', async (t) => {
    succeeded(t, await cadaver(['cd docs', 'lock moved.bin']));
    const discovery = await lockDiscovery(s.origin, '/docs/moved.bin');
    const token = /<D:locktoken><D:href>([^<]+)<\/D:href>/.exec(discovery)?.[1];
    t.ok(token, 'the server reports the lock');
    t.equal((await s.request('PUT', '/docs/moved.bin', { body: 'x' })).status, 423, 'another client cannot write');
    t.equal((await s.request('LOCK', '/docs/moved.bin', { headers: { depth: '0' }, body: EXCLUSIVE_LOCK_BODY })).status, 423, 'nor lock');

    // A new cadaver session does not hold the token: its PUT is refused; unlock asks for it.
    const later = await cadaver(['cd docs', 'put "new version.txt" moved.bin', 'unlock moved.bin', token!, 'put "new version.txt" moved.bin']);
    t.match(later[1]!.output, /423 Locked/, 'PUT without the token: 423');
    t.match(later[2]!.output, /succeeded/, 'UNLOCK with the token typed in');
    t.match(later[3]!.output, /succeeded/, 'PUT after unlock');
    t.notMatch(await lockDiscovery(s.origin, '/docs/moved.bin'), '<D:activelock>', 'no lock left');
    t.equal((await stored.readFile('docs/moved.bin')).toString(), 'new version\n');

    // Within one session cadaver submits its own token.
    const own = await cadaver(['cd docs', 'lock report.bin', 'put "new version.txt" report.bin', 'unlock report.bin']);
    succeeded(t, own.slice(1));
    t.notMatch(await lockDiscovery(s.origin, '/docs/report.bin'), '<D:activelock>');
  });

  await t.test('rm', async (t) => {
    succeeded(t, await cadaver(['cd docs', 'rm moved.bin', 'rm report.bin', 'cd ..', 'rmcol docs']));
    await t.rejects(stored.stat('docs'));
    const [ls] = await cadaver(['ls']);
    t.notMatch(ls!.output, 'docs');
  });
});
