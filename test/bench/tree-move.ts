/**
 * MOVE of the 2,000-file tree (issue 10's MOVE row, by hand, not in CI):
 * `npx tsc -p tsconfig.json && BENCH_OUT=DIR npx tap --timeout=0 test/bench/tree-move.ts`.
 * Same run, same machine: fastdav in object-storage mode and fastdav on the filesystem backend
 * (each its own process), the tree of s3.sh (20 folders × 100 files of 4 KiB, PUT through each),
 * then BENCH_MOVE_COUNT (20) MOVEs of it back and forth on each, interleaved, each on a fresh
 * connection as s3.sh sends them. Reports the median and the 90th percentile per server and the
 * load average. BENCH_BASELINE_CLI=EXECUTABLE adds one more object-storage server (its own
 * database and prefix) run by that executable, say a wrapper of an older build's dist/cli.js: an
 * A/B of a change in one run. Asserts only that every MOVE answered 201.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { serve, startCli } from '../helpers/cli.js';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';
import { tempDir } from '../helpers/server.js';
import { loadAverage, saveReport } from './report.js';

const COUNT = Number(process.env['BENCH_MOVE_COUNT'] ?? 20);
const DIRS = 20;
const FILES_PER_DIR = 100;
const body = randomBytes(4096);

const percentile = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p + 0.5))]!;
};

/** One request on a fresh connection (agent: false); resolves with the status and the milliseconds to the end of the answer. */
function send(origin: string, method: string, urlPath: string, headers: Record<string, string | number> = {}, data?: Buffer): Promise<{ status: number; ms: number }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${urlPath}`, { method, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

t.test('MOVE of the 2,000-file tree: object storage beside the filesystem', { skip: objectStorageUnavailable(t) }, async (t) => {
  const engines = await startEngines(t);
  const awsEnv = { AWS_ACCESS_KEY_ID: engines.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: engines.s3.secretAccessKey, AWS_REGION: engines.s3.region, NODE_ENV: 'production' };
  const quiet = ['--log-level', 'warn', '--gc-interval', '0'];
  const objectStorageArgs = async (prefix: string) => {
    const settings = await engines.settings(undefined, prefix);
    return ['--metadata-url', settings.metadataUrl!, '--s3-bucket', settings.s3Bucket!, '--s3-endpoint', settings.s3Endpoint!, '--s3-prefix', prefix, ...quiet];
  };
  const s3 = await serve(t, await objectStorageArgs('move/'), awsEnv);
  const baselineCli = process.env['BENCH_BASELINE_CLI'];
  const baseline = baselineCli ? await startCli(t, ['--port', '0', ...(await objectStorageArgs('move-baseline/'))], { env: awsEnv, command: baselineCli }) : undefined;
  const work = tempDir(t, 'fastdav-bench-move-');
  mkdirSync(path.join(work, 'root'));
  const fs = await serve(t, ['--root', path.join(work, 'root'), '--metadata-dir', path.join(work, 'meta'), '--log-level', 'warn'], { NODE_ENV: 'production' });
  const servers = { ...(baseline ? { baseline } : {}), s3, fs };

  for (const [server, { origin }] of Object.entries(servers)) {
    t.equal((await send(origin, 'MKCOL', '/tree2k/')).status, 201);
    let failed = 0;
    for (let d = 0; d < DIRS; d++) {
      const dir = `/tree2k/d${String(d).padStart(2, '0')}/`;
      if ((await send(origin, 'MKCOL', dir)).status !== 201) failed++;
      const puts = Array.from({ length: FILES_PER_DIR }, (_, i) => send(origin, 'PUT', `${dir}f${i}.bin`, { 'content-length': body.length }, body));
      failed += (await Promise.all(puts)).filter((r) => r.status !== 201).length;
    }
    t.equal(failed, 0, `${server}: the tree of ${DIRS * FILES_PER_DIR} files made`);
  }

  const times: Record<string, number[]> = Object.fromEntries(Object.keys(servers).map((k) => [k, []]));
  const loads = [loadAverage()];
  for (let i = 0; i < COUNT; i++) {
    const [from, to] = i % 2 === 0 ? ['/tree2k/', '/moved2k/'] : ['/moved2k/', '/tree2k/'];
    for (const [server, { origin }] of Object.entries(servers)) {
      const r = await send(origin, 'MOVE', from, { destination: `${origin}${to}` });
      if (r.status !== 201) t.fail(`${server}: MOVE ${from} answered ${r.status}`);
      times[server]!.push(r.ms);
    }
  }
  loads.push(loadAverage());
  const row = (server: string) => `| ${server} | ${percentile(times[server]!, 0.5).toFixed(2)} | ${percentile(times[server]!, 0.9).toFixed(2)} | ${times[server]!.map((x) => x.toFixed(1)).join(', ')} |`;
  const report = [
    `# MOVE of the 2,000-file tree, ${COUNT} times back and forth per server, interleaved (${new Date().toISOString()})`,
    '',
    '| server | median (ms) | 90th percentile (ms) | each (ms) |',
    '|---|---|---|---|',
    ...(baseline ? [row('baseline').replace('| baseline |', `| object storage, baseline (${baselineCli}) |`)] : []),
    row('s3').replace('| s3 |', '| object storage |'),
    row('fs').replace('| fs |', '| filesystem |'),
    '',
    `Object storage / filesystem (medians): ${(percentile(times['s3']!, 0.5) / percentile(times['fs']!, 0.5)).toFixed(2)}×` +
      (baseline ? `; baseline / filesystem: ${(percentile(times['baseline']!, 0.5) / percentile(times['fs']!, 0.5)).toFixed(2)}×` : '') +
      `. Load average (1, 5, 15 min) before and after the MOVEs: ${loads.join(' / ')}.`,
  ].join('\n');
  t.comment(report);
  saveReport(report, { count: COUNT, times, loads });
});
