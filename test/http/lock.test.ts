import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { childElements, parseXml, textOf, type XmlElement } from '../../src/xml/parse.js';
import {
  FakeClock, errorConditions, testMetadata, findProp, lockBody, lockTokenOf, multistatus, startServer, xmlShape, type Response, type TestServer,
} from '../helpers/server.js';

const dav = (el: XmlElement, local: string) => childElements(el).find((c) => c.ns === 'DAV:' && c.local === local);

interface ActiveLock {
  scope: string;
  type: string;
  depth: string;
  owner: XmlElement | undefined;
  timeout: string;
  token: string;
  root: string;
}

function activeLocks(lockdiscovery: XmlElement): ActiveLock[] {
  return childElements(lockdiscovery).map((a) => ({
    scope: childElements(dav(a, 'lockscope')!)[0]!.local,
    type: childElements(dav(a, 'locktype')!)[0]!.local,
    depth: textOf(dav(a, 'depth')!),
    owner: dav(a, 'owner'),
    timeout: textOf(dav(a, 'timeout')!),
    token: textOf(dav(dav(a, 'locktoken')!, 'href')!),
    root: textOf(dav(dav(a, 'lockroot')!, 'href')!),
  }));
}

/** The locks in a LOCK response body (DAV:prop/DAV:lockdiscovery). */
function lockReply(res: Response): ActiveLock[] {
  const prop = parseXml(res.body);
  if (prop.ns !== 'DAV:' || prop.local !== 'prop') throw new Error(`LOCK body is not DAV:prop: ${res.body}`);
  return activeLocks(dav(prop, 'lockdiscovery')!);
}

/** The locks PROPFIND reports for `url`. */
async function discover(s: TestServer, url: string): Promise<ActiveLock[]> {
  const res = await s.request('PROPFIND', url, { headers: { depth: '0' }, body: '<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>' });
  return activeLocks(findProp(multistatus(res.body)[0]!, 'DAV:', 'lockdiscovery')!.el);
}

async function setup(t: Test, overrides = {}, clock?: FakeClock): Promise<TestServer> {
  const s = await startServer(t, overrides, clock ? { clock } : {});
  mkdirSync(path.join(s.root, 'c', 'sub'), { recursive: true });
  writeFileSync(path.join(s.root, 'f.txt'), 'file');
  writeFileSync(path.join(s.root, 'c', 'm.txt'), 'member');
  writeFileSync(path.join(s.root, 'c', 'sub', 'deep.txt'), 'deep');
  return s;
}

const lock = (s: TestServer, url: string, headers: Record<string, string> = {}, body = lockBody()) => s.request('LOCK', url, { headers, body });

t.test('an exclusive lock: Lock-Token header and the lockdiscovery body', async (t) => {
  const s = await setup(t);
  const owner = '<D:href>http://www.apple.com/webdav_fs/</D:href>';
  const res = await lock(s, '/f.txt', { timeout: 'Second-600', depth: '0', 'content-type': 'text/xml; charset="utf-8"' }, lockBody('exclusive', owner));
  t.equal(res.status, 200);
  t.match(res.headers['content-type'], /xml/);
  const token = lockTokenOf(res);
  t.match(token, /^urn:uuid:[0-9a-f-]{36}$/);
  const [l, ...more] = lockReply(res);
  t.same(more, []);
  t.same({ scope: l!.scope, type: l!.type, depth: l!.depth, timeout: l!.timeout, token: l!.token, root: l!.root }, {
    scope: 'exclusive', type: 'write', depth: '0', timeout: 'Second-600', token, root: '/f.txt',
  });
  t.same(xmlShape(l!.owner!), xmlShape(parseXml(`<D:owner xmlns:D="DAV:">${owner}</D:owner>`)), 'owner kept');
  const found = await discover(s, '/f.txt');
  t.same(found.map((x) => [x.token, x.scope, x.root]), [[token, 'exclusive', '/f.txt']], 'PROPFIND shows the same lock');
});

t.test('owner XML is kept exactly; no owner means no owner element', async (t) => {
  const s = await setup(t);
  const owner = '<D:href>HOST\\user</D:href><x:info xmlns:x="urn:x" a="1" xml:lang="en">text &amp;amp; more <x:n/> 😀 &#65536;</x:info>  spaced  ';
  const res = await lock(s, '/f.txt', {}, lockBody('shared', owner));
  const l = lockReply(res)[0]!;
  t.same(xmlShape(l.owner!), xmlShape(parseXml(`<D:owner xmlns:D="DAV:">${owner}</D:owner>`)));
  const plain = await lock(s, '/c/m.txt', {}, lockBody('exclusive', 'davfs2 1.7'));
  t.same(lockReply(plain)[0]!.owner?.children, ['davfs2 1.7']);
  const none = await lock(s, '/c/sub/deep.txt', {}, lockBody('exclusive'));
  t.equal(lockReply(none)[0]!.owner, undefined);
});

t.test('Depth: infinity when absent, 0 or infinity allowed, 1 refused', async (t) => {
  const s = await setup(t);
  t.equal(lockReply(await lock(s, '/c'))[0]!.depth, 'infinity');
  const s2 = await setup(t);
  t.equal(lockReply(await lock(s2, '/c', { depth: '0' }))[0]!.depth, '0');
  t.equal((await lock(s2, '/c/sub', { depth: '1' })).status, 400);
  t.equal((await lock(s2, '/c/sub', { depth: 'many' })).status, 400);
});

t.test('Timeout: echoed, capped, defaulted', async (t) => {
  const s = await setup(t, { lockTimeoutDefault: 1800, lockTimeoutMax: 7200 });
  const timeoutOf = async (url: string, timeout?: string) => lockReply(await lock(s, url, timeout ? { timeout } : {}, lockBody('shared')))[0]!.timeout;
  t.equal(await timeoutOf('/f.txt', 'Second-600'), 'Second-600');
  t.equal(await timeoutOf('/f.txt', 'Infinite'), 'Second-7200', 'Infinite is capped');
  t.equal(await timeoutOf('/f.txt', 'Infinite, Second-4100000000'), 'Second-7200', 'litmus form');
  t.equal(await timeoutOf('/f.txt', 'Second-999999'), 'Second-7200');
  t.equal(await timeoutOf('/f.txt'), 'Second-1800', 'the default');
  t.equal(await timeoutOf('/f.txt', 'Second-30, Infinite'), 'Second-30');
});

t.test('shared locks stack; exclusive conflicts give 423 no-conflicting-lock naming the lock root', async (t) => {
  const s = await setup(t);
  const a = lockTokenOf(await lock(s, '/f.txt', {}, lockBody('shared')));
  const b = lockTokenOf(await lock(s, '/f.txt', {}, lockBody('shared')));
  t.not(a, b);
  t.same((await discover(s, '/f.txt')).map((l) => l.token).sort(), [a, b].sort());
  const conflict = await lock(s, '/f.txt', {}, lockBody('exclusive'));
  t.equal(conflict.status, 423);
  t.same(errorConditions(conflict.body), [{ name: 'no-conflicting-lock', hrefs: ['/f.txt'] }]);

  const coll = lockTokenOf(await lock(s, '/c', {}, lockBody('exclusive')));
  const inside = await lock(s, '/c/sub/deep.txt', {}, lockBody('shared'));
  t.equal(inside.status, 423, 'a member of an exclusively locked tree');
  const [cond] = errorConditions(inside.body);
  t.equal(cond!.name, 'no-conflicting-lock');
  t.match(cond!.hrefs[0], /^\/c\/?$/, 'names the lock root, not the request URI');
  t.same((await discover(s, '/c/sub/deep.txt')).map((l) => [l.token, l.root]), [[coll, '/c/']], 'members show the lock with its root');
});

t.test('a depth-infinity LOCK blocked by a member lock: 207 naming the member', async (t) => {
  const s = await setup(t);
  const member = lockTokenOf(await lock(s, '/c/sub/deep.txt', { depth: '0' }));
  const res = await lock(s, '/c', {}, lockBody('shared'));
  t.equal(res.status, 207);
  const responses = multistatus(res.body);
  const byHref = Object.fromEntries(responses.map((r) => [r.href, r.status]));
  t.equal(byHref['/c/sub/deep.txt'], 423);
  t.equal(responses.find((r) => r.href === '/c/sub/deep.txt')?.error?.local, 'no-conflicting-lock');
  t.ok(byHref['/c/'] === 424 || byHref['/c'] === 424, 'the request URI fails by dependency');
  t.equal(res.headers['lock-token'], undefined, 'no lock was granted');
  t.same(await discover(s, '/c'), []);
  t.equal((await lock(s, '/c', { depth: '0' }, lockBody('exclusive'))).status, 200, 'a depth-0 lock does not reach the member');
  const s2 = await setup(t);
  const m2 = lockTokenOf(await lock(s2, '/c/m.txt', {}, lockBody('shared')));
  t.equal((await lock(s2, '/c', {}, lockBody('shared'))).status, 200, 'shared over shared is fine');
  t.ok(m2 && member);
});

t.test('LOCK on an unmapped URL creates an empty file: 201', async (t) => {
  const s = await setup(t);
  const res = await lock(s, '/new.txt', { depth: '0' });
  t.equal(res.status, 201);
  const token = lockTokenOf(res);
  t.equal(statSync(path.join(s.root, 'new.txt')).size, 0);
  t.equal(lockReply(res)[0]!.root, '/new.txt');
  t.equal((await s.request('PUT', '/new.txt', { body: 'x' })).status, 423, 'it is locked');
  t.equal((await s.request('PUT', '/new.txt', { body: 'content', headers: { if: `(<${token}>)` } })).status, 204);
  t.equal(readFileSync(path.join(s.root, 'new.txt'), 'utf8'), 'content');
  const noParent = await lock(s, '/nope/new.txt');
  t.equal(noParent.status, 409);
  t.notOk(existsSync(path.join(s.root, 'nope')));
  mkdirSync(path.join(s.root, 'nope'));
  t.equal((await lock(s, '/nope/new.txt')).status, 201, 'the failed attempt left no lock behind');
});

t.test('LOCK with If-None-Match: * (davfs2): 201 for a new file, 412 for an existing one', async (t) => {
  const s = await setup(t);
  t.equal((await lock(s, '/f.txt', { 'if-none-match': '*' })).status, 412);
  t.same(await discover(s, '/f.txt'), []);
  t.equal((await lock(s, '/fresh.txt', { 'if-none-match': '*', depth: '0', timeout: 'Second-1800' })).status, 201);
});

// On PostgreSQL the database's clock decides expiry, not the injected one (test/contract/metadata.test.ts).
const fakeClockSkip = testMetadata() === 'postgres' ? 'lock expiry follows the database clock on PostgreSQL, not a fake one' : false;

t.test('refresh: an empty body with the token in If resets the timeout', { skip: fakeClockSkip }, async (t) => {
  const clock = new FakeClock();
  const s = await setup(t, {}, clock);
  const token = lockTokenOf(await lock(s, '/f.txt', { timeout: 'Second-60' }));
  clock.advance(50);
  t.equal((await discover(s, '/f.txt'))[0]!.timeout, 'Second-10');
  const refresh = await s.request('LOCK', '/f.txt', { headers: { if: `(<${token}>)`, timeout: 'Second-60', 'content-type': 'text/xml' } });
  t.equal(refresh.status, 200);
  const [l] = lockReply(refresh);
  t.equal(l!.token, token, 'the same lock');
  t.equal(l!.timeout, 'Second-60', 'the timeout is reset');
  clock.advance(50);
  t.equal((await s.request('PUT', '/f.txt', { body: 'x' })).status, 423, 'still locked 100 s after creation');
  clock.advance(11);
  t.equal((await s.request('PUT', '/f.txt', { body: 'x' })).status, 204, 'expired 61 s after the refresh');
  t.same(await discover(s, '/f.txt'), []);
  const late = await s.request('LOCK', '/f.txt', { headers: { if: `(<${token}>)` } });
  t.equal(late.status, 412, 'an expired lock cannot be refreshed');
});

t.test('refresh through a member of a depth-infinity lock (litmus indirect_refresh)', async (t) => {
  const s = await setup(t);
  const token = lockTokenOf(await lock(s, '/c', { timeout: 'Second-100' }));
  const res = await s.request('LOCK', '/c/sub/deep.txt', { headers: { if: `(<${token}>)`, timeout: 'Second-200' } });
  t.equal(res.status, 200);
  const [l] = lockReply(res);
  t.same([l!.token, l!.timeout, l!.root], [token, 'Second-200', '/c/']);
  t.equal((await s.request('LOCK', '/f.txt', { headers: { if: `(<${token}>)` } })).status, 412, 'not through a resource outside the lock');
  const tagged = await s.request('LOCK', '/c', { headers: { if: `</c/> (<${token}>)` } });
  t.equal(tagged.status, 200, 'a tagged If works as well');
});

t.test('a refresh without a usable token fails cleanly', async (t) => {
  const s = await setup(t);
  const noIf = await s.request('LOCK', '/f.txt');
  t.ok(noIf.status === 400 || noIf.status === 412, `no If header: ${noIf.status}`);
  const unknown = await s.request('LOCK', '/f.txt', { headers: { if: '(<urn:uuid:7f3e0f43-1c55-4b34-9a8c-0000deadbeef>)' } });
  t.equal(unknown.status, 412);
});

t.test('UNLOCK: with and without angle brackets; 409 for a URL the lock does not cover', async (t) => {
  const s = await setup(t);
  const a = lockTokenOf(await lock(s, '/f.txt'));
  const wrong = await s.request('UNLOCK', '/c/m.txt', { headers: { 'lock-token': `<${a}>` } });
  t.equal(wrong.status, 409);
  t.same(errorConditions(wrong.body).map((c) => c.name), ['lock-token-matches-request-uri']);
  t.equal((await s.request('UNLOCK', '/f.txt', { headers: { 'lock-token': `<${a}>` } })).status, 204);
  t.same(await discover(s, '/f.txt'), []);
  t.equal((await s.request('UNLOCK', '/f.txt', { headers: { 'lock-token': `<${a}>` } })).status, 409, 'twice');

  const b = lockTokenOf(await lock(s, '/f.txt'));
  t.equal((await s.request('UNLOCK', '/f.txt', { headers: { 'lock-token': b } })).status, 204, 'without brackets (Windows, npm webdav)');
  t.equal((await s.request('PUT', '/f.txt', { body: 'free' })).status, 204);

  const c = lockTokenOf(await lock(s, '/c'));
  t.equal((await s.request('UNLOCK', '/c/sub/deep.txt', { headers: { 'lock-token': `<${c}>` } })).status, 204, 'through a member of the locked tree');
  t.equal((await s.request('UNLOCK', '/f.txt')).status, 400, 'no Lock-Token header');
  t.equal((await s.request('UNLOCK', '/f.txt', { headers: { 'lock-token': '<urn:uuid:bogus>' } })).status, 409, 'an unknown token (litmus notowner_lock)');
  t.equal((await s.request('UNLOCK', '/missing', { headers: { 'lock-token': `<${c}>` } })).status, 404);
});

t.test('every write without the token: 423 lock-token-submitted naming the lock root', async (t) => {
  const s = await setup(t);
  writeFileSync(path.join(s.root, 'c', 'victim.txt'), 'v');
  const token = lockTokenOf(await lock(s, '/c'));
  const prop = '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z:a xmlns:z="urn:z">1</z:a></D:prop></D:set></D:propertyupdate>';
  const writes: [string, string, Record<string, string>, string?][] = [
    ['PUT', '/c/m.txt', {}, 'changed'],
    ['PUT', '/c/new.txt', {}, 'new'],
    ['DELETE', '/c/m.txt', {}],
    ['DELETE', '/c', {}],
    ['MKCOL', '/c/newdir', {}],
    ['PROPPATCH', '/c/m.txt', {}, prop],
    ['PROPPATCH', '/c', {}, prop],
    ['COPY', '/f.txt', { destination: '/c/m.txt' }],
    ['COPY', '/f.txt', { destination: '/c/copy.txt' }],
    ['MOVE', '/c/m.txt', { destination: '/moved.txt' }],
    ['MOVE', '/f.txt', { destination: '/c/m.txt' }],
    ['MOVE', '/c', { destination: '/elsewhere' }],
  ];
  for (const [method, url, headers, body] of writes) {
    const res = await s.request(method, url, { headers, ...(body ? { body } : {}) });
    t.equal(res.status, 423, `${method} ${url} ${JSON.stringify(headers)}`);
    const [cond] = errorConditions(res.body);
    t.equal(cond?.name, 'lock-token-submitted');
    t.match(cond?.hrefs[0], /^\/c\/?$/, 'names the lock root');
  }
  t.equal(readFileSync(path.join(s.root, 'c', 'm.txt'), 'utf8'), 'member', 'nothing changed');
  t.notOk(existsSync(path.join(s.root, 'c', 'new.txt')));
  t.ok(existsSync(path.join(s.root, 'f.txt')));
  const exclusive = await lock(s, '/c/m.txt', {}, lockBody('exclusive'));
  t.equal(exclusive.status, 423, 'LOCK of a member');
  t.equal(errorConditions(exclusive.body)[0]?.name, 'no-conflicting-lock');
  // With the token, every one of them goes through.
  const ifh = { if: `(<${token}>)` };
  t.equal((await s.request('PUT', '/c/m.txt', { headers: ifh, body: 'changed' })).status, 204);
  t.equal((await s.request('PROPPATCH', '/c/m.txt', { headers: ifh, body: prop })).status, 207);
  t.equal((await s.request('MKCOL', '/c/newdir', { headers: ifh })).status, 201);
  t.equal((await s.request('COPY', '/f.txt', { headers: { destination: '/c/copy.txt', if: `</c> (<${token}>)` } })).status, 201);
  t.equal((await s.request('DELETE', '/c/m.txt', { headers: { if: `</c/m.txt> (<${token}>)` } })).status, 204);
});

t.test('the If header: false → 412, malformed → 400, unknown tokens never crash', async (t) => {
  const s = await setup(t);
  const token = lockTokenOf(await lock(s, '/f.txt'));
  const etag = String((await s.request('HEAD', '/f.txt')).headers['etag']);
  const put = (ifh: string) => s.request('PUT', '/f.txt', { headers: { if: ifh }, body: 'x' });
  t.equal((await put(`(<${token}> [${etag}])`)).status, 204, 'litmus cond_put: token and current ETag');
  const etag2 = String((await s.request('HEAD', '/f.txt')).headers['etag']);
  t.equal((await put(`(<${token}> ["wrong"])`)).status, 412, 'right token, wrong ETag');
  t.equal((await put(`(<DAV:no-lock> [${etag2}])`)).status, 412, 'litmus fail_cond_put');
  t.equal((await put(`(<${token}>) (Not <DAV:no-lock>)`)).status, 204, 'litmus cond_put_with_not');
  t.equal((await put('(<urn:uuid:00000000-1111-4222-8333-444444444444>) (Not <DAV:no-lock>)')).status, 423, 'litmus cond_put_corrupt_token: the If holds, the lock is not submitted');
  t.equal((await put(`(Not <${token}>)`)).status, 412);
  t.equal((await put(`<${s.origin}/f.txt> (<${token}>)`)).status, 204, 'tagged with the absolute URI');
  t.equal((await put(`</f.txt> (<${token}>)`)).status, 204, 'tagged with the absolute path');
  t.equal((await put(`<http://other.invalid/f.txt> (<${token}>)`)).status, 412, 'a tag on another server matches nothing');
  t.equal((await put('(<urn:uuid:unknown>)')).status, 412, 'unknown token: false');
  t.equal((await put('(<not a uri>)')).status, 400);
  t.equal((await put('(<urn:x>')).status, 400);
  t.equal((await put('garbage')).status, 400);
  t.equal((await put('(<urn:a>) </x> (<urn:b>)')).status, 400, 'mixed tagged and untagged');
  const huge = (await put(`(<${'x'.repeat(20_000)}>)`)).status;
  t.ok(huge === 400 || huge === 431, `huge: ${huge}`);
  t.equal((await s.request('GET', '/f.txt', { headers: { if: '(["nope"])' } })).status, 412, 'GET honours If too');
  t.equal((await s.request('GET', '/f.txt', { headers: { if: `([${String((await s.request('HEAD', '/f.txt')).headers['etag'])}])` } })).status, 200);
  t.equal((await s.request('OPTIONS', '/f.txt')).status, 200, 'the server is alive');
});

t.test('locks are consistent under concurrent requests', async (t) => {
  const s = await setup(t);
  const results = await Promise.all(Array.from({ length: 20 }, () => lock(s, '/race.txt', { depth: '0' }, lockBody('exclusive'))));
  const granted = results.filter((r) => r.status === 200 || r.status === 201);
  t.equal(granted.length, 1, 'exactly one exclusive lock is granted');
  t.equal(results.filter((r) => r.status === 423).length, 19, 'the others get 423');
  t.same((await discover(s, '/race.txt')).map((l) => l.token), [lockTokenOf(granted[0]!)]);
  const shared = await Promise.all(Array.from({ length: 10 }, () => lock(s, '/f.txt', {}, lockBody('shared'))));
  t.same(shared.map((r) => r.status), Array(10).fill(200));
  t.equal((await discover(s, '/f.txt')).length, 10);
});

t.test('with locking off: DAV: 1, LOCK and UNLOCK 405, empty supportedlock', async (t) => {
  const s = await setup(t, { locking: false });
  t.equal((await s.request('OPTIONS', '/f.txt')).headers['dav'], '1');
  const l = await lock(s, '/f.txt');
  t.equal(l.status, 405);
  t.notMatch(String(l.headers['allow']), /LOCK/);
  t.equal((await s.request('UNLOCK', '/f.txt', { headers: { 'lock-token': '<urn:uuid:x>' } })).status, 405);
  t.notOk(existsSync(path.join(s.root, 'never.txt')));
  t.equal((await lock(s, '/never.txt')).status, 405);
  t.notOk(existsSync(path.join(s.root, 'never.txt')), 'no empty file either');
  t.equal((await s.request('PUT', '/f.txt', { body: 'x' })).status, 204);
});
