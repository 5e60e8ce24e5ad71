#!/usr/bin/env node
// How many PostgreSQL round trips each WebDAV method makes, and what one round trip costs.
//
//   node test/bench/db-round-trips.mjs FASTDAV_URL PG_URL PG_LOG DBNAME [OUT.md]
//
// FASTDAV_URL is one fastdav instance on --metadata-url PG_URL (database DBNAME) with nothing else
// talking to it; PG_LOG is the server log with log_statement = 'all' and log_line_prefix '%d '.
// Each request is sent alone and the statements that database logged meanwhile are counted (every
// statement, BEGIN and COMMIT included, is one round trip). Then 2,000 sequential `SELECT 1` from
// a pg.Pool give the cost of one round trip on this machine. Prints a markdown table.
import http from 'node:http';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import pg from 'pg';

const [base, pgUrl, logFile, dbName, out] = process.argv.slice(2);
if (!base || !pgUrl || !logFile || !dbName) {
  console.error('usage: db-round-trips.mjs FASTDAV_URL PG_URL PG_LOG DBNAME [OUT.md]');
  process.exit(2);
}
const origin = base.replace(/\/$/, '');

function send(method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${path}`, { method, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const logSize = () => statSync(logFile).size;
/** Statements the database logged since `from` (byte offset). */
function statementsSince(from) {
  const text = readFileSync(logFile).subarray(from).toString('utf8');
  return text.split('\n').filter((l) => l.startsWith(`${dbName} `) && /LOG:\s+(statement|execute [^:]*):/.test(l)).length;
}

const xml = { 'content-type': 'application/xml' };
const lockinfo = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
const propSet = '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:z="urn:x"><D:set><D:prop><z:a>1</z:a></D:prop></D:set></D:propertyupdate>';
const allprop = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';
const sixProps = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/><D:getcontenttype/><D:displayname/></D:prop></D:propfind>';
const lockdiscovery = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>';

const dir = `/rt-${Date.now()}`;
let token = '';
const steps = [
  ['MKCOL a folder', () => send('MKCOL', `${dir}/`)],
  ['PUT new 4 KiB file', () => send('PUT', `${dir}/a.bin`, {}, Buffer.alloc(4096))],
  ['PUT replacing it', () => send('PUT', `${dir}/a.bin`, {}, Buffer.alloc(4096))],
  ['GET 4 KiB', () => send('GET', `${dir}/a.bin`)],
  ['HEAD', () => send('HEAD', `${dir}/a.bin`)],
  ['OPTIONS', () => send('OPTIONS', `${dir}/a.bin`)],
  ['PROPPATCH set one property', () => send('PROPPATCH', `${dir}/a.bin`, xml, propSet)],
  ['PROPFIND depth 0, 6 live props', () => send('PROPFIND', `${dir}/a.bin`, { ...xml, depth: '0' }, sixProps)],
  ['PROPFIND depth 0, allprop', () => send('PROPFIND', `${dir}/a.bin`, { ...xml, depth: '0' }, allprop)],
  ['PROPFIND depth 1 (folder of 1), allprop', () => send('PROPFIND', `${dir}/`, { ...xml, depth: '1' }, allprop)],
  ['PROPFIND depth 0, lockdiscovery', () => send('PROPFIND', `${dir}/a.bin`, { ...xml, depth: '0' }, lockdiscovery)],
  ['LOCK', async () => { const r = await send('LOCK', `${dir}/a.bin`, xml, lockinfo); token = String(r.headers['lock-token'] ?? ''); return r; }],
  ['PUT with the lock token', () => send('PUT', `${dir}/a.bin`, { if: `(${token})` }, Buffer.alloc(4096))],
  ['UNLOCK', () => send('UNLOCK', `${dir}/a.bin`, { 'lock-token': token })],
  ['COPY file', () => send('COPY', `${dir}/a.bin`, { destination: `${origin}${dir}/b.bin` })],
  ['MOVE file', () => send('MOVE', `${dir}/b.bin`, { destination: `${origin}${dir}/c.bin` })],
  ['DELETE file', () => send('DELETE', `${dir}/c.bin`)],
  ['DELETE folder', () => send('DELETE', `${dir}/`)],
];

const rows = [];
for (const [what, step] of steps) {
  await sleep(300); // let earlier log lines land
  const from = logSize();
  const res = await step();
  await sleep(300);
  rows.push({ what, status: res.status, trips: statementsSince(from) });
}

const pool = new pg.Pool({ connectionString: pgUrl, max: 1 });
await pool.query('SELECT 1');
const N = 2000;
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) await pool.query('SELECT 1');
const perTripUs = Number(process.hrtime.bigint() - t0) / N / 1000;
await pool.end();

const lines = [
  `Database round trips per request (fastdav on PostgreSQL, ${new Date().toISOString()}); one round trip (\`SELECT 1\` from a pg.Pool, ${N} in a row): ${perTripUs.toFixed(0)} µs`,
  '',
  '| request | status | round trips |',
  '|---|--:|--:|',
  ...rows.map((r) => `| ${r.what} | ${r.status} | ${r.trips} |`),
];
const text = lines.join('\n') + '\n';
process.stdout.write(text);
if (out) writeFileSync(out, text);
