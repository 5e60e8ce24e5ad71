/**
 * litmus 0.13, all five suites, through HAProxy in front of three instances on one folder and one
 * metadata store, every request balanced on its own: 104/104 and no warnings, as against one
 * server. litmus's lock tests take a lock through one instance and use or refresh it through the
 * next, so this also proves that nothing depends on which instance answers.
 */
import t from 'tap';
import { clusterPrerequisites, startCluster } from '../helpers/cluster.js';
import { litmusBinary, runLitmus } from '../helpers/litmus.js';

const litmus = litmusBinary();
if (!litmus && process.env['CI'] === 'true') t.fail('litmus is not installed (CI=true: .ci/run should have installed it)');
const skip = clusterPrerequisites(t) || (!litmus && 'needs litmus');

t.test('litmus through the load balancer: 104/104, no warnings', { skip }, async (t) => {
  const cluster = await startCluster(t);
  t.equal((await cluster.request('MKCOL', '/litmus/')).status, 201);
  await runLitmus(t, litmus, `${cluster.origin}/litmus/`);
  const served = (await cluster.balancer.backends()).map((b) => b.total);
  t.ok(served.every((n) => n > 20), `every instance answered a share of litmus's requests (${served.join(', ')} balanced requests)`);
});
