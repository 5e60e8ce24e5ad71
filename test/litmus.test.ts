/**
 * litmus 0.13, all five default suites, against a fresh server on a free port with a temporary
 * root: every test passes and no warning is issued, with the metadata in SQLite (the default) and
 * in PostgreSQL (a private cluster, test/helpers/postgres.ts). Skips locally when litmus (or
 * PostgreSQL, for that run) is not installed; under CI=true a missing one fails (.ci/run installs both).
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { startServer, tempDir } from './helpers/server.js';
import { postgresSkipReason, startPostgres } from './helpers/postgres.js';

const EXPECTED: Record<string, number> = { basic: 16, copymove: 13, props: 30, locks: 41, http: 4 };
const inCI = process.env['CI'] === 'true';
const litmus = spawnSync('sh', ['-c', 'command -v litmus'], { encoding: 'utf8' }).stdout.trim();

if (!litmus) {
  if (inCI) t.fail('litmus is not installed (CI=true: .ci/run should have installed it)');
  else t.plan(0, 'litmus is not installed: apt-get install litmus to run this test');
} else {
  const stores = [
    { name: 'SQLite', skip: false as const, url: async () => undefined },
    { name: 'PostgreSQL', skip: postgresSkipReason(), url: async (t: Parameters<typeof startPostgres>[0]) => (await startPostgres(t)).createDatabase() },
  ];
  for (const store of stores) t.test(`litmus on ${store.name}: basic copymove props locks http, all passing, no warnings`, { skip: store.skip }, async (t) => {
    const s = await startServer(t, { metadataUrl: await store.url(t) });
    const url = `${s.origin}/litmus/`;
    // litmus works inside URL/litmus/ ("begin" DELETEs and MKCOLs that): URL itself must exist.
    t.equal((await s.request('MKCOL', '/litmus/')).status, 201);
    const cwd = tempDir(t, 'fastdav-litmus-'); // litmus writes debug.log and child.log here
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(litmus, ['-k', url], { cwd, env: { ...process.env, TESTS: Object.keys(EXPECTED).join(' ') }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
      child.on('error', reject);
      child.on('close', () => {
        clearTimeout(timer);
        resolve(out);
      });
    });

    const summaries = new Map<string, { run: number; passed: number; failed: number }>();
    for (const m of output.matchAll(/<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed/g)) {
      summaries.set(m[1]!, { run: Number(m[2]), passed: Number(m[3]), failed: Number(m[4]) });
    }
    for (const [suite, count] of Object.entries(EXPECTED)) {
      t.same(summaries.get(suite), { run: count, passed: count, failed: 0 }, `${suite}: ${count}/${count}`);
    }
    // Each test prints "NN. name....... result" (twice: progress, then result, separated by \r).
    // A warning shows as "pass (with N warning(s))", a "WARNING:" line and "N warning(s) ... issued".
    const lines = output.split(/[\r\n]+/);
    const results = lines.map((l) => /^\s*\d+\.\s(\S+?)\.*\s+(\S.*)$/.exec(l)).filter((m) => m !== null);
    t.ok(results.length >= Object.values(EXPECTED).reduce((a, b) => a + b), 'every test reported a result');
    t.same(results.filter((m) => m[2] !== 'pass').map((m) => `${m[1]}: ${m[2]}`), [], 'every test result is a plain "pass"');
    t.same(lines.filter((l) => /warning/i.test(l)), [], 'no warnings');
    if (!t.passing()) t.comment(lines.filter((l) => !/ pass$/.test(l)).join('\n'));
  });
}
