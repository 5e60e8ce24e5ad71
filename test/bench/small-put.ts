/**
 * Small PUTs in object-storage mode (issue 10, by hand, not in CI):
 * `npx tsc -p tsconfig.json && BENCH_OUT=DIR npx tap --timeout=0 test/bench/small-put.ts`.
 * Same run, same machine, BENCH_SMALL_COUNT (2,000) PUTs of 4 KiB with BENCH_SMALL_IN_FLIGHT (16)
 * in flight, alternating rounds (median of BENCH_SMALL_REPS):
 * - a plain S3 client (the AWS SDK's PutObject) against the radosgw fastdav uses;
 * - fastdav in object-storage mode (its own process, PostgreSQL + radosgw from the test helpers);
 * - fastdav on the filesystem backend.
 * Each HTTP client keeps its connections alive (as real WebDAV clients do). Also reported: the
 * fastdav process's CPU time per PUT (/proc/PID/stat) and the load average. Asserts only that the
 * work was done; on a shared machine compare the ratios of one run.
 * BENCH_BASELINE_CLI=EXECUTABLE: one more object-storage server in the same rounds (its own
 * database and prefix), run by that executable (say a wrapper of an older build's dist/cli.js):
 * an A/B of a change in one run.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { serve, startCli } from '../helpers/cli.js';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';
import { tempDir } from '../helpers/server.js';
import { loadAverage, saveReport } from './report.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const COUNT = env('BENCH_SMALL_COUNT', 2000);
const IN_FLIGHT = env('BENCH_SMALL_IN_FLIGHT', 16);
const REPS = env('BENCH_SMALL_REPS', 3);
const body = randomBytes(4096);

const msSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** CPU time (user + system) a process has used, in ms (clock ticks of 10 ms). */
const cpuMsOf = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

/** `count` jobs, `inFlight` at a time; resolves with the rate (jobs per second). */
async function rate(count: number, inFlight: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    for (let i = next++; i < count; i = next++) await job(i);
  }));
  return count / (msSince(start) / 1000);
}

/** A PUT of `data` on a kept-alive connection of `agent`; resolves with the status. */
function put(agent: http.Agent, origin: string, urlPath: string, data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${urlPath}`, { method: 'PUT', agent, headers: { 'content-length': data.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

t.test('small PUTs: fastdav object storage, plain S3 client, filesystem', { skip: objectStorageUnavailable(t) }, async (t) => {
  const engines = await startEngines(t, { quickGc: true });
  const settings = await engines.settings(undefined, 'small/');
  const awsEnv = { AWS_ACCESS_KEY_ID: engines.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: engines.s3.secretAccessKey, AWS_REGION: engines.s3.region, NODE_ENV: 'production' };
  const quiet = ['--log-level', 'warn'];
  const s3 = await serve(t, ['--metadata-url', settings.metadataUrl!, '--s3-bucket', settings.s3Bucket!, '--s3-endpoint', settings.s3Endpoint!, '--s3-prefix', 'small/', '--gc-interval', '0', ...quiet], awsEnv);
  const baselineCli = process.env['BENCH_BASELINE_CLI'];
  const baselineSettings = baselineCli ? await engines.settings(undefined, 'small-baseline/') : undefined;
  const baseline = baselineCli
    ? await startCli(t, ['--port', '0', '--metadata-url', baselineSettings!.metadataUrl!, '--s3-bucket', baselineSettings!.s3Bucket!, '--s3-endpoint', baselineSettings!.s3Endpoint!, '--s3-prefix', 'small-baseline/', '--gc-interval', '0', ...quiet], { env: awsEnv, command: baselineCli })
    : undefined;
  const work = tempDir(t, 'fastdav-bench-small-');
  const root = path.join(work, 'root');
  mkdirSync(root);
  const fs = await serve(t, ['--root', root, '--metadata-dir', path.join(work, 'meta'), ...quiet], { NODE_ENV: 'production' });
  // The plain client as fastdav configures its own (path-style, checksums only when required).
  const plain = new S3Client({
    endpoint: engines.s3.endpoint,
    forcePathStyle: true,
    region: engines.s3.region,
    credentials: { accessKeyId: engines.s3.accessKeyId, secretAccessKey: engines.s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  t.teardown(() => plain.destroy());
  const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  t.teardown(() => agent.destroy());

  const servers = { ...(baseline ? { baseline } : {}), s3, fs };
  const rates: Record<string, number[]> = { plain: [], ...Object.fromEntries(Object.keys(servers).map((k) => [k, []])) };
  const cpuPerPut: Record<string, number[]> = Object.fromEntries(Object.keys(servers).map((k) => [k, []]));
  const loads: string[] = [loadAverage()];
  t.comment(`${COUNT} PUTs of 4 KiB, ${IN_FLIGHT} in flight; load average at the start: ${loads[0]}`);
  for (let rep = 0; rep < REPS; rep++) {
    rates['plain']!.push(await rate(COUNT, IN_FLIGHT, async (i) => {
      await plain.send(new PutObjectCommand({ Bucket: engines.s3.bucket, Key: `plain/r${rep}/f${i}`, Body: body, ContentLength: body.length }));
    }));
    for (const [server, running] of Object.entries(servers)) {
      const folder = `/r${rep}/`;
      const made = await new Promise<number>((resolve, reject) => {
        http.request(`${running.origin}${folder}`, { method: 'MKCOL', agent }, (res) => resolve((res.resume(), res.statusCode ?? 0))).on('error', reject).end();
      });
      t.equal(made, 201, `${server}: MKCOL ${folder}`);
      const cpuBefore = cpuMsOf(running.child.pid!);
      let failed = 0;
      rates[server]!.push(await rate(COUNT, IN_FLIGHT, async (i) => {
        if ((await put(agent, running.origin, `${folder}f${i}.bin`, body)) !== 201) failed++;
      }));
      cpuPerPut[server]!.push((cpuMsOf(running.child.pid!) - cpuBefore) / COUNT);
      t.equal(failed, 0, `${server}: ${COUNT} PUTs answered 201`);
    }
    loads.push(loadAverage());
    const last = (by: Record<string, number[]>, digits: number) => Object.entries(by).map(([k, v]) => `${k} ${v.at(-1)!.toFixed(digits)}`).join(', ');
    t.comment(`round ${rep + 1}: ${last(rates, 0)} PUT/s; fastdav CPU per PUT (ms): ${last(cpuPerPut, 2)} (load ${loadAverage()})`);
  }
  const report = [
    `# Small PUTs: ${COUNT} × 4 KiB, ${IN_FLIGHT} in flight, median of ${REPS} (${new Date().toISOString()})`,
    '',
    '| client | PUT/s | rounds | fastdav CPU per PUT (ms) |',
    '|---|---|---|---|',
    `| plain S3 client (PutObject) on the same radosgw | ${median(rates['plain']!).toFixed(0)} | ${rates['plain']!.map((x) => x.toFixed(0)).join(', ')} | |`,
    ...(baseline ? [`| fastdav, object storage, baseline (${baselineCli}) | ${median(rates['baseline']!).toFixed(0)} | ${rates['baseline']!.map((x) => x.toFixed(0)).join(', ')} | ${median(cpuPerPut['baseline']!).toFixed(2)} |`] : []),
    `| fastdav, object storage | ${median(rates['s3']!).toFixed(0)} | ${rates['s3']!.map((x) => x.toFixed(0)).join(', ')} | ${median(cpuPerPut['s3']!).toFixed(2)} |`,
    `| fastdav, filesystem | ${median(rates['fs']!).toFixed(0)} | ${rates['fs']!.map((x) => x.toFixed(0)).join(', ')} | ${median(cpuPerPut['fs']!).toFixed(2)} |`,
    '',
    `Load average (1, 5, 15 min) at the start and after each round: ${loads.join(' / ')}; ${readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? '?'} cores.`,
  ].join('\n');
  t.comment(report);
  saveReport(report, { count: COUNT, inFlight: IN_FLIGHT, rates, cpuPerPut, loads });
});
