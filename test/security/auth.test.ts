/**
 * Accounts and access: Basic authentication on every method, per-user roots, read-only users,
 * anonymous modes, refusals at start-up, failed logins logged and slowed, no secret in the log.
 */
import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildApp } from '../../src/app.js';
import { ConfigError, testConfig, type Config } from '../../src/config.js';
import { parseAccessFile, parseHtpasswd } from '../../src/auth/accounts.js';
import { Authenticator } from '../../src/auth/authenticator.js';
import { LoginThrottle } from '../../src/auth/login-throttle.js';
import { DavPath } from '../../src/core/paths.js';
import { DavError } from '../../src/core/errors.js';
import { startServer, tempDir, type TestServer } from '../helpers/server.js';
import { basic, instantThrottle, rawExchange, rawRequest, snapshot, writeUsers } from './support.js';

const LOCKINFO = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
const PROPPATCH = '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:a xmlns:x="urn:x">1</x:a></D:prop></D:set></D:propertyupdate>';

/** One request of every method against `/f.txt`, with what it needs to be well-formed. */
const EVERY_METHOD: Array<[string, string, Record<string, string>, string]> = [
  ['OPTIONS', '/f.txt', {}, ''],
  ['GET', '/f.txt', {}, ''],
  ['HEAD', '/f.txt', {}, ''],
  ['PUT', '/f.txt', {}, 'changed'],
  ['DELETE', '/f.txt', {}, ''],
  ['MKCOL', '/newdir', {}, ''],
  ['COPY', '/f.txt', { Destination: '/copy.txt' }, ''],
  ['MOVE', '/f.txt', { Destination: '/moved.txt' }, ''],
  ['PROPFIND', '/', { Depth: '1' }, ''],
  ['PROPPATCH', '/f.txt', {}, PROPPATCH],
  ['LOCK', '/f.txt', {}, LOCKINFO],
  ['UNLOCK', '/f.txt', { 'Lock-Token': '<urn:uuid:00000000-0000-0000-0000-000000000000>' }, ''],
];
const WRITES = new Set(['PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPPATCH', 'LOCK', 'UNLOCK']);

interface Setup {
  s: TestServer;
  data: string;
  log: () => string[];
}

/** A server with alice (all, rw), bob (/home/bob, rw), carol (all, ro). */
async function setup(t: Test, overrides: Partial<Config> = {}): Promise<Setup> {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  mkdirSync(data);
  writeFileSync(path.join(data, 'f.txt'), 'original');
  const users = writeUsers(dir, { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' });
  const access = path.join(dir, 'access');
  writeFileSync(access, '# user:root:mode\nbob:/home/bob:rw\ncarol:/:ro\n');
  const lines: string[] = [];
  const stream = new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) });
  const s = await startServer(t, { root: data, users, userAccess: access, ...overrides }, { logger: { level: 'info', stream }, loginThrottle: instantThrottle() });
  return { s, data, log: () => lines };
}

t.test('every method without credentials, with a wrong password or an unknown user: 401 with a realm, nothing changed', async (t) => {
  const { s, data } = await setup(t);
  const before = snapshot(data);
  for (const [method, url, headers, body] of EVERY_METHOD) {
    for (const auth of [undefined, basic('alice', 'wrong'), basic('mallory', 'alice-pw'), 'Basic !!!', 'Digest username="alice"']) {
      const res = await s.request(method, url, { headers: { ...headers, ...(auth ? { authorization: auth } : {}) }, body });
      t.equal(res.status, 401, `${method} with ${auth ?? 'no credentials'}`);
      t.equal(res.headers['www-authenticate'], 'Basic realm="fastdav", charset="UTF-8"');
    }
  }
  t.same(snapshot(data), before, 'nothing changed');
});

t.test('a refusal never says why: wrong password and unknown user get the same answer', async (t) => {
  const { s } = await setup(t);
  const wrong = await s.request('GET', '/f.txt', { headers: { authorization: basic('alice', 'nope') } });
  const unknown = await s.request('GET', '/f.txt', { headers: { authorization: basic('nobody', 'nope') } });
  t.equal(wrong.body, unknown.body);
  t.same(Object.keys(wrong.headers).sort(), Object.keys(unknown.headers).sort());
});

t.test('the right password opens every method; the log names the user and never a secret', async (t) => {
  const { s, log } = await setup(t);
  const auth = basic('alice', 'alice-pw');
  t.equal((await s.request('PROPFIND', '/', { headers: { authorization: auth, depth: '1' } })).status, 207);
  t.equal((await s.request('PUT', '/g.txt', { headers: { authorization: auth }, body: 'x' })).status, 201);
  const lock = await s.request('LOCK', '/g.txt', { headers: { authorization: auth }, body: LOCKINFO });
  t.equal(lock.status, 200);
  t.match(lock.body, /<D:href>\/g.txt<\/D:href>/);
  await s.request('GET', '/f.txt', { headers: { authorization: basic('alice', 'bad-guess') } });

  const lines = log().join('');
  t.match(lines, /"method":"PUT","path":"\/g.txt","status":201.*"user":"alice"/, 'access log line with the user');
  t.match(lines, /"user":"alice","client":"127.0.0.1","msg":"login failed"/, 'failed login logged');
  for (const secret of ['alice-pw', 'bad-guess', Buffer.from('alice:alice-pw').toString('base64'), 'authorization', 'Basic ']) {
    t.notOk(lines.includes(secret), `log holds no ${secret}`);
  }
});

t.test('failed logins are slowed per client address', async (t) => {
  const throttle = instantThrottle();
  const dir = tempDir(t);
  const s = await startServer(t, { users: writeUsers(dir, { alice: 'alice-pw' }) }, { loginThrottle: throttle });
  t.equal(throttle.delayFor('127.0.0.2'), 0);
  const wrong = rawRequest('GET', '/', { Authorization: basic('alice', 'wrong') });
  for (let i = 1; i <= 4; i++) t.same((await rawExchange(s.port, wrong, { localAddress: '127.0.0.2' })).statuses, [401]);
  const after4 = throttle.delayFor('127.0.0.2');
  t.ok(after4 > 0, `failures from 127.0.0.2 are delayed (${after4} ms)`);
  t.same((await rawExchange(s.port, wrong, { localAddress: '127.0.0.2' })).statuses, [401]);
  t.ok(throttle.delayFor('127.0.0.2') > after4, 'the delay grows with each failure');
  t.equal(throttle.delayFor('127.0.0.3'), 0, 'another client is not slowed');
  const ok = rawRequest('GET', '/', { Authorization: basic('alice', 'alice-pw') });
  t.same((await rawExchange(s.port, ok, { localAddress: '127.0.0.3' })).statuses, [200]);
});

t.test('a user with their own root sees only that folder; names never leave it', async (t) => {
  const { s, data } = await setup(t);
  const bob = { authorization: basic('bob', 'bob-pw') };
  t.ok(existsSync(path.join(data, 'home', 'bob')), 'the root was created');
  const outside = () => snapshot(data, path.join(data, 'home', 'bob'));
  const before = outside();

  t.equal((await s.request('PUT', '/mine.txt', { headers: bob, body: 'bob' })).status, 201);
  t.equal(readFileSync(path.join(data, 'home', 'bob', 'mine.txt'), 'utf8'), 'bob');
  t.equal((await s.request('GET', '/f.txt', { headers: bob })).status, 404, "the data root's file is not bob's");
  const listing = await s.request('PROPFIND', '/', { headers: { ...bob, depth: 'infinity' } });
  t.equal(listing.status, 207);
  t.same([...listing.body.matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => m[1]).sort(), ['/', '/mine.txt']);

  // Destination, as a path and as a URI, lands in bob's namespace or is refused.
  t.equal((await s.request('COPY', '/mine.txt', { headers: { ...bob, destination: `${s.origin}/f.txt` } })).status, 201);
  t.equal(readFileSync(path.join(data, 'f.txt'), 'utf8'), 'original', "the data root's f.txt is untouched");
  for (const destination of ['/../f.txt', `${s.origin}/../../f.txt`, '/%2e%2e/f.txt', `${s.origin}/..%2f..%2ff.txt`]) {
    const res = await rawExchange(s.port, rawRequest('MOVE', '/mine.txt', { Host: `127.0.0.1:${s.port}`, Authorization: bob.authorization, Destination: destination }));
    t.same(res.statuses, [400], `Destination ${destination}`);
  }
  for (const target of ['/../f.txt', '/..%2ff.txt', '/%2e%2e/%2e%2e/f.txt']) {
    t.same((await rawExchange(s.port, rawRequest('GET', target, { Authorization: bob.authorization }))).statuses, [400], target);
  }
  // DELETE, MOVE and COPY of bob's root itself
  t.equal((await s.request('DELETE', '/', { headers: bob })).status, 403);
  t.equal((await s.request('MOVE', '/', { headers: { ...bob, destination: '/x/' } })).status, 403);
  t.same(outside(), before, 'nothing outside /home/bob changed');
});

t.test("locks belong to users: a token does not work for another user; a lock above a user's root shows as that root", async (t) => {
  const { s } = await setup(t);
  const alice = { authorization: basic('alice', 'alice-pw') };
  const bob = { authorization: basic('bob', 'bob-pw') };
  t.equal((await s.request('PUT', '/f2.txt', { headers: bob, body: 'b' })).status, 201);
  const lock = await s.request('LOCK', '/home/bob/f2.txt', { headers: alice, body: LOCKINFO });
  t.equal(lock.status, 200);
  const token = String(lock.headers['lock-token']);
  const put = await s.request('PUT', '/f2.txt', { headers: { ...bob, if: `(${token})` }, body: 'bob again' });
  t.equal(put.status, 423, "alice's token does not let bob write");
  t.equal((await s.request('UNLOCK', '/f2.txt', { headers: { ...bob, 'lock-token': token } })).status, 403, "bob cannot remove alice's lock");
  t.equal((await s.request('UNLOCK', '/home/bob/f2.txt', { headers: { ...alice, 'lock-token': token } })).status, 204);

  const deep = await s.request('LOCK', '/home/', { headers: { ...alice, depth: 'infinity' }, body: LOCKINFO });
  t.equal(deep.status, 200);
  const seen = await s.request('PROPFIND', '/f2.txt', { headers: { ...bob, depth: '0' }, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>' });
  t.match(seen.body, /<D:lockroot><D:href>\/<\/D:href><\/D:lockroot>/, 'the lock root outside bob\'s view shows as his root');
  t.notMatch(seen.body, /home/, 'no path outside his root is named');
});

t.test('a read-only user gets 403 for every method that writes, and can read', async (t) => {
  const { s, data } = await setup(t);
  const before = snapshot(data);
  const carol = basic('carol', 'carol-pw');
  for (const [method, url, headers, body] of EVERY_METHOD) {
    const res = await s.request(method, url, { headers: { ...headers, authorization: carol }, body });
    if (WRITES.has(method)) t.equal(res.status, 403, method);
    else t.ok(res.status < 300, `${method} ${res.status}`);
  }
  t.same(snapshot(data), before, 'nothing changed');
});

t.test('anonymous access only as configured', async (t) => {
  t.test('none (the default with accounts)', async (t) => {
    const { s } = await setup(t);
    t.equal((await s.request('GET', '/f.txt')).status, 401);
  });
  t.test('read-only beside accounts: reads open, writes ask for a login', async (t) => {
    const { s } = await setup(t, { anonymous: 'read-only' });
    t.equal((await s.request('GET', '/f.txt')).status, 200);
    t.equal((await s.request('PROPFIND', '/', { headers: { depth: '1' } })).status, 207);
    const put = await s.request('PUT', '/f.txt', { body: 'anon' });
    t.equal(put.status, 401);
    t.ok(put.headers['www-authenticate']);
    t.equal((await s.request('PUT', '/f.txt', { headers: { authorization: basic('alice', 'alice-pw') }, body: 'alice' })).status, 204);
    t.equal((await s.request('GET', '/f.txt', { headers: { authorization: basic('alice', 'wrong') } })).status, 401, 'wrong credentials never fall back to anonymous');
  });
  t.test('read-only without accounts: writes are forbidden', async (t) => {
    const s = await startServer(t, { anonymous: 'read-only' });
    t.equal((await s.request('PROPFIND', '/', { headers: { depth: '0' } })).status, 207);
    for (const [method, url, headers, body] of EVERY_METHOD.filter(([m]) => WRITES.has(m))) {
      t.equal((await s.request(method, url, { headers, body })).status, 403, method);
    }
  });
  t.test('read-write without accounts (the loopback default)', async (t) => {
    const s = await startServer(t, { anonymous: 'read-write' });
    t.equal((await s.request('PUT', '/a.txt', { body: 'a' })).status, 201);
  });
});

t.test('OPTIONS outside the mount prefix and the health endpoint need no credentials', async (t) => {
  const { s } = await setup(t, { prefix: '/dav/' });
  t.equal((await s.request('OPTIONS', '/')).status, 200);
  t.equal((await s.request('OPTIONS', '/dav/')).status, 401);
  t.equal((await s.request('GET', '/.well-known/fastdav/health')).status, 200);
});

t.test('account files: bcrypt only, mistakes stop start-up with a message naming the user', async (t) => {
  const hash = '$2y$05$kR4JaN/FZRYMUpiKX734Ae70mtVXllB9DxBVkExkQ96zixzZ1DCu2';
  t.same([...parseHtpasswd(`# comment\n\nalice:${hash}\r\nbob:${hash.replace('$2y$', '$2a$')}\n`, 'f').keys()], ['alice', 'bob']);
  const weak: Array<[string, RegExp]> = [
    ['$apr1$abcdefgh$0123456789012345678901', /MD5 \(apr1\)/],
    ['{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', /SHA-1/],
    ['abJnggxhB/yWI', /DES crypt/],
    ['$6$salt$hash', /SHA-crypt/],
    ['secret', /plain-text/],
    ['$2y$05$short', /malformed bcrypt/],
  ];
  for (const [bad, scheme] of weak) {
    t.throws(() => parseHtpasswd(`alice:${hash}\nbob:${bad}\n`, '/etc/users'), { name: 'ConfigError', message: /line 2: user "bob" has .*password hash; fastdav accepts only bcrypt \(set it with: htpasswd -B \/etc\/users bob\)/ });
    t.throws(() => parseHtpasswd(`bob:${bad}\n`, 'f'), { message: scheme });
  }
  t.throws(() => parseHtpasswd(`alice:${hash}\nalice:${hash}\n`, 'f'), { message: /appears twice/ });
  t.throws(() => parseHtpasswd('nocolon\n', 'f'), { message: /expected user:hash/ });

  const access = parseAccessFile('alice:/home/alice:rw\nbob:/Team: Sales:ro\ncarol:/:read-only\n', 'a');
  t.same(access.get('alice'), { root: access.get('alice')!.root, readOnly: false });
  t.equal(access.get('alice')!.root.key, '/home/alice');
  t.equal(access.get('bob')!.root.key, '/Team: Sales', 'a root may hold a colon');
  t.ok(access.get('carol')!.root.isRoot && access.get('carol')!.readOnly);
  t.throws(() => parseAccessFile('alice:/../etc:rw\n', 'a'), { message: /must be a folder path inside the data root/ });
  t.throws(() => parseAccessFile('alice:relative:rw\n', 'a'), { message: /must be a folder path/ });
  t.doesNotThrow(() => parseAccessFile('alice:/a\\b:rw\n', 'a'), 'a backslash is an ordinary character of a folder name');
  t.throws(() => parseAccessFile('alice:/a:write\n', 'a'), { message: /mode must be rw or ro/ });

  const dir = tempDir(t);
  const users = path.join(dir, 'users');
  writeFileSync(users, `alice:${hash}\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n`);
  await t.rejects(buildApp(testConfig({ root: dir, users })), { name: 'ConfigError', message: /user "bob"/ });
  writeFileSync(users, `alice:${hash}\n`);
  const access2 = path.join(dir, 'access');
  writeFileSync(access2, 'alcie:/alice:ro\n');
  await t.rejects(buildApp(testConfig({ root: dir, users, userAccess: access2 })), { message: /user "alcie" is not in the users file/ });
  writeFileSync(path.join(dir, 'afile'), '');
  writeFileSync(access2, 'alice:/afile/sub:ro\n');
  await t.rejects(buildApp(testConfig({ root: dir, users, userAccess: access2 })), { message: /root \/afile\/sub of user "alice"/ });
  writeFileSync(access2, 'alice:/.fastdav:ro\n');
  await t.rejects(buildApp(testConfig({ root: dir, users, userAccess: access2 })), { message: /reserved/ });
  await t.rejects(buildApp(testConfig({ root: dir, users: path.join(dir, 'missing') })), { message: /users: cannot read .*missing \(ENOENT\)/ });
  t.ok(new ConfigError('x') instanceof Error);
});

t.test('a changed users file takes effect without a restart; a broken one keeps the accounts in use', async (t) => {
  const dir = tempDir(t);
  const users = writeUsers(dir, { alice: 'alice-pw' });
  const s = await startServer(t, { users }, { loginThrottle: instantThrottle() });
  const as = (user: string, pw: string) => s.request('PROPFIND', '/', { headers: { depth: '0', authorization: basic(user, pw) } });
  t.equal((await as('dave', 'dave-pw')).status, 401);
  writeUsers(dir, { alice: 'alice-pw', dave: 'dave-pw' });
  const deadline = Date.now() + 15_000;
  let status = 0;
  while (Date.now() < deadline && (status = (await as('dave', 'dave-pw')).status) !== 207) await new Promise((r) => setTimeout(r, 200));
  t.equal(status, 207, 'the new user can log in');
  writeFileSync(users, readFileSync(users, 'utf8') + 'eve:plaintext\n');
  await new Promise((r) => setTimeout(r, 2500));
  t.equal((await as('dave', 'dave-pw')).status, 207, 'a broken file leaves the accounts as they were');
});

t.test('verified credentials are cached: bcrypt runs once per user and password, not per request', async (t) => {
  const hash = '$2y$04$abcdefghijklmnopqrstuu5s3hGJbVhbk7ZUvGHJkBJz1kX4xQJYi';
  let accounts = new Map([['alice', { name: 'alice', hash, root: DavPath.root, readOnly: false }]]);
  const source = { current: async () => accounts };
  const checks: string[] = [];
  const verify = async (password: string, h: string) => {
    checks.push(`${password}@${h.slice(-4)}`);
    return password === 'right' && h === hash;
  };
  const log: string[] = [];
  const auth = new Authenticator({ anonymous: 'none', realm: 'r' }, source, { warn: (_f, m) => log.push(m) }, instantThrottle(), verify);
  const header = (pw: string) => basic('alice', pw);

  await Promise.all(Array.from({ length: 5 }, () => auth.authenticate(header('right'), '10.0.0.1')));
  for (let i = 0; i < 20; i++) t.equal((await auth.authenticate(header('right'), '10.0.0.1')).principal, 'alice');
  t.same(checks, ['right@' + hash.slice(-4)], 'parallel and repeated requests share one check');

  for (let i = 0; i < 3; i++) await t.rejects(auth.authenticate(header('stale'), '10.0.0.1'), new DavError(401, 'authentication required'));
  t.equal(checks.filter((c) => c.startsWith('stale')).length, 1, 'a repeated wrong password is checked once too');
  t.equal(log.length, 3, 'but every failure is logged');

  const changed = '$2y$04$zyxwvutsrqponmlkjihgfeu5s3hGJbVhbk7ZUvGHJkBJz1kX4xQJYi';
  accounts = new Map([['alice', { name: 'alice', hash: changed, root: DavPath.root, readOnly: false }]]);
  await t.rejects(auth.authenticate(header('right'), '10.0.0.1'), new DavError(401, 'authentication required'), 'a changed password file invalidates the cache');
  t.equal(checks.length, 3);
});

t.test('the login throttle queues a failing client and forgets it after a while', async (t) => {
  let now = 1_000_000;
  const slept: number[] = [];
  const throttle = new LoginThrottle({ now: () => now, sleep: async (ms) => void slept.push(ms) });
  await throttle.turn('a');
  t.same(slept, [], 'no wait without failures');
  await throttle.failed('a');
  t.same(slept, [250], 'the first failure waits 250 ms');
  await throttle.failed('a');
  t.same(slept, [250, 750], 'the next failure waits for its turn plus a doubled delay');
  slept.length = 0;
  await Promise.all([throttle.turn('a'), throttle.turn('a'), throttle.turn('a')]);
  t.same(slept, [750, 1250, 1750], 'parallel attempts queue one delay apart');
  t.equal(throttle.delayFor('b'), 0, 'other clients are not affected');
  for (let i = 0; i < 10; i++) await throttle.failed('a');
  t.equal(throttle.delayFor('a'), 8000, 'the delay is capped');
  now += 16 * 60_000;
  t.equal(throttle.delayFor('a'), 0, 'failures are forgotten after 15 minutes');
});
