import t from 'tap';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { rawRequest, startServer, tempDir } from '../helpers/server.js';
import { missingPrerequisites, run } from '../clients/client-kit.js';

const enc = (name: string): string => `/${encodeURIComponent(name)}`;

const unescapeXml = (s: string): string =>
  s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e]!);

/** The decoded member names of a Depth 1 PROPFIND of the root (the root itself left out). */
function memberNames(body: string): string[] {
  t.equal(XMLValidator.validate(body), true, 'the multistatus is well-formed XML');
  const hrefs = [...body.matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => unescapeXml(m[1]!));
  return hrefs.filter((h) => h !== '/').map((h) => decodeURIComponent(h.slice(1).replace(/\/$/, '')));
}

t.test('NFC and NFD names are two resources, each kept as sent', async (t) => {
  const s = await startServer(t);
  const nfc = 'caf\u00e9.txt';
  const nfd = 'cafe\u0301.txt';
  t.equal((await s.request('PUT', enc(nfc), { body: 'composed' })).status, 201);
  t.equal((await s.request('PUT', enc(nfd), { body: 'decomposed' })).status, 201);
  t.equal((await s.request('GET', enc(nfc))).body, 'composed');
  t.equal((await s.request('GET', enc(nfd))).body, 'decomposed');
  t.same(readdirSync(s.root).filter((n) => !n.startsWith('.')).sort(), [nfd, nfc].sort(), 'the disk holds both byte sequences');
  const listed = memberNames((await s.request('PROPFIND', '/', { headers: { depth: '1' } })).body);
  t.same(listed.sort(), [nfc, nfd].sort(), 'hrefs carry each name as sent');
});

t.test('reserved URL characters and case-sensitive names round-trip', async (t) => {
  const s = await startServer(t);
  const names = [
    'a b.txt', '100%.txt', 'hash#tag', 'q?x=1&y=2', 'plus+semi;colon:', 'at@dollar$comma,', "quote'bang!(paren)*star",
    '[brackets]', 'equals=', 'tilde~', '"dq"<lt>gt', 'Readme.txt', 'README.txt', 'readme.txt', '日本語', '😀 emoji', 'tab\tname',
  ];
  for (const name of names) {
    const res = await s.request('PUT', enc(name), { body: `content of ${name}` });
    t.equal(res.status, 201, `PUT ${JSON.stringify(name)}`);
  }
  for (const name of names) {
    t.equal((await s.request('GET', enc(name))).body, `content of ${name}`, `GET ${JSON.stringify(name)}`);
    t.equal(readFileSync(path.join(s.root, name), 'utf8'), `content of ${name}`, `on disk as ${JSON.stringify(name)}`);
  }
  const listed = memberNames((await s.request('PROPFIND', '/', { headers: { depth: '1' } })).body);
  t.same(listed.sort(), [...names].sort(), 'the listing names every one exactly once');

  const moved = await s.request('MOVE', enc('100%.txt'), { headers: { destination: `${s.origin}${enc('#50% & more;')}` } });
  t.equal(moved.status, 201, 'a Destination with encoded reserved characters');
  t.equal((await s.request('GET', enc('#50% & more;'))).body, 'content of 100%.txt');
});

t.test('names up to 255 bytes work; longer ones are refused', async (t) => {
  const s = await startServer(t);
  const name255 = `${'é'.repeat(124)}${'x'.repeat(7)}`; // 248 + 7 = 255 bytes, ext4's limit
  const longest = `${name255}z`;
  t.equal(Buffer.byteLength(name255), 255);
  t.ok(Buffer.byteLength(longest) > 255);
  const res = await s.request('PUT', enc(name255), { body: 'long' });
  t.equal(res.status, 201, 'a 255-byte name is stored (the upload temp name is short)');
  t.equal((await s.request('GET', enc(name255))).body, 'long');
  const other255 = `${'ü'.repeat(124)}${'y'.repeat(7)}`;
  t.equal((await s.request('COPY', enc(name255), { headers: { destination: enc(other255) } })).status, 201, 'COPY to a 255-byte name');
  t.equal((await s.request('MKCOL', enc(`${'d'.repeat(255)}`))).status, 201, 'MKCOL of a 255-byte name');
  const listed = memberNames((await s.request('PROPFIND', '/', { headers: { depth: '1' } })).body);
  t.ok(listed.includes(name255) && listed.includes(other255), 'both listed');

  const tooLong = await s.request('PUT', enc(longest), { body: 'x' });
  t.equal(tooLong.status, 414, 'a name over the filesystem limit is refused');
  t.same(readdirSync(s.root).filter((n) => n.startsWith('.fastdav-part-')), [], 'no temporary upload left behind');
});

t.test('a 10,000-entry listing is complete and correct', async (t) => {
  const s = await startServer(t);
  const expected: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const name = `${i % 7 === 0 ? 'é & <' : 'file'}-${String(i).padStart(5, '0')}${i % 1000 === 0 ? ' 日本' : ''}.txt`;
    writeFileSync(path.join(s.root, name), String(i));
    expected.push(name);
  }
  const res = await s.request('PROPFIND', '/', {
    headers: { depth: '1', 'content-type': 'application/xml' },
    body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/><D:resourcetype/></D:prop></D:propfind>',
  });
  t.equal(res.status, 207);
  const listed = memberNames(res.body);
  t.equal(listed.length, 10_000, 'one response per member');
  t.same(listed.sort(), expected.sort(), 'every name exactly once');
  const parsed = new XMLParser({ removeNSPrefix: true, parseTagValue: false }).parse(res.body) as {
    multistatus: { response: { href: string; propstat: { prop: { getcontentlength?: string } } }[] };
  };
  const bad = parsed.multistatus.response.filter((r) => r.href !== '/').filter((r) => {
    const name = decodeURIComponent(r.href.slice(1));
    return r.propstat.prop.getcontentlength !== String(Buffer.byteLength(String(Number(name.match(/-(\d{5})/)![1]))));
  });
  t.equal(bad.length, 0, 'each getcontentlength is that file’s size');
});

t.test('a backslash is an ordinary character of a name (issue 11 item 18)', async (t) => {
  const s = await startServer(t);
  const name = 'back\\slash.txt';
  const folder = 'dir\\with\\backslashes';
  t.equal((await s.request('PUT', enc(name), { body: 'one' })).status, 201, 'PUT with %5C');
  t.equal((await s.request('GET', enc(name))).body, 'one', 'GET');
  t.equal(readFileSync(path.join(s.root, name), 'utf8'), 'one', 'one file on disk, named with its backslash');
  t.equal((await s.request('MKCOL', enc(folder))).status, 201, 'MKCOL');
  t.equal((await s.request('COPY', enc(name), { headers: { destination: `${enc(folder)}/${encodeURIComponent('copy\\of.txt')}` } })).status, 201, 'COPY');
  t.equal((await s.request('MOVE', enc(name), { headers: { destination: enc('moved\\here.txt') } })).status, 201, 'MOVE');
  const pf = await s.request('PROPFIND', '/', { headers: { depth: 'infinity' } });
  const hrefs = [...pf.body.matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => m[1]!).sort();
  t.same(hrefs, ['/', '/dir%5Cwith%5Cbackslashes/', '/dir%5Cwith%5Cbackslashes/copy%5Cof.txt', '/moved%5Chere.txt'], 'listed, the backslash percent-encoded');
  t.same(readdirSync(s.root).filter((n) => !n.startsWith('.')).sort(), [folder, 'moved\\here.txt'].sort());
  const literal = await rawRequest(s.port, `GET /moved\\here.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  t.equal(literal.status, 200, 'an unencoded backslash in the request target names the same file');
  t.equal(literal.body, 'one');
  t.equal((await s.request('GET', '/..%5c..%5cetc%5cpasswd')).status, 404, 'dots beside a backslash are part of one name, which is not there');
  t.equal((await s.request('DELETE', enc(folder))).status, 204, 'DELETE');
});

t.test('rclone sync of a folder holding names with backslashes (issue 11 item 18)', { skip: missingPrerequisites(t, { tools: ['rclone'] }) }, async (t) => {
  const s = await startServer(t);
  const work = tempDir(t, 'fastdav-rclone-bs-');
  const local = path.join(work, 'local');
  mkdirSync(path.join(local, 'sub\\dir'), { recursive: true });
  writeFileSync(path.join(local, 'a\\b.txt'), 'backslash file');
  writeFileSync(path.join(local, 'sub\\dir', 'c\\\\d.txt'), 'two backslashes');
  writeFileSync(path.join(local, 'plain.txt'), 'plain');
  writeFileSync(path.join(work, 'rclone.conf'), '');
  const env = {
    ...process.env,
    HOME: work,
    RCLONE_CONFIG: path.join(work, 'rclone.conf'),
    RCLONE_CONFIG_FASTDAV_TYPE: 'webdav',
    RCLONE_CONFIG_FASTDAV_URL: `${s.origin}/`,
    RCLONE_CONFIG_FASTDAV_VENDOR: 'other',
  };
  const sync = await run('rclone', ['sync', local, 'fastdav:tree'], { env, timeout: 60_000 });
  t.equal(sync.code, 0, `rclone sync succeeds\n${sync.stdout}${sync.stderr}`);
  t.equal(readFileSync(path.join(s.root, 'tree', 'a\\b.txt'), 'utf8'), 'backslash file');
  t.equal(readFileSync(path.join(s.root, 'tree', 'sub\\dir', 'c\\\\d.txt'), 'utf8'), 'two backslashes');
  const check = await run('rclone', ['check', local, 'fastdav:tree'], { env, timeout: 60_000 });
  t.equal(check.code, 0, `rclone check finds no difference\n${check.stdout}${check.stderr}`);
});
