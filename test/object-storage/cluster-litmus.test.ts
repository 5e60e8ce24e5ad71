/**
 * litmus 0.13, all five suites, in object-storage mode through HAProxy in front of three
 * instances on one PostgreSQL database and one radosgw bucket, every request balanced on its
 * own: 104/104 and no warnings. A body PUT through one instance is read, copied, moved and
 * locked through the others, so nothing may depend on which instance stored the blob.
 */
import t from 'tap';
import { readdirSync } from 'node:fs';
import { litmusBinary, runLitmus } from '../helpers/litmus.js';
import { objectStorageClusterUnavailable, startObjectStorageCluster } from '../helpers/object-storage.js';

const litmus = litmusBinary();
if (!litmus && process.env['CI'] === 'true') t.fail('litmus is not installed (CI=true: .ci/run should have installed it)');
const skip = objectStorageClusterUnavailable(t) || (!litmus && 'needs litmus');

t.test('litmus in object-storage mode through the load balancer: 104/104, no warnings', { skip }, async (t) => {
  const cluster = await startObjectStorageCluster(t);
  const { s3 } = cluster;
  t.equal((await cluster.request('MKCOL', '/litmus/')).status, 201);
  const s3RequestsBefore = await s3.requests();
  await runLitmus(t, litmus, `${cluster.origin}/litmus/`);
  const served = (await cluster.balancer.backends()).map((b) => b.total);
  t.ok(served.every((n) => n > 20), `every instance answered a share of litmus's requests (${served.join(', ')} balanced requests)`);
  // Contents went to the bucket, and nothing at all to the instances' folder (no shared disk needed).
  const s3Requests = (await s3.requests()) - s3RequestsBefore;
  t.ok(s3Requests > 20, `radosgw served the contents (${s3Requests} S3 requests during litmus)`);
  t.same(readdirSync(cluster.root), [], 'nothing in the folder the instances were given');
});
