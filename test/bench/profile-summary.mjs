#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per package, and
// inclusive time of the functions whose name or file matches --focus.
//   node test/bench/profile-summary.mjs FILE.cpuprofile [--top 30] [--focus REGEX]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' }, focus: { type: 'string' } },
});
const prof = JSON.parse(readFileSync(positionals[0], 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node from the sample timeline.
const self = new Map();
let total = 0;
prof.samples.forEach((id, i) => {
  const dt = prof.timeDeltas[i] ?? 0;
  self.set(id, (self.get(id) ?? 0) + dt);
  total += dt;
});

const where = (cf) => {
  const url = cf.url || '';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.includes('/dist/')) return 'fastdav';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  return cf.functionName.startsWith('(') ? cf.functionName : url ? 'other' : '(native)';
};
const label = (cf) => `${cf.functionName || '(anonymous)'} ${(cf.url || '').replace(/.*\/(node_modules|dist)\//, '$1/')}:${cf.lineNumber + 1}`;

const fn = new Map();
const pkg = new Map();
for (const [id, t] of self) {
  const cf = byId.get(id).callFrame;
  fn.set(label(cf), (fn.get(label(cf)) ?? 0) + t);
  pkg.set(where(cf), (pkg.get(where(cf)) ?? 0) + t);
}
const pct = (t) => ((100 * t) / total).toFixed(1).padStart(5) + '%';
const top = +o.top;
console.log(`total ${(total / 1000).toFixed(0)} ms sampled`);
console.log('\n-- self time by package');
for (const [k, t] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(pct(t), k);
console.log('\n-- self time by function');
for (const [k, t] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(pct(t), k);

if (o.focus) {
  // Inclusive time: a sample counts once for every distinct matching frame on its stack.
  const re = new RegExp(o.focus);
  const incl = new Map();
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    const seen = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const l = label(byId.get(n).callFrame);
      if (re.test(l) && !seen.has(l)) {
        seen.add(l);
        incl.set(l, (incl.get(l) ?? 0) + dt);
      }
    }
  });
  console.log(`\n-- inclusive time of frames matching /${o.focus}/`);
  for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(pct(t), k);
}
