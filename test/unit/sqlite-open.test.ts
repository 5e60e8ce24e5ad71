/**
 * openDatabase (src/metadata/sqlite/database.ts) while another process holds a write lock on the
 * same new database, as happens when several `--workers` start on a new ./storage: switching to
 * WAL then fails at once with SQLITE_BUSY (SQLite does not wait in its busy handler for that
 * switch), and a worker that failed took the whole server down ("the worker processes do not
 * stay up"). It must wait for the lock like any other statement.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { openDatabase } from '../../src/metadata/sqlite/database.js';
import { tempDir } from '../helpers/server.js';

const LIBSQL = createRequire(import.meta.url).resolve('libsql');
const HOLD_MS = 500;

t.test('a new database write-locked by another process: opening waits for it, then switches to WAL', async (t) => {
  const dir = path.join(tempDir(t), 'meta');
  mkdirSync(dir);
  const file = path.join(dir, 'metadata.sqlite');
  // Another process creates the database (rollback journal, as SQLite starts) and holds a write
  // transaction on it for HOLD_MS, then commits.
  const holder = spawn(process.execPath, ['-e', `
    const db = new (require(${JSON.stringify(LIBSQL)}))(${JSON.stringify(file)});
    db.exec('CREATE TABLE IF NOT EXISTS other (a)');
    db.exec('BEGIN IMMEDIATE');
    db.exec('INSERT INTO other VALUES (1)');
    console.log('holding');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${HOLD_MS});
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => holder.kill());
  const [line] = (await once(holder.stdout!.setEncoding('utf8'), 'data')) as [string];
  t.equal(line.trim(), 'holding', 'the other process holds its write lock');

  const started = Date.now();
  const db = openDatabase(dir);
  const waited = Date.now() - started;
  t.teardown(() => db.close());
  t.ok(waited >= HOLD_MS / 4, `waited ${waited} ms for the lock instead of failing`);
  const one = (sql: string): unknown => Object.values(db.prepare(sql).raw().get() as unknown[])[0];
  t.equal(one('PRAGMA journal_mode'), 'wal', 'then switched to WAL');
  t.equal(one('SELECT count(*) FROM other'), 1, "the other process's commit is there");
  t.equal(one('SELECT count(*) FROM dead_props'), 0, 'and the schema was created');
  await once(holder, 'exit');
});
