/**
 * Object-storage benchmark: issue 10's Speed rows in one run (`bash test/bench/s3.sh`, by hand,
 * not in CI). Every server is its own process on the same machine and data:
 * - fastdav in object-storage mode: PostgreSQL and radosgw on memstore, started by the project's
 *   test helpers (test/helpers/postgres.ts, rgw.ts);
 * - fastdav on the filesystem, and nginx dav (+ dav-ext) serving the same folder.
 * Rows:
 * - PROPFIND Depth 1 of 10,000 files (allprop, six live properties, and the four of them that
 *   nginx answers: like for like), the servers taking turns request by request after
 *   BENCH_PF_WARMUP each, median of BENCH_PF_REPS; object storage twice: as shipped (the listing
 *   cache sends an unchanged listing again) and with --listing-cache-bytes 0 (every listing read
 *   and rendered, as the first time and after each change);
 * - COPY, MOVE and DELETE of the 2,000-file tree (20 folders × 100 files of 4 KiB, PUT through
 *   each fastdav), median of BENCH_TREE_REPS;
 * - PUT and GET of BENCH_BYTES (1 GiB) through fastdav against a plain S3 client (the AWS SDK's
 *   Upload and GetObject, 8 MiB parts, 4 at a time) on the same radosgw, interleaved, median of
 *   BENCH_BULK_REPS; the fastdav process's RSS growth during its PUT (VmRSS every 20 ms).
 * Writes report.md and summary.json into BENCH_OUT when set, and prints the report. Asserts only
 * that the work was done; on a shared machine compare ratios, and read the load averages.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import pg from 'pg';
import { runCli, serve } from '../helpers/cli.js';
import { hasNginx, startNginx } from '../helpers/nginx.js';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';
import { tempDir } from '../helpers/server.js';

const MiB = 1024 * 1024;
const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const BYTES = env('BENCH_BYTES', 1024 * MiB);
const BULK_REPS = env('BENCH_BULK_REPS', 3);
const PF_REPS = env('BENCH_PF_REPS', 5);
/** PROPFINDs per server before the counted ones: a Node server's JIT warms up over a few dozen. */
const PF_WARMUP = env('BENCH_PF_WARMUP', 5);
const TREE_REPS = env('BENCH_TREE_REPS', 5);
const PF_FILES = 10_000;
const TREE_DIRS = 20;
const TREE_FILES_PER_DIR = 100;

const chunk = randomBytes(MiB);
const bulkBody = (): Readable =>
  Readable.from((function* () {
    for (let sent = 0; sent < BYTES; sent += MiB) yield sent + MiB <= BYTES ? chunk : chunk.subarray(0, BYTES - sent);
  })());
const msSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
/** Resident memory of a process, from /proc (bytes). */
const rssOf = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

interface Reply {
  status: number;
  bytes: number;
  ms: number;
  body: string;
}

/** One request on a fresh connection (as curl makes it); the body is counted, and kept but for GET. */
function send(origin: string, method: string, urlPath: string, headers: Record<string, string | number> = {}, body?: string | Buffer | Readable): Promise<Reply> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${urlPath}`, { method, headers, agent: false }, (res) => {
      let bytes = 0;
      const kept: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (method !== 'GET') kept.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: msSince(start), body: Buffer.concat(kept).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

const SIX_PROPS = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/><D:getcontenttype/><D:displayname/></D:prop></D:propfind>';
/** The four of SIX_PROPS that nginx's dav-ext module answers (it leaves out getetag and getcontenttype, not even a 404): the same work on both sides. */
const NGINX_FOUR = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:displayname/></D:prop></D:propfind>';
const ALLPROP = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';

t.test('object storage benchmark', { skip: objectStorageUnavailable(t) || (hasNginx ? false : 'needs nginx') }, async (t) => {
  // Room in RAM for the plain client's object and fastdav's at once, freed soon after their DELETE.
  const engines = await startEngines(t, { memstoreBytes: 2 * BYTES + 2 * 1024 ** 3, quickGc: true });
  const settings = await engines.settings(undefined, 'bench/');
  const awsEnv = { AWS_ACCESS_KEY_ID: engines.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: engines.s3.secretAccessKey, AWS_REGION: engines.s3.region, NODE_ENV: 'production' };
  const quiet = ['--log-level', 'warn'];
  const s3Args = ['--metadata-url', settings.metadataUrl!, '--s3-bucket', settings.s3Bucket!, '--s3-endpoint', settings.s3Endpoint!, '--s3-prefix', 'bench/'];
  const s3 = await serve(t, [...s3Args, '--gc-interval', '0', ...quiet], awsEnv);
  // The same store without the listing cache: what a listing costs when it is read and rendered
  // (the first time, or after every change), beside what asking again for an unchanged one costs.
  const s3Uncached = await serve(t, [...s3Args, '--gc-interval', '0', '--listing-cache-bytes', '0', ...quiet], awsEnv);
  // nginx's workers run as nobody: the shared folder must be readable by all.
  const work = tempDir(t, 'fastdav-bench-s3-');
  chmodSync(work, 0o755);
  const root = path.join(work, 'root');
  mkdirSync(root, { mode: 0o755 });
  const fs = await serve(t, ['--root', root, '--metadata-dir', path.join(work, 'meta'), ...quiet], { NODE_ENV: 'production' });
  const nginx = await startNginx(
    t,
    `root ${root};
    location / { dav_methods PUT DELETE MKCOL COPY MOVE; dav_ext_methods PROPFIND OPTIONS; create_full_put_path on; client_max_body_size 0; }`,
    'load_module /usr/lib/nginx/modules/ngx_http_dav_ext_module.so;',
  );
  const servers: Record<string, { origin: string }> = { 's3': s3, 's3 uncached': s3Uncached, 'fs': fs, 'nginx': nginx };
  const summary: Record<string, unknown> = { bytes: BYTES, load: { start: loadAverage() }, started: new Date().toISOString() };
  const rows: string[] = [];
  t.comment(`load average at the start: ${loadAverage()}`);

  // ---------------------------------------------------------------- PROPFIND Depth 1, 10,000 files
  // Object storage: one real file, and 9,999 rows that share its blob (as after 9,999 COPYs):
  // PROPFIND reads only the catalog. Filesystem and nginx: 10,000 files of 4 KiB in one folder.
  const name = (i: number) => `f${String(i).padStart(5, '0')}.bin`;
  t.equal((await send(s3.origin, 'MKCOL', '/p10k/')).status, 201);
  t.equal((await send(s3.origin, 'PUT', `/p10k/${name(1)}`, {}, chunk.subarray(0, 4096))).status, 201);
  const db = new pg.Pool({ connectionString: settings.metadataUrl! });
  t.teardown(() => db.end());
  await db.query(
    `WITH one AS (SELECT n.parent, n.blob, n.etag, n.mtime_ms FROM catalog_nodes n JOIN catalog_nodes p ON p.id = n.parent WHERE p.name = 'p10k'),
     ins AS (INSERT INTO catalog_nodes (parent, name, is_collection, blob, size, etag, mtime_ms, created_ms)
             SELECT one.parent, 'f' || lpad(i::text, 5, '0') || '.bin', false, one.blob, 4096, '"' || md5(i::text) || '"', one.mtime_ms, one.mtime_ms
             FROM one, generate_series(2, $1::int) i RETURNING blob)
     UPDATE catalog_blobs SET refs = refs + (SELECT count(*) FROM ins) WHERE key = (SELECT blob FROM one)`,
    [PF_FILES],
  );
  await db.query('ANALYZE');
  mkdirSync(path.join(root, 'p10k'), { mode: 0o755 });
  for (let i = 1; i <= PF_FILES; i++) writeFileSync(path.join(root, 'p10k', name(i)), chunk.subarray(0, 4096));
  const propfind: Record<string, Record<string, number[]>> = {};
  const responseBytes: Record<string, number> = {};
  const responseProps: Record<string, number> = {};
  // The servers take turns, request by request, so that whatever else the machine does meanwhile
  // (autovacuum, Ceph's own work, the client's garbage collection) falls on all of them alike;
  // the first PF_WARMUP requests of each warm it up and are not counted.
  for (const [body, label] of [[ALLPROP, 'allprop'], [SIX_PROPS, '6 props'], [NGINX_FOUR, "nginx's 4 props"]] as const) {
    const times: Record<string, number[]> = {};
    const lastBody: Record<string, string> = {};
    for (let i = 0; i < PF_WARMUP + PF_REPS; i++) {
      for (const [server, { origin }] of Object.entries(servers)) {
        const r = await send(origin, 'PROPFIND', '/p10k/', { depth: '1', 'content-type': 'application/xml' }, body);
        t.equal(r.status, 207, `${server} PROPFIND ${label}`);
        t.equal(r.body.match(/<D:response[ >]/g)?.length, PF_FILES + 1, `${server}: ${PF_FILES + 1} responses`);
        responseBytes[`${server} ${label}`] = r.bytes;
        // What each answer holds: an etag and a type per file, or not at all.
        for (const prop of ['getetag', 'getcontenttype']) responseProps[`${server} ${label} ${prop}`] = r.body.match(new RegExp(`<D:${prop}>`, 'g'))?.length ?? 0;
        if (i >= PF_WARMUP) (times[server] ??= []).push(r.ms);
        lastBody[server] = r.body;
      }
    }
    t.equal(lastBody['s3'], lastBody['s3 uncached'], `${label}: the answer sent again is the one rendered afresh`);
    for (const [server, series] of Object.entries(times)) {
      (propfind[label] ??= {})[server] = series;
      t.comment(`PROPFIND Depth 1, ${PF_FILES} files, ${label}, ${server}: median ${median(series).toFixed(0)} ms of ${series.map((x) => x.toFixed(0)).join(', ')}`);
    }
  }
  summary['propfind'] = propfind;
  summary['propfindResponseBytes'] = responseBytes;
  summary['propfindResponseProps'] = responseProps;
  summary['load'] = { ...(summary['load'] as object), afterPropfind: loadAverage() };

  // ---------------------------------------------------------------- the 2,000-file tree: COPY, MOVE, DELETE
  const treeServers = { s3, fs } as const;
  const putRates: Record<string, number> = {};
  for (const [server, { origin }] of Object.entries(treeServers)) {
    t.equal((await send(origin, 'MKCOL', '/tree2k/')).status, 201);
    for (let d = 0; d < TREE_DIRS; d++) t.equal((await send(origin, 'MKCOL', `/tree2k/d${String(d).padStart(2, '0')}/`)).status, 201);
    const paths = Array.from({ length: TREE_DIRS * TREE_FILES_PER_DIR }, (_, i) => `/tree2k/d${String(Math.floor(i / TREE_FILES_PER_DIR)).padStart(2, '0')}/${name(i % TREE_FILES_PER_DIR)}`);
    const start = process.hrtime.bigint();
    let failed = 0;
    // Eight at a time, each on its own connection.
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; i < paths.length; i += 8) if ((await send(origin, 'PUT', paths[i]!, {}, chunk.subarray(0, 4096))).status !== 201) failed++;
    }));
    putRates[server] = paths.length / (msSince(start) / 1000);
    t.equal(failed, 0, `${server}: 2,000 PUTs`);
  }
  summary['put4k'] = putRates;
  const tree: Record<string, Record<string, number[]>> = { COPY: {}, MOVE: {}, DELETE: {} };
  for (let rep = 0; rep < TREE_REPS; rep++) {
    for (const [server, { origin }] of Object.entries(treeServers)) {
      const copy = await send(origin, 'COPY', '/tree2k/', { destination: `${origin}/copy/`, depth: 'infinity', overwrite: 'F' });
      const move = await send(origin, 'MOVE', '/copy/', { destination: `${origin}/moved/` });
      const del = await send(origin, 'DELETE', '/moved/', { depth: 'infinity' });
      t.same([copy.status, move.status, del.status], [201, 201, 204], `${server}: COPY, MOVE, DELETE`);
      (tree['COPY']![server] ??= []).push(copy.ms);
      (tree['MOVE']![server] ??= []).push(move.ms);
      (tree['DELETE']![server] ??= []).push(del.ms);
    }
  }
  for (const [op, by] of Object.entries(tree)) for (const [server, times] of Object.entries(by)) t.comment(`${op} of the 2,000-file tree, ${server}: median ${median(times).toFixed(1)} ms of ${times.map((x) => x.toFixed(1)).join(', ')}`);
  summary['tree'] = tree;
  summary['load'] = { ...(summary['load'] as object), afterTree: loadAverage() };

  // ---------------------------------------------------------------- PUT and GET of BYTES
  const bulk = { plainPut: [] as number[], plainGet: [] as number[], davPut: [] as number[], davGet: [] as number[], rssGrowth: [] as number[] };
  const rate = (ms: number) => BYTES / MiB / (ms / 1000);
  for (let rep = 0; rep < BULK_REPS; rep++) {
    let start = process.hrtime.bigint();
    await new Upload({ client: engines.s3.client, params: { Bucket: engines.s3.bucket, Key: 'plain/big', Body: bulkBody() }, partSize: 8 * MiB, queueSize: 4 }).done();
    bulk.plainPut.push(rate(msSince(start)));
    start = process.hrtime.bigint();
    const got = await engines.s3.client.send(new GetObjectCommand({ Bucket: engines.s3.bucket, Key: 'plain/big' }));
    let n = 0;
    for await (const c of got.Body as Readable) n += (c as Buffer).length;
    bulk.plainGet.push(rate(msSince(start)));
    t.equal(n, BYTES, 'plain GET: every byte');
    await engines.s3.client.send(new DeleteObjectCommand({ Bucket: engines.s3.bucket, Key: 'plain/big' }));

    const rss0 = rssOf(s3.pid);
    let rssMax = rss0;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssOf(s3.pid))), 20);
    const put = await send(s3.origin, 'PUT', '/big.bin', { 'content-length': BYTES }, bulkBody());
    clearInterval(sampler);
    t.ok(put.status === 201 || put.status === 204, `fastdav PUT: ${put.status}`);
    bulk.davPut.push(rate(put.ms));
    bulk.rssGrowth.push((rssMax - rss0) / MiB);
    const get = await send(s3.origin, 'GET', '/big.bin');
    t.same([get.status, get.bytes], [200, BYTES], 'fastdav GET: every byte');
    bulk.davGet.push(rate(get.ms));
    // Its object goes now rather than after the grace period: memstore keeps objects in RAM.
    t.equal((await send(s3.origin, 'DELETE', '/big.bin')).status, 204);
    t.equal((await runCli(['gc', '--grace', '0', ...s3Args], awsEnv)).status, 0, 'fastdav gc');
    t.comment(`rep ${rep + 1}: PUT plain ${bulk.plainPut.at(-1)!.toFixed(1)} / fastdav ${bulk.davPut.at(-1)!.toFixed(1)} MiB/s, GET plain ${bulk.plainGet.at(-1)!.toFixed(1)} / fastdav ${bulk.davGet.at(-1)!.toFixed(1)} MiB/s, RSS growth ${bulk.rssGrowth.at(-1)!.toFixed(0)} MiB (load ${loadAverage()})`);
  }
  summary['bulk'] = bulk;
  summary['load'] = { ...(summary['load'] as object), end: loadAverage() };

  // ---------------------------------------------------------------- report
  const pf = (label: string, server: string) => median(propfind[label]![server]!);
  const tr = (op: string, server: string) => median(tree[op]![server]!);
  const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)} %`;
  rows.push(
    `# Object storage benchmark, ${summary['started']}`,
    '',
    `Load average (1/5/15 min): start ${(summary['load'] as Record<string, string>)['start']}, end ${loadAverage()}. ${BYTES / MiB} MiB bulk transfers, ${BULK_REPS} reps; PROPFIND ${PF_REPS} reps (servers in turn) after ${PF_WARMUP} to warm up; tree ${TREE_REPS} reps. Medians.`,
    '',
    '| row | fastdav S3 | fastdav fs | nginx dav | goal |',
    '|---|---|---|---|---|',
    ...(['allprop', '6 props'] as const).map((label) => `| PROPFIND Depth 1, 10,000 files, ${label} (ms) | ${pf(label, 's3').toFixed(0)} | ${pf(label, 'fs').toFixed(0)} | ${pf(label, 'nginx').toFixed(0)} | S3 ≤ nginx: ${pct(pf(label, 's3'), pf(label, 'nginx'))} of nginx's time |`),
    ...(['allprop', '6 props'] as const).map((label) => `| … its response (MB) | ${['s3', 'fs', 'nginx'].map((s) => (responseBytes[`${s} ${label}`]! / 1e6).toFixed(1)).join(' | ')} | |`),
    `| … etags / content types in the 6-property answer | ${['s3', 'fs', 'nginx'].map((s) => `${responseProps[`${s} 6 props getetag`]} / ${responseProps[`${s} 6 props getcontenttype`]}`).join(' | ')} | |`,
    `| PROPFIND Depth 1, 10,000 files, the 4 of them nginx answers (ms) | ${pf("nginx's 4 props", 's3').toFixed(0)} | ${pf("nginx's 4 props", 'fs').toFixed(0)} | ${pf("nginx's 4 props", 'nginx').toFixed(0)} | like for like: ${pct(pf("nginx's 4 props", 's3'), pf("nginx's 4 props", 'nginx'))} of nginx's time |`,
    `| … its response (MB) | ${['s3', 'fs', 'nginx'].map((s) => (responseBytes[`${s} nginx's 4 props`]! / 1e6).toFixed(1)).join(' | ')} | |`,
    ...(['allprop', '6 props', "nginx's 4 props"] as const).map((label) => `| PROPFIND Depth 1, 10,000 files, ${label}, S3 with the listing cache off (ms) | ${pf(label, 's3 uncached').toFixed(0)} | | | ${pct(pf(label, 's3 uncached'), pf(label, 'nginx'))} of nginx's time |`),
    ...(['COPY', 'MOVE', 'DELETE'] as const).map((op) => `| ${op} of the 2,000-file tree (ms) | ${tr(op, 's3').toFixed(1)} | ${tr(op, 'fs').toFixed(1)} | | ${op === 'MOVE' ? `S3 ≤ 2× fs: ${(tr(op, 's3') / tr(op, 'fs')).toFixed(1)}×` : ''} |`),
    `| PUT 2,000 × 4 KiB, 8 connections (PUT/s) | ${putRates['s3']!.toFixed(0)} | ${putRates['fs']!.toFixed(0)} | | |`,
    `| PUT ${BYTES / MiB} MiB (MiB/s) | ${median(bulk.davPut).toFixed(1)} | | | ≥ 80 % of the plain client's ${median(bulk.plainPut).toFixed(1)}: ${pct(median(bulk.davPut), median(bulk.plainPut))} |`,
    `| GET ${BYTES / MiB} MiB (MiB/s) | ${median(bulk.davGet).toFixed(1)} | | | ≥ 80 % of the plain client's ${median(bulk.plainGet).toFixed(1)}: ${pct(median(bulk.davGet), median(bulk.plainGet))} |`,
    `| RSS growth during the PUT (MiB) | ${median(bulk.rssGrowth).toFixed(0)} (max ${Math.max(...bulk.rssGrowth).toFixed(0)}) | | | < 64 |`,
    '',
  );
  const report = rows.join('\n');
  for (const line of rows) t.comment(line);
  const out = process.env['BENCH_OUT'];
  if (out) {
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'report.md'), report);
    writeFileSync(path.join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  }
});
