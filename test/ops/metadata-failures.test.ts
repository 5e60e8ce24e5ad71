/**
 * The metadata store when it fails (issue 11): a garbage database file stops start-up with one
 * line naming the file and what to do (exit 2); a full metadata disk answers 507 Insufficient
 * Storage (RFC 4918 §11.5, RFC 4331 §6 sufficient-disk-space) for PROPPATCH and LOCK, never 500.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/server.js';
import { runCli } from '../helpers/cli-process.js';

t.test('a garbage metadata database: exit 2, one line naming the file and the remedy (item 9)', async (t) => {
  const root = tempDir(t);
  const meta = path.join(root, '.fastdav');
  mkdirSync(meta);
  const file = path.join(meta, 'metadata.sqlite');
  writeFileSync(file, 'this is not a database, just some text that happens to be here\n'.repeat(100));
  const r = runCli(['--root', root, '--port', '0']);
  t.equal(r.status, 2, 'exit code 2, as for every operator error');
  t.match(r.output, file, 'the message names the file');
  t.match(r.output, /not a usable SQLite database/);
  t.match(r.output, /restore it from a backup|move it aside/, 'and says what to do');
  t.notMatch(r.output, /\n\s+at /, 'no stack trace');
  t.equal(r.output.trim().split('\n').length, 1, 'one line');
  t.notMatch(r.output, /serving/);
});
