/**
 * Test support: litmus 0.13, all five default suites, against a URL; asserts every test passes
 * and no warning is issued. Used against one server (test/litmus.test.ts) and against several
 * instances behind a load balancer (test/cluster/litmus.test.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { Test } from 'tap';
import { tempDir } from './server.js';

export const LITMUS_SUITES: Record<string, number> = { basic: 16, copymove: 13, props: 30, locks: 41, http: 4 };

/** The litmus binary, or '' when it is not installed. */
export const litmusBinary = (): string => spawnSync('sh', ['-c', 'command -v litmus'], { encoding: 'utf8' }).stdout.trim();


/** Runs litmus against `url` (a collection that exists) and checks 104/104 without warnings. */
export async function runLitmus(t: Test, litmus: string, url: string): Promise<void> {
  const cwd = tempDir(t, 'fastdav-litmus-'); // litmus writes debug.log and child.log here
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(litmus, ['-k', url], { cwd, env: { ...process.env, TESTS: Object.keys(LITMUS_SUITES).join(' ') }, stdio: ['ignore', 'pipe', 'pipe'] });
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
  for (const [suite, count] of Object.entries(LITMUS_SUITES)) {
    t.same(summaries.get(suite), { run: count, passed: count, failed: 0 }, `${suite}: ${count}/${count}`);
  }
  // Each test prints "NN. name....... result" (twice: progress, then result, separated by \r).
  // A warning shows as "pass (with N warning(s))", a "WARNING:" line and "N warning(s) ... issued".
  const lines = output.split(/[\r\n]+/);
  const results = lines.map((l) => /^\s*\d+\.\s(\S+?)\.*\s+(\S.*)$/.exec(l)).filter((m) => m !== null);
  t.ok(results.length >= Object.values(LITMUS_SUITES).reduce((a, b) => a + b), 'every test reported a result');
  t.same(results.filter((m) => m[2] !== 'pass').map((m) => `${m[1]}: ${m[2]}`), [], 'every test result is a plain "pass"');
  t.same(lines.filter((l) => /warning/i.test(l)), [], 'no warnings');
  if (!t.passing()) t.comment(lines.filter((l) => !/ pass$/.test(l)).join('\n'));
}
