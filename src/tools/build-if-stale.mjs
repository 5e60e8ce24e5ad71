#!/usr/bin/env node
/**
 * `npm start` runs this first: it compiles (tsc) only when dist/ is missing or older than the
 * sources, so a fresh clone works with `npm ci && npm start` and later starts take no compile
 * time. Plain JavaScript, since it runs before anything is compiled. The stamp dist/.built is
 * written after each successful compile (tsc leaves unchanged outputs, and so their times, alone).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const stamp = path.join(top, 'dist', '.built');
const inputs = [path.join(top, 'tsconfig.json'), path.join(top, 'package.json')];
for (const entry of readdirSync(path.join(top, 'src'), { recursive: true, withFileTypes: true })) {
  if (entry.isFile() && entry.name.endsWith('.ts')) inputs.push(path.join(entry.parentPath, entry.name));
}
const builtAt = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (inputs.some((file) => statSync(file).mtimeMs > builtAt)) {
  const tsc = path.join(top, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    process.stderr.write('fastdav: dist/ is missing or out of date and TypeScript is not installed: run `npm ci` (with dev dependencies) first\n');
    process.exit(1);
  }
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(top, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}
