/**
 * A PostgreSQL that stops answering altogether (every process of the cluster frozen with SIGSTOP:
 * connections stay open, nothing comes back, so no server-side statement timeout can fire): every
 * method that needs the database gets 503 with Retry-After after about --metadata-timeout, none
 * hangs, and service resumes when the database does. Both backends that use the database: the
 * filesystem with metadata in PostgreSQL, and object storage (the tree too is in the database,
 * so even GET needs it). Each run has a private cluster: the shared one must not freeze.
 */
import t, { type Test } from 'tap';
import { postgresSkipReason, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { lockBody, startServer, tempDir, type TestServer } from '../helpers/server.js';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';

const ALLPROP = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';
/** Longest wait for one answer before the test calls it a hang. */
const HANG_MS = 20_000;

async function frozenThenBack(t: Test, s: TestServer, cluster: PostgresServer, requests: [string, string, string | Buffer | undefined, Record<string, string>][]): Promise<void> {
  t.equal((await s.request('PUT', '/a', { body: 'x' })).status, 201);
  t.equal((await s.request('MKCOL', '/d')).status, 201);
  cluster.freeze();
  t.teardown(() => cluster.thaw());
  for (const [method, path, body, headers] of requests) {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      s.request(method, path, { body, headers }),
      new Promise<{ status: string; headers: Record<string, string> }>((resolve) => (timer = setTimeout(() => resolve({ status: 'no answer', headers: {} }), HANG_MS))),
    ]);
    clearTimeout(timer);
    t.same([r.status, r.headers['retry-after']], [503, '5'], `${method} ${path}: 503 with Retry-After`);
  }
  cluster.thaw();
  t.equal((await s.request('PROPFIND', '/', { headers: { depth: '1' } })).status, 207, 'served again once the database answers');
  t.equal((await s.request('GET', '/a')).body, 'x', 'with the data stored before');
  t.equal((await s.request('GET', '/b')).status, 404, 'and nothing of the failed PUT');
}

t.test('filesystem, metadata in a frozen PostgreSQL', { skip: postgresSkipReason() }, async (t) => {
  const cluster = await startPostgres(t);
  const s = await startServer(t, { root: tempDir(t), metadataUrl: await cluster.createDatabase(), metadataTimeout: 1000 });
  await frozenThenBack(t, s, cluster, [
    ['PROPFIND', '/', undefined, { depth: '1' }],
    ['PROPFIND', '/a', ALLPROP, { depth: '0' }],
    ['LOCK', '/a', lockBody(), {}],
    ['PUT', '/b', 'y', {}],
    ['DELETE', '/a', undefined, {}],
    ['MOVE', '/a', undefined, { destination: `${s.origin}/c` }],
  ]);
});

t.test('object storage, the tree in a frozen PostgreSQL', { skip: objectStorageUnavailable(t) }, async (t) => {
  const cluster = await startPostgres(t);
  const engines = await startEngines(t);
  const s = await startServer(t, { ...(await engines.settings(await cluster.createDatabase())), metadataTimeout: 1000 });
  await frozenThenBack(t, s, cluster, [
    ['PROPFIND', '/', undefined, { depth: '1' }],
    ['PROPFIND', '/', undefined, { depth: 'infinity' }],
    ['GET', '/a', undefined, {}],
    ['LOCK', '/a', lockBody(), {}],
    ['PUT', '/b', 'y', {}],
    ['PUT', '/b', Buffer.alloc(20 * 1024 * 1024, 1), {}],
    ['DELETE', '/a', undefined, {}],
    ['COPY', '/d', undefined, { destination: `${s.origin}/e` }],
    ['MOVE', '/a', undefined, { destination: `${s.origin}/c` }],
    ['MKCOL', '/f', undefined, {}],
  ]);
});
