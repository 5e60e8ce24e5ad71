/**
 * Three instances on one folder behind HAProxy: every request is balanced on its own, also over
 * one keep-alive connection (no sticky sessions needed), a lock taken through one instance holds
 * on the others, an instance that dies is taken out by the health check while the others serve,
 * and it rejoins when it is started again.
 */
import t from 'tap';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { clusterPrerequisites, startCluster } from '../helpers/cluster.js';
import { DOCUMENTED_CONFIG, haproxyBinary } from '../helpers/haproxy.js';
import { lockBody, lockTokenOf, request } from '../helpers/server.js';

const skip = clusterPrerequisites(t);

/** One request on `agent`'s connection. */
function send(agent: http.Agent, origin: string, method: string, urlPath: string, headers: Record<string, string> = {}, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${urlPath}`, { method, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('three instances behind HAProxy', { skip }, async (t) => {
  const cluster = await startCluster(t);

  await t.test('requests on one keep-alive connection go round the instances', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    const before = await cluster.balancer.backends();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push(await send(agent, cluster.origin, 'PROPFIND', '/', { depth: '0' }));
    t.same(statuses, Array(30).fill(207));
    const after = await cluster.balancer.backends();
    const served = after.map((s) => s.total - before.find((b) => b.name === s.name)!.total);
    t.same(served, [10, 10, 10], 'each instance answered a third of them');
  });

  await t.test('a lock taken through one instance binds the others', async (t) => {
    t.equal((await cluster.request('PUT', '/shared.txt', { body: 'v1' })).status, 201);
    const lock = await request(cluster.instances[0]!.origin, 'LOCK', '/shared.txt', { body: lockBody(), headers: { 'content-type': 'application/xml' } });
    t.equal(lock.status, 200);
    const token = lockTokenOf(lock);
    for (const other of cluster.instances.slice(1)) {
      t.equal((await request(other.origin, 'PUT', '/shared.txt', { body: 'no token' })).status, 423, `instance on ${other.port} refuses a write without the token`);
    }
    t.equal((await request(cluster.instances[1]!.origin, 'PUT', '/shared.txt', { body: 'v2', headers: { if: `(<${token}>)` } })).status, 204, 'the token works on another instance');
    t.equal((await request(cluster.instances[2]!.origin, 'UNLOCK', '/shared.txt', { headers: { 'lock-token': `<${token}>` } })).status, 204, 'and unlocks on a third');
    t.equal((await cluster.request('GET', '/shared.txt')).body, 'v2');
  });

  await t.test('kill -9 of one instance: taken out, the others serve, it rejoins when restarted', async (t) => {
    const victim = cluster.instances[1]!;
    await victim.kill('SIGKILL');
    await cluster.balancer.waitUp(['s1', 's3']);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // two failed checks (fall 2, inter 500ms)
    const states = await cluster.balancer.backends();
    t.equal(states.find((s) => s.name === 's2')?.status, 'DOWN', 'the balancer took it out');
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await cluster.request('GET', '/shared.txt')).status);
    t.same(statuses, Array(12).fill(200), 'every request answered by the others');

    await victim.restart();
    await cluster.balancer.waitUp();
    const before = await cluster.balancer.backends();
    for (let i = 0; i < 9; i++) await cluster.request('GET', '/shared.txt');
    const after = await cluster.balancer.backends();
    t.equal(after.find((s) => s.name === 's2')!.total - before.find((s) => s.name === 's2')!.total, 3, 'the restarted instance takes its share again');
  });
});

t.test('docker/haproxy.cfg, the documented configuration, is valid for HAProxy 2.6', { skip }, async (t) => {
  // Outside Docker the container names do not resolve: those servers start disabled (a warning).
  const check = spawnSync(haproxyBinary()!, ['-c', '-f', DOCUMENTED_CONFIG], { encoding: 'utf8' });
  t.equal(check.status, 0, 'haproxy -c accepts it');
  if (check.status !== 0) t.comment(check.stderr);
  t.match(check.stdout + check.stderr, /Configuration file is valid/);
});
