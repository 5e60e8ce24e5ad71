/**
 * One background sweeper at a time (issue 10): three instances on one database and bucket, each
 * with a sweep every second, take turns through the lease in catalog_gc_lease: one sweeps, the
 * others stand by; when the holder is killed with -9 another takes over once the lease ran out;
 * `fastdav gc` sweeps beside them without a second sweep under way.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { runCli } from '../helpers/cli.js';
import { startInstance, until, type Instance } from '../helpers/instances.js';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';
import { request, tempDir } from '../helpers/server.js';

const skip = objectStorageUnavailable(t);

/** The sweep reports an instance logged (one JSON line each, message "gc: …"). */
function sweeps(instance: Instance): { released: number; holder: string }[] {
  return instance
    .output()
    .split('\n')
    .filter((line) => line.includes('"msg":"gc: ') && line.includes('objects listed'))
    .map((line) => (JSON.parse(line) as { gc: { released: number; holder: string } }).gc);
}

t.test('the sweep lease', { skip }, async (t) => {
  const engines = await startEngines(t);
  const s = await engines.settings();
  const env = { AWS_ACCESS_KEY_ID: engines.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: engines.s3.secretAccessKey, AWS_REGION: engines.s3.region };
  const storage = ['--metadata-url', s.metadataUrl!, '--s3-bucket', s.s3Bucket!, '--s3-endpoint', s.s3Endpoint!, '--s3-prefix', s.s3Prefix!];
  // The helper starts instances with --log-level warn; the later flag wins, and the sweeps log at info.
  const args = [...storage, '--gc-interval', '1', '--gc-grace', '0', '--log-level', 'info'];
  const root = tempDir(t);
  const instances = await Promise.all([0, 1, 2].map(() => startInstance(t, { root, args, env })));
  const origin = instances[0]!.origin;

  // Files to collect: written, then deleted, so their blobs are released.
  for (let i = 0; i < 6; i++) t.equal((await request(origin, 'PUT', `/f${i}.txt`, { body: `file ${i}` })).status, 201);
  for (let i = 0; i < 6; i++) t.equal((await request(origin, 'DELETE', `/f${i}.txt`)).status, 204);

  await until('a few sweeps', () => instances.reduce((n, i) => n + sweeps(i).length, 0) >= 4);
  await sleep(2500);
  const sweepers = instances.filter((i) => sweeps(i).length > 0);
  t.equal(sweepers.length, 1, `one instance sweeps (sweeps per instance: ${instances.map((i) => sweeps(i).length).join(', ')})`);
  const holder = sweepers[0]!;
  const released = instances.flatMap(sweeps).reduce((n, r) => n + r.released, 0);
  t.equal(released, 6, 'each released blob deleted once');
  t.same(await engines.objects(s.s3Prefix!), [], 'the bucket holds nothing under the prefix');

  // The holder dies without handing the lease back: another takes over once it runs out (2 s).
  const killedAt = Date.now();
  await holder.kill('SIGKILL');
  const others = instances.filter((i) => i !== holder);
  const before = others.map((i) => sweeps(i).length);
  await until('another instance sweeps', () => others.some((i, n) => sweeps(i).length > before[n]!), 15_000);
  t.comment(`taken over ${Date.now() - killedAt} ms after the kill (lease: 2 s, interval: 1 s)`);
  await sleep(2500);
  const next = others.filter((i, n) => sweeps(i).length > before[n]!);
  t.equal(next.length, 1, 'still one sweeper');
  t.not(sweeps(next[0]!)[0]!.holder, sweeps(holder)[0]!.holder, 'under another holder name');

  // The command: it takes the lease between two sweeps, sweeps once, hands it back.
  const command = await runCli(['gc', '--grace', '0', '--root', root, ...storage], env);
  t.equal(command.status, 0, command.output);
  t.match(command.output, /gc: \d+ objects listed; deleted/);
  // A sweep under way elsewhere (the row as a sweeping holder leaves it): the command says so and waits for it.
  const db = new pg.Client({ connectionString: s.metadataUrl });
  await db.connect();
  t.teardown(() => db.end());
  await db.query(`UPDATE catalog_gc_lease SET holder = 'elsewhere', until = now() + interval '3 seconds', sweeping = true`);
  const waited = await runCli(['gc', '--grace', '0', '--root', root, ...storage], env);
  t.equal(waited.status, 0, waited.output);
  t.match(waited.output, /gc: waiting for the sweep under way on elsewhere[^\n]*\ngc: \d+ objects listed/, 'it waited, then swept');
  t.equal((await db.query(`SELECT 1 FROM catalog_gc_lease WHERE holder LIKE 'fastdav gc@%' AND until > now()`)).rowCount, 0, 'and handed the lease back');

  const afterCommand = next[0]!;
  const count = sweeps(afterCommand).length;
  await until('the background sweeps resume after the command', () => instances.filter((i) => i.alive()).some((i) => sweeps(i).length > (i === afterCommand ? count : 0)));
});
