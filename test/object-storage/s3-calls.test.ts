/**
 * What object storage costs and how it fails:
 * - MOVE, COPY and DELETE of a folder of 10,000 files cost the same SQL statements and S3 calls
 *   as of 10 (counted, not timed): one statement each, no S3 call at all.
 * - PROPFIND and MOVE through HTTP make no S3 request (radosgw's own request counter).
 * - MOVE, COPY and DELETE through HTTP, of files and folders, new or replacing: one PostgreSQL
 *   statement each (lookups, Overwrite, lock check, change and lock removal together), two when
 *   a lock that the request holds is in the way; what they did, checked through HTTP.
 * - A small PUT through HTTP (new file, replaced file, under a lock) costs a bounded number of
 *   PostgreSQL statements (every one this process sends, counted) and one S3 request.
 * - S3 unreachable at run time: GET and PUT answer 503 with Retry-After; PROPFIND and MKCOL,
 *   which need only the catalog, go on; all is well again once S3 is back. PostgreSQL
 *   unreachable: 503 with Retry-After, and service resumes by itself.
 * - PostgreSQL lost in the middle of a listing (its connection killed while the rows stream):
 *   the 207 is cut or answered 503, never finished short; the next listing is whole.
 */
import t from 'tap';
import { Readable } from 'node:stream';
import pg from 'pg';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { runCli } from '../helpers/cli.js';
import { DavPath } from '../../src/core/paths.js';
import { openObjectStorage } from '../../src/storage/catalog/open.js';
import { objectStorageUnavailable, startEngines, startObjectStorageServer } from '../helpers/object-storage.js';
import { sharedPostgres } from '../helpers/postgres.js';
import http from 'node:http';
import { lockBody, lockTokenOf, startServer } from '../helpers/server.js';

/** Statements node-postgres has sent from this process (the pool and every checked-out client; BEGIN and COMMIT count). */
let statementsSent = 0;
const query = pg.Client.prototype.query;
// pg's query() is overloaded (text or config object, callback or promise); only counting here.
pg.Client.prototype.query = function counted(this: pg.Client, ...args: unknown[]) {
  statementsSent++;
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof query;

/** Statements a 4 KiB PUT may cost (README, "Object storage speed"): more is a regression. */
const MOST_STATEMENTS = { created: 5, replaced: 4, locked: 7 };
/** Statements of a COPY, MOVE or DELETE through HTTP with no lock in the way (six for a MOVE before migration 110). */
const MOST_TREE_STATEMENTS = 1;

const skip = objectStorageUnavailable(t);
/** The status of the DavError a storage call fails with (0 when it succeeds). */
const statusOf = (step: Promise<unknown>): Promise<number> => step.then(() => 0, (err: { statusCode?: number }) => err.statusCode ?? -1);
const p = (s: string): DavPath => DavPath.of(s.split('/').filter(Boolean));

t.test('object storage costs and failures', { skip }, async (t) => {
  const engines = await startEngines(t);

  t.test('MOVE, COPY and DELETE of 10,000 files cost what they cost for 10', async (t) => {
    const settings = await engines.settings();
    const opened = await openObjectStorage({ ...settings, quotaBytes: 0 } as Parameters<typeof openObjectStorage>[0]);
    t.teardown(() => opened.close());
    const { storage, blobs } = opened;
    const { sql } = storage;
    for (const [folder, count] of [['small', 10], ['big', 10_000]] as const) {
      await storage.createCollection(p(folder));
      await storage.createCollection(p(`${folder}/sub`));
      await storage.writeFile(p(`${folder}/sub/real`), Readable.from([Buffer.from('bytes in S3')]), {});
      // The files themselves: rows made in one statement (10,000 PUTs would only slow the test).
      const parent = (await storage.node(p(`${folder}/sub`)))!.id;
      await sql.run(
        `INSERT INTO catalog_nodes (parent, name, is_collection, size, etag, mtime_ms, created_ms)
         SELECT $1, 'f' || i, false, 0, '"e"', 0, 0 FROM generate_series(1, $2::int) i`,
        [parent, count - 1],
      );
    }
    t.equal((await storage.members(p('big'), 'infinity')).count, 10_001, '10,000 files and a folder');
    const cost = async (step: () => Promise<unknown>) => {
      const [statements, requests] = [sql.statements, blobs.requests];
      await step();
      return { statements: sql.statements - statements, s3: blobs.requests - requests };
    };
    const refs = async (folder: string) =>
      Number((await sql.run<{ refs: number }>(`SELECT refs FROM catalog_blobs b JOIN catalog_nodes n ON n.blob = b.key WHERE n.id = $1`, [(await storage.node(p(`${folder}/sub/real`)))!.id]))[0]!.refs);
    const steps = {
      MOVE: (folder: string) => storage.moveTree(p(folder), p(`${folder}-moved`)),
      COPY: (folder: string) => storage.copyTree(p(`${folder}-moved`), p(`${folder}-copy`), 'infinity'),
      DELETE: (folder: string) => storage.deleteTree(p(`${folder}-copy`), []),
    };
    for (const [method, step] of Object.entries(steps)) {
      const small = await cost(() => step('small'));
      const big = await cost(() => step('big'));
      t.same(big, { statements: 1, s3: 0 }, `${method}: one statement and no S3 call for 10,000 files`);
      t.same(small, big, `${method}: as for 10 files`);
      if (method === 'COPY') t.equal(await refs('big-copy'), 2, 'the copy shares the blob (two references)');
    }
    t.equal((await storage.members(p('big-moved'), 'infinity')).count, 10_001, 'everything moved');
    t.equal(await storage.stat(p('big')), null, 'nothing left at the source');
    t.equal((await storage.list(p('big-moved/sub'))).length, 10_000);
    t.equal(await storage.stat(p('big-copy')), null, 'the copy is deleted');
    t.equal(await refs('big-moved'), 1, 'its blob reference is given back');
    t.equal((await sql.run(`SELECT 1 FROM catalog_nodes n WHERE NOT EXISTS (SELECT 1 FROM catalog_nodes m WHERE m.id = n.parent) AND n.parent IS NOT NULL`)).length, 0, 'no orphan rows');
    t.equal((await storage.list(p('/'))).map((e) => e.path.name).sort().join(' '), 'big-moved small-moved');

    // The rarer ways take a transaction: a file replacing a file, a DELETE that keeps a locked member.
    await storage.writeFile(p('small-moved/other'), Readable.from([Buffer.from('other bytes')]), {});
    await storage.moveTree(p('small-moved/other'), p('small-moved/sub/real'));
    t.equal((await (await storage.openFile(p('small-moved/sub/real'))).readAll()).toString(), 'other bytes', 'MOVE over a file replaces it');
    await storage.copyTree(p('small-moved/sub/f1'), p('small-moved/sub/real'), 'infinity');
    t.equal((await storage.stat(p('small-moved/sub/real')))?.size, 0, 'COPY over a file replaces it');
    await storage.deleteTree(p('small-moved'), [p('small-moved/sub/f2')]);
    t.same((await storage.members(p('small-moved'), 'infinity')).count, 2, 'DELETE keeps a member and its ancestors');
    t.equal(await statusOf(storage.moveTree(p('nothing'), p('there'))), 404);
    t.equal(await statusOf(storage.moveTree(p('big-moved'), p('no/there'))), 409);
    t.equal(await statusOf(storage.copyTree(p('nothing'), p('there'), 'infinity')), 404);
    t.equal(await statusOf(storage.copyTree(p('big-moved/sub/f1'), p('big-moved/sub/f2/x'), 0)), 409);
    t.equal(await statusOf(storage.deleteTree(p('nothing'), [])), 404);
  });

  t.test('PROPFIND and MOVE through HTTP make no S3 request', async (t) => {
    const s = await startObjectStorageServer(t, engines);
    t.equal((await s.request('MKCOL', '/docs/')).status, 201);
    for (let i = 0; i < 20; i++) t.equal((await s.request('PUT', `/docs/f${i}.txt`, { body: `file ${i}` })).status, 201);
    const before = await engines.s3.requests();
    const listing = await s.request('PROPFIND', '/docs/', { headers: { depth: '1' } });
    t.equal(listing.status, 207);
    t.equal([...listing.body.matchAll(/<D:getcontentlength>/g)].length, 20, 'sizes of every file');
    t.equal((await s.request('PROPFIND', '/', { headers: { depth: 'infinity' } })).status, 207);
    t.equal((await s.request('MOVE', '/docs/', { headers: { destination: `${s.origin}/moved/` } })).status, 201);
    t.equal((await s.request('COPY', '/moved/', { headers: { destination: `${s.origin}/copy/` } })).status, 201);
    t.equal(await engines.s3.requests(), before, 'radosgw served no request');
    t.equal((await s.request('GET', '/copy/f7.txt')).body, 'file 7', 'the copy reads the shared blob');
  });

  t.test('a small PUT: a bounded number of statements and one S3 request', async (t) => {
    const s = await startObjectStorageServer(t, engines);
    t.equal((await s.request('MKCOL', '/small/')).status, 201);
    const body = Buffer.alloc(4096, 'x');
    const cost = async (step: () => Promise<{ status: number }>, status: number) => {
      const [statements, requests] = [statementsSent, await engines.s3.requests()];
      t.equal((await step()).status, status);
      return { statements: statementsSent - statements, s3: (await engines.s3.requests()) - requests };
    };
    const created = await cost(() => s.request('PUT', '/small/a.bin', { body }), 201);
    const replaced = await cost(() => s.request('PUT', '/small/a.bin', { body }), 204);
    const lock = await s.request('LOCK', '/small/', { headers: { 'content-type': 'application/xml', depth: 'infinity' }, body: lockBody() });
    t.equal(lock.status, 200);
    const token = lockTokenOf(lock);
    const locked = await cost(() => s.request('PUT', '/small/b.bin', { body, headers: { if: `(<${token}>)` } }), 201);
    t.comment(`statements and S3 requests per 4 KiB PUT: new ${JSON.stringify(created)}, replacing ${JSON.stringify(replaced)}, under a lock ${JSON.stringify(locked)}`);
    t.equal(created.s3, 1, 'new file: one S3 request (PutObject)');
    t.equal(replaced.s3, 1, 'replaced file: one S3 request');
    t.equal(locked.s3, 1, 'under a lock: one S3 request');
    t.ok(created.statements <= MOST_STATEMENTS.created, `new file: ${created.statements} statements (at most ${MOST_STATEMENTS.created})`);
    t.ok(replaced.statements <= MOST_STATEMENTS.replaced, `replaced file: ${replaced.statements} statements (at most ${MOST_STATEMENTS.replaced})`);
    t.ok(locked.statements <= MOST_STATEMENTS.locked, `under a lock: ${locked.statements} statements (at most ${MOST_STATEMENTS.locked})`);
    t.equal((await s.request('GET', '/small/a.bin')).raw.length, 4096, 'the bytes are there');
  });

  t.test('MOVE, COPY and DELETE through HTTP: a bounded number of statements, no S3 request', async (t) => {
    const s = await startObjectStorageServer(t, engines);
    const tree = async (folder: string) => {
      t.equal((await s.request('MKCOL', `/${folder}/`)).status, 201);
      t.equal((await s.request('MKCOL', `/${folder}/sub/`)).status, 201);
      for (let i = 0; i < 3; i++) t.equal((await s.request('PUT', `/${folder}/sub/f${i}`, { body: `file ${i}` })).status, 201);
    };
    await tree('a');
    await tree('b');
    t.equal((await s.request('PUT', '/one', { body: 'one' })).status, 201);
    t.equal((await s.request('PUT', '/two', { body: 'two' })).status, 201);
    const cost = async (method: string, path: string, status: number, headers: Record<string, string> = {}) => {
      const [statements, requests] = [statementsSent, await engines.s3.requests()];
      const r = await s.request(method, path, { headers });
      t.equal(r.status, status, `${method} ${path}: ${status}`);
      return { statements: statementsSent - statements, s3: (await engines.s3.requests()) - requests };
    };
    const to = (path: string, overwrite = 'T') => ({ destination: `${s.origin}${path}`, overwrite });
    const costs: Record<string, { statements: number; s3: number }> = {
      'MOVE of a folder': await cost('MOVE', '/a/', 201, to('/a2/')),
      'MOVE of a file': await cost('MOVE', '/one', 201, to('/one2')),
      'MOVE of a file over a file': await cost('MOVE', '/one2', 204, to('/two')),
      'MOVE of a folder over a folder': await cost('MOVE', '/a2/', 204, to('/b/')),
      'MOVE refused by Overwrite: F': await cost('MOVE', '/b/sub/f0', 412, to('/b/sub/f1', 'F')),
      'COPY of a folder': await cost('COPY', '/b/', 201, to('/c/')),
      'COPY of a file': await cost('COPY', '/two', 201, to('/three')),
      'COPY of a file over a file': await cost('COPY', '/two', 204, to('/three')),
      'COPY of a folder over a folder': await cost('COPY', '/b/', 204, to('/c/')),
      'DELETE of a folder': await cost('DELETE', '/c/', 204),
      'DELETE of a file': await cost('DELETE', '/three', 204),
    };
    t.comment(`statements and S3 requests: ${JSON.stringify(costs)}`);
    for (const [what, cost] of Object.entries(costs)) t.same(cost, { statements: MOST_TREE_STATEMENTS, s3: 0 }, `${what}: ${MOST_TREE_STATEMENTS} statement, no S3 request`);
    // What the statements did: both ends, the replaced destination and the shared blobs.
    t.equal((await s.request('GET', '/b/sub/f2')).body, 'file 2', 'the moved folder replaced the other');
    t.equal((await s.request('GET', '/a2/')).status, 404, 'nothing left at the source');
    t.equal((await s.request('GET', '/two')).body, 'one', 'the moved file replaced the other');
    t.equal((await s.request('GET', '/one')).status, 404);
    t.equal((await s.request('GET', '/c/')).status, 404, 'the deleted copy is gone');
    t.equal((await s.request('GET', '/b/sub/f0')).body, 'file 0', 'its source stays');
    // RFC 4918 §5.2: a URL ending in '/' names no file; Depth 0 copies the folder alone; X-OC-Mtime.
    t.equal((await s.request('MOVE', '/two/', { headers: to('/x') })).status, 404, 'MOVE of a file named as a folder: 404');
    t.equal((await s.request('DELETE', '/two/')).status, 404, 'DELETE of a file named as a folder: 404');
    t.equal((await s.request('COPY', '/b/', { headers: { ...to('/shallow/'), depth: '0' } })).status, 201);
    t.notMatch((await s.request('PROPFIND', '/shallow/', { headers: { depth: '1' } })).body, /sub/, 'COPY Depth 0: the folder without its members');
    const stamped = await s.request('MOVE', '/shallow/', { headers: { ...to('/stamped/'), 'x-oc-mtime': '1000000000' } });
    t.same([stamped.status, stamped.headers['x-oc-mtime']], [201, 'accepted']);
    t.match((await s.request('PROPFIND', '/stamped/', { headers: { depth: '0' } })).body, /Sun, 09 Sep 2001 01:46:40 GMT/, 'the moved folder has the time asked for');
    t.equal((await s.request('MOVE', '/stamped/', { headers: to('/nowhere/x/') })).status, 409, 'no parent at the destination: 409');
    t.equal((await s.request('DELETE', '/stamped/', { headers: { depth: '0' } })).status, 400, 'DELETE of a folder with Depth 0: 400');

    // Under locks: the lock check is in the same statement. A MOVE whose source is locked by a
    // token the request holds: one statement more (the first try expects no lock, the second the
    // one it was shown and judged). The moved tree's locks stay behind and go (RFC 4918 §7.6).
    const lock = await s.request('LOCK', '/b/sub/', { headers: { 'content-type': 'application/xml', depth: 'infinity' }, body: lockBody() });
    t.equal(lock.status, 200);
    const token = lockTokenOf(lock);
    const refused = await cost('MOVE', '/b/', 423, to('/d/'));
    t.same(refused, { statements: 2, s3: 0 }, 'MOVE of a locked tree without its token: 423 after 2 statements');
    const moved = await cost('MOVE', '/b/', 201, { ...to('/d/'), if: `</b/sub/> (<${token}>)` });
    // Plus the If header's own evaluation (app.ts: the tagged resource looked up, the token read).
    t.same(moved, { statements: 4, s3: 0 }, 'MOVE of a locked tree with its token: 2 statements and 2 for the If header');
    const discovery = await s.request('PROPFIND', '/d/sub/', { headers: { depth: '0' }, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>' });
    t.notMatch(discovery.body, token, 'the lock did not move with the tree');
    t.equal((await s.request('PUT', '/b/sub/new', { body: 'x' })).status, 409, 'the source is gone');
    t.equal((await s.request('MKCOL', '/b/')).status, 201);
    t.equal((await s.request('MKCOL', '/b/sub/')).status, 201, 'no lock left at the old path');

    // DELETE of a tree with a member locked by someone else: that member and its ancestors stay
    // (207, 423 for the member), with its lock; the lock on a member that went, goes.
    for (const f of ['kept', 'gone']) t.equal((await s.request('PUT', `/b/sub/${f}`, { body: f })).status, 201);
    const other = lockTokenOf(await s.request('LOCK', '/b/sub/kept', { headers: { 'content-type': 'application/xml' }, body: lockBody() }));
    const mine = lockTokenOf(await s.request('LOCK', '/b/sub/gone', { headers: { 'content-type': 'application/xml' }, body: lockBody() }));
    const partial = await s.request('DELETE', '/b/', { headers: { if: `</b/sub/gone> (<${mine}>)` } });
    t.equal(partial.status, 207);
    t.match(partial.body, /<D:href>\/b\/sub\/kept<\/D:href><D:status>HTTP\/1.1 423 Locked<\/D:status><D:error><D:lock-token-submitted>/, 'the locked member: 423');
    t.equal([...partial.body.matchAll(/<D:response>/g)].length, 1, 'and nothing else');
    t.equal((await s.request('GET', '/b/sub/kept')).body, 'kept', 'the locked member stays');
    t.equal((await s.request('GET', '/b/sub/gone')).status, 404, 'the other one went');
    const db = new pg.Client({ connectionString: s.config.metadataUrl });
    await db.connect();
    t.teardown(() => db.end());
    const left = (await db.query<{ token: string }>(`SELECT token FROM locks WHERE token = ANY($1)`, [[other, mine]])).rows.map((r) => r.token);
    t.same(left, [other], "only the kept member's lock is left");
  });

  t.test('S3 unreachable: 503 with Retry-After for contents, the catalog goes on', async (t) => {
    const s = await startObjectStorageServer(t, engines);
    t.equal((await s.request('PUT', '/file', { body: 'content' })).status, 201);
    // A file streamed from S3 (larger than what is read whole): whole and by range.
    const big = Buffer.alloc(1024 * 1024 + 5, 'abcdefgh');
    t.equal((await s.request('PUT', '/big', { body: big })).status, 201);
    t.ok((await s.request('GET', '/big')).raw.equals(big), 'a streamed GET: every byte');
    const range = await s.request('GET', '/big', { headers: { range: 'bytes=1048570-1048576' } });
    t.same([range.status, range.body], [206, big.subarray(1048570, 1048577).toString()], 'a range of it');
    await engines.s3.stopGateway();
    let restarted = false;
    t.teardown(async () => {
      if (!restarted) await engines.s3.startGateway();
    });
    const get = await s.request('GET', '/file');
    t.equal(get.status, 503, 'GET: 503');
    t.ok(Number(get.headers['retry-after']) > 0, 'with Retry-After');
    const streamed = await s.request('GET', '/big');
    t.same([streamed.status, Number(streamed.headers['retry-after']) > 0], [503, true], 'GET of a streamed file: 503 with Retry-After, not a cut connection');
    const put = await s.request('PUT', '/other', { body: 'x'.repeat(1000) });
    t.equal(put.status, 503, 'PUT: 503');
    t.ok(Number(put.headers['retry-after']) > 0);
    t.equal((await s.request('PROPFIND', '/', { headers: { depth: '1' } })).status, 207, 'PROPFIND needs no S3');
    t.equal((await s.request('MKCOL', '/folder/')).status, 201, 'MKCOL needs no S3');
    t.equal((await s.request('GET', '/other')).status, 404, 'the failed PUT left nothing');
    await engines.s3.startGateway();
    restarted = true;
    t.equal((await s.request('GET', '/file')).body, 'content', 'back once S3 is');
    t.equal((await s.request('PUT', '/other', { body: 'now' })).status, 201);
  });

  t.test('S3 that accepts requests and answers nothing: 503 after the store timeout, never a hang', async (t) => {
    const s = await startObjectStorageServer(t, engines, { s3Timeout: 1 });
    t.equal((await s.request('PUT', '/stalled-file', { body: 'content' })).status, 201);
    engines.s3.pauseGateway();
    let paused = true;
    t.teardown(() => {
      if (paused) engines.s3.resumeGateway();
    });
    for (const [method, path, body] of [['GET', '/stalled-file'], ['PUT', '/stalled-other', 'x'.repeat(1000)]] as const) {
      const started = performance.now();
      const res = await s.request(method, path, body === undefined ? {} : { body });
      const ms = performance.now() - started;
      t.same([res.status, Number(res.headers['retry-after']) > 0], [503, true], `${method}: 503 with Retry-After`);
      // Three attempts of 1 s each and the SDK's back-off between them; without a timeout, never.
      t.ok(ms < 15_000, `${method}: answered after ${Math.round(ms)} ms`);
    }
    engines.s3.resumeGateway();
    paused = false;
    t.equal((await s.request('GET', '/stalled-file')).body, 'content', 'back once the store answers');
    t.equal((await s.request('GET', '/stalled-other')).status, 404, 'the failed PUT left nothing');
  });

  t.test('a multipart PUT to S3 that answers nothing: 503 before the connection goes idle, nothing left behind', async (t) => {
    // Each part's request fails after three attempts of 2 s (~6.5 s); the abort of the multipart
    // upload would take as long again. The answer must not wait for it: the connection's idle
    // timeout (9 s here; the server has read the whole body into its part buffers and is silent
    // meanwhile) would otherwise close it first, and the client would get no answer at all.
    const s = await startObjectStorageServer(t, engines, { s3Timeout: 2, idleTimeout: 9 });
    const body = Buffer.alloc(24 * 1024 * 1024, 'm');
    t.equal((await s.request('PUT', '/stalled-big', { body })).status, 201, 'multipart PUT while the store answers');
    engines.s3.pauseGateway();
    let paused = true;
    t.teardown(() => {
      if (paused) engines.s3.resumeGateway();
    });
    const res = await s.request('PUT', '/stalled-big', { body: Buffer.alloc(24 * 1024 * 1024, 'n') }).catch((err: Error) => ({ status: err.message, headers: {} as Record<string, string> }));
    t.same([res.status, Number(res.headers['retry-after']) > 0], [503, true], '503 with Retry-After, not a closed connection');
    engines.s3.resumeGateway();
    paused = false;
    const after = await s.request('GET', '/stalled-big');
    t.ok(after.status === 200 && after.raw.equals(body), 'the file is still the one stored before');
    // What the store did after fastdav gave up on it (it may yet have created the upload) is
    // the sweep's to remove: then nothing but the stored file's object is left.
    const c = s.config;
    const args = ['--metadata-url', c.metadataUrl!, '--s3-bucket', c.s3Bucket!, '--s3-endpoint', c.s3Endpoint!, '--s3-prefix', c.s3Prefix];
    const gc = await runCli(['gc', '--grace', '0', ...args], { AWS_ACCESS_KEY_ID: engines.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: engines.s3.secretAccessKey, AWS_REGION: engines.s3.region });
    t.equal(gc.status, 0, gc.output);
    const open = await engines.s3.client.send(new ListMultipartUploadsCommand({ Bucket: engines.s3.bucket, Prefix: c.s3Prefix }));
    t.same(open.Uploads ?? [], [], 'no multipart upload left open');
    t.equal((await engines.objects(c.s3Prefix)).length, 1, "only the stored file's object is left");
  });

  t.test('quota: absent without --quota-bytes; with it, figures and 507 beyond', async (t) => {
    const quotaBody = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>';
    const ask = (s: { request: typeof none.request }) => s.request('PROPFIND', '/', { headers: { depth: '0' }, body: quotaBody });
    const none = await startObjectStorageServer(t, engines);
    const absent = await ask(none);
    t.match(absent.body, /<D:propstat><D:prop><D:quota-available-bytes\/><D:quota-used-bytes\/><\/D:prop><D:status>HTTP\/1.1 404/, 'both 404 without a quota');
    const s = await startObjectStorageServer(t, engines, { quotaBytes: 1000 });
    t.equal((await s.request('PUT', '/a', { body: 'x'.repeat(600) })).status, 201);
    const figures = await ask(s);
    t.match(figures.body, /<D:quota-available-bytes>400<\/D:quota-available-bytes>/);
    t.match(figures.body, /<D:quota-used-bytes>600<\/D:quota-used-bytes>/);
    const over = await s.request('PUT', '/b', { body: 'y'.repeat(600) });
    t.equal(over.status, 507, 'beyond the quota: 507');
    t.match(over.body, /quota-not-exceeded/);
    t.equal((await s.request('GET', '/b')).status, 404, 'nothing stored');
    // Without a length announced the body is stored first, and the commit counts it.
    const chunked = await s.request('PUT', '/b', { body: 'y'.repeat(600), headers: { 'transfer-encoding': 'chunked' } });
    t.equal(chunked.status, 507, 'a chunked body beyond the quota: 507 at the commit');
    t.match(chunked.body, /quota-not-exceeded/);
    t.equal((await s.request('GET', '/b')).status, 404, 'nothing stored either');
    t.equal((await s.request('PUT', '/no-such-folder/b', { body: 'y'.repeat(600) })).status, 409, 'a missing parent is a 409 before the quota (RFC 4918 §9.7.1)');
    t.equal((await s.request('PUT', '/c', { body: 'z'.repeat(400) })).status, 201, 'up to the quota: fine');
  });

  // Both ways a listing is read: the plain statement (listing cache off), and the statement with
  // the fingerprint that the listing cache reads a listing with (every attempt a request body of
  // its own, so that none is answered from the cache).
  for (const [mode, cacheBytes, statement] of [
    ['listing cache off', 0, '%ORDER BY name LIMIT%'],
    ['listing read for the cache', 32 * 1024 * 1024, '%ORDER BY name) UNION ALL%'],
  ] as const) {
    t.test(`PostgreSQL lost in the middle of a listing (${mode}): cut or 503, never a short 207`, async (t) => {
      const settings = await engines.settings();
      const s = await startServer(t, { ...settings, listingCacheBytes: cacheBytes });
      t.equal((await s.request('MKCOL', '/big/')).status, 201);
      const db = new pg.Client({ connectionString: settings.metadataUrl! });
      await db.connect();
      t.teardown(() => db.end());
      const FILES = 20_000;
      await db.query(
        `INSERT INTO catalog_nodes (parent, name, is_collection, size, etag, mtime_ms, created_ms)
         SELECT (SELECT id FROM catalog_nodes WHERE name = 'big'), 'f' || lpad(i::text, 6, '0'), false, 0, '"e' || i || '"', 0, 0
         FROM generate_series(1, $1::int) i`,
        [FILES],
      );
      /** A Depth 1 PROPFIND of /big/, read to its end or its cut. */
      let requests = 0;
      const listing = () =>
        new Promise<{ status: number; responses: number; finished: boolean; cut: boolean }>((resolve) => {
          let body = '';
          let status = 0;
          const done = (cut: boolean, complete = false) =>
            resolve({ status, responses: body.split('<D:response>').length - 1, finished: complete && body.endsWith('</D:multistatus>\n'), cut });
          const propfindBody = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>${' '.repeat(requests++)}`;
          const req = http.request(`${s.origin}/big/`, { method: 'PROPFIND', headers: { depth: '1', 'content-type': 'application/xml' }, agent: false }, (res) => {
            status = res.statusCode!;
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => done(!res.complete, res.complete));
            res.on('error', () => done(true));
          });
          req.on('error', () => done(true));
          req.end(propfindBody);
        });
      t.equal((await listing()).responses, FILES + 1, 'a whole listing first');
      const seen = { whole: 0, unavailable: 0, cut: 0 };
      for (let attempt = 0; attempt < 40 && seen.cut === 0; attempt++) {
        let running = true;
        // Kills the listing's statement while it runs (a lost connection, as a database restart does).
        const killer = (async () => {
          while (running) {
            const { rowCount } = await db.query(
              `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE $1`,
              [statement],
            );
            if (rowCount) break;
          }
        })();
        const r = await listing();
        running = false;
        await killer;
        if (r.status === 503) seen.unavailable++;
        else if (r.cut || !r.finished) {
          t.equal(r.status, 207, 'cut after the answer began');
          seen.cut++;
        } else {
          t.equal(r.responses, FILES + 1, 'a 207 that ends well-formed holds every member');
          seen.whole++;
        }
      }
      t.ok(seen.cut + seen.unavailable > 0, `the connection was lost during a listing (${JSON.stringify(seen)})`);
      const after = await listing();
      t.ok(after.finished && after.responses === FILES + 1, 'the next listing is whole');
    });
  }

  t.test('PostgreSQL unreachable: 503 with Retry-After, then service resumes', async (t) => {
    const s = await startObjectStorageServer(t, engines);
    t.equal((await s.request('PUT', '/file', { body: 'content' })).status, 201);
    const pg = await sharedPostgres();
    await pg.stop();
    let restarted = false;
    t.teardown(async () => {
      if (!restarted) await pg.start();
    });
    for (const [method, path] of [['PROPFIND', '/'], ['GET', '/file'], ['PUT', '/new']] as const) {
      const r = await s.request(method, path, { body: method === 'PUT' ? 'x' : undefined });
      t.equal(r.status, 503, `${method}: 503`);
      t.ok(Number(r.headers['retry-after']) > 0, 'with Retry-After');
    }
    await pg.start();
    restarted = true;
    t.equal((await s.request('GET', '/file')).body, 'content');
  });
});

