/**
 * The HTTP tests of the methods that change metadata (LOCK/UNLOCK, PROPPATCH, COPY/MOVE, DELETE,
 * PROPFIND), run again with every server keeping its metadata in PostgreSQL
 * (FASTDAV_TEST_METADATA=postgres, see test/helpers/server.ts): the same behaviour from both stores.
 * Each file runs as its own subprocess with its own private PostgreSQL cluster.
 */
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresSkipReason } from '../helpers/postgres.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FILES = ['lock.test.ts', 'proppatch.test.ts', 'copy-move.test.ts', 'delete.test.ts', 'propfind.test.ts'];

const skip = postgresSkipReason();
if (skip) t.plan(0, skip);
else {
  for (const file of FILES) {
    t.spawn(process.execPath, [...process.execArgv, path.join(here, file)], { env: { ...process.env, FASTDAV_TEST_METADATA: 'postgres' } }, `${file} on PostgreSQL`);
  }
}
