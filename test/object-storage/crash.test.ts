/**
 * kill -9 of the server in the middle of a PUT (before and after the multipart upload
 * completes) and of COPY, MOVE and DELETE of a tree: after a restart nothing partial is
 * visible (a tree change is there whole or not at all), and `fastdav gc --grace 0` takes away what the dead upload left in the bucket.
 * To kill at the worst moment, the test holds a lock on the catalog's tree table: the server's
 * transaction is then open and waiting when it dies.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { killHard, runCli, serve, type Running } from '../helpers/cli.js';
import { objectStorageUnavailable, startEngines, type ObjectStorageEngines } from '../helpers/object-storage.js';
import { request } from '../helpers/server.js';

const skip = objectStorageUnavailable(t);

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}

/** Holds an exclusive lock on the tree table (reads pass, writes wait) until released. */
async function holdTreeLock(url: string): Promise<{ release(): Promise<void>; waiters(): Promise<number> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE catalog_nodes IN EXCLUSIVE MODE');
  return {
    waiters: async () => Number((await client.query(`SELECT count(*) AS n FROM pg_locks WHERE NOT granted`)).rows[0].n),
    release: async () => {
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

/** Paths (relative hrefs) of everything in the tree, by PROPFIND Depth: infinity. */
async function tree(origin: string): Promise<string[]> {
  const r = await request(origin, 'PROPFIND', '/', { headers: { depth: 'infinity' } });
  return [...r.body.matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => decodeURIComponent(m[1]!)).sort();
}

t.test('kill -9 in the middle of changes', { skip }, async (t) => {
  const engines: ObjectStorageEngines = await startEngines(t);
  const env = { AWS_ACCESS_KEY_ID: engines.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: engines.s3.secretAccessKey, AWS_REGION: engines.s3.region };

  /** A server on its own database and prefix, restartable with the same settings. */
  async function setup(t: Test, prefix: string) {
    const s = await engines.settings(undefined, prefix);
    const args = ['--metadata-url', s.metadataUrl!, '--s3-bucket', s.s3Bucket!, '--s3-endpoint', s.s3Endpoint!, '--s3-prefix', prefix, '--gc-interval', '0', '--log-level', 'warn'];
    const start = (extraEnv: Record<string, string> = {}) => serve(t, args, { ...env, ...extraEnv });
    const gc = async () => {
      const r = await runCli(['gc', '--grace', '0', ...args], env);
      t.equal(r.status, 0, r.output);
      return r.output;
    };
    const uploads = async () =>
      ((await engines.s3.client.send(new ListMultipartUploadsCommand({ Bucket: engines.s3.bucket, Prefix: prefix }))).Uploads ?? []).length;
    return { url: s.metadataUrl!, start, gc, uploads, objects: () => engines.objects(prefix) };
  }

  t.test('PUT cut before the multipart upload completes', async (t) => {
    const env = await setup(t, 'crash-put-1/');
    let server: Running = await env.start();
    t.equal((await request(server.origin, 'PUT', '/file', { body: 'old content' })).status, 201);
    const objectsBefore = await env.objects();
    // 20 MiB announced, 10 MiB sent: the first 8 MiB part is on its way.
    const socket = net.connect(server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`PUT /file HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${20 * 1024 * 1024}\r\n\r\n`);
    socket.write(randomBytes(10 * 1024 * 1024));
    await until('a multipart upload under way', async () => (await env.uploads()) > 0);
    await killHard(server);
    socket.destroy();
    server = await env.start();
    const r = await request(server.origin, 'GET', '/file');
    t.equal(r.body, 'old content', 'the old content, whole');
    t.match(await env.gc(), /1 abandoned uploads.*aborted 1 unfinished/);
    t.same(await env.objects(), objectsBefore, 'only the old content is left in the bucket');
    t.equal(await env.uploads(), 0, 'no unfinished upload');
  });

  t.test('PUT killed after the multipart upload completed, before the catalog commit', async (t) => {
    const env = await setup(t, 'crash-put-2/');
    let server: Running = await env.start({ FASTDAV_TEST_CRASH_AT: 'put-before-commit' });
    t.equal((await request(server.origin, 'MKCOL', '/dir/')).status, 201);
    t.equal(await request(server.origin, 'PUT', '/dir/new', { body: randomBytes(12 * 1024 * 1024) }).then(() => 'answered', () => 'cut'), 'cut');
    t.equal((await server.exited).signal, 'SIGKILL', 'killed at the crash point');
    t.equal((await env.objects()).length, 1, 'the object was complete in the bucket');
    server = await env.start();
    t.equal((await request(server.origin, 'GET', '/dir/new')).status, 404, 'the file never appeared');
    t.match(await env.gc(), /1 abandoned uploads/);
    t.same(await env.objects(), [], 'its object is gone');
  });

  // The commit is one statement: killed while it waits in the database, the server has handed the
  // whole commit over, and the database does all of it or none of it (it may not notice the
  // client's death before running it): the whole new file, or none and an object for the sweep.
  t.test('PUT killed while its commit waits in the database', async (t) => {
    const env = await setup(t, 'crash-put-3/');
    let server: Running = await env.start();
    t.equal((await request(server.origin, 'MKCOL', '/dir/')).status, 201);
    const lock = await holdTreeLock(env.url);
    t.teardown(() => lock.release().catch(() => undefined));
    const body = randomBytes(12 * 1024 * 1024);
    const put = request(server.origin, 'PUT', '/dir/new', { body }).catch(() => null);
    await until('the object complete in the bucket', async () => (await env.objects()).length === 1);
    await until('the commit waiting', async () => (await lock.waiters()) > 0);
    await killHard(server);
    await put;
    await lock.release();
    server = await env.start();
    const r = await request(server.origin, 'GET', '/dir/new');
    if (r.status === 200) {
      t.ok(r.raw.equals(body), 'the whole file, as sent');
      t.match(await env.gc(), /0 abandoned uploads/);
      t.equal((await env.objects()).length, 1, 'its object stays');
    } else {
      t.equal(r.status, 404, 'or no file at all');
      t.match(await env.gc(), /1 abandoned uploads/);
      t.same(await env.objects(), [], 'and no object once the sweep ran');
    }
  });

  // COPY, MOVE and DELETE of a tree are each one statement (one transaction): killed while it
  // waits in the database, the server has handed the whole change over. The database then does
  // all of it or none of it (it may not notice the client's death before running it), never part.
  const cases = [
    { method: 'COPY', destination: '/copy/', after: (before: string[]) => [...before, ...before.filter((h) => h.startsWith('/tree/')).map((h) => h.replace('/tree/', '/copy/'))].sort(), objects: 20 },
    { method: 'MOVE', destination: '/moved/', after: (before: string[]) => before.map((h) => h.replace('/tree/', '/moved/')).sort(), objects: 20 },
    { method: 'DELETE', destination: null, after: (before: string[]) => before.filter((h) => !h.startsWith('/tree/')), objects: 0 },
  ] as const;
  for (const { method, destination, after, objects } of cases) {
    t.test(`${method} of a tree killed in its transaction`, async (t) => {
      const env = await setup(t, `crash-${method.toLowerCase()}/`);
      let server: Running = await env.start();
      t.equal((await request(server.origin, 'MKCOL', '/tree/')).status, 201);
      t.equal((await request(server.origin, 'MKCOL', '/tree/sub/')).status, 201);
      for (let i = 0; i < 20; i++) t.equal((await request(server.origin, 'PUT', `/tree/${i % 2 ? 'sub/' : ''}f${i}`, { body: `file ${i}` })).status, 201);
      const before = await tree(server.origin);
      const lock = await holdTreeLock(env.url);
      t.teardown(() => lock.release().catch(() => undefined));
      const headers: Record<string, string> = destination ? { destination: `${server.origin}${destination}` } : {};
      const change = request(server.origin, method, '/tree/', { headers }).catch(() => null);
      await until('the change waiting in its transaction', async () => (await lock.waiters()) > 0);
      await killHard(server);
      await change;
      await lock.release();
      server = await env.start();
      const now = await tree(server.origin);
      const done = now.length !== before.length || now.some((h, i) => h !== before[i]);
      t.same(now, done ? after(before) : before, done ? `the ${method} done, whole` : 'the tree as before, whole');
      if (method !== 'DELETE' || !done) t.equal((await request(server.origin, 'GET', done && method === 'MOVE' ? '/moved/sub/f1' : '/tree/sub/f1')).body, 'file 1');
      if (done && method === 'DELETE') {
        t.match(await env.gc(), /deleted 20 released, 0 abandoned uploads, 0 unknown/, 'the released objects collected');
      } else {
        t.match(await env.gc(), /deleted 0 released, 0 abandoned uploads, 0 unknown/, 'nothing to collect: nothing was released');
      }
      t.equal((await env.objects()).length, done ? objects : 20, 'the objects the tree names, no other');
    });
  }
});
