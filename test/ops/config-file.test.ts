/**
 * Relative paths in a --config file are resolved against the file's folder, whatever the working
 * directory (issue 11 item 23); relative flags and environment variables stay relative to the
 * working directory. Runs the built command (dist/cli.js) from another folder.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { startCli } from '../helpers/cli.js';
import { request, tempDir } from '../helpers/server.js';
import { writeUsers } from '../security/support.js';

t.test('a relative root and users file in the config file: found beside the file, run from elsewhere', async (t) => {
  const etc = tempDir(t);
  mkdirSync(path.join(etc, 'data'));
  writeFileSync(path.join(etc, 'data', 'here.txt'), 'beside the config file');
  writeUsers(etc, { alice: 'alice-pw' });
  writeFileSync(path.join(etc, 'fastdav.json'), JSON.stringify({ root: 'data', users: 'users', port: 0 }));
  const elsewhere = tempDir(t);

  const { origin, output } = await startCli(t, ['--config', path.join(etc, 'fastdav.json')], { cwd: elsewhere });
  t.match(output(), `fastdav serving ${path.join(etc, 'data')} at`);
  const r = await request(origin, 'GET', '/here.txt', { headers: { authorization: `Basic ${Buffer.from('alice:alice-pw').toString('base64')}` } });
  t.equal(r.status, 200);
  t.equal(r.body, 'beside the config file');
});

t.test('flags and environment variables stay relative to the working directory', async (t) => {
  const etc = tempDir(t);
  const cwd = tempDir(t);
  mkdirSync(path.join(etc, 'data'));
  mkdirSync(path.join(cwd, 'data'));
  mkdirSync(path.join(cwd, 'flagged'));
  writeFileSync(path.join(etc, 'fastdav.json'), JSON.stringify({ root: 'data', metadataDir: 'meta' }));
  const config = path.join(etc, 'fastdav.json');
  const fromFile = loadConfig({ argv: ['--config', config], env: {}, cwd });
  t.equal(fromFile.root, path.join(etc, 'data'));
  t.equal(fromFile.metadataDir, path.join(etc, 'meta'));
  t.equal(loadConfig({ argv: ['--config', config, '--root', 'flagged'], env: {}, cwd }).root, path.join(cwd, 'flagged'), 'a flag beats the file, relative to the working directory');
  t.equal(loadConfig({ argv: ['--config', config], env: { FASTDAV_ROOT: 'data' }, cwd }).root, path.join(cwd, 'data'), 'so does the environment');
  t.equal(loadConfig({ argv: [], env: { FASTDAV_CONFIG: config }, cwd }).root, path.join(etc, 'data'), 'FASTDAV_CONFIG works the same');
});
