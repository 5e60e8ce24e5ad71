import t from 'tap';
import { DavError } from '../../src/core/errors.js';
import { DavPath } from '../../src/core/paths.js';
import { LockManager, MemberLockConflict, lockCovers, type LockCredentials } from '../../src/locks/lock-manager.js';
import { LockStore, type LockDepth, type LockScope } from '../../src/locks/lock-store.js';
import { openDatabase } from '../../src/metadata/database.js';
import { FakeClock, tempDir } from '../helpers/server.js';

const p = (key: string) => DavPath.fromKey(key);

function manager(t: { teardown(fn: () => unknown): void }, clock = new FakeClock()) {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  return { locks: new LockManager(new LockStore(db), clock), clock };
}

const req = (path: string, scope: LockScope, depth: LockDepth, timeout = 600, principal: string | null = null) => ({
  path: p(path),
  scope,
  depth,
  owner: null,
  principal,
  timeout,
});

const nobody: LockCredentials = { tokens: new Set(), principal: null };
const holding = (...tokens: string[]): LockCredentials => ({ tokens: new Set(tokens), principal: null });

/** What taking a second lock does: 'ok', '423' (covered by a lock) or '207' (a member is locked). */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof MemberLockConflict) return '207';
    if (err instanceof DavError) return String(err.statusCode);
    throw err;
  }
}

t.test('conflict matrix: exclusive/shared × depth 0/infinity × same/ancestor/descendant', async (t) => {
  const scopes: LockScope[] = ['exclusive', 'shared'];
  const depths: LockDepth[] = ['0', 'infinity'];
  // The first lock sits at /a/b; the second is requested at the same path, the parent or a child.
  const places = { same: '/a/b', ancestor: '/a', descendant: '/a/b/c', sibling: '/a/bb', unrelated: '/x' } as const;
  for (const s1 of scopes) for (const d1 of depths) for (const s2 of scopes) for (const d2 of depths) {
    for (const [relation, where] of Object.entries(places)) {
      const { locks } = manager(t);
      const first = locks.lock(req('/a/b', s1, d1));
      const bothShared = s1 === 'shared' && s2 === 'shared';
      let expected: string;
      if (bothShared || relation === 'sibling' || relation === 'unrelated') expected = 'ok';
      else if (relation === 'same') expected = '423';
      else if (relation === 'descendant') expected = d1 === 'infinity' ? '423' : 'ok';
      else expected = d2 === 'infinity' ? '207' : 'ok';
      const got = outcome(() => locks.lock(req(where, s2, d2)));
      t.equal(got, expected, `held ${s1}/depth ${d1} at /a/b; ${s2}/depth ${d2} at ${relation} ${where}`);
      if (got === '423' || got === '207') {
        t.equal(locks.covering(p(where)).length + locks.within(p(where)).length > 0, true);
        t.same(locks.byToken(first.token)?.token, first.token, 'the first lock is untouched');
      }
    }
  }
});

t.test('a 423 names the root of the conflicting lock; a 207 names the member locks', async (t) => {
  const { locks } = manager(t);
  const held = locks.lock(req('/a', 'exclusive', 'infinity'));
  let error: unknown;
  try {
    locks.lock(req('/a/b/c', 'shared', '0'));
  } catch (err) {
    error = err;
  }
  t.ok(error instanceof DavError);
  t.equal((error as DavError).statusCode, 423);
  t.equal((error as DavError).condition, 'no-conflicting-lock');
  t.same((error as DavError).paths.map((x) => x.key), ['/a']);
  locks.unlock(held.token, p('/a'), null);

  const member = locks.lock(req('/d/e/f', 'exclusive', '0'));
  try {
    locks.lock(req('/d', 'shared', 'infinity'));
  } catch (err) {
    error = err;
  }
  t.ok(error instanceof MemberLockConflict);
  t.same((error as MemberLockConflict).conflicts.map((l) => l.token), [member.token]);
});

t.test('shared locks stack; an exclusive one then waits for all of them', async (t) => {
  const { locks } = manager(t);
  const a = locks.lock(req('/f', 'shared', '0'));
  const b = locks.lock(req('/f', 'shared', '0'));
  t.not(a.token, b.token);
  t.equal(locks.covering(p('/f')).length, 2);
  t.equal(outcome(() => locks.lock(req('/f', 'exclusive', '0'))), '423');
  locks.unlock(a.token, p('/f'), null);
  t.equal(outcome(() => locks.lock(req('/f', 'exclusive', '0'))), '423');
  locks.unlock(b.token, p('/f'), null);
  t.equal(outcome(() => locks.lock(req('/f', 'exclusive', '0'))), 'ok');
});

t.test('paths that share a prefix are unrelated', async (t) => {
  const { locks } = manager(t);
  const a = locks.lock(req('/a', 'exclusive', 'infinity'));
  t.equal(outcome(() => locks.lock(req('/ab', 'exclusive', 'infinity'))), 'ok');
  t.equal(outcome(() => locks.lock(req('/a-b', 'exclusive', 'infinity'))), 'ok');
  t.equal(outcome(() => locks.lock(req('/a.b', 'exclusive', 'infinity'))), 'ok');
  t.same(locks.covering(p('/a/x/y')).map((l) => l.token), [a.token]);
  t.same(locks.covering(p('/ab/x')).map((l) => l.root), ['/ab']);
  t.ok(lockCovers(a, p('/a/😀')));
  t.notOk(lockCovers(a, p('/a😀')));
});

t.test('a depth-infinity lock on the root covers everything', async (t) => {
  const { locks } = manager(t);
  const root = locks.lock(req('', 'exclusive', 'infinity'));
  t.ok(lockCovers(root, p('/deep/down/file')));
  t.equal(outcome(() => locks.lock(req('/deep', 'shared', '0'))), '423');
  t.same(locks.within(DavPath.root).map((l) => l.token), [root.token]);
});

t.test('expiry follows the injected clock', async (t) => {
  const { locks, clock } = manager(t);
  const lock = locks.lock(req('/f', 'exclusive', '0', 10));
  t.equal(lock.expires, clock.now() + 10_000);
  clock.advance(9);
  t.equal(locks.covering(p('/f')).length, 1, 'alive at 9 s');
  t.equal(outcome(() => locks.lock(req('/f', 'exclusive', '0'))), '423');
  clock.advance(1);
  t.equal(locks.covering(p('/f')).length, 0, 'gone at 10 s');
  t.equal(locks.byToken(lock.token), undefined);
  t.doesNotThrow(() => locks.assertCanModify(p('/f'), nobody), 'an expired lock no longer blocks writes');
  t.equal(outcome(() => locks.lock(req('/f', 'exclusive', '0'))), 'ok', 'and no longer conflicts');
});

t.test('expiry takes effect even when nothing else changed (no stale cache)', async (t) => {
  const { locks, clock } = manager(t);
  locks.lock(req('/short', 'exclusive', '0', 5));
  locks.lock(req('/long', 'exclusive', '0', 500));
  t.equal(locks.covering(p('/short')).length, 1);
  clock.advance(6);
  t.equal(locks.covering(p('/short')).length, 0);
  t.equal(locks.covering(p('/long')).length, 1);
});

t.test('refresh resets the timeout, also through a member of a depth-infinity lock', async (t) => {
  const { locks, clock } = manager(t);
  const lock = locks.lock(req('/c', 'exclusive', 'infinity', 10));
  clock.advance(8);
  const refreshed = locks.refresh(lock.token, p('/c'), 10, holding(lock.token));
  t.equal(refreshed.expires, clock.now() + 10_000);
  clock.advance(8);
  t.equal(locks.covering(p('/c')).length, 1, 'alive 16 s after creation thanks to the refresh');
  locks.refresh(lock.token, p('/c/member.txt'), 30, holding(lock.token));
  clock.advance(25);
  t.equal(locks.byToken(lock.token)?.timeout, 30, 'refreshed through a member, with a new timeout');
  t.equal(outcome(() => locks.refresh(lock.token, p('/elsewhere'), 10, holding(lock.token))), '412', 'a path the lock does not cover');
  t.equal(outcome(() => locks.refresh('urn:uuid:unknown', p('/c'), 10, holding('urn:uuid:unknown'))), '412', 'an unknown token');
  t.equal(outcome(() => locks.refresh(lock.token, p('/c'), 10, nobody)), '412', 'a token not submitted');
  clock.advance(10);
  t.equal(outcome(() => locks.refresh(lock.token, p('/c'), 10, holding(lock.token))), '412', 'an expired lock cannot be refreshed');
});

t.test('a depth-0 lock on a collection covers only the collection', async (t) => {
  const { locks } = manager(t);
  const lock = locks.lock(req('/c', 'exclusive', '0'));
  t.equal(outcome(() => locks.refresh(lock.token, p('/c/x'), 10, holding(lock.token))), '412');
  t.doesNotThrow(() => locks.assertCanModify(p('/c/x'), nobody), 'changing a member content needs no token');
  t.equal(outcome(() => locks.assertCanModify(p('/c/x'), nobody, { membership: true })), '423', 'adding or removing a member does');
});

t.test('unlock: 409 for a URL the lock does not cover, 403 for another user', async (t) => {
  const { locks } = manager(t);
  const lock = locks.lock(req('/d', 'exclusive', 'infinity', 600, 'alice'));
  t.equal(outcome(() => locks.unlock(lock.token, p('/other'), 'alice')), '409');
  t.equal(outcome(() => locks.unlock('urn:uuid:nope', p('/d'), 'alice')), '409');
  t.equal(outcome(() => locks.unlock(lock.token, p('/d'), 'bob')), '403');
  t.equal(outcome(() => locks.unlock(lock.token, p('/d/member'), 'alice')), 'ok', 'through a member of the locked tree');
  t.equal(locks.byToken(lock.token), undefined);
  t.equal(outcome(() => locks.unlock(lock.token, p('/d'), 'alice')), '409', 'twice');
});

t.test('writes need every covering token (RFC 4918 §7.5)', async (t) => {
  const { locks } = manager(t);
  const coll = locks.lock(req('/c', 'shared', 'infinity'));
  const file = locks.lock(req('/c/f', 'shared', '0'));
  let error: unknown;
  try {
    locks.assertCanModify(p('/c/f'), nobody);
  } catch (err) {
    error = err;
  }
  t.equal((error as DavError).statusCode, 423);
  t.equal((error as DavError).condition, 'lock-token-submitted');
  t.same((error as DavError).paths.map((x) => x.key).sort(), ['/c', '/c/f']);
  t.equal(outcome(() => locks.assertCanModify(p('/c/f'), holding(coll.token))), '423', 'one of two tokens is not enough');
  t.equal(outcome(() => locks.assertCanModify(p('/c/f'), holding(coll.token, file.token))), 'ok');
  t.equal(outcome(() => locks.assertCanModify(p('/c'), holding(coll.token))), 'ok');
  t.equal(outcome(() => locks.assertCanModify(p('/c'), holding(coll.token), { tree: true })), '423', 'a tree change needs member tokens');
  t.equal(outcome(() => locks.assertCanModify(p('/x'), nobody, { membership: true })), 'ok');
});

t.test('a token is only good for the user who took the lock', async (t) => {
  const { locks } = manager(t);
  const lock = locks.lock(req('/f', 'exclusive', '0', 600, 'alice'));
  t.ok(locks.holds(lock, { tokens: new Set([lock.token]), principal: 'alice' }));
  t.notOk(locks.holds(lock, { tokens: new Set([lock.token]), principal: 'bob' }));
  t.equal(outcome(() => locks.assertCanModify(p('/f'), { tokens: new Set([lock.token]), principal: 'bob' })), '423');
});

t.test('removeTree and release', async (t) => {
  const { locks } = manager(t);
  const a = locks.lock(req('/a', 'shared', '0'));
  const ab = locks.lock(req('/a/b', 'shared', '0'));
  const sibling = locks.lock(req('/ab', 'shared', '0'));
  locks.removeTree(p('/a'));
  t.equal(locks.byToken(a.token), undefined);
  t.equal(locks.byToken(ab.token), undefined);
  t.ok(locks.byToken(sibling.token), '/ab survives the removal of /a');
  locks.release([sibling.token]);
  t.equal(locks.byToken(sibling.token), undefined);
});

t.test('tokens are unique urn:uuid URIs', async (t) => {
  const { locks } = manager(t);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const l = locks.lock(req(`/f${i}`, 'shared', '0'));
    t.match(l.token, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(l.token);
  }
  t.equal(seen.size, 200);
});

t.test('two managers over one database (two server processes) see each other', async (t) => {
  const dir = tempDir(t);
  const clock = new FakeClock();
  const db1 = openDatabase(dir);
  const db2 = openDatabase(dir);
  t.teardown(() => {
    db1.close();
    db2.close();
  });
  const one = new LockManager(new LockStore(db1), clock);
  const two = new LockManager(new LockStore(db2), clock);
  t.equal(two.covering(p('/f')).length, 0, 'primes the second cache');
  const lock = one.lock(req('/f', 'exclusive', '0'));
  t.same(two.covering(p('/f')).map((l) => l.token), [lock.token], 'the second process sees the new lock');
  t.equal(outcome(() => two.lock(req('/f', 'exclusive', '0'))), '423', 'and cannot take a conflicting one');
  one.unlock(lock.token, p('/f'), null);
  t.equal(two.covering(p('/f')).length, 0, 'and sees it go');
});
