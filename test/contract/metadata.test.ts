/**
 * The contract of the metadata seam (src/metadata/store.ts), run against every implementation:
 * the embedded SQLite store, PostgreSQL (a private cluster from test/helpers/postgres.ts, one
 * fresh schema per test) and the same PostgreSQL behind PgBouncer in transaction mode
 * (test/helpers/pgbouncer.ts, one fresh database per test). Dead properties: set/remove in order
 * and atomically, listings, subtree copy/move/delete with names that sort around '/' and look like
 * LIKE wildcards ('%', '_'), unicode. Locks through the LockManager (the protocol rules): conflicts, shared, depth, refresh,
 * expiry, unlock, removal, and grants raced from two store instances on one database.
 *
 * The PostgreSQL stores run with a clock 25 years behind: the database's clock alone must decide
 * expiry. Time passes by the fake clock for SQLite and by real sleeping for PostgreSQL (short timeouts).
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { DavError } from '../../src/core/errors.js';
import { DavPath } from '../../src/core/paths.js';
import { LockManager, MemberLockConflict, lockCovers, type LockCredentials } from '../../src/locks/lock-manager.js';
import type { DeadProperty, DeadPropertyStore, LockDepth, LockScope, MetadataStore } from '../../src/metadata/store.js';
import { SqliteMetadataStore } from '../../src/metadata/sqlite/store.js';
import { PostgresMetadataStore } from '../../src/metadata/postgres/store.js';
import { FakeClock, tempDir, type TapLike } from '../helpers/server.js';
import { postgresSkipReason, sharedPostgres } from '../helpers/postgres.js';
import { pgbouncerSkipReason, sharedPgBouncer } from '../helpers/pgbouncer.js';

interface Opened {
  store: MetadataStore;
  /** Another store instance on the same database (another process or instance). */
  second(): Promise<MetadataStore>;
  clock: FakeClock;
  /** Lets `seconds` pass for lock expiry. */
  pass(seconds: number): Promise<void>;
}

interface Backend {
  name: string;
  skip: string | false;
  open(t: TapLike): Promise<Opened>;
}

const backends: Backend[] = [
  {
    name: 'sqlite',
    skip: false,
    async open(t) {
      const dir = path.join(tempDir(t), 'meta');
      const clock = new FakeClock();
      const make = async () => {
        const s = SqliteMetadataStore.open(dir, clock);
        t.teardown(() => s.close());
        return s;
      };
      return { store: await make(), second: make, clock, pass: async (s) => clock.advance(s) };
    },
  },
  postgresBackend('postgres', postgresSkipReason(), async () => (await sharedPostgres()).createSchema()),
  // The same cluster behind PgBouncer in transaction mode: consecutive statements of a store may
  // reach different server connections, so session state of any kind would show up here.
  postgresBackend('pgbouncer', pgbouncerSkipReason(), async () => (await sharedPgBouncer()).createDatabase()),
];

/** PostgreSQL stores on a fresh database or schema from `freshUrl`. */
function postgresBackend(name: string, skip: string | false, freshUrl: () => Promise<string>): Backend {
  return {
    name,
    skip,
    async open(t) {
      const url = await freshUrl();
      // Years behind the database: whatever this clock says must not change expiry.
      const clock = new FakeClock(Date.UTC(2001, 0, 1));
      const make = async () => {
        const s = await PostgresMetadataStore.open(url, { clock });
        t.teardown(() => s.close());
        return s;
      };
      return { store: await make(), second: make, clock, pass: (s) => sleep(s * 1000 + 50) };
    },
  };
}

const p = (...segments: string[]) => DavPath.of(segments);
const k = (key: string) => DavPath.fromKey(key);
const prop = (name: string, value: string, ns = 'urn:t'): DeadProperty => ({ ns, name, xml: `<X:${name} xmlns:X="${ns}">${value}</X:${name}>` });

/** Tags every path with one property naming the path itself, so moves and copies can be traced. */
async function seed(s: DeadPropertyStore, paths: DavPath[]) {
  for (const path of paths) await s.apply(path, [{ op: 'set', prop: prop('origin', path.key) }]);
}

/** key → value of the 'origin' property, for every key in the tree at `path`. */
async function origins(s: DeadPropertyStore, path: DavPath = DavPath.root): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [key, props] of await s.getTree(path)) {
    const o = props.find((x) => x.name === 'origin');
    if (o) out[key] = /<X:origin[^>]*>(.*)<\/X:origin>/.exec(o.xml)![1]!;
  }
  return out;
}

// Names that sort right around '/' (0x2f): '-' 0x2d, '.' 0x2e, '0' 0x30; SQL LIKE wildcards; non-ASCII.
const tree = [
  p('a'), p('a', 'b'), p('a', 'b', 'c'), p('ab'), p('a-b'), p('a.b'), p('a0'), p('a', 'é'), p('a', '😀'), p('a', '%'), p('a', '_'),
  p('a%'), p('a_'), p('😀'), p('😀', 'x'), p('😀x'),
];

/** Keys of the members found by the listing query (the parent column), without the collection itself. */
const members = async (s: DeadPropertyStore, path: DavPath): Promise<string[]> => [...(await s.getListing(path)).keys()].filter((x) => x !== path.key).sort();

const sorted = (keys: Iterable<string>) => [...keys].sort();

const nobody: LockCredentials = { tokens: new Set(), principal: null };
const holding = (...tokens: string[]): LockCredentials => ({ tokens: new Set(tokens), principal: null });

const req = (key: string, scope: LockScope, depth: LockDepth, timeout = 600, principal: string | null = null) => ({
  path: k(key),
  scope,
  depth,
  owner: null,
  principal,
  timeout,
});

/** What an operation does: 'ok', an HTTP status ('423', '412', …) or '207' (a member is locked). */
async function outcome(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    if (err instanceof MemberLockConflict) return '207';
    if (err instanceof DavError) return String(err.statusCode);
    throw err;
  }
}

for (const backend of backends) {
  t.test(backend.name, { skip: backend.skip }, async (t) => {
    const open = async (t: TapLike) => {
      const opened = await backend.open(t);
      return { ...opened, s: opened.store.deadProps, locks: new LockManager(opened.store.locks) };
    };

    t.test('dead properties: set, replace, remove in document order', async (t) => {
      const { s } = await open(t);
      const f = p('f');
      await s.apply(f, [{ op: 'set', prop: prop('one', '1') }, { op: 'set', prop: prop('two', '2') }]);
      t.same((await s.get(f)).map((x) => x.name).sort(), ['one', 'two']);
      await s.apply(f, [{ op: 'remove', ns: 'urn:t', name: 'one' }, { op: 'set', prop: prop('one', 'again') }]);
      t.match((await s.get(f)).find((x) => x.name === 'one')?.xml, />again</, 'remove then set: set wins');
      await s.apply(f, [{ op: 'set', prop: prop('two', 'x') }, { op: 'remove', ns: 'urn:t', name: 'two' }]);
      t.notOk((await s.get(f)).some((x) => x.name === 'two'), 'set then remove: gone');
      await s.apply(f, [{ op: 'remove', ns: 'urn:t', name: 'never-there' }]);
      t.equal((await s.get(f)).length, 1, 'removing an absent property is fine');
      await s.apply(f, [{ op: 'set', prop: prop('one', 'other ns', 'urn:other') }]);
      t.equal((await s.get(f)).length, 2, 'same local name, different namespace: two properties');
      await s.apply(f, [{ op: 'set', prop: prop('empty', '', '') }]);
      t.ok((await s.get(f)).some((x) => x.ns === '' && x.name === 'empty'), 'the empty namespace is a namespace');
      await s.apply(DavPath.root, [{ op: 'set', prop: prop('r', 'root') }]);
      t.same((await s.get(DavPath.root)).map((x) => x.name), ['r'], 'the root has properties too');
    });

    t.test('dead properties: values are stored byte for byte', async (t) => {
      const { s } = await open(t);
      const xml = '<X:v xmlns:X="urn:t" xml:lang="en">  \u{10000} 😀 &amp;amp; % _ \\ \' " <Y:n xmlns:Y="urn:y">\n</Y:n>  </X:v>';
      await s.apply(p('f'), [{ op: 'set', prop: { ns: 'urn:t', name: 'v', xml } }]);
      t.equal((await s.get(p('f')))[0]!.xml, xml);
    });

    t.test('dead properties: a transaction commits all of its writes or none', async (t) => {
      const { store, s } = await open(t);
      await seed(s, [p('x'), p('y')]);
      await t.rejects(
        store.transaction(async (tx) => {
          await tx.deadProps.apply(p('x'), [{ op: 'set', prop: prop('new', '1') }]);
          await tx.deadProps.deleteTree(p('y'));
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      t.same(await origins(s), { '/x': '/x', '/y': '/y' }, 'nothing of it happened');
      t.equal((await s.get(p('x'))).length, 1);
      await store.transaction(async (tx) => {
        await tx.deadProps.moveTree(p('x'), p('z'));
        await tx.deadProps.deleteTree(p('y'));
      });
      t.same(await origins(s), { '/z': '/x' }, 'both happened');
    });

    t.test('intents: recorded at once, removed with the transaction that resolves them, resolved once only', async (t) => {
      const { store, s } = await open(t);
      const journal = store.intents!;
      t.ok(journal, 'the store keeps an intent journal');
      const intent = { op: 'move', from: '/a', to: '/b', depth: 'infinity', toEtag: null, owner: 'host:1:2' } as const;
      const id = (await journal.record(intent))!;
      const other = (await journal.record({ ...intent, op: 'delete', from: '/c', to: '' }))!;
      t.type(id, 'number', 'recorded even with nothing to lose when not told otherwise');
      t.same(await journal.pending(), [{ id, ...intent }, { id: other, ...intent, op: 'delete', from: '/c', to: '' }], 'pending, oldest first');
      await seed(s, [p('a')]);
      await store.transaction(async (tx) => {
        await tx.intents!.done(id);
        await tx.deadProps.moveTree(p('a'), p('b'));
      });
      t.same((await journal.pending()).map((i) => i.id), [other], 'removed together with the metadata update');
      t.same(await origins(s), { '/b': '/a' });
      await t.rejects(
        store.transaction(async (tx) => {
          await tx.intents!.done(id);
          await tx.deadProps.moveTree(p('b'), p('c'));
        }),
        { name: 'IntentGoneError' },
        'resolving it again fails',
      );
      t.same(await origins(s), { '/b': '/a' }, 'and writes nothing');
    });

    t.test('dead properties: getListing gives a collection and its members only, getTree the whole subtree', async (t) => {
      const { s } = await open(t);
      await seed(s, tree);
      t.same(sorted((await s.getListing(p('a'))).keys()), sorted(['/a', '/a/b', '/a/é', '/a/😀', '/a/%', '/a/_']));
      t.same(sorted((await s.getListing(DavPath.root)).keys()), sorted(['/a', '/a-b', '/a.b', '/a0', '/ab', '/a%', '/a_', '/😀', '/😀x']));
      await s.apply(DavPath.root, [{ op: 'set', prop: prop('r', 'root') }]);
      t.same(sorted((await s.getListing(DavPath.root)).keys()), sorted(['', '/a', '/a-b', '/a.b', '/a0', '/ab', '/a%', '/a_', '/😀', '/😀x']), 'the root itself, once');
      t.same(sorted(Object.keys(await origins(s, p('a')))), sorted(['/a', '/a/b', '/a/b/c', '/a/é', '/a/😀', '/a/%', '/a/_']), '/ab, /a-b, /a.b, /a0, /a%, /a_ are not in /a');
      t.same(sorted(Object.keys(await origins(s, p('😀')))), ['/😀', '/😀/x'], '/😀x is not in /😀');
      t.same(Object.keys(await origins(s, p('a', '%'))), ['/a/%'], "'%' matches only itself");
      t.same(await members(s, p('a', '_')), [], "'_' has no members");
    });

    t.test('dead properties: deleteTree removes a subtree and nothing that merely shares its prefix', async (t) => {
      const { s } = await open(t);
      await seed(s, tree);
      await s.deleteTree(p('a'));
      t.same(sorted(Object.keys(await origins(s))), sorted(['/a-b', '/a.b', '/a0', '/ab', '/a%', '/a_', '/😀', '/😀/x', '/😀x']));
      await s.deleteTree(p('😀'));
      await s.deleteTree(p('a_'));
      t.same(sorted(Object.keys(await origins(s))), sorted(['/a-b', '/a.b', '/a0', '/ab', '/a%', '/😀x']));
      await s.deleteTree(p('nothing', 'here'));
      t.equal(Object.keys(await origins(s)).length, 6, 'deleting an empty tree is fine');
    });

    t.test('dead properties: clear forgets one resource only', async (t) => {
      const { s } = await open(t);
      await seed(s, tree);
      await s.clear(p('a'));
      const o = await origins(s);
      t.notOk('/a' in o);
      t.ok('/a/b' in o);
      t.ok('/a%' in o);
    });

    t.test('dead properties: copyTree depth infinity copies the subtree and replaces what the destination had', async (t) => {
      const { s } = await open(t);
      await seed(s, tree);
      await seed(s, [p('dest'), p('dest', 'stale')]);
      await s.copyTree(p('a'), p('dest'), 'infinity');
      const o = await origins(s);
      t.same(Object.fromEntries(Object.entries(o).filter(([x]) => x.startsWith('/dest'))), {
        '/dest': '/a', '/dest/b': '/a/b', '/dest/b/c': '/a/b/c', '/dest/é': '/a/é', '/dest/😀': '/a/😀', '/dest/%': '/a/%', '/dest/_': '/a/_',
      });
      t.equal(o['/a/b'], '/a/b', 'the source is unchanged');
      t.same(await members(s, p('dest')), sorted(['/dest/b', '/dest/é', '/dest/😀', '/dest/%', '/dest/_']), 'parent keys are rewritten too');
      t.same(await members(s, p('dest', 'b')), ['/dest/b/c']);
    });

    t.test('dead properties: copyTree depth 0 copies the resource alone', async (t) => {
      const { s } = await open(t);
      await seed(s, tree);
      await s.copyTree(p('a'), p('z'), 0);
      t.same(Object.keys(await origins(s, p('z'))), ['/z']);
      t.same(await members(s, DavPath.root).then((m) => m.includes('/z')), true, 'listed in its parent');
    });

    t.test('dead properties: moveTree renames keys between names of different UTF-16 and character lengths', async (t) => {
      const { s } = await open(t);
      await seed(s, tree);
      await s.moveTree(p('a'), p('😀😀', 'new'));
      const o = await origins(s);
      t.same(Object.fromEntries(Object.entries(o).filter(([x]) => x.startsWith('/😀😀'))), {
        '/😀😀/new': '/a', '/😀😀/new/b': '/a/b', '/😀😀/new/b/c': '/a/b/c', '/😀😀/new/é': '/a/é', '/😀😀/new/😀': '/a/😀', '/😀😀/new/%': '/a/%', '/😀😀/new/_': '/a/_',
      });
      t.notOk(Object.keys(o).some((x) => x === '/a' || x.startsWith('/a/')), 'nothing left at the source');
      t.same(['/a-b', '/a.b', '/a0', '/ab', '/a%', '/a_'].map((x) => o[x]), ['/a-b', '/a.b', '/a0', '/ab', '/a%', '/a_'], 'prefix siblings untouched');
      t.same(await members(s, p('😀😀', 'new')), sorted(['/😀😀/new/b', '/😀😀/new/é', '/😀😀/new/😀', '/😀😀/new/%', '/😀😀/new/_']));
      t.same(await members(s, p('😀😀')), ['/😀😀/new']);

      await s.moveTree(p('😀'), p('日本語'));
      t.same(sorted(Object.keys(await origins(s, p('日本語')))), ['/日本語', '/日本語/x']);
      t.equal((await origins(s))['/😀x'], '/😀x');
    });

    t.test('dead properties: moveTree replaces what the destination had', async (t) => {
      const { s } = await open(t);
      await seed(s, [p('src'), p('src', 'kid'), p('dst'), p('dst', 'old'), p('dst', 'kid')]);
      await s.moveTree(p('src'), p('dst'));
      t.same(await origins(s), { '/dst': '/src', '/dst/kid': '/src/kid' });
    });

    t.test('dead properties: keysInTree and deleteKeys', async (t) => {
      const { s } = await open(t);
      await seed(s, tree);
      t.same(sorted(await s.keysInTree(p('a', 'b'))), ['/a/b', '/a/b/c']);
      await s.deleteKeys(['/a/b/c', '/ab', '/a%']);
      const o = await origins(s);
      t.notOk('/a/b/c' in o);
      t.notOk('/ab' in o);
      t.notOk('/a%' in o);
      t.ok('/a/b' in o);
      t.ok('/a/%' in o);
    });

    t.test('locks: conflict matrix exclusive/shared × depth 0/infinity × same/ancestor/descendant', async (t) => {
      const { locks } = await open(t);
      const scopes: LockScope[] = ['exclusive', 'shared'];
      const depths: LockDepth[] = ['0', 'infinity'];
      // The first lock sits at B/a/b; the second is requested at the same path, the parent, a child...
      const places = { same: '/a/b', ancestor: '/a', descendant: '/a/b/c', sibling: '/a/bb', unrelated: '/x' } as const;
      let n = 0;
      for (const s1 of scopes) for (const d1 of depths) for (const s2 of scopes) for (const d2 of depths) {
        for (const [relation, where] of Object.entries(places)) {
          const base = `/m${n++}`; // a fresh corner of the tree per combination
          const first = await locks.lock(req(`${base}/a/b`, s1, d1));
          const bothShared = s1 === 'shared' && s2 === 'shared';
          let expected: string;
          if (bothShared || relation === 'sibling' || relation === 'unrelated') expected = 'ok';
          else if (relation === 'same') expected = '423';
          else if (relation === 'descendant') expected = d1 === 'infinity' ? '423' : 'ok';
          else expected = d2 === 'infinity' ? '207' : 'ok';
          const got = await outcome(() => locks.lock(req(`${base}${where}`, s2, d2)));
          t.equal(got, expected, `held ${s1}/depth ${d1} at /a/b; ${s2}/depth ${d2} at ${relation} ${where}`);
          if (got !== 'ok') t.same((await locks.byToken(first.token))?.token, first.token, 'the first lock is untouched');
        }
      }
    });

    t.test('locks: a 423 names the root of the conflicting lock; a 207 names the member locks', async (t) => {
      const { locks } = await open(t);
      const held = await locks.lock(req('/a', 'exclusive', 'infinity'));
      let error: unknown = await locks.lock(req('/a/b/c', 'shared', '0')).catch((err: unknown) => err);
      t.ok(error instanceof DavError);
      t.equal((error as DavError).statusCode, 423);
      t.equal((error as DavError).condition, 'no-conflicting-lock');
      t.same((error as DavError).paths.map((x) => x.key), ['/a']);
      await locks.unlock(held.token, k('/a'), null);

      const member = await locks.lock(req('/d/e/f', 'exclusive', '0'));
      error = await locks.lock(req('/d', 'shared', 'infinity')).catch((err: unknown) => err);
      t.ok(error instanceof MemberLockConflict);
      t.same((error as MemberLockConflict).conflicts.map((l) => l.token), [member.token]);
    });

    t.test('locks: shared locks stack; an exclusive one then waits for all of them', async (t) => {
      const { locks } = await open(t);
      const a = await locks.lock(req('/f', 'shared', '0'));
      const b = await locks.lock(req('/f', 'shared', '0'));
      t.not(a.token, b.token);
      t.equal((await locks.covering(k('/f'))).length, 2);
      t.equal(await outcome(() => locks.lock(req('/f', 'exclusive', '0'))), '423');
      await locks.unlock(a.token, k('/f'), null);
      t.equal(await outcome(() => locks.lock(req('/f', 'exclusive', '0'))), '423');
      await locks.unlock(b.token, k('/f'), null);
      t.equal(await outcome(() => locks.lock(req('/f', 'exclusive', '0'))), 'ok');
    });

    t.test('locks: paths that share a prefix are unrelated', async (t) => {
      const { locks } = await open(t);
      const a = await locks.lock(req('/a', 'exclusive', 'infinity'));
      for (const other of ['/ab', '/a-b', '/a.b', '/a%', '/a_']) t.equal(await outcome(() => locks.lock(req(other, 'exclusive', 'infinity'))), 'ok', other);
      t.same((await locks.covering(k('/a/x/y'))).map((l) => l.token), [a.token]);
      t.same((await locks.covering(k('/ab/x'))).map((l) => l.root), ['/ab']);
      t.same((await locks.covering(k('/a_/x'))).map((l) => l.root), ['/a_']);
      t.ok(lockCovers(a, k('/a/😀')));
      t.notOk(lockCovers(a, k('/a😀')));
    });

    t.test('locks: a depth-infinity lock on the root covers everything', async (t) => {
      const { locks } = await open(t);
      const root = await locks.lock(req('', 'exclusive', 'infinity'));
      t.ok(lockCovers(root, k('/deep/down/file')));
      t.equal(await outcome(() => locks.lock(req('/deep', 'shared', '0'))), '423');
      t.same((await locks.within(DavPath.root)).map((l) => l.token), [root.token]);
      t.same((await locks.covering(k('/deep/down/file'))).map((l) => l.token), [root.token]);
    });

    t.test('locks: expiry', async (t) => {
      const { locks, clock, pass } = await open(t);
      const lock = await locks.lock(req('/f', 'exclusive', '0', 2));
      t.ok(Math.abs(lock.expires - (clock.now() + 2000)) < 1000, 'expires is placed on the server clock, whatever it says');
      await pass(1);
      t.equal((await locks.covering(k('/f'))).length, 1, 'alive after 1 s');
      t.equal(await outcome(() => locks.lock(req('/f', 'exclusive', '0'))), '423');
      await pass(1.2);
      t.equal((await locks.covering(k('/f'))).length, 0, 'gone after 2.2 s');
      t.equal(await locks.byToken(lock.token), undefined);
      t.equal(await outcome(() => locks.assertCanModify(k('/f'), nobody)), 'ok', 'an expired lock no longer blocks writes');
      t.equal(await outcome(() => locks.lock(req('/f', 'exclusive', '0'))), 'ok', 'and no longer conflicts');
    });

    t.test('locks: expiry takes effect even when nothing else changed (no stale cache)', async (t) => {
      const { locks, pass } = await open(t);
      await locks.lock(req('/short', 'exclusive', '0', 1));
      await locks.lock(req('/long', 'exclusive', '0', 500));
      t.equal((await locks.covering(k('/short'))).length, 1);
      await pass(1.2);
      t.equal((await locks.covering(k('/short'))).length, 0);
      t.equal((await locks.covering(k('/long'))).length, 1);
    });

    t.test('locks: refresh resets the timeout, also through a member of a depth-infinity lock', async (t) => {
      const { locks, clock, pass } = await open(t);
      const lock = await locks.lock(req('/c', 'exclusive', 'infinity', 2));
      await pass(1.5);
      const refreshed = await locks.refresh(lock.token, k('/c'), 2, holding(lock.token));
      t.ok(Math.abs(refreshed.expires - (clock.now() + 2000)) < 1000);
      await pass(1.5);
      t.equal((await locks.covering(k('/c'))).length, 1, 'alive 3 s after creation thanks to the refresh');
      await locks.refresh(lock.token, k('/c/member.txt'), 30, holding(lock.token));
      await pass(2.5);
      t.equal((await locks.byToken(lock.token))?.timeout, 30, 'refreshed through a member, with a new timeout');
      t.equal(await outcome(() => locks.refresh(lock.token, k('/elsewhere'), 10, holding(lock.token))), '412', 'a path the lock does not cover');
      t.equal(await outcome(() => locks.refresh('urn:uuid:unknown', k('/c'), 10, holding('urn:uuid:unknown'))), '412', 'an unknown token');
      t.equal(await outcome(() => locks.refresh(lock.token, k('/c'), 10, nobody)), '412', 'a token not submitted');
      const short = await locks.lock(req('/s', 'exclusive', '0', 1));
      await pass(1.2);
      t.equal(await outcome(() => locks.refresh(short.token, k('/s'), 10, holding(short.token))), '412', 'an expired lock cannot be refreshed');
    });

    t.test('locks: a depth-0 lock on a collection covers only the collection', async (t) => {
      const { locks } = await open(t);
      const lock = await locks.lock(req('/c', 'exclusive', '0'));
      t.equal(await outcome(() => locks.refresh(lock.token, k('/c/x'), 10, holding(lock.token))), '412');
      t.equal(await outcome(() => locks.assertCanModify(k('/c/x'), nobody)), 'ok', 'changing a member content needs no token');
      t.equal(await outcome(() => locks.assertCanModify(k('/c/x'), nobody, { membership: true })), '423', 'adding or removing a member does');
    });

    t.test('locks: unlock: 409 for a URL the lock does not cover, 403 for another user', async (t) => {
      const { locks } = await open(t);
      const lock = await locks.lock(req('/d', 'exclusive', 'infinity', 600, 'alice'));
      t.equal(await outcome(() => locks.unlock(lock.token, k('/other'), 'alice')), '409');
      t.equal(await outcome(() => locks.unlock('urn:uuid:nope', k('/d'), 'alice')), '409');
      t.equal(await outcome(() => locks.unlock(lock.token, k('/d'), 'bob')), '403');
      t.equal(await outcome(() => locks.unlock(lock.token, k('/d/member'), 'alice')), 'ok', 'through a member of the locked tree');
      t.equal(await locks.byToken(lock.token), undefined);
      t.equal(await outcome(() => locks.unlock(lock.token, k('/d'), 'alice')), '409', 'twice');
    });

    t.test('locks: writes need every covering token (RFC 4918 §7.5)', async (t) => {
      const { locks } = await open(t);
      const coll = await locks.lock(req('/c', 'shared', 'infinity'));
      const file = await locks.lock(req('/c/f', 'shared', '0'));
      const error = await locks.assertCanModify(k('/c/f'), nobody).catch((err: unknown) => err);
      t.equal((error as DavError).statusCode, 423);
      t.equal((error as DavError).condition, 'lock-token-submitted');
      t.same((error as DavError).paths.map((x) => x.key).sort(), ['/c', '/c/f']);
      t.equal(await outcome(() => locks.assertCanModify(k('/c/f'), holding(coll.token))), '423', 'one of two tokens is not enough');
      t.equal(await outcome(() => locks.assertCanModify(k('/c/f'), holding(coll.token, file.token))), 'ok');
      t.equal(await outcome(() => locks.assertCanModify(k('/c'), holding(coll.token))), 'ok');
      t.equal(await outcome(() => locks.assertCanModify(k('/c'), holding(coll.token), { tree: true })), '423', 'a tree change needs member tokens');
      t.equal(await outcome(() => locks.assertCanModify(k('/c/new'), holding(coll.token), { membership: true })), 'ok', 'a new member needs the collection lock');
      t.equal(await outcome(() => locks.assertCanModify(k('/x'), nobody, { membership: true })), 'ok');
    });

    t.test('locks: a token is only good for the user who took the lock', async (t) => {
      const { locks } = await open(t);
      const lock = await locks.lock(req('/f', 'exclusive', '0', 600, 'alice'));
      t.ok(locks.holds(lock, { tokens: new Set([lock.token]), principal: 'alice' }));
      t.notOk(locks.holds(lock, { tokens: new Set([lock.token]), principal: 'bob' }));
      t.equal(await outcome(() => locks.assertCanModify(k('/f'), { tokens: new Set([lock.token]), principal: 'bob' })), '423');
    });

    t.test('locks: removeTree and remove, alone and in a transaction with dead properties', async (t) => {
      const { store, locks, s } = await open(t);
      const a = await locks.lock(req('/a', 'shared', '0'));
      const ab = await locks.lock(req('/a/b', 'shared', '0'));
      const sibling = await locks.lock(req('/ab', 'shared', '0'));
      const underscore = await locks.lock(req('/a_', 'shared', '0'));
      await store.locks.removeTree(k('/a'));
      t.equal(await locks.byToken(a.token), undefined);
      t.equal(await locks.byToken(ab.token), undefined);
      t.ok(await locks.byToken(sibling.token), '/ab survives the removal of /a');
      t.ok(await locks.byToken(underscore.token), '/a_ too');
      await store.locks.remove([sibling.token]);
      t.equal(await locks.byToken(sibling.token), undefined);

      await seed(s, [p('m'), p('m', 'x')]);
      const m = await locks.lock(req('/m', 'exclusive', 'infinity'));
      await t.rejects(
        store.transaction(async (tx) => {
          await tx.deadProps.moveTree(p('m'), p('n'));
          await tx.locks.removeTree(p('m'));
          throw new Error('abort');
        }),
      );
      t.ok(await locks.byToken(m.token), 'an aborted transaction keeps the lock');
      t.same(await origins(s, p('m')), { '/m': '/m', '/m/x': '/m/x' }, 'and the properties where they were');
      await store.transaction(async (tx) => {
        await tx.deadProps.moveTree(p('m'), p('n'));
        await tx.locks.removeTree(p('m'));
      });
      t.equal(await locks.byToken(m.token), undefined);
      t.same(await origins(s, p('n')), { '/n': '/m', '/n/x': '/m/x' });
    });

    t.test('guards: a write and an intent go ahead only with the locks their check accepted', async (t) => {
      const { store, locks, s } = await open(t);
      const held = await locks.lock(req('/g', 'exclusive', 'infinity'));
      const newMember = (who: LockCredentials, accepted?: (l: readonly unknown[]) => void) => locks.modifyGuard(k('/g/new'), who, { membership: true }, accepted);
      const setV = (key: string) => (tx: Parameters<Parameters<MetadataStore['transaction']>[0]>[0]) => tx.deadProps.apply(k(key), [{ op: 'set', prop: prop('v', '1') }]);
      t.equal(await outcome(() => store.transaction(setV('/g/new'), newMember(nobody))), '423', 'refused without the token');
      t.same(await s.get(k('/g/new')), [], 'and nothing written');
      let seen: readonly unknown[] = [];
      await store.transaction(setV('/g/new'), newMember(holding(held.token), (l) => (seen = l)));
      t.equal((await s.get(k('/g/new'))).length, 1, 'written with the token');
      t.same(seen.map((l) => (l as { token: string }).token), [held.token], 'the check was shown the lock it accepted');

      await locks.lock(req('/h/sibling', 'exclusive', '0'));
      await store.transaction(setV('/h/new'), locks.modifyGuard(k('/h/new'), nobody, { membership: true }));
      t.equal((await s.get(k('/h/new'))).length, 1, "a sibling's lock does not stop a new member");
      await locks.lock(req('/h', 'exclusive', '0'));
      t.equal(await outcome(() => store.transaction(setV('/h/other'), locks.modifyGuard(k('/h/other'), nobody, { membership: true }))), '423', "a depth-0 lock on the parent does");
      t.same(await s.get(k('/h/other')), []);

      const journal = store.intents!;
      const intent = { op: 'delete', from: '/g/new', to: '', depth: 'infinity', toEtag: null, owner: 'host:1:2' } as const;
      t.equal(await outcome(() => journal.record(intent, { guard: newMember(nobody) })), '423', 'an intent is refused with its check');
      t.same(await journal.pending(), [], 'and not recorded');
      const id = await journal.record(intent, { guard: newMember(holding(held.token)) });
      t.same(await journal.pending(), [{ id, ...intent }], 'recorded, every field, once its check passed');
    });

    t.test('intents: onlyWithMetadata records only where a crash could lose a dead property or a lock', async (t) => {
      const { store, locks, s } = await open(t);
      const journal = store.intents!;
      const only = { onlyWithMetadata: true };
      const move = (from: string, to: string) => ({ op: 'move', from, to, depth: 'infinity', toEtag: null, owner: 'host:1:2' }) as const;
      await seed(s, [p('props', 'deep')]);
      await locks.lock(req('/locked/deep', 'shared', '0'));
      t.equal(await journal.record(move('/plain', '/plain2'), only), null, 'nothing in either tree: not recorded');
      t.equal(await journal.record({ ...move('/plain', ''), op: 'delete' }, only), null, 'a delete ignores its empty destination');
      t.same(await journal.pending(), []);
      const recorded = [
        await journal.record(move('/props', '/x'), only),
        await journal.record(move('/x', '/props'), only),
        await journal.record(move('/locked', '/y'), only),
        await journal.record({ ...move('/locked', ''), op: 'delete' }, only),
      ];
      t.ok(recorded.every((id) => typeof id === 'number'), 'a dead property or a lock below either end: recorded');
      t.same((await journal.pending()).map((i) => i.id), recorded);
    });

    t.test('locks: tokens are unique urn:uuid v4 URIs', async (t) => {
      const { locks } = await open(t);
      const seen = new Set<string>();
      for (let i = 0; i < 50; i++) {
        const l = await locks.lock(req(`/f${i}`, 'shared', '0'));
        t.match(l.token, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        seen.add(l.token);
      }
      t.equal(seen.size, 50);
    });

    t.test('two store instances on one database see each other', async (t) => {
      const { locks: one, s, second } = await open(t);
      const otherStore = await second();
      const two = new LockManager(otherStore.locks);
      t.equal((await two.covering(k('/f'))).length, 0, 'primes any cache of the second');
      const lock = await one.lock(req('/f', 'exclusive', '0'));
      t.same((await two.covering(k('/f'))).map((l) => l.token), [lock.token], 'the second sees the new lock');
      t.equal(await outcome(() => two.lock(req('/f', 'exclusive', '0'))), '423', 'and cannot take a conflicting one');
      await one.unlock(lock.token, k('/f'), null);
      t.equal((await two.covering(k('/f'))).length, 0, 'and sees it go');
      await s.apply(p('f'), [{ op: 'set', prop: prop('v', '1') }]);
      t.same((await otherStore.deadProps.get(p('f'))).map((x) => x.name), ['v'], 'dead properties are shared too');
    });

    t.test('grants raced from two store instances: exactly one exclusive lock', async (t) => {
      const { locks: one, second } = await open(t);
      const two = new LockManager((await second()).locks);
      for (let round = 0; round < 5; round++) {
        // Same resource from both sides, 10 requests each.
        const attempts = Array.from({ length: 20 }, (_, i) => outcome(() => (i % 2 ? one : two).lock(req(`/same${round}`, 'exclusive', '0'))));
        const results = await Promise.all(attempts);
        t.equal(results.filter((r) => r === 'ok').length, 1, `round ${round}: one grant for one resource`);
        t.equal(results.filter((r) => r === '423').length, 19, `round ${round}: 19 refusals`);
        // A depth-infinity lock on a folder against a lock on a member, started together.
        const [folder, member] = await Promise.all([
          outcome(() => one.lock(req(`/tree${round}`, 'exclusive', 'infinity'))),
          outcome(() => two.lock(req(`/tree${round}/deep/file`, 'exclusive', '0'))),
        ]);
        t.same([folder, member].filter((r) => r === 'ok').length, 1, `round ${round}: folder ${folder}, member ${member}: exactly one wins`);
        t.ok((folder === '207' && member === 'ok') || (folder === 'ok' && member === '423'), 'and the other is refused the right way');
      }
    });
  });
}
