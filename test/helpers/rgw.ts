/**
 * Test support: a private single-node Ceph (1 monitor, 1 memstore OSD, 1 radosgw; no manager,
 * auth none) giving an S3 endpoint on free loopback ports, with its state in a temporary folder.
 * One per test file (about 2 s to start); stopped by PID and deleted when the test ends.
 *
 * What makes it start fast and at all (Ceph 16 from Debian):
 * - radosgw asks for a secure monitor connection by default, which needs cephx: with auth none
 *   `ms mon client mode = crc` is required, else it retries for 5 minutes.
 * - the monitor stops when its disk looks nearly full: `mon data avail warn/crit` relaxed.
 * - `paxos propose interval` shortened: map commits are batched for 1 s by default.
 * - radosgw started before the OSD is active stalls on its first pool: wait for the OSD's boot.
 * Skips with a message when the Ceph binaries are missing; under CI=true that is a failure
 * (.ci/run installs them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePortRange } from './ports.js';

export const CI = process.env['CI'] === 'true';

const TOOLS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'];
const SEARCH_PATH = [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/usr/bin'].filter(Boolean);

interface TapLike {
  fail(message: string): void;
  teardown(fn: () => unknown): void;
}

export interface S3Endpoint {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** A bucket created for this test file. */
  readonly bucket: string;
  /** A client for the test's own checks (path-style, checksums only when required). */
  readonly client: S3Client;
  /** Environment for a `fastdav` child process: the standard AWS variables. */
  readonly env: Record<string, string>;
  /** Requests radosgw has served so far (its own counter: calls from every process). */
  requests(): Promise<number>;
  /** Stops radosgw in its tracks (SIGSTOP): connections are still accepted, nothing is answered, until resumeGateway(). */
  pauseGateway(): void;
  /** Lets a paused radosgw go on (SIGCONT). */
  resumeGateway(): void;
  /** Stops radosgw (SIGKILL): S3 is unreachable until startGateway(). */
  stopGateway(): Promise<void>;
  /** Starts radosgw again on the same port; resolves when it answers. */
  startGateway(): Promise<void>;
}

function findTool(tool: string): string | null {
  for (const dir of SEARCH_PATH) {
    try {
      accessSync(path.join(dir, tool), constants.X_OK);
      return path.join(dir, tool);
    } catch {
      /* next */
    }
  }
  return null;
}

/** False when Ceph can run here; else the reason to skip (a failure under CI=true). */
export function rgwUnavailable(t: TapLike): string | false {
  const missing = TOOLS.filter((tool) => findTool(tool) === null);
  if (missing.length === 0) return false;
  const reason = `needs Ceph (${missing.join(', ')}: apt-get install --no-install-recommends ceph-mon ceph-osd radosgw)`;
  if (CI) t.fail(`${reason}: under CI=true the S3 tests must run (.ci/run installs it)`);
  return reason;
}

function run(command: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}\n${out}`))));
  });
}

const alive = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

/** Stops the daemons by PID (TERM, then KILL after 1 s: the data is thrown away anyway) and deletes the state folder. */
async function stopDaemons(daemons: ChildProcess[], state: string): Promise<void> {
  for (const d of daemons.slice().reverse()) if (alive(d)) d.kill('SIGTERM');
  const deadline = Date.now() + 1000;
  while (daemons.some(alive) && Date.now() < deadline) await sleep(50);
  for (const d of daemons) if (alive(d)) d.kill('SIGKILL');
  while (daemons.some(alive)) await sleep(20);
  rmSync(state, { recursive: true, force: true });
}

export interface RgwOptions {
  /** RAM the memstore OSD may fill (default 2 GiB); full, it blocks writes. */
  readonly memstoreBytes?: number;
  /** Free the RADOS space of deleted objects within seconds (radosgw's own gc waits 2 h): for benchmarks that write GiBs. */
  readonly quickGc?: boolean;
}

/**
 * Starts Ceph + radosgw, creates a user and a bucket, and registers the stop with `t`.
 * Call only when rgwUnavailable(t) is false.
 */
export async function startRgw(t: Pick<TapLike, 'teardown'>, options: RgwOptions = {}): Promise<S3Endpoint> {
  const state = mkdtempSync(path.join(os.tmpdir(), 'fastdav-rgw-'));
  const daemons: ChildProcess[] = [];
  const logs = path.join(state, 'log');
  for (const d of ['run', 'log', 'mon', 'osd', 'rgw']) mkdirSync(path.join(state, d));
  t.teardown(() => stopDaemons(daemons, state));
  // Also when the test process dies without its teardown: no daemon outlives it.
  const onExit = () => daemons.forEach((d) => alive(d) && d.kill('SIGKILL'));
  process.once('exit', onExit);

  const base = await freePortRange(12);
  const monPort = base;
  const rgwPort = base + 1;
  const fsid = randomUUID();
  const conf = path.join(state, 'ceph.conf');
  writeFileSync(
    conf,
    `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
ms bind port min = ${base + 2}
ms bind port max = ${base + 11}
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
run dir = ${state}/run
admin socket = ${state}/run/$name.asok
log file = ${logs}/$name.log
pid file = ${state}/run/$name.pid
mon data = ${state}/mon/$cluster-$id
osd data = ${state}/osd/$cluster-$id
crash dir = ${logs}/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
osd objectstore = memstore
memstore device bytes = ${options.memstoreBytes ?? 2 * 1024 ** 3}
osd memory target = 939524096
osd mon shutdown timeout = 1
paxos propose interval = 0.05
paxos min wait = 0.01
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw data = ${state}/rgw
rgw thread pool size = 32
${options.quickGc ? 'rgw gc obj min wait = 0\nrgw gc processor period = 2\n' : ''}`,
  );
  const c = ['-c', conf];
  const tail = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-15).join('\n') : '');
  const failWith = (why: string): never => {
    throw new Error(`${why}\n${['mon.a', 'client.rgw.a'].map((n) => tail(path.join(logs, `${n}.log`))).join('\n')}`);
  };
  const daemon = (command: string, args: string[]) => {
    // Its own process group (like setsid), foreground (-f) so that its PID is the daemon's.
    const child = spawn(command, [...args, '-f'], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    daemons.push(child);
    return child;
  };

  await run('monmaptool', ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, path.join(state, 'monmap')]);
  await run('ceph-mon', [...c, '-i', 'a', '--mkfs', '--monmap', path.join(state, 'monmap')]);
  daemon('ceph-mon', [...c, '-i', 'a']);
  const osdUuid = randomUUID();
  const id = (await run('ceph', [...c, 'osd', 'new', osdUuid], 60_000)).trim().split('\n').pop()!;
  mkdirSync(path.join(state, 'osd', `ceph-${id}`));
  await run('ceph-osd', [...c, '-i', id, '--mkfs', '--osd-uuid', osdUuid]);
  const osd = daemon('ceph-osd', [...c, '-i', id]);
  const osdLog = path.join(logs, `osd.${id}.log`);
  for (let i = 0; ; i++) {
    if (existsSync(osdLog) && readFileSync(osdLog, 'utf8').includes('state: booting -> active')) break;
    if (!alive(osd)) failWith('ceph-osd exited');
    if (i > 600) failWith('ceph-osd did not become active within 60 s');
    await sleep(100);
  }
  const endpoint = `http://127.0.0.1:${rgwPort}`;
  let gateway: ChildProcess | undefined;
  const startGateway = async () => {
    gateway = daemon('radosgw', [...c, '-n', 'client.rgw.a']);
    for (let i = 0; ; i++) {
      const status = await fetch(`${endpoint}/`).then((r) => r.status, () => 0);
      if (status === 200) break;
      if (!daemons.every(alive)) failWith('a ceph daemon exited');
      if (i > 600) failWith(`radosgw did not answer on ${endpoint} within 120 s`);
      await sleep(200);
    }
  };
  const stopGateway = async () => {
    const g = gateway!;
    g.kill('SIGKILL');
    while (alive(g)) await sleep(20);
    daemons.splice(daemons.indexOf(g), 1);
  };
  const pauseGateway = () => void gateway!.kill('SIGSTOP');
  const resumeGateway = () => void gateway!.kill('SIGCONT');
  await startGateway();
  const requests = async () => {
    const dump = JSON.parse(await run('ceph', ['--admin-daemon', path.join(state, 'run', 'client.rgw.a.asok'), 'perf', 'dump'])) as { rgw: { req: number } };
    return dump.rgw.req;
  };
  const accessKeyId = 'FASTDAVTEST' + randomUUID().replaceAll('-', '').slice(0, 9).toUpperCase();
  const secretAccessKey = randomUUID().replaceAll('-', '') + randomUUID().replaceAll('-', '').slice(0, 8);
  await run('radosgw-admin', [...c, 'user', 'create', '--uid=fastdav', '--display-name=fastdav', `--access-key=${accessKeyId}`, `--secret-key=${secretAccessKey}`]);

  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const region = 'us-east-1';
  const bucket = 'fastdav-test';
  const client = new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  t.teardown(() => client.destroy());
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const env = {
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_REGION: region,
    FASTDAV_S3_ENDPOINT: endpoint,
    FASTDAV_S3_BUCKET: bucket,
  };
  return { endpoint, accessKeyId, secretAccessKey, region, bucket, client, env, requests, stopGateway, startGateway, pauseGateway, resumeGateway };
}
