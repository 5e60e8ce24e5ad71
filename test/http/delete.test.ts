import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { errorConditions, lockBody, lockTokenOf, multistatus, startServer, type TestServer } from '../helpers/server.js';

const setProp = (value: string) =>
  `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:tag xmlns:z="urn:z">${value}</z:tag></D:prop></D:set></D:propertyupdate>`;
const getProp = '<D:propfind xmlns:D="DAV:"><D:prop><z:tag xmlns:z="urn:z"/></D:prop></D:propfind>';

async function tagOf(s: TestServer, url: string): Promise<string | null> {
  const res = await s.request('PROPFIND', url, { headers: { depth: '0' }, body: getProp });
  const m = /<z:tag[^>]*>([^<]*)<\/z:tag>/.exec(res.body);
  return m ? m[1]! : null;
}

/** /c/{a.txt, locked.txt, sub/{x.txt, deeper/y.txt}} plus a sibling /cc.txt */
async function tree(t: Test): Promise<TestServer> {
  const s = await startServer(t);
  mkdirSync(path.join(s.root, 'c', 'sub', 'deeper'), { recursive: true });
  for (const f of ['c/a.txt', 'c/locked.txt', 'c/sub/x.txt', 'c/sub/deeper/y.txt', 'cc.txt']) writeFileSync(path.join(s.root, f), f);
  return s;
}

t.test('DELETE a file: 204, then 404', async (t) => {
  const s = await tree(t);
  t.equal((await s.request('DELETE', '/cc.txt')).status, 204);
  t.notOk(existsSync(path.join(s.root, 'cc.txt')));
  t.equal((await s.request('DELETE', '/cc.txt')).status, 404);
  t.equal((await s.request('DELETE', '/never')).status, 404);
});

t.test('DELETE a whole tree, its dead properties and locks', async (t) => {
  const s = await tree(t);
  await s.request('PROPPATCH', '/c/sub/x.txt', { body: setProp('x') });
  await s.request('PROPPATCH', '/c', { body: setProp('c') });
  await s.request('PROPPATCH', '/cc.txt', { body: setProp('sibling') });
  const lock = await s.request('LOCK', '/c/sub/x.txt', { body: lockBody() });
  const token = lockTokenOf(lock);
  // RFC 4918 §10.4.3: an untagged list applies to the request URI, which this lock does not cover.
  t.equal((await s.request('DELETE', '/c', { headers: { if: `(<${token}>)` } })).status, 412);
  t.ok(existsSync(path.join(s.root, 'c', 'sub', 'x.txt')));
  t.equal((await s.request('DELETE', '/c', { headers: { if: `</c/sub/x.txt> (<${token}>)` } })).status, 204, 'tagged with the member URL');
  t.notOk(existsSync(path.join(s.root, 'c')));
  t.ok(existsSync(path.join(s.root, 'cc.txt')), 'a sibling sharing the prefix stays');
  t.equal(await tagOf(s, '/cc.txt'), 'sibling', 'and keeps its properties');
  // Recreate the same names: nothing of the old resources may come back.
  t.equal((await s.request('MKCOL', '/c')).status, 201);
  t.equal((await s.request('MKCOL', '/c/sub')).status, 201);
  t.equal((await s.request('PUT', '/c/sub/x.txt', { body: 'new' })).status, 201, 'the lock went with the file');
  t.equal(await tagOf(s, '/c'), null, 'dead properties went with the tree');
  t.equal(await tagOf(s, '/c/sub/x.txt'), null);
});

t.test('DELETE the trailing-slash form of a collection', async (t) => {
  const s = await tree(t);
  t.equal((await s.request('DELETE', '/c/sub/')).status, 204);
  t.notOk(existsSync(path.join(s.root, 'c', 'sub')));
});

t.test('Depth on DELETE of a collection must be infinity', async (t) => {
  const s = await tree(t);
  t.equal((await s.request('DELETE', '/c', { headers: { depth: '0' } })).status, 400);
  t.equal((await s.request('DELETE', '/c', { headers: { depth: '1' } })).status, 400);
  t.ok(existsSync(path.join(s.root, 'c', 'a.txt')), 'nothing deleted');
  t.equal((await s.request('DELETE', '/c', { headers: { depth: 'infinity' } })).status, 204);
});

t.test('the root collection cannot be deleted', async (t) => {
  const s = await tree(t);
  t.equal((await s.request('DELETE', '/')).status, 403);
  t.ok(existsSync(path.join(s.root, 'cc.txt')));
});

t.test('a locked member is reported in a 207 and kept with its ancestors; the rest goes', async (t) => {
  const s = await tree(t);
  await s.request('PROPPATCH', '/c/locked.txt', { body: setProp('keep me') });
  await s.request('PROPPATCH', '/c/a.txt', { body: setProp('drop me') });
  const lock = await s.request('LOCK', '/c/locked.txt', { body: lockBody(), headers: { depth: '0' } });
  t.equal(lock.status, 200);
  const token = lockTokenOf(lock);

  const res = await s.request('DELETE', '/c');
  t.equal(res.status, 207);
  const responses = multistatus(res.body);
  t.same(responses.map((r) => [r.href, r.status]), [['/c/locked.txt', 423]], 'only the locked member is reported');
  t.equal(responses[0]!.error?.local, 'lock-token-submitted');

  t.ok(existsSync(path.join(s.root, 'c', 'locked.txt')), 'the locked member stays');
  t.ok(existsSync(path.join(s.root, 'c')), 'its ancestor stays');
  t.notOk(existsSync(path.join(s.root, 'c', 'a.txt')), 'unlocked members are deleted');
  t.notOk(existsSync(path.join(s.root, 'c', 'sub')), 'unlocked subtrees too');
  t.equal(await tagOf(s, '/c/locked.txt'), 'keep me', 'the kept member keeps its properties');
  t.equal((await s.request('PUT', '/c/locked.txt', { body: 'x' })).status, 423, 'and its lock');
  t.equal((await s.request('PUT', '/c/a.txt', { body: 'x' })).status, 201);
  t.equal(await tagOf(s, '/c/a.txt'), null, 'the deleted member lost its properties');

  t.equal((await s.request('DELETE', '/c', { headers: { if: `<${s.origin}/c/locked.txt> (<${token}>)` } })).status, 204, 'with the token the tree goes');
  t.notOk(existsSync(path.join(s.root, 'c')));
});

t.test('DELETE of a locked file needs its token; the untagged form Windows sends works', async (t) => {
  const s = await tree(t);
  const token = lockTokenOf(await s.request('LOCK', '/cc.txt', { body: lockBody() }));
  const refused = await s.request('DELETE', '/cc.txt');
  t.equal(refused.status, 423);
  t.same(errorConditions(refused.body), [{ name: 'lock-token-submitted', hrefs: ['/cc.txt'] }]);
  t.equal((await s.request('DELETE', '/cc.txt', { headers: { if: '(<urn:uuid:00000000-0000-4000-8000-000000000000>)' } })).status, 412, 'an unknown token makes the If header false');
  t.equal((await s.request('DELETE', '/cc.txt', { headers: { if: `(<${token}>)` } })).status, 204);
  t.equal((await s.request('PUT', '/cc.txt', { body: 'again' })).status, 201, 'the lock is gone with the file');
});

t.test('removing a member of a locked collection needs the collection token', async (t) => {
  const s = await tree(t);
  const token = lockTokenOf(await s.request('LOCK', '/c', { body: lockBody(), headers: { depth: '0' } }));
  const res = await s.request('DELETE', '/c/a.txt');
  t.equal(res.status, 423);
  t.same(errorConditions(res.body), [{ name: 'lock-token-submitted', hrefs: ['/c/'] }], 'names the lock root (a collection, with its slash)');
  t.equal((await s.request('DELETE', '/c/a.txt', { headers: { if: `</c> (<${token}>)` } })).status, 204, 'a tagged list for the collection');
});

/**
 * Makes `file` impossible to delete (immutable as root, a read-only parent otherwise); returns
 * an undo function, or null when this machine cannot (e.g. a filesystem without attributes).
 */
function pinFile(file: string): (() => void) | null {
  const parent = path.dirname(file);
  if (process.getuid?.() === 0) {
    const r = spawnSync('chattr', ['+i', file]);
    if (r.status !== 0) return null;
    return () => void spawnSync('chattr', ['-i', file]);
  }
  chmodSync(parent, 0o555);
  return () => chmodSync(parent, 0o755);
}

t.test('a member the filesystem refuses to delete is reported with its own status', async (t) => {
  const s = await tree(t);
  const stuck = path.join(s.root, 'c', 'sub', 'deeper', 'y.txt');
  const undo = pinFile(stuck);
  if (!undo) {
    t.plan(0, 'cannot make a file undeletable on this filesystem');
    return;
  }
  t.teardown(undo);
  const res = await s.request('DELETE', '/c');
  t.equal(res.status, 207);
  const responses = multistatus(res.body);
  t.same(responses.map((r) => [r.href, r.status]), [['/c/sub/deeper/y.txt', 403]], 'only the member that failed, not its ancestors');
  t.ok(existsSync(stuck), 'it is still there');
  t.ok(existsSync(path.join(s.root, 'c', 'sub', 'deeper')), 'with its ancestors');
  t.notOk(existsSync(path.join(s.root, 'c', 'a.txt')), 'everything else is gone');
  t.notOk(existsSync(path.join(s.root, 'c', 'sub', 'x.txt')));
  t.equal((await s.request('OPTIONS', '/')).status, 200);
});
