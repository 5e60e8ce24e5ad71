/**
 * Where a big GET's time goes in object-storage mode (by hand: `npx tap --timeout=0
 * test/bench/get-pieces.ts`, after `npx tsc`): on one private radosgw, a plain single GetObject,
 * N concurrent ranged GetObjects of 8/16/32 MiB emitted in order, and fastdav's GET (on a fresh
 * connection, as the bench makes it), with the sizes of the chunks the client receives. With
 * BENCH_PROFILE_DIR set, fastdav runs under `node --cpu-prof` and writes its profile there
 * (summarise with test/bench/profile-summary.mjs) and the plain client's rows are left out.
 * BENCH_AB_CLI=/other/build/dist/cli.js adds a second fastdav (another build) on the same
 * database and bucket, measured in alternation. Each row also gives the CPU seconds per GiB of
 * radosgw, the OSD, fastdav and the client (this process), from /proc: on 2 cores they compete.
 * The row "bare relay" is the floor of any Node server in between: a 10-line node:http server
 * that pipes one GetObject's body (the same SDK) into its response. The row "nginx relay" is the
 * floor of any server in between at all: nginx's proxy_pass (C, 256 KiB buffers) of the same object,
 * made public-read for it. CPU rows give user + system seconds, the system part in brackets: a
 * relay's system time (one more receive and send of every byte) is the part no code can remove.
 * BENCH_BYTES (default 1 GiB), BENCH_REPS (3); BENCH_NO_RANGES=1 leaves the ranged rows out.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectAclCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { chmodSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';
import { hasNginx, startNginx } from '../helpers/nginx.js';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';

const MiB = 1024 * 1024;
const BYTES = Number(process.env['BENCH_BYTES'] ?? 1024 * MiB);
const REPS = Number(process.env['BENCH_REPS'] ?? 3);
const PROFILE_DIR = process.env['BENCH_PROFILE_DIR'];
const AB_CLI = process.env['BENCH_AB_CLI'];
const TICK = 100; // clock ticks per second (getconf CLK_TCK)
/** CPU seconds of a process, from /proc: [user + system, system]. */
const cpuOf = (pid: number): [number, number] => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return [(Number(fields[11]) + Number(fields[12])) / TICK, Number(fields[12]) / TICK];
  } catch {
    return [0, 0];
  }
};
/** The children of `parent` whose command is one of `names`, by name. */
const childrenOf = (parent: number, names: readonly string[]): Record<string, number> => {
  const found: Record<string, number> = {};
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = /\((.*)\)/.exec(stat)![1]!;
      const ppid = Number(stat.replace(/^.*\) /, '').split(' ')[1]);
      if (ppid === parent && names.includes(comm)) found[comm] = pid;
    } catch {
      /* gone */
    }
  }
  return found;
};
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
  const cpu: Record<string, Record<string, number[]>> = {};
  const systemCpu: Record<string, Record<string, number[]>> = {};
  const pids: Record<string, number> = { ...childrenOf(process.pid, ['radosgw', 'ceph-osd']), client: process.pid };
  const time = async (name: string, fn: () => Promise<number>) => {
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuOf(pid)]));
    const start = performance.now();
    const n = await fn();
    t.equal(n, BYTES, `${name}: every byte`);
    (results[name] ??= []).push(rate(performance.now() - start));
    const GiB = BYTES / 1024 ** 3;
    for (const [k, pid] of Object.entries(pids)) {
      const [all, system] = cpuOf(pid);
      ((cpu[name] ??= {})[k] ??= []).push((all - before[k]![0]) / GiB);
      ((systemCpu[name] ??= {})[k] ??= []).push((system - before[k]![1]) / GiB);
    }
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
  const args = ['--port', '0', '--metadata-url', settings.metadataUrl!, '--s3-bucket', bucket, '--s3-endpoint', engines.s3.endpoint, '--s3-prefix', 'dav/', '--gc-interval', '0', '--log-level', 'warn'];
  const dav = await startCli(t, args, { env, ...(command ? { command } : {}) });
  pids['fastdav'] = dav.pid;
  let other: Awaited<ReturnType<typeof startCli>> | undefined;
  if (AB_CLI) {
    const wrapper = path.join(tempDir(t, 'fastdav-get-ab-'), 'node-ab');
    writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(AB_CLI)} "$@"\n`);
    chmodSync(wrapper, 0o755);
    other = await startCli(t, args, { env, command: wrapper });
    pids['other fastdav'] = other.pid;
  }
  const put = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${dav.origin}/big.bin`, { method: 'PUT', headers: { 'content-length': BYTES }, agent: false }, (res) => (res.resume(), resolve(res.statusCode!)));
    req.on('error', reject);
    (async () => {
      for await (const c of body()) if (!req.write(c)) await new Promise((r) => req.once('drain', r));
      req.end();
    })();
  });
  t.equal(put, 201);
  // The floor: GetObject piped into a node:http response, nothing else.
  const relaySource = `
    import http from 'node:http';
    import { pipeline } from 'node:stream/promises';
    import { createRequire } from 'node:module';
    const { GetObjectCommand, S3Client } = createRequire(process.cwd() + '/')('@aws-sdk/client-s3');
    const client = new S3Client({ endpoint: process.env.FASTDAV_S3_ENDPOINT, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    http.createServer(async (req, res) => {
      const r = await client.send(new GetObjectCommand({ Bucket: process.env.FASTDAV_S3_BUCKET, Key: 'plain/big' }));
      res.writeHead(200, { 'content-length': r.ContentLength });
      await pipeline(r.Body, res).catch(() => res.destroy());
    }).listen(0, '127.0.0.1', function () { console.log('serving at http://127.0.0.1:' + this.address().port + '/'); });`;
  const relayFile = path.join(tempDir(t, 'fastdav-get-relay-'), 'relay.mjs');
  writeFileSync(relayFile, relaySource);
  const relayWrapper = `${relayFile}.sh`;
  writeFileSync(relayWrapper, `#!/bin/sh\ncd ${JSON.stringify(process.cwd())}\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(relayFile)}\n`);
  chmodSync(relayWrapper, 0o755);
  const relay = await startCli(t, [], { env: engines.s3.env, command: relayWrapper });
  pids['relay'] = relay.pid;
  // nginx in between: proxy_pass of the object (public-read for it) on a kept-alive connection to
  // radosgw, through 256 KiB buffers in memory (its default 4-8 KiB ones, or none, cost it more
  // system time); its one worker is measured.
  let nginxOrigin: string | undefined;
  if (hasNginx) {
    await client.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'plain/big', ACL: 'public-read' }));
    const store = new URL(engines.s3.endpoint);
    const nginx = await startNginx(
      t,
      `location = /big.bin { proxy_pass http://store/${bucket}/plain/big; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host ${store.host}; proxy_buffers 8 256k; proxy_buffer_size 256k; proxy_busy_buffers_size 512k; proxy_max_temp_file_size 0; }`,
      '',
      `upstream store { server ${store.host}; keepalive 4; }`,
    );
    nginxOrigin = nginx.origin;
    const worker = childrenOf(nginx.pid, ['nginx'])['nginx'];
    if (worker) pids['nginx'] = worker;
  }
  const sizes: number[] = [];
  const davGet = (origin = dav.origin) => () =>
    new Promise<number>((resolve, reject) => {
      // 'data' events, as the harness's client (test/bench/object-storage.ts) reads: faster than
      // an async iterator, which slows the reader enough to change what the server does.
      http.get(`${origin}/big.bin`, { agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => ((n += c.length), sizes.push(c.length)));
        res.on('end', () => resolve(n));
        res.on('error', reject);
      }).on('error', reject);
    });

  for (let rep = 0; rep < REPS; rep++) {
    if (!PROFILE_DIR) await time('plain GetObject', async () => drain((await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'plain/big' }))).Body as Readable));
    if (!PROFILE_DIR) await time('bare relay', davGet(relay.origin.replace(/\/$/, '')));
    if (!PROFILE_DIR && nginxOrigin) await time('nginx relay', davGet(nginxOrigin));
    if (!PROFILE_DIR && !process.env['BENCH_NO_RANGES']) for (const size of [8, 16, 32]) for (const window of [2, 4]) await time(`ranges ${size} MiB × ${window}`, ranged(size * MiB, window));
    sizes.length = 0;
    await time('fastdav GET', davGet());
    const chunks = sizes.length;
    const avg = sizes.reduce((a, b) => a + b, 0) / chunks;
    if (other) await time('other fastdav GET', davGet(other.origin));
    t.comment(`rep ${rep + 1}: fastdav GET chunks at the client: ${chunks}, mean ${(avg / 1024).toFixed(1)} KiB, load ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  }
  for (const [name, xs] of Object.entries(results)) {
    const cpuRow = Object.entries(cpu[name] ?? {})
      .filter(([, v]) => median(v) > 0.005)
      .map(([k, v]) => `${k} ${median(v).toFixed(2)} (${median(systemCpu[name]![k]!).toFixed(2)})`)
      .join(', ');
    t.comment(`${name}: median ${median(xs).toFixed(0)} MiB/s (${xs.map((x) => x.toFixed(0)).join(', ')}); CPU s/GiB: ${cpuRow}`);
  }
  // What the servers said (warnings, a build's own diagnostics): the last lines.
  for (const [name, server] of [['fastdav', dav], ['other fastdav', other]] as const) {
    const said = server?.output().trim().split('\n').slice(-5).join('\n');
    if (said) t.comment(`${name} said:\n${said}`);
  }
  if (PROFILE_DIR) {
    dav.child.kill('SIGTERM');
    await dav.exited;
  }
});
