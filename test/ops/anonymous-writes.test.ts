/**
 * What a write without credentials gets under `--anonymous read-only`, as the README's "Anonymous
 * access" paragraph says (issue 11 item 22): 401 with a challenge beside accounts (logging in
 * helps), 403 without accounts, 403 for everyone with --read-only. Real HTTP against the server.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServer, tempDir } from '../helpers/server.js';
import { basic, instantThrottle, writeUsers } from '../security/support.js';

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

t.test('the README states the three cases', async (t) => {
  const paragraph = README.slice(README.indexOf('**Anonymous access**'), README.indexOf('## TLS'));
  t.match(paragraph, /with accounts \(`--users`\), a write without credentials answers \*\*401\*\*/);
  t.match(paragraph, /without accounts there is nobody to log in as: a write answers \*\*403\*\*/);
  t.match(paragraph, /with `--read-only`.*\*\*403\*\* for\s+everyone/s);
});

t.test('and the server does so', async (t) => {
  const users = writeUsers(tempDir(t), { alice: 'alice-pw' });
  const withAccounts = await startServer(t, { anonymous: 'read-only', users }, { loginThrottle: instantThrottle() });
  const challenged = await withAccounts.request('PUT', '/f.txt', { body: 'x' });
  t.equal(challenged.status, 401, 'beside accounts: 401');
  t.match(String(challenged.headers['www-authenticate']), /^Basic realm=/);
  t.equal((await withAccounts.request('PUT', '/f.txt', { body: 'x', headers: { authorization: basic('alice', 'alice-pw') } })).status, 201, 'and logging in helps');

  const noAccounts = await startServer(t, { anonymous: 'read-only' });
  const forbidden = await noAccounts.request('PUT', '/f.txt', { body: 'x' });
  t.equal(forbidden.status, 403, 'without accounts: 403');
  t.equal(forbidden.headers['www-authenticate'], undefined);

  const readOnly = await startServer(t, { anonymous: 'read-only', users, readOnly: true, locking: false }, { loginThrottle: instantThrottle() });
  t.equal((await readOnly.request('PUT', '/f.txt', { body: 'x' })).status, 403, '--read-only: 403 without credentials');
  t.equal((await readOnly.request('PUT', '/f.txt', { body: 'x', headers: { authorization: basic('alice', 'alice-pw') } })).status, 403, 'and with them');
});
