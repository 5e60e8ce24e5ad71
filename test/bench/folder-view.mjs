#!/usr/bin/env node
// The folder view's speed (issue 12), a benchmark and not a test:
//  1. the HTML page of a 10,000-file folder against PROPFIND Depth 1 of the same folder (allprop,
//     and the three properties the page asks for), on a built server in its own process;
//     goal: the page within 2x the PROPFIND;
//  2. in chromium (puppeteer-core): how long one click on a column header keeps the page busy
//     while it sorts the 10,000 rows (sorting plus layout), how long one filter keystroke takes,
//     and the longest task the browser reports.
//   npm run build && node test/bench/folder-view.mjs [--files 10000] [--rounds 15]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';

const { values: o } = parseArgs({ options: { files: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '15' }, chromium: { type: 'string', default: '/usr/bin/chromium' } } });
const FILES = Number(o.files);
const ROUNDS = Number(o.rounds);

const root = mkdtempSync(path.join(os.tmpdir(), 'fastdav-bench-view-'));
for (let i = 0; i < FILES; i++) writeFileSync(path.join(root, `photo ${i} – Ünïcode ${(i * 7919) % FILES}.jpg`), 'x'.repeat(i % 997));

const freePort = () => new Promise((resolve) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address();
    srv.close(() => resolve(port));
  });
});
const port = await freePort();
const server = spawn(process.execPath, ['dist/cli.js', '--root', root, '--port', String(port), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_ENV: 'production' } });
await new Promise((resolve) => server.stdout.once('data', resolve));

function request(method, urlPath, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode, bytes, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const PAGE_PROPS = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>';
const ALLPROP = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';
const workloads = {
  'GET / (HTML page)': () => request('GET', '/', { accept: 'text/html' }),
  'PROPFIND Depth 1, allprop': () => request('PROPFIND', '/', { depth: '1', 'content-type': 'application/xml' }, ALLPROP),
  'PROPFIND Depth 1, 3 props': () => request('PROPFIND', '/', { depth: '1', 'content-type': 'application/xml' }, PAGE_PROPS),
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const times = Object.fromEntries(Object.keys(workloads).map((k) => [k, []]));
const sizes = {};
try {
  for (const run of Object.values(workloads)) await run(); // warm up
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, run] of Object.entries(workloads)) {
      const res = await run();
      if (res.status !== 200 && res.status !== 207) throw new Error(`${name}: ${res.status}`);
      times[name].push(res.ms);
      sizes[name] = res.bytes;
    }
  }
  console.log(`\n${FILES} files, ${ROUNDS} rounds alternating, median wall time per request:\n`);
  console.log('| request | median ms | body bytes |\n|---|---|---|');
  for (const name of Object.keys(workloads)) console.log(`| ${name} | ${median(times[name]).toFixed(1)} | ${sizes[name]} |`);
  const ratio = median(times['GET / (HTML page)']) / median(times['PROPFIND Depth 1, allprop']);
  console.log(`\nHTML page / PROPFIND allprop: ${ratio.toFixed(2)}x (goal <= 2x)`);

  const browser = await puppeteer.launch({ executablePath: o.chromium, headless: true, pipe: true, protocolTimeout: 900_000, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const loadStart = Date.now();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector('body[data-ready]', { timeout: 120_000 });
    const loadMs = Date.now() - loadStart;
    const result = await page.evaluate(async (files) => {
      const longest = { ms: 0 };
      new PerformanceObserver((list) => { for (const e of list.getEntries()) longest.ms = Math.max(longest.ms, e.duration); }).observe({ type: 'longtask', buffered: false });
      const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      const clicks = [];
      const complete = [];
      const total = files;
      const allBack = async () => {
        while (document.querySelectorAll('tbody tr[data-name]').length < total) await new Promise((r) => requestAnimationFrame(r));
      };
      await allBack(); // the first render also places rows frame by frame
      for (const key of ['size', 'size', 'date', 'date', 'name', 'name', 'size', 'name']) {
        const button = document.querySelector(`th[data-sort=${key}] button`);
        const t0 = performance.now();
        button.click();
        document.body.getBoundingClientRect(); // include the layout the new order needs
        clicks.push(performance.now() - t0);
        await allBack();
        complete.push(performance.now() - t0);
        await frame();
      }
      const filter = document.getElementById('filter');
      const keys = [];
      for (const text of ['1', '12', '123', '12', '']) {
        filter.value = text;
        const t0 = performance.now();
        filter.dispatchEvent(new Event('input'));
        await new Promise((r) => requestAnimationFrame(r));
        document.body.getBoundingClientRect();
        keys.push(performance.now() - t0);
        await frame();
      }
      await frame();
      return { clicks, complete, keys, longest: longest.ms, rows: total };
    }, FILES);
    const med = (xs) => median(xs).toFixed(0);
    console.log(`\nchromium, ${result.rows} rows: page ready in ${loadMs} ms (HTML, script, Allow probes)`);
    console.log(`sort click to the first rows in their new order (sort + layout): median ${med(result.clicks)} ms, max ${Math.max(...result.clicks).toFixed(0)} ms`);
    console.log(`sort click to all rows back in the page (frame by frame): median ${med(result.complete)} ms`);
    console.log(`filter keystroke (to the next frame, with layout): median ${med(result.keys)} ms, max ${Math.max(...result.keys).toFixed(0)} ms`);
    console.log(`longest task reported: ${result.longest.toFixed(0)} ms`);
  } finally {
    await browser.close();
  }
} finally {
  server.kill('SIGTERM');
  rmSync(root, { recursive: true, force: true });
}
