#!/usr/bin/env node
// Same-run A/B of server CPU time per request, for decisions on a noisy shared machine: wall
// times there swing by ±40 %, the CPU a server process spends on a fixed sequence of requests
// far less. Starts each build on the benchmark fixtures, sends every workload to A and B in
// alternation (one keep-alive connection, requests one after another), and reads the server's
// utime+stime from /proc before and after.
//   node test/bench/cpu-ab.mjs DIST_A DIST_B [--root DIR] [--rounds 5] [--only get4k,pf100,...,mixed] [--scale 1]
//        [--args-a='--metadata-url postgres://…'] [--args-b=…]   (extra server flags, e.g. SQLite vs PostgreSQL of one build)
// (mixed: the harness's lib/mixed.js for 4 s, CPU and wall time per operation; only when named)
// DIR must hold the fixtures of ../shared/bench (bench.sh prepare), e.g. /mnt/webdav-bench/fastdav.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    root: { type: 'string', default: '/mnt/webdav-bench/fastdav' },
    rounds: { type: 'string', default: '5' },
    only: { type: 'string' },
    scale: { type: 'string', default: '1' },
    'args-a': { type: 'string', default: '' },
    'args-b': { type: 'string', default: '' },
  },
});
const [distA, distB] = positionals;
if (!distA || !distB) {
  console.error('usage: cpu-ab.mjs DIST_A DIST_B [--root DIR] [--rounds N] [--only LIST]');
  process.exit(2);
}
const PROPS = '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/><D:getcontenttype/><D:displayname/></D:prop></D:propfind>\n';
const ALLPROP = '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>\n';
const BODY4K = Buffer.alloc(4096, 120);
const scale = Number(o.scale);

/** CPU time of every thread of `pid` (main thread, libuv pool, V8 helpers) in µs, from schedstat (ns). */
function cpuMicros(pid) {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* thread ended */
    }
  }
  return ns / 1e3;
}

function request(agent, port, method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body) h['content-length'] = Buffer.byteLength(body);
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: h, agent }, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () => resolve({ status: res.statusCode, bytes: n }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function start(dist, root, port, extra) {
  const child = spawn(process.execPath, [`${dist}/cli.js`, '--root', root, '--port', String(port), '--log-level', 'warn', ...extra.split(' ').filter(Boolean)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('serving') && resolve());
    child.on('exit', (code) => reject(new Error(`${dist} exited with ${code}`)));
  });
  return child;
}

let seq = 0;
const WORKLOADS = {
  get4k: { n: 2000, run: (a, p) => request(a, p, 'GET', '/bench/small/4k.bin'), expect: 200 },
  pf100: { n: 300, run: (a, p) => request(a, p, 'PROPFIND', '/bench/p100/', { depth: '1' }, PROPS), expect: 207 },
  pf10k_props: { n: 6, run: (a, p) => request(a, p, 'PROPFIND', '/bench/p10k/', { depth: '1' }, PROPS), expect: 207 },
  pf10k_allprop: { n: 6, run: (a, p) => request(a, p, 'PROPFIND', '/bench/p10k/', { depth: '1' }, ALLPROP), expect: 207 },
  pfinf: { n: 3, run: (a, p) => request(a, p, 'PROPFIND', '/bench/tree20k/', { depth: 'infinity' }, PROPS), expect: 207 },
  put4k: { n: 1000, run: (a, p) => request(a, p, 'PUT', `/scratch/f${seq++}.bin`, {}, BODY4K), expect: 201 },
  copy2k: {
    n: 1,
    run: async (a, p) => {
      const d = `/scratch/t${seq++}/`;
      const r = await request(a, p, 'COPY', '/bench/tree2k/', { destination: d, depth: 'infinity', overwrite: 'F' });
      await request(a, p, 'DELETE', d);
      return r;
    },
    expect: 201,
  },
};

// The harness's mixed file-manager load (50 clients, 4 s) in its own collection: CPU per operation.
const MIXED_JS = new URL('../../../shared/bench/lib/mixed.js', import.meta.url).pathname;
WORKLOADS.mixed = {
  n: 1,
  run: async (_a, p) => {
    const coll = `/scratch/m${seq++}/`;
    await request(undefined, p, 'MKCOL', coll);
    const out = await new Promise((resolve, reject) => {
      const c = spawn(process.execPath, [MIXED_JS, `http://127.0.0.1:${p}${coll}`, '--clients', '50', '--duration', '4'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      c.stdout.on('data', (d) => (text += d));
      c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`mixed.js exited ${code}`))));
    });
    await request(undefined, p, 'DELETE', coll);
    if (out.errors > 0) return { status: 500 };
    return { status: 200, ops: out.ops };
  },
  expect: 200,
};

const only = o.only ? o.only.split(',') : Object.keys(WORKLOADS).filter((w) => w !== 'mixed');
// Both builds serve the same folder (and metadata store); writes go to /scratch/ under unique names.
const roots = [0, 1].map((i) => ({ root: o.root, port: 18468 + i }));
const servers = [];
for (const [i, dist] of [distA, distB].entries()) servers.push(await start(dist, roots[i].root, roots[i].port, i ? o['args-b'] : o['args-a']));
const agents = servers.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
const cleanup = () => servers.forEach((s) => s.kill('SIGTERM'));
process.on('exit', cleanup);

await request(agents[0], roots[0].port, 'DELETE', '/scratch/').catch(() => undefined);
await request(agents[0], roots[0].port, 'MKCOL', '/scratch/');

const results = {};
for (const name of only) {
  const w = WORKLOADS[name];
  const n = Math.max(1, Math.round(w.n * scale));
  results[name] = [[], []];
  if (name !== 'mixed') for (const i of [0, 1]) for (let k = 0; k < Math.min(n, 20); k++) await w.run(agents[i], roots[i].port); // warm-up
  for (let r = 0; r < Number(o.rounds); r++) {
    for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const pid = servers[i].pid;
      const c0 = cpuMicros(pid);
      const t0 = process.hrtime.bigint();
      let ops = 0;
      for (let k = 0; k < n; k++) {
        const res = await w.run(agents[i], roots[i].port);
        if (res.status !== w.expect) throw new Error(`${name} on ${i ? 'B' : 'A'}: HTTP ${res.status}`);
        ops += res.ops ?? 1;
      }
      const wall = Number(process.hrtime.bigint() - t0) / 1e3 / ops;
      const cpu = (cpuMicros(pid) - c0) / ops;
      results[name][i].push({ cpu, wall });
    }
  }
  const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const [a, b] = results[name].map((rs) => ({ cpu: med(rs.map((x) => x.cpu)), wall: med(rs.map((x) => x.wall)) }));
  const fmt = (us) => (us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us.toFixed(0)} µs`);
  console.log(
    `${name.padEnd(14)} CPU/request A ${fmt(a.cpu).padStart(9)}  B ${fmt(b.cpu).padStart(9)}  B/A ${(b.cpu / a.cpu).toFixed(2)}   ` +
      `wall A ${fmt(a.wall).padStart(9)}  B ${fmt(b.wall).padStart(9)}  B/A ${(b.wall / a.wall).toFixed(2)}`,
  );
}
await request(agents[0], roots[0].port, 'DELETE', '/scratch/').catch(() => undefined);
agents.forEach((a) => a.destroy());
cleanup();
