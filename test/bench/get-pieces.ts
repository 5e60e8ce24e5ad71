/**
 * Where a big GET's time goes in object-storage mode (by hand: `npx tap --timeout=0
 * test/bench/get-pieces.ts`, after `npx tsc`): on one private radosgw, a plain single GetObject,
 * N concurrent ranged GetObjects of 8/16/32 MiB emitted in order, and fastdav's GET (on a fresh
 * connection, as the bench makes it), with the sizes of the chunks the client receives. With
 * BENCH_PROFILE_DIR set, fastdav runs under `node --cpu-prof` and writes its profile there
 * (summarise with test/bench/profile-summary.mjs) and the plain client's rows are left out. BENCH_BYTES (default 1 GiB), BENCH_REPS (3).
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';

const MiB = 1024 * 1024;
const BYTES = Number(process.env['BENCH_BYTES'] ?? 1024 * MiB);
const REPS = Number(process.env['BENCH_REPS'] ?? 3);
const PROFILE_DIR = process.env['BENCH_PROFILE_DIR'];
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate = (ms: number): number => BYTES / MiB / (ms / 1000);

async function drain(body: Readable, sizes?: number[]): Promise<number> {
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    sizes?.push((c as Buffer).length);
  }
  return n;
}

t.test('GET pieces', { skip: objectStorageUnavailable(t) }, async (t) => {
  const engines = await startEngines(t, { memstoreBytes: 2 * BYTES + 1024 ** 3 });
  const { client, bucket } = engines.s3;
  const chunk = randomBytes(MiB);
  const body = async function* () {
    for (let sent = 0; sent < BYTES; sent += MiB) yield chunk;
  };
  await new Upload({ client, params: { Bucket: bucket, Key: 'plain/big', Body: Readable.from(body()) }, partSize: 8 * MiB, queueSize: 4 }).done();

  const results: Record<string, number[]> = {};
  const note = (name: string, ms: number) => (results[name] ??= []).push(rate(ms));
  const time = async (name: string, fn: () => Promise<number>) => {
    const start = performance.now();
    const n = await fn();
    t.equal(n, BYTES, `${name}: every byte`);
    note(name, performance.now() - start);
  };
  /** Consecutive ranges of `size`, `window` in flight, consumed in order. */
  const ranged = (size: number, window: number) => async () => {
    const open = (i: number) => client.send(new GetObjectCommand({ Bucket: bucket, Key: 'plain/big', Range: `bytes=${i * size}-${Math.min(BYTES, (i + 1) * size) - 1}` }));
    const count = Math.ceil(BYTES / size);
    const inFlight: Promise<{ Body?: unknown }>[] = [];
    let next = 0;
    let n = 0;
    while (next < Math.min(window, count)) inFlight.push(open(next++));
    for (let i = 0; i < count; i++) {
      const r = await inFlight.shift()!;
      if (next < count) inFlight.push(open(next++));
      n += await drain(r.Body as Readable);
    }
    return n;
  };

  const settings = await engines.settings(undefined, 'dav/');
  // --cpu-prof is not allowed in NODE_OPTIONS: a wrapper runs node with it.
  let command: string | undefined;
  if (PROFILE_DIR) {
    command = path.join(tempDir(t, 'fastdav-get-prof-'), 'node-prof');
    writeFileSync(command, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --cpu-prof --cpu-prof-dir=${JSON.stringify(PROFILE_DIR)} ${JSON.stringify(CLI)} "$@"\n`);
    chmodSync(command, 0o755);
  }
  const env: Record<string, string> = { ...engines.s3.env, NODE_ENV: 'production' };
  const dav = await startCli(t, ['--port', '0', '--metadata-url', settings.metadataUrl!, '--s3-bucket', bucket, '--s3-endpoint', engines.s3.endpoint, '--s3-prefix', 'dav/', '--gc-interval', '0', '--log-level', 'warn'], { env, ...(command ? { command } : {}) });
  const put = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${dav.origin}/big.bin`, { method: 'PUT', headers: { 'content-length': BYTES }, agent: false }, (res) => (res.resume(), resolve(res.statusCode!)));
    req.on('error', reject);
    (async () => {
      for await (const c of body()) if (!req.write(c)) await new Promise((r) => req.once('drain', r));
      req.end();
    })();
  });
  t.equal(put, 201);
  const sizes: number[] = [];
  const davGet = () =>
    new Promise<number>((resolve, reject) => {
      http.get(`${dav.origin}/big.bin`, { agent: false }, (res) => drain(res, sizes).then(resolve, reject)).on('error', reject);
    });

  for (let rep = 0; rep < REPS; rep++) {
    if (!PROFILE_DIR) await time('plain GetObject', async () => drain((await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'plain/big' }))).Body as Readable));
    if (!PROFILE_DIR) for (const size of [8, 16, 32]) for (const window of [2, 4]) await time(`ranges ${size} MiB × ${window}`, ranged(size * MiB, window));
    sizes.length = 0;
    await time('fastdav GET', davGet);
    const avg = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    t.comment(`rep ${rep + 1}: fastdav GET chunks at the client: ${sizes.length}, mean ${(avg / 1024).toFixed(1)} KiB, load ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  }
  for (const [name, xs] of Object.entries(results)) t.comment(`${name}: median ${median(xs).toFixed(0)} MiB/s (${xs.map((x) => x.toFixed(0)).join(', ')})`);
  if (PROFILE_DIR) {
    dav.child.kill('SIGTERM');
    await dav.exited;
  }
});
