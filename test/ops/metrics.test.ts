/**
 * --metrics-port: the built command serves Prometheus metrics on a listener of its own. A scrape,
 * real WebDAV requests, another scrape: the counters moved by exactly what was sent (requests by
 * method and status, latency counts, body bytes in and out, active locks); health checks and
 * scrapes are not counted. Under --workers 2 the primary answers with the sum over its workers.
 */
import t from 'tap';
import { startInstance } from '../helpers/instances.js';
import { freePort } from '../helpers/ports.js';
import { postgresSkipReason, startPostgres } from '../helpers/postgres.js';
import { lockBody, lockTokenOf, request, tempDir } from '../helpers/server.js';
import { ConfigError, loadConfig } from '../../src/config.js';

/** One sample of the Prometheus text format: `name{a="x",b="y"} value`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v) && Object.keys(have).length === Object.keys(labels).length) return Number(m[3]);
  }
  return 0; // a counter never incremented has no sample for these labels
}

async function scrape(metricsOrigin: string): Promise<string> {
  const res = await request(metricsOrigin, 'GET', '/metrics');
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}: ${res.body}`);
  return res.body;
}

t.test('one process: counters move by exactly the requests made', async (t) => {
  const root = tempDir(t);
  const metricsPort = await freePort();
  const s = await startInstance(t, { root, args: ['--metrics-port', String(metricsPort)] });
  const metricsOrigin = `http://127.0.0.1:${metricsPort}`;
  t.match(s.output(), `fastdav metrics at ${metricsOrigin}/metrics`, 'the command says where the metrics are');

  const before = await scrape(metricsOrigin);
  t.match(before, /# TYPE fastdav_http_requests_total counter/);
  t.match(before, /# TYPE fastdav_http_request_duration_seconds histogram/);

  const body = Buffer.alloc(1000, 'x');
  t.equal((await request(s.origin, 'PUT', '/a.bin', { body })).status, 201);
  t.equal((await request(s.origin, 'GET', '/a.bin')).status, 200);
  t.equal((await request(s.origin, 'GET', '/a.bin')).status, 200);
  t.equal((await request(s.origin, 'GET', '/missing')).status, 404);
  const lock = await request(s.origin, 'LOCK', '/a.bin', { body: lockBody(), headers: { 'content-type': 'application/xml' } });
  t.equal(lock.status, 200);
  t.equal((await request(s.origin, 'GET', '/.well-known/fastdav/health')).status, 200);

  const after = await scrape(metricsOrigin);
  const moved = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
  t.equal(moved('fastdav_http_requests_total', { method: 'PUT', status: '201' }), 1, 'one PUT answered 201');
  t.equal(moved('fastdav_http_requests_total', { method: 'GET', status: '200' }), 2, 'two GETs answered 200 (the health check is not counted)');
  t.equal(moved('fastdav_http_requests_total', { method: 'GET', status: '404' }), 1, 'one GET answered 404');
  t.equal(moved('fastdav_http_requests_total', { method: 'LOCK', status: '200' }), 1, 'one LOCK answered 200');
  t.equal(moved('fastdav_http_request_duration_seconds_count', { method: 'GET' }), 3, 'three GET latencies observed');
  t.ok(moved('fastdav_http_request_duration_seconds_sum', { method: 'GET' }) > 0, 'latency sum grew');
  t.equal(moved('fastdav_http_request_body_bytes_total', { method: 'PUT' }), 1000, 'upload bytes counted exactly');
  t.ok(moved('fastdav_http_response_body_bytes_total', { method: 'GET' }) >= 2000, 'both GET bodies counted (plus the 404 text)');
  t.equal(sample(after, 'fastdav_http_requests_in_flight'), 0, 'nothing in flight between requests');
  t.equal(sample(after, 'fastdav_locks_active'), 1, 'one active lock');

  const unlock = await request(s.origin, 'UNLOCK', '/a.bin', { headers: { 'lock-token': `<${lockTokenOf(lock)}>` } });
  t.equal(unlock.status, 204);
  t.equal(sample(await scrape(metricsOrigin), 'fastdav_locks_active'), 0, 'no active lock after UNLOCK');

  t.equal((await request(metricsOrigin, 'GET', '/')).status, 404, 'only /metrics is served there');
  t.equal((await request(metricsOrigin, 'PUT', '/metrics', { body: 'x' })).status, 405);
  t.equal((await request(s.origin, 'GET', '/metrics')).status, 404, 'the WebDAV port serves no metrics: /metrics is an ordinary path');
});

t.test('a request cut short is counted as aborted and leaves nothing in flight', async (t) => {
  const root = tempDir(t);
  const metricsPort = await freePort();
  const s = await startInstance(t, { root, args: ['--metrics-port', String(metricsPort)] });
  const metricsOrigin = `http://127.0.0.1:${metricsPort}`;
  const { connect } = await import('node:net');
  const socket = connect(s.port, '127.0.0.1');
  socket.write('PUT /cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' + 'y'.repeat(5000));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const during = await scrape(metricsOrigin);
  t.equal(sample(during, 'fastdav_http_requests_in_flight'), 1, 'the upload is in flight');
  socket.destroy();
  let after = '';
  for (let i = 0; i < 50; i++) {
    after = await scrape(metricsOrigin);
    if (sample(after, 'fastdav_http_requests_in_flight') === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.equal(sample(after, 'fastdav_http_requests_in_flight'), 0, 'no longer in flight');
  t.equal(sample(after, 'fastdav_http_requests_total', { method: 'PUT', status: 'aborted' }), 1, 'counted as aborted');
  t.equal(sample(after, 'fastdav_http_request_body_bytes_total', { method: 'PUT' }), 5000, 'the bytes that did arrive are counted');
});

t.test('--workers 2: the primary serves the sum over its workers; the shared lock count once', async (t) => {
  const root = tempDir(t);
  const metricsPort = await freePort();
  const s = await startInstance(t, { root, args: ['--workers', '2', '--metrics-port', String(metricsPort)] });
  const metricsOrigin = `http://127.0.0.1:${metricsPort}`;
  const before = await scrape(metricsOrigin);
  // A fresh connection per request: the kernel spreads them over both workers.
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await request(s.origin, 'PROPFIND', '/', { headers: { depth: '0' } })).status);
  t.same(statuses, Array(20).fill(207), '20 PROPFINDs answered');
  const lock = await request(s.origin, 'LOCK', '/locked.txt', { body: lockBody(), headers: { 'content-type': 'application/xml' } });
  t.equal(lock.status, 201);
  const after = await scrape(metricsOrigin);
  const moved = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
  t.equal(moved('fastdav_http_requests_total', { method: 'PROPFIND', status: '207' }), 20, 'all 20 PROPFINDs, whichever worker answered');
  t.equal(sample(after, 'fastdav_locks_active'), 1, 'one lock, not one per worker');
  t.equal(moved('fastdav_http_request_duration_seconds_count', { method: 'PROPFIND' }), 20);
});

t.test('--metrics-port: off by default, validated, never the WebDAV port', async (t) => {
  const root = tempDir(t);
  t.equal(loadConfig({ argv: ['--root', root], env: {} }).metricsPort, undefined, 'off by default');
  t.equal(loadConfig({ argv: ['--root', root], env: { FASTDAV_METRICS_PORT: '9464' } }).metricsPort, 9464, 'FASTDAV_METRICS_PORT');
  t.throws(() => loadConfig({ argv: ['--root', root, '--port', '9000', '--metrics-port', '9000'], env: {} }), ConfigError, 'the same port as WebDAV');
  t.throws(() => loadConfig({ argv: ['--root', root, '--metrics-port', '0'], env: {} }), ConfigError, 'port 0 is refused');
});

t.test('with PostgreSQL: pool use, and metadata errors while the database is away', { skip: postgresSkipReason() }, async (t) => {
  const pg = await startPostgres(t);
  const url = await pg.createDatabase();
  const root = tempDir(t);
  const metricsPort = await freePort();
  const s = await startInstance(t, { root, args: ['--metrics-port', String(metricsPort), '--metadata-url', url] });
  const metricsOrigin = `http://127.0.0.1:${metricsPort}`;
  t.equal((await request(s.origin, 'LOCK', '/a.txt', { body: lockBody(), headers: { 'content-type': 'application/xml' } })).status, 201);
  const up = await scrape(metricsOrigin);
  t.ok(sample(up, 'fastdav_metadata_pool_connections') >= 1, 'the pool holds a connection');
  t.equal(sample(up, 'fastdav_metadata_pool_waiting_requests'), 0, 'nothing waits for one');
  t.equal(sample(up, 'fastdav_locks_active'), 1);
  t.equal(sample(up, 'fastdav_metadata_errors_total'), 0);

  await pg.stop();
  const refused = await request(s.origin, 'LOCK', '/b.txt', { body: lockBody(), headers: { 'content-type': 'application/xml' } });
  t.equal(refused.status, 503, 'LOCK answers 503 without the database');
  const down = await scrape(metricsOrigin);
  t.ok(sample(down, 'fastdav_metadata_errors_total') >= 1, `metadata errors counted (${sample(down, 'fastdav_metadata_errors_total')})`);
  t.equal(sample(down, 'fastdav_http_requests_total', { method: 'LOCK', status: '503' }), 1);
  await pg.start();
});
