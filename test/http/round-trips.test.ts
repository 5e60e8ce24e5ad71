/**
 * How many statements (round trips) each WebDAV method sends to PostgreSQL (issue 9, Speed). A real
 * server on a private PostgreSQL cluster; every statement node-postgres sends from this process is
 * counted by wrapping pg.Client's query (the pool and every checked-out client go through it; BEGIN
 * and COMMIT count as statements). Each request is sent alone, and the counts are upper bounds that
 * the batched store reaches (README, "PostgreSQL round trips per request"): more means a regression.
 * Also checked for each request: the status, and that what it changed is really in the database.
 */
import t from 'tap';
import pg from 'pg';
import { lockBody, lockTokenOf, multistatus, propText, startServer, type TestServer } from '../helpers/server.js';
import { postgresSkipReason, sharedPostgres } from '../helpers/postgres.js';

/** Statements sent since the last reset, with their text (for the failure message). */
const sent: string[] = [];
const query = pg.Client.prototype.query;
// pg's query() is overloaded (text or config object, callback or promise); only counting here.
pg.Client.prototype.query = function counted(this: pg.Client, ...args: unknown[]) {
  const first = args[0] as string | { text?: string };
  sent.push(typeof first === 'string' ? first : String(first?.text ?? '?'));
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof query;

const oneLine = (s: string) => s.replace(/\s+/g, ' ').slice(0, 90);

interface Step {
  what: string;
  /** Most statements allowed. */
  most: number;
  status: number;
  send(s: TestServer): Promise<{ status: number }>;
}

const xml = { 'content-type': 'application/xml' };
const propSet = '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:z="urn:x"><D:set><D:prop><z:a>1</z:a></D:prop></D:set></D:propertyupdate>';
const allprop = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';
const lockdiscovery = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>';

t.test('PostgreSQL round trips per request', { skip: postgresSkipReason() }, async (t) => {
  const url = await (await sharedPostgres()).createSchema();
  const s = await startServer(t, { metadataUrl: url });
  const check = new pg.Pool({ connectionString: url, max: 1 });
  t.teardown(() => check.end());
  /** Rows in the database, read outside the server (not counted: the counter is reset before each step). */
  const rows = async (sqlText: string, values: unknown[] = []) => (await check.query(sqlText, values)).rows;
  let token = '';

  const steps: Step[] = [
    { what: 'MKCOL', most: 1, status: 201, send: (s) => s.request('MKCOL', '/d/') },
    { what: 'PUT of a new file', most: 1, status: 201, send: (s) => s.request('PUT', '/d/a.txt', { body: 'one' }) },
    { what: 'PUT replacing a file', most: 1, status: 204, send: (s) => s.request('PUT', '/d/a.txt', { body: 'two' }) },
    { what: 'GET', most: 0, status: 200, send: (s) => s.request('GET', '/d/a.txt') },
    { what: 'PROPPATCH (one property)', most: 1, status: 207, send: (s) => s.request('PROPPATCH', '/d/a.txt', { headers: xml, body: propSet }) },
    { what: 'PROPFIND depth 0, allprop', most: 2, status: 207, send: (s) => s.request('PROPFIND', '/d/a.txt', { headers: { ...xml, depth: '0' }, body: allprop }) },
    { what: 'PROPFIND depth 1, lockdiscovery', most: 1, status: 207, send: (s) => s.request('PROPFIND', '/d/', { headers: { ...xml, depth: '1' }, body: lockdiscovery }) },
    {
      what: 'LOCK of a file',
      most: 1,
      status: 200,
      send: async (s) => {
        const res = await s.request('LOCK', '/d/a.txt', { headers: { ...xml, depth: '0' }, body: lockBody() });
        token = lockTokenOf(res);
        return res;
      },
    },
    { what: 'PUT with the lock token', most: 2, status: 204, send: (s) => s.request('PUT', '/d/a.txt', { headers: { if: `(<${token}>)` }, body: 'three' }) },
    { what: 'PUT without the token (refused)', most: 1, status: 423, send: (s) => s.request('PUT', '/d/a.txt', { body: 'four' }) },
    {
      what: 'PROPFIND after the refused PUT',
      most: 2,
      status: 207,
      send: async (s) => {
        const res = await s.request('PROPFIND', '/d/a.txt', { headers: { ...xml, depth: '0' }, body: allprop });
        t.equal(propText(multistatus(res.body)[0]!, 'urn:x', 'a'), '1', 'the property PROPPATCH set is reported');
        t.equal(propText(multistatus(res.body)[0]!, 'DAV:', 'getcontentlength'), '5', 'the refused PUT changed nothing ("three")');
        return res;
      },
    },
    { what: 'UNLOCK', most: 2, status: 204, send: (s) => s.request('UNLOCK', '/d/a.txt', { headers: { 'lock-token': `<${token}>` } }) },
    { what: 'LOCK of an unmapped URL (creates it)', most: 2, status: 201, send: (s) => s.request('LOCK', '/d/new.txt', { headers: { ...xml, depth: '0' }, body: lockBody() }) },
    { what: 'COPY of a file', most: 2, status: 201, send: (s) => s.request('COPY', '/d/a.txt', { headers: { destination: `${s.origin}/d/b.txt` } }) },
    { what: 'MOVE of a file', most: 2, status: 201, send: (s) => s.request('MOVE', '/d/b.txt', { headers: { destination: `${s.origin}/d/c.txt` } }) },
    { what: 'DELETE of a file', most: 2, status: 204, send: (s) => s.request('DELETE', '/d/c.txt') },
    // The lock on /d/new.txt makes the first try of a change in /d/ see a lock it did not expect.
    { what: 'PUT of a new file beside a locked one', most: 1, status: 201, send: (s) => s.request('PUT', '/d/e.txt', { body: 'e' }) },
    // Without a dead property or a lock in either tree, the lock check (with the journal's look) is all.
    { what: 'COPY of a file without metadata', most: 1, status: 201, send: (s) => s.request('COPY', '/d/e.txt', { headers: { destination: `${s.origin}/d/f.txt` } }) },
    { what: 'MOVE of a file without metadata', most: 1, status: 201, send: (s) => s.request('MOVE', '/d/f.txt', { headers: { destination: `${s.origin}/d/g.txt` } }) },
    { what: 'DELETE of a file without metadata', most: 1, status: 204, send: (s) => s.request('DELETE', '/d/g.txt') },
    { what: 'DELETE of a folder with a locked member (207)', most: 4, status: 207, send: (s) => s.request('DELETE', '/d/') },
  ];

  const counts: string[] = [];
  for (const step of steps) {
    sent.length = 0;
    const res = await step.send(s);
    const statements = [...sent];
    t.equal(res.status, step.status, `${step.what}: status`);
    t.ok(statements.length <= step.most, `${step.what}: ${statements.length} round trips (at most ${step.most})`, { statements: statements.map(oneLine) });
    counts.push(`${step.what}: ${statements.length}`);
  }
  t.comment(counts.join('; '));

  // What the requests changed is in the database, not only in the answers.
  t.same(await rows('SELECT path, name FROM dead_props ORDER BY path'), [], 'COPY copied, MOVE moved and the DELETEs dropped every property');
  t.same(await rows('SELECT root FROM locks'), [{ root: '/d/new.txt' }], 'UNLOCK removed its lock; the lock of the member that DELETE kept stays');
  t.same(await rows('SELECT count(*)::int AS n FROM intents'), [{ n: 0 }], 'every intent resolved');
  t.same((await s.request('GET', '/d/new.txt')).status, 200, 'the locked member is still there');
  t.same((await s.request('GET', '/d/a.txt')).status, 404, 'the rest of the folder is gone');
});
