/**
 * litmus 0.13, all five default suites, against a fresh server on a free port with a temporary
 * root: every test passes and no warning is issued. Skips locally when litmus is not installed;
 * under CI=true a missing litmus fails (.ci/run installs it).
 */
import t from 'tap';
import { litmusBinary, runLitmus } from './helpers/litmus.js';
import { startServer } from './helpers/server.js';

const inCI = process.env['CI'] === 'true';
const litmus = litmusBinary();

if (!litmus) {
  if (inCI) t.fail('litmus is not installed (CI=true: .ci/run should have installed it)');
  else t.plan(0, 'litmus is not installed: apt-get install litmus to run this test');
} else {
  t.test('litmus: basic copymove props locks http, all passing, no warnings', async (t) => {
    const s = await startServer(t);
    // litmus works inside URL/litmus/ ("begin" DELETEs and MKCOLs that): URL itself must exist.
    t.equal((await s.request('MKCOL', '/litmus/')).status, 201);
    await runLitmus(t, litmus, `${s.origin}/litmus/`);
  });
}
