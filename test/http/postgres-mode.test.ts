/**
 * The HTTP tests of the methods that change metadata (LOCK/UNLOCK, PROPPATCH, COPY/MOVE, DELETE,
 * PROPFIND), run again with every server keeping its metadata in PostgreSQL
 * (FASTDAV_TEST_METADATA=postgres, see test/helpers/server.ts): the same behaviour from both stores.
 * Each file runs as its own subprocess; they share this process's private PostgreSQL cluster.
 */
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHARED_POSTGRES_ENV, postgresSkipReason, sharedPostgres } from '../helpers/postgres.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FILES = ['lock.test.ts', 'proppatch.test.ts', 'copy-move.test.ts', 'delete.test.ts', 'propfind.test.ts'];

const skip = postgresSkipReason();
if (skip) t.plan(0, skip);
else {
  const cluster = await sharedPostgres();
  const env = { ...process.env, FASTDAV_TEST_METADATA: 'postgres', [SHARED_POSTGRES_ENV]: cluster.url };
  for (const file of FILES) t.spawn(process.execPath, [...process.execArgv, path.join(here, file)], { env }, `${file} on PostgreSQL`);
}
