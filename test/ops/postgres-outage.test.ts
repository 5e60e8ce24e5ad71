/**
 * A server on PostgreSQL whose database goes away under load (stopped, then killed with SIGKILL):
 * requests that need the database answer 503 with Retry-After quickly, never hang, the process
 * survives, GET of a file still works (it needs no database), the health endpoint says 503, and
 * everything comes back by itself when the database does. Every write acknowledged with a success
 * is there afterwards, with its dead property.
 */
import t from 'tap';
import { HEALTH_URL_PATH } from '../../src/http/context.js';
import { multistatus, propText, startServer, type Response, type TestServer } from '../helpers/server.js';
import { postgresSkipReason, startPostgres } from '../helpers/postgres.js';

const proppatch = (value: string) =>
  `<D:propertyupdate xmlns:D="DAV:" xmlns:T="urn:t"><D:set><D:prop><T:v>${value}</T:v></D:prop></D:set></D:propertyupdate>`;

interface Outcome {
  status: number;
  ms: number;
  retryAfter: string | undefined;
}

/** A bounded mixed load from `workers` clients: PUT + PROPPATCH of their own files, LOCK/UNLOCK. */
function load(s: TestServer, workers: number, until: () => boolean) {
  const acknowledged = new Map<string, string>(); // url → value whose PUT and PROPPATCH both succeeded
  const outcomes: Outcome[] = [];
  const timed = async (method: string, url: string, options?: Parameters<TestServer['request']>[2]): Promise<Response> => {
    const start = Date.now();
    const res = await s.request(method, url, options);
    outcomes.push({ status: res.status, ms: Date.now() - start, retryAfter: res.headers['retry-after'] as string | undefined });
    return res;
  };
  const worker = async (w: number) => {
    for (let i = 0; i < 2000 && !until(); i++) {
      const url = `/w${w}-${i % 20}.txt`;
      const value = `w${w}-i${i}`;
      const put = await timed('PUT', url, { body: value });
      if (put.status !== 201 && put.status !== 204) continue;
      const patch = await timed('PROPPATCH', url, { body: proppatch(value) });
      if (patch.status === 207 && /HTTP\/1\.1 200/.test(patch.body)) acknowledged.set(url, value);
      else acknowledged.delete(url); // content changed, property not: no longer a pair to check
      const lock = await timed('LOCK', url, {
        body: '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>',
      });
      const token = /<([^>]+)>/.exec(String(lock.headers['lock-token'] ?? ''))?.[1];
      if (token) await timed('UNLOCK', url, { headers: { 'lock-token': `<${token}>` } });
    }
  };
  const done = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return { acknowledged, outcomes, done };
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!(await fn())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - start;
}

t.test('PostgreSQL stopped and killed under load', { skip: postgresSkipReason() }, async (t) => {
  const pg = await startPostgres(t);
  const s = await startServer(t, { metadataUrl: await pg.createDatabase() });
  t.equal((await s.request('PUT', '/static.txt', { body: 'static' })).status, 201);
  t.equal((await s.request('GET', HEALTH_URL_PATH)).status, 200, 'healthy');

  for (const how of ['stop', 'kill'] as const) {
    let stopLoad = false;
    const run = load(s, 4, () => stopLoad);
    await new Promise((r) => setTimeout(r, 1500)); // load running against a healthy database
    const before = run.outcomes.length;
    t.ok(before > 0, `${how}: requests served before the outage (${before})`);

    await pg[how]();
    const down = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    const health = await s.request('GET', HEALTH_URL_PATH);
    t.equal(health.status, 503, `${how}: health endpoint says 503`);
    t.match(health.body, /metadata/);
    const get = await s.request('GET', '/static.txt');
    t.same([get.status, get.body], [200, 'static'], `${how}: GET of a file needs no database`);
    const outage = run.outcomes.slice(before);
    const refused = outage.filter((o) => o.status === 503);
    t.ok(refused.length > 0, `${how}: requests during the outage got 503 (${refused.length})`);
    t.ok(refused.every((o) => o.retryAfter !== undefined && Number(o.retryAfter) > 0), `${how}: every 503 carries Retry-After`);
    t.ok(refused.every((o) => o.ms < 6000), `${how}: every 503 came within 6 s (slowest ${Math.max(...refused.map((o) => o.ms))} ms)`);
    t.same(outage.filter((o) => o.status >= 500 && o.status !== 503).map((o) => o.status), [], `${how}: no other server errors`);

    await pg.start();
    const back = await waitFor(`${how}: healthy again`, async () => (await s.request('GET', HEALTH_URL_PATH)).status === 200, 20_000);
    t.pass(`${how}: healthy ${back} ms after the restart (${Date.now() - down} ms after the outage began)`);
    const afterCount = run.outcomes.length;
    await new Promise((r) => setTimeout(r, 1500));
    stopLoad = true;
    await run.done;
    const after = run.outcomes.slice(afterCount);
    t.ok(after.length > 0 && after.every((o) => o.status < 500), `${how}: full service afterwards (${after.length} requests, none 5xx)`);

    // Nothing acknowledged is lost: the content and the dead property of each last acknowledged pair.
    for (const [url, value] of run.acknowledged) {
      const res = await s.request('PROPFIND', url, { headers: { depth: '0' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><T:v xmlns:T="urn:t"/></D:prop></D:propfind>' });
      const content = await s.request('GET', url);
      if (content.body !== value || propText(multistatus(res.body)[0]!, 'urn:t', 'v') !== value) {
        t.fail(`${how}: ${url} should hold ${value}: content ${content.body}, property ${propText(multistatus(res.body)[0]!, 'urn:t', 'v')}`);
      }
    }
    t.ok(run.acknowledged.size > 0, `${how}: ${run.acknowledged.size} acknowledged writes checked`);
  }
});
