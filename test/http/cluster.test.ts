import t from 'tap';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/server.js';

// --workers N runs N server processes on one port (src/cluster.ts). They share nothing but the
// SQLite metadata store, so a lock taken through one worker must hold in the other, and the two
// must never grant conflicting locks. Each worker's log lines carry its pid: probe requests on
// keep-alive connections tell which worker holds which connection.

// The built command (npm test builds it first, as for test/ops/cli.test.ts).
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const LOCKINFO = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>cluster test</D:owner></D:lockinfo>';

t.test('--workers 2: locks and dead properties hold across the worker processes', async (t) => {
  const root = tempDir(t);
  const child = spawn(process.execPath, [CLI, '--root', root, '--port', '0', '--workers', '2', '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  // stdout: one JSON log line per request from each worker, and the primary's one plain line.
  const servedBy = new Map<string, number>();
  const workerPids = new Set<number>();
  let out = '';
  const waiters: (() => void)[] = [];
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    let nl;
    while ((nl = out.indexOf('\n')) !== -1) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (!line.startsWith('{')) {
        plain.push(line);
      } else {
        const entry = JSON.parse(line) as { pid: number; path?: string };
        workerPids.add(entry.pid);
        if (entry.path) servedBy.set(entry.path, entry.pid);
      }
      waiters.splice(0).forEach((w) => w());
    }
  });
  const plain: string[] = [];
  const until = async (cond: () => boolean): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (!cond()) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`gave up waiting; server output: ${plain.join('\n')}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  };
  await until(() => plain.some((l) => l.includes('serving')));
  const port = Number(/127\.0\.0\.1:(\d+)\//.exec(plain.find((l) => l.includes('serving'))!)![1]);
  t.match(plain[0], /\(2 worker processes\)/, 'the primary announces once, with the worker count');

  const send = (agent: http.Agent, method: string, urlPath: string, headers: Record<string, string> = {}, body?: string) =>
    new Promise<Answer>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });

  // Keep-alive connections, one socket each, until two of them are served by different workers.
  const byWorker = new Map<number, http.Agent>();
  let probes = 0;
  for (let round = 0; round < 10 && byWorker.size < 2; round++) {
    const agents = Array.from({ length: 8 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const paths = agents.map(() => `/probe-${probes++}`);
    await Promise.all(agents.map((a, i) => send(a, 'OPTIONS', paths[i]!)));
    await until(() => paths.every((p) => servedBy.has(p)));
    agents.forEach((a, i) => {
      const pid = servedBy.get(paths[i]!)!;
      if (!byWorker.has(pid)) byWorker.set(pid, a);
      else a.destroy();
    });
  }
  t.equal(byWorker.size, 2, 'connections reach both workers');
  const [a, b] = [...byWorker.values()] as [http.Agent, http.Agent];
  t.teardown(() => [a, b].forEach((x) => x.destroy()));
  const pidOf = async (agent: http.Agent): Promise<number> => {
    const p = `/probe-${probes++}`;
    await send(agent, 'OPTIONS', p);
    await until(() => servedBy.has(p));
    return servedBy.get(p)!;
  };
  t.not(await pidOf(a), await pidOf(b), 'the two connections stay on different workers');

  t.equal((await send(a, 'PUT', '/doc.txt', {}, 'v1')).status, 201);
  const locked = await send(a, 'LOCK', '/doc.txt', { 'content-type': 'application/xml', depth: '0' }, LOCKINFO);
  t.equal(locked.status, 200, 'worker A grants the lock');
  const token = String(locked.headers['lock-token']).replace(/^<|>$/g, '');
  t.match(token, /^urn:uuid:/);

  t.equal((await send(b, 'PUT', '/doc.txt', {}, 'v2')).status, 423, 'worker B refuses a write without the token');
  t.equal((await send(b, 'LOCK', '/doc.txt', { 'content-type': 'application/xml', depth: '0' }, LOCKINFO)).status, 423, 'and a second exclusive lock');
  const discovery = await send(b, 'PROPFIND', '/doc.txt', { depth: '0' });
  t.match(discovery.body, token, "worker B's lockdiscovery shows worker A's lock");
  t.equal((await send(b, 'PUT', '/doc.txt', { if: `(<${token}>)` }, 'v2')).status, 204, 'worker B accepts the token');

  const proppatch = '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:color>blue</Z:color></D:prop></D:set></D:propertyupdate>';
  t.equal((await send(b, 'PROPPATCH', '/doc.txt', { if: `(<${token}>)`, 'content-type': 'application/xml' }, proppatch)).status, 207);
  const seen = await send(a, 'PROPFIND', '/doc.txt', { depth: '0', 'content-type': 'application/xml' }, '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:color/></D:prop></D:propfind>');
  t.match(seen.body, /<Z:color xmlns:Z="urn:z">blue<\/Z:color>/, 'worker A reads the dead property worker B stored');

  t.equal((await send(b, 'UNLOCK', '/doc.txt', { 'lock-token': `<${token}>` })).status, 204, 'worker B removes the lock');
  t.equal((await send(a, 'PUT', '/doc.txt', {}, 'v3')).status, 204, 'worker A sees the lock gone');

  // Both workers race for the same locks: each time exactly one wins.
  for (let i = 0; i < 10; i++) {
    const target = `/race-${i}.txt`;
    const statuses = (await Promise.all([a, b].map((x) => send(x, 'LOCK', target, { 'content-type': 'application/xml', depth: '0' }, LOCKINFO)))).map((r) => r.status);
    t.same(statuses.sort(), [201, 423], `race ${i}: one lock granted, the other refused`);
  }

  const workers = [...workerPids];
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', (c) => resolve(c));
    child.kill('SIGTERM');
  });
  t.equal(code, 0, 'SIGTERM to the primary stops everything cleanly');
  for (const pid of workers) t.throws(() => process.kill(pid, 0), 'worker process is gone');
});
