/**
 * PUT re-checks locks and preconditions (If-Match and the like, and entity tags in the If header)
 * where it commits (issue 10): a body that takes its time
 * through instance A while instance B locks or changes the resource ends in 423 or 412, the old
 * content stays, and the refused upload leaves no object in the bucket. A LOCK asked while the
 * commit runs waits for it (the same advisory lock as the grant), so none slips in between. The
 * same holds for a MOVE of a tree while a LOCK below it is being granted on another instance.
 */
import t from 'tap';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { objectStorageUnavailable, startEngines } from '../helpers/object-storage.js';
import { errorConditions, lockBody, lockTokenOf, startServer, type Response } from '../helpers/server.js';

const skip = objectStorageUnavailable(t);

const PIECE = 64 * 1024;

/**
 * A PUT whose body goes out in two pieces: the first now, the second when `finish` is called.
 * Resolves `started` once the server recorded the upload (`pendingUploads` pending blob rows).
 */
function slowPut(origin: string, urlPath: string, headers: Record<string, string>, db: pg.Client, pendingUploads = 1) {
  const body = randomBytes(2 * PIECE);
  let answer!: Promise<Response>;
  const req = http.request(`${origin}${urlPath}`, { method: 'PUT', headers: { ...headers, 'content-length': String(body.length) }, agent: false });
  answer = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8'), raw: Buffer.concat(parts) }));
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, PIECE));
  const started = (async () => {
    const deadline = Date.now() + 20_000;
    while (((await db.query(`SELECT 1 FROM catalog_blobs WHERE state = 'pending'`)).rowCount ?? 0) < pendingUploads) {
      if (Date.now() > deadline) throw new Error('the upload never started');
      await sleep(20);
    }
  })();
  return {
    body,
    started,
    finish(): Promise<Response> {
      req.end(body.subarray(PIECE));
      return answer;
    },
  };
}

t.test('a slow PUT meets a LOCK or a change made on another instance', { skip }, async (t) => {
  const engines = await startEngines(t);
  const settings = await engines.settings();
  const [a, b] = await Promise.all([startServer(t, settings), startServer(t, settings)]);
  const db = new pg.Client({ connectionString: settings.metadataUrl });
  await db.connect();
  t.teardown(() => db.end());
  const objects = () => engines.objects(settings.s3Prefix!);

  t.test('LOCK granted on B during the upload: 423, old content intact, no object left', async (t) => {
    t.equal((await a.request('PUT', '/locked.txt', { body: 'old content' })).status, 201);
    const before = (await objects()).length;
    const put = slowPut(a.origin, '/locked.txt', {}, db);
    await put.started;
    const lock = await b.request('LOCK', '/locked.txt', { headers: { timeout: 'Second-600' }, body: lockBody() });
    t.equal(lock.status, 200, 'B grants the lock while A is still receiving');
    const answer = await put.finish();
    t.equal(answer.status, 423, 'the PUT is refused at its commit');
    t.same(errorConditions(answer.body), [{ name: 'lock-token-submitted', hrefs: ['/locked.txt'] }]);
    t.equal((await b.request('GET', '/locked.txt')).body, 'old content');
    t.equal((await objects()).length, before, 'the refused upload left no object');
    t.equal((await b.request('UNLOCK', '/locked.txt', { headers: { 'lock-token': `<${lockTokenOf(lock)}>` } })).status, 204);
  });

  t.test('with the token of that lock the same PUT commits', async (t) => {
    t.equal((await a.request('PUT', '/held.txt', { body: 'old content' })).status, 201);
    const put = slowPut(a.origin, '/held.txt', {}, db);
    await put.started;
    const lock = await b.request('LOCK', '/held.txt', { headers: { timeout: 'Second-600' }, body: lockBody() });
    t.equal(lock.status, 200);
    // Without the token at the start the PUT would have been refused at once; here it is
    // refused later. A PUT that starts with the token passes both checks:
    t.equal((await put.finish()).status, 423);
    const token = lockTokenOf(lock);
    const second = slowPut(a.origin, '/held.txt', { if: `(<${token}>)` }, db);
    await second.started;
    const answer = await second.finish();
    t.equal(answer.status, 204);
    t.same((await b.request('GET', '/held.txt')).raw, second.body, 'the new content is there');
  });

  t.test('a depth-0 LOCK on the folder: a new member is refused, a replaced one is not', async (t) => {
    t.equal((await a.request('MKCOL', '/folder/')).status, 201);
    t.equal((await a.request('PUT', '/folder/existing.txt', { body: 'old' })).status, 201);
    const create = slowPut(a.origin, '/folder/new.txt', {}, db);
    await create.started;
    const replace = slowPut(a.origin, '/folder/existing.txt', {}, db, 2);
    await replace.started;
    const lock = await b.request('LOCK', '/folder/', { headers: { timeout: 'Second-600', depth: '0' }, body: lockBody() });
    t.equal(lock.status, 200);
    const created = await create.finish();
    t.equal(created.status, 423, 'adding a member changes the locked folder');
    t.same(errorConditions(created.body), [{ name: 'lock-token-submitted', hrefs: ['/folder/'] }]);
    t.equal((await b.request('GET', '/folder/new.txt')).status, 404, 'nothing visible');
    t.equal((await replace.finish()).status, 204, 'replacing a member does not change the folder (RFC 4918 §7.5)');
  });

  t.test('If-Match and a concurrent overwrite: 412, the other write stays', async (t) => {
    const first = await a.request('PUT', '/matched.txt', { body: 'version 1' });
    t.equal(first.status, 201);
    const put = slowPut(a.origin, '/matched.txt', { 'if-match': String(first.headers.etag) }, db);
    await put.started;
    t.equal((await b.request('PUT', '/matched.txt', { body: 'version 2 from B' })).status, 204);
    t.equal((await put.finish()).status, 412, 'the entity tag changed during the upload');
    t.equal((await a.request('GET', '/matched.txt')).body, 'version 2 from B');
  });

  t.test('an entity tag in the If header and a concurrent overwrite: 412, the other write stays', async (t) => {
    const first = await a.request('PUT', '/tagged.txt', { body: 'version 1' });
    t.equal(first.status, 201);
    const put = slowPut(a.origin, '/tagged.txt', { if: `([${String(first.headers.etag)}])` }, db);
    await put.started;
    t.equal((await b.request('PUT', '/tagged.txt', { body: 'version 2 from B' })).status, 204);
    t.equal((await put.finish()).status, 412, 'the tag no longer names the file (RFC 4918 §10.4)');
    t.equal((await a.request('GET', '/tagged.txt')).body, 'version 2 from B');
    const unchanged = slowPut(a.origin, '/tagged.txt', { if: `([${String((await a.request('HEAD', '/tagged.txt')).headers.etag)}])` }, db);
    await unchanged.started;
    t.equal((await unchanged.finish()).status, 204, 'nothing in between: written');
  });

  t.test('If-None-Match: * and a concurrent create: 412', async (t) => {
    const put = slowPut(a.origin, '/fresh.txt', { 'if-none-match': '*' }, db);
    await put.started;
    t.equal((await b.request('PUT', '/fresh.txt', { body: 'B was first' })).status, 201);
    t.equal((await put.finish()).status, 412);
    t.equal((await a.request('GET', '/fresh.txt')).body, 'B was first');
  });

  t.test('a LOCK asked while the PUT commits waits for the commit, then locks the new content', async (t) => {
    t.equal((await a.request('PUT', '/race.txt', { body: 'old content' })).status, 201);
    // Holds the commit in the middle: writes to the tree table wait, so the PUT's transaction has
    // taken its advisory locks and waits at its row (as crash.test.ts does).
    const holder = new pg.Client({ connectionString: settings.metadataUrl });
    await holder.connect();
    t.teardown(() => holder.end());
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE catalog_nodes IN EXCLUSIVE MODE');
    const waiting = async (type: string) => Number((await db.query(`SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND locktype = $1`, [type])).rows[0].n);
    const put = slowPut(a.origin, '/race.txt', {}, db);
    await put.started;
    const putAnswer = put.finish();
    for (const deadline = Date.now() + 20_000; (await waiting('relation')) === 0; ) {
      if (Date.now() > deadline) throw new Error('the PUT never reached its commit');
      await sleep(20);
    }
    // The grant on B takes the same advisory lock: it must wait for the PUT's transaction.
    let lockAnswered = false;
    const lock = b.request('LOCK', '/race.txt', { headers: { timeout: 'Second-600' }, body: lockBody() }).finally(() => (lockAnswered = true));
    for (const deadline = Date.now() + 20_000; (await waiting('advisory')) === 0; ) {
      if (Date.now() > deadline || lockAnswered) throw new Error(`the LOCK did not wait for the PUT's commit (answered: ${lockAnswered})`);
      await sleep(20);
    }
    t.notOk(lockAnswered, 'the LOCK waits');
    await holder.query('ROLLBACK');
    t.equal((await putAnswer).status, 204, 'the PUT commits: no lock existed when it did');
    t.equal((await lock).status, 200, 'then the LOCK is granted');
    t.same((await b.request('GET', '/race.txt')).raw, put.body, 'on the new content');
  });

  t.test('a MOVE on A while a LOCK below its tree is being granted on B: it waits, then 423', async (t) => {
    t.equal((await a.request('MKCOL', '/tree/')).status, 201);
    t.equal((await a.request('MKCOL', '/tree/sub/')).status, 201);
    t.equal((await a.request('PUT', '/tree/sub/f', { body: 'in the tree' })).status, 201);
    // A grant in the middle of its transaction, as B's fastdav_grant runs it: the row inserted,
    // the advisory locks held, nothing committed yet.
    const granting = new pg.Client({ connectionString: settings.metadataUrl });
    await granting.connect();
    t.teardown(() => granting.end());
    await granting.query('BEGIN');
    const token = 'urn:uuid:00000000-0000-4000-8000-00000000f00d';
    const granted = await granting.query(`SELECT fastdav_grant('/tree/sub/f', ARRAY['', '/tree', '/tree/sub'], '0', 'exclusive', NULL, NULL, 600, $1, '{}') AS r`, [token]);
    t.equal(granted.rows[0].r.granted, true);
    let moveAnswered = false;
    const move = a.request('MOVE', '/tree/', { headers: { destination: `${a.origin}/elsewhere/` } }).finally(() => (moveAnswered = true));
    const waiting = async () => Number((await db.query(`SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND locktype = 'advisory'`)).rows[0].n);
    for (const deadline = Date.now() + 20_000; (await waiting()) === 0; ) {
      if (Date.now() > deadline || moveAnswered) throw new Error(`the MOVE did not wait for the grant (answered: ${moveAnswered})`);
      await sleep(20);
    }
    t.notOk(moveAnswered, 'the MOVE waits for the grant');
    await granting.query('COMMIT');
    const answer = await move;
    t.equal(answer.status, 423, 'then sees the lock: 423');
    t.same(errorConditions(answer.body), [{ name: 'lock-token-submitted', hrefs: ['/tree/sub/f'] }]);
    t.equal((await b.request('GET', '/tree/sub/f')).body, 'in the tree', 'the tree stays where it was');
    t.equal((await b.request('GET', '/elsewhere/')).status, 404);
    const held = await a.request('MOVE', '/tree/', { headers: { destination: `${a.origin}/elsewhere/`, if: `</tree/sub/f> (<${token}>)` } });
    t.equal(held.status, 201, 'with the token the MOVE is made');
    t.equal((await db.query(`SELECT 1 FROM locks WHERE token = $1`, [token])).rowCount, 0, 'and the lock stayed behind and went (RFC 4918 §7.6)');
  });

  t.test('no upload left pending', async (t) => {
    t.equal((await db.query(`SELECT key FROM catalog_blobs WHERE state = 'pending'`)).rowCount, 0);
  });
});
