/**
 * Object storage for by-hand A/B runs (cpu-ab.mjs, compare-outputs.sh): starts PostgreSQL and
 * radosgw with the test helpers, fills /bench/p100/ (100 files) and /bench/p10k/ (10,000 rows
 * sharing one blob, as test/bench/object-storage.ts makes them) with a few dead properties and a
 * lock in p10k, writes the server flags and AWS variables to FILE as JSON, and keeps the engines
 * running until FILE is removed.
 *   TAP_TIMEOUT=0 node --import @tapjs/typescript/import test/bench/s3-fixture.ts FILE &   (dist/ built; ready when FILE exists)
 *   export $(jq -r '.env|to_entries[]|"\(.key)=\(.value)"' FILE)
 *   node test/bench/cpu-ab.mjs A B --args-a="$(jq -r '.args|join(" ")' FILE)" --args-b="$(jq -r '.args|join(" ")' FILE)" --only pf10k_props,…
 * (both builds then serve the same database; /bench/tree20k for pfinf can be made with two COPYs of p10k).
 * BENCH_MEMSTORE_BYTES sets radosgw's memstore (default 2 GiB): several 1 GiB PUTs need more,
 * since radosgw frees a deleted object's data only later (a full memstore blocks every write).
 */
import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { serve } from '../helpers/cli.js';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';

const out = process.argv[2] ?? '/tmp/fastdav-s3-fixture.json';

t.test('object storage fixture', { skip: objectStorageUnavailable(t), timeout: 6 * 3600_000 }, async (t) => {
  // quickGc: radosgw frees a deleted object's data within seconds (not after its default two
  // hours), so that runs of big PUTs and DELETEs do not fill the memstore.
  const memstore = process.env['BENCH_MEMSTORE_BYTES'];
  const engines = await startEngines(t, { quickGc: true, ...(memstore ? { memstoreBytes: Number(memstore) } : {}) });
  const settings = await engines.settings(undefined, 'bench/');
  const env = { AWS_ACCESS_KEY_ID: engines.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: engines.s3.secretAccessKey, AWS_REGION: engines.s3.region };
  const args = ['--metadata-url', settings.metadataUrl!, '--s3-bucket', settings.s3Bucket!, '--s3-endpoint', settings.s3Endpoint!, '--s3-prefix', 'bench/', '--gc-interval', '0'];
  const server = await serve(t, [...args, '--log-level', 'warn'], env);
  const call = async (method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<number> =>
    (await fetch(`${server.origin}${path}`, { method, body, headers })).status;
  const four = "x".repeat(4096);
  for (const p of ['/bench/', '/bench/p100/', '/bench/p10k/']) t.equal(await call('MKCOL', p), 201);
  for (let i = 1; i <= 100; i++) t.equal(await call('PUT', `/bench/p100/f${String(i).padStart(3, '0')}.bin`, four), 201);
  t.equal(await call('PUT', '/bench/p10k/f00001.bin', four), 201);
  const db = new pg.Pool({ connectionString: settings.metadataUrl! });
  t.teardown(() => db.end());
  await db.query(
    `WITH one AS (SELECT n.parent, n.blob, n.etag, n.mtime_ms FROM catalog_nodes n JOIN catalog_nodes p ON p.id = n.parent WHERE p.name = 'p10k'),
     ins AS (INSERT INTO catalog_nodes (parent, name, is_collection, blob, size, etag, mtime_ms, created_ms)
             SELECT one.parent, 'f' || lpad(i::text, 5, '0') || '.bin', false, one.blob, 4096, '"' || md5(i::text) || '"', one.mtime_ms + i, one.mtime_ms
             FROM one, generate_series(2, 10000) i RETURNING blob)
     UPDATE catalog_blobs SET refs = refs + (SELECT count(*) FROM ins) WHERE key = (SELECT blob FROM one)`,
  );
  await db.query('ANALYZE');
  // A few odd members, dead properties and a lock, so that listings exercise every branch.
  t.equal(await call('MKCOL', '/bench/p10k/sub%20dir/'), 201);
  for (const name of ['sp%20ace.txt', '%C3%BC%26%3Cx%3E.xml', '100%25.html']) t.equal(await call('PUT', `/bench/p10k/${name}`, four), 201);
  const patch = '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:color>red</Z:color><D:displayname>Shown</D:displayname></D:prop></D:set></D:propertyupdate>';
  for (const p of ['/bench/p10k/f00002.bin', '/bench/p10k/sub%20dir/']) t.equal(await call('PROPPATCH', p, patch), 207);
  const lock = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>me</D:owner></D:lockinfo>';
  t.equal(await call('LOCK', '/bench/p10k/f00003.bin', lock, { depth: '0', timeout: 'Second-100000' }), 200);
  writeFileSync(out, JSON.stringify({ args, env }));
  t.comment(`fixture ready: ${out}; remove it to stop`);
  while (existsSync(out)) await sleep(500);
});
