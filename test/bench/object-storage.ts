/**
 * Object-storage benchmark (run by hand, not in CI: `npx tsc -p tsconfig.json && npx tap
 * test/bench/object-storage.ts`): the Speed rows, measured in one run beside the
 * filesystem backend and a plain S3 client on the same radosgw. Prints numbers; asserts only
 * that the work was done. On these shared 2-core machines, compare ratios, not absolutes.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';
import { startServer, type TestServer } from '../helpers/server.js';

const SIZE = Number(process.env['BENCH_BYTES'] ?? 512 * 1024 * 1024);
const MiB = 1024 * 1024;
const chunk = randomBytes(MiB);
const body = (): Readable => Readable.from((function* () { for (let i = 0; i < SIZE / MiB; i++) yield chunk; })());
const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/** Streams `body()` as a PUT with Content-Length; resolves with the status. */
function put(origin: string, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${urlPath}`, { method: 'PUT', headers: { 'content-length': SIZE }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    body().pipe(req);
  });
}

/** GETs and discards; resolves with the byte count. */
function get(origin: string, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(`${origin}${urlPath}`, { agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
    }).on('error', reject);
  });
}

async function timed<T>(what: string, fn: () => Promise<T>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  const s = seconds(start);
  t.comment(`${what}: ${s.toFixed(3)} s`);
  return s;
}

t.test('object storage benchmark', { skip: objectStorageUnavailable(t) }, async (t) => {
  const engines = await startEngines(t);
  const s3srv = await startServer(t, { ...(await engines.settings()), gcInterval: 0 });
  const fsSrv = await startServer(t);
  const mib = SIZE / MiB;

  // 1. Bulk bytes: the S3 endpoint to a plain client, then through fastdav.
  const plainPut = await timed(`plain S3 client PUT ${mib} MiB`, () =>
    new Upload({ client: engines.s3.client, params: { Bucket: engines.s3.bucket, Key: 'bench/plain', Body: body() }, partSize: 8 * MiB, queueSize: 4 }).done());
  const plainGet = await timed(`plain S3 client GET ${mib} MiB`, async () => {
    const r = await engines.s3.client.send(new GetObjectCommand({ Bucket: engines.s3.bucket, Key: 'bench/plain' }));
    for await (const _ of r.Body as Readable) void _;
  });
  await engines.s3.client.send(new (await import('@aws-sdk/client-s3')).DeleteObjectCommand({ Bucket: engines.s3.bucket, Key: 'bench/plain' }));
  const rss0 = process.memoryUsage().rss;
  let rssMax = rss0;
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 50);
  const davPut = await timed(`fastdav PUT ${mib} MiB`, async () => t.equal(await put(s3srv.origin, '/big.bin'), 201));
  clearInterval(sampler);
  const davGet = await timed(`fastdav GET ${mib} MiB`, async () => t.equal(await get(s3srv.origin, '/big.bin'), SIZE));
  t.comment(`PUT ${((plainPut / davPut) * 100).toFixed(0)} % of the plain client's rate, GET ${((plainGet / davGet) * 100).toFixed(0)} %`);
  t.comment(`RSS growth during the PUT (server and clients in this process): ${((rssMax - rss0) / MiB).toFixed(0)} MiB`);

  // 2. PROPFIND Depth 1 of 10,000 files: catalog vs folder on disk.
  const files = 10_000;
  t.equal((await s3srv.request('MKCOL', '/many/')).status, 201);
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: (s3srv.config.metadataUrl)! });
  await pool.query(`INSERT INTO catalog_nodes (parent, name, is_collection, size, etag, mtime_ms, created_ms)
    SELECT (SELECT id FROM catalog_nodes WHERE name = 'many'), 'f' || i, false, 4096, '"e' || i || '"', 0, 0 FROM generate_series(1, ${files}) i`);
  mkdirSync(path.join(fsSrv.root, 'many'));
  for (let i = 1; i <= files; i++) writeFileSync(path.join(fsSrv.root, 'many', `f${i}`), chunk.subarray(0, 4096));
  const listing = async (s: TestServer) => {
    const r = await s.request('PROPFIND', '/many/', { headers: { depth: '1' } });
    t.equal(r.status, 207);
  };
  for (const [name, s] of [['object storage', s3srv], ['filesystem', fsSrv]] as const) {
    await listing(s); // warm
    const times: number[] = [];
    for (let i = 0; i < 3; i++) times.push(await timed(`PROPFIND Depth 1, ${files} files, ${name}`, () => listing(s)));
    t.comment(`median ${name}: ${times.sort()[1]!.toFixed(3)} s`);
  }

  // 3. MOVE of a 2,000-file tree there and back.
  const tree = 2000;
  t.equal((await s3srv.request('MKCOL', '/tree/')).status, 201);
  await pool.query(`INSERT INTO catalog_nodes (parent, name, is_collection, size, etag, mtime_ms, created_ms)
    SELECT (SELECT id FROM catalog_nodes WHERE name = 'tree'), 'f' || i, false, 10, '"t' || i || '"', 0, 0 FROM generate_series(1, ${tree}) i`);
  mkdirSync(path.join(fsSrv.root, 'tree'));
  for (let i = 1; i <= tree; i++) writeFileSync(path.join(fsSrv.root, 'tree', `f${i}`), 'ten bytes!');
  for (const [name, s] of [['object storage', s3srv], ['filesystem', fsSrv]] as const) {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      times.push(await timed(`MOVE ${tree}-file tree, ${name}`, async () => t.equal((await s.request('MOVE', '/tree/', { headers: { destination: `${s.origin}/tree2/` } })).status, 201)));
      t.equal((await s.request('MOVE', '/tree2/', { headers: { destination: `${s.origin}/tree/` } })).status, 201);
    }
    t.comment(`median ${name}: ${times.sort()[1]!.toFixed(4)} s`);
  }
  await pool.end();
});
