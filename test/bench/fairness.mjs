#!/usr/bin/env node
// Fairness driver for test/bench/fairness.sh: one client GETs a small file again and again while
// L other clients list a big folder (PROPFIND Depth 1) in a loop, each on its own keep-alive
// connection, for a fixed time. Prints one JSON line: GET p50/p99/max and timeouts, listing
// times. A GET slower than --timeout counts as a timeout (and its connection is dropped).
//
//   node fairness.mjs --url http://127.0.0.1:PORT --get /small.bin --list /big/ --listers 4 --seconds 10
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    get: { type: 'string', default: '/small.bin' },
    list: { type: 'string', default: '/big/' },
    listers: { type: 'string', default: '0' },
    seconds: { type: 'string', default: '10' },
    timeout: { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '1' },
  },
});
const base = new URL(opt.url);
const listers = Number(opt.listers);
const phaseMs = Number(opt.seconds) * 1000;
const timeoutMs = Number(opt.timeout);
const PROPFIND_BODY = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';

/** One request on `agent`; resolves with its duration in ms, or 'timeout' / throws on error. */
function request(agent, method, path, body, limitMs) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(
      { host: base.hostname, port: base.port, method, path, agent,
        headers: body ? { Depth: '1', 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) } : {} },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          clearTimeout(timer);
          if (res.statusCode >= 400) reject(new Error(`${method} ${path}: ${res.statusCode}`));
          else resolve(performance.now() - t0);
        });
      },
    );
    const timer = limitMs ? setTimeout(() => { req.destroy(); resolve('timeout'); }, limitMs) : undefined;
    req.on('error', (err) => { clearTimeout(timer); if (!req.destroyed || !limitMs) reject(err); });
    req.end(body);
  });
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : null);
const round = (x) => (x == null ? null : Math.round(x * 100) / 100);

async function main() {
  const stopAt = { t: Infinity };
  const listings = [];
  const listerLoops = [];
  for (let i = 0; i < listers; i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    listerLoops.push((async () => {
      while (performance.now() < stopAt.t) {
        const started = performance.now();
        const ms = await request(agent, 'PROPFIND', opt.list, PROPFIND_BODY, 300_000).catch(() => null);
        // Every listing started in the phase counts, also one that ends after it (waited for below).
        if (typeof ms === 'number') listings.push(ms);
      }
      agent.destroy();
    })());
  }
  const getAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  // Let the listers get going before measuring.
  const warmEnd = performance.now() + Number(opt.warmup) * 1000;
  while (performance.now() < warmEnd) await request(getAgent, 'GET', opt.get, null, timeoutMs);
  const gets = [];
  let timeouts = 0;
  const end = performance.now() + phaseMs;
  while (performance.now() < end) {
    const r = await request(getAgent, 'GET', opt.get, null, timeoutMs);
    if (r === 'timeout') timeouts++;
    else gets.push(r);
  }
  stopAt.t = performance.now();
  // Listings still running are waited for: the next phase starts quiet.
  await Promise.all(listerLoops);
  getAgent.destroy();
  gets.sort((a, b) => a - b);
  listings.sort((a, b) => a - b);
  console.log(JSON.stringify({
    listers, gets: gets.length, timeouts,
    get_p50: round(pct(gets, 50)), get_p99: round(pct(gets, 99)), get_max: round(gets.at(-1)),
    listings: listings.length, list_p50: round(pct(listings, 50)), list_max: round(listings.at(-1)),
  }));
}
main().catch((err) => { console.error(err); process.exit(1); });
