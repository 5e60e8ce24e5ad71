#!/usr/bin/env node
// Server memory under the big workloads: for each one a fresh fastdav (one process) on the
// benchmark fixtures, its idle RSS after start-up, then the peak RSS (VmHWM, the kernel's own
// high-water mark) after the workload. The goal (issue 6): peak - idle < 64 MiB for a 1 GiB PUT,
// a 1 GiB GET, PROPFIND Depth 1 on 10,000 files and Depth infinity on 20,000 entries.
//   node test/bench/memory.mjs [--dist dist] [--root /mnt/webdav-bench/fastdav] [--repeat 3]
// The root must hold the fixtures of ../shared/bench (bench.sh prepare).
import { spawn } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    dist: { type: 'string', default: 'dist' },
    root: { type: 'string', default: '/mnt/webdav-bench/fastdav' },
    repeat: { type: 'string', default: '3' },
    port: { type: 'string', default: '18465' },
  },
});
const port = Number(o.port);
const LIMIT_MIB = 64;
const ALLPROP = '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>\n';

const kib = (pid, field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

function request(method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () => resolve({ status: res.statusCode, bytes: n }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body && typeof body.pipe === 'function') body.pipe(req);
    else req.end(body);
  });
}

const WORKLOADS = {
  'PUT 1 GiB': () => request('PUT', '/memory-test.bin', { 'content-length': 1 << 30 }, createReadStream(`${o.root}/bench/big/1g.bin`)),
  'GET 1 GiB': () => request('GET', '/bench/big/1g.bin'),
  'PROPFIND Depth 1, 10,000 files (allprop)': () => request('PROPFIND', '/bench/p10k/', { depth: '1' }, ALLPROP),
  'PROPFIND Depth infinity, 20,221 entries': () => request('PROPFIND', '/bench/tree20k/', { depth: 'infinity' }, ALLPROP),
};

console.log(`| workload | idle RSS | peak RSS | peak − idle | under ${LIMIT_MIB} MiB |`);
console.log('|---|--:|--:|--:|---|');
let ok = true;
for (const [name, run] of Object.entries(WORKLOADS)) {
  const child = spawn(process.execPath, [`${o.dist}/cli.js`, '--root', o.root, '--port', String(port), '--log-level', 'warn', '--workers', '1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  await new Promise((resolve) => child.stdout.on('data', (d) => String(d).includes('serving') && resolve()));
  await request('OPTIONS', '/'); // one request: the idle state of a server that has served
  await new Promise((r) => setTimeout(r, 1000));
  const idle = kib(child.pid, 'VmRSS');
  const statuses = [];
  for (let i = 0; i < Number(o.repeat); i++) statuses.push((await run()).status);
  const peak = kib(child.pid, 'VmHWM');
  await request('DELETE', '/memory-test.bin').catch(() => undefined);
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  const growth = (peak - idle) / 1024;
  ok &&= growth < LIMIT_MIB;
  console.log(`| ${name} (×${o.repeat}, HTTP ${[...new Set(statuses)].join('/')}) | ${(idle / 1024).toFixed(1)} MiB | ${(peak / 1024).toFixed(1)} MiB | ${growth.toFixed(1)} MiB | ${growth < LIMIT_MIB ? 'yes' : '**no**'} |`);
}
process.exit(ok ? 0 : 1);
