/** What the by-hand benchmarks (small-put.ts, tree-move.ts) share: the load average and where their report goes. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The 1, 5 and 15 minute load averages, as /proc/loadavg gives them. */
export const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** Writes report.md and summary.json into BENCH_OUT when it is set. */
export function saveReport(report: string, summary: object): void {
  const out = process.env['BENCH_OUT'];
  if (!out) return;
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'report.md'), report + '\n');
  writeFileSync(path.join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
}
