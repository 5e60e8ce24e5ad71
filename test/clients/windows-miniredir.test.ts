/**
 * Replays of the Windows Mini-Redirector (WebClient) as it talks on the wire: exact request
 * lines and headers (../shared/design/CLIENT-QUIRKS.md §1), each step's status checked, then
 * what the server stored (on disk, or through HTTP in object-storage mode) and the properties.
 */
import t, { type Test } from 'tap';
import { findProp, multistatus, propText, rawRequest, responseFor, type RawResponse } from '../helpers/server.js';
import { clientTarget, isStored, portOf, storedTree, type ClientTarget } from './client-kit.js';

const UA = 'Microsoft-WebDAV-MiniRedir/10.0.19045';
const Z = 'urn:schemas-microsoft-com:';

/** One request as Windows sends it: its headers in its order, Host last, a Content-Length for every body. */
function windows(s: ClientTarget, method: string, url: string, headers: string[], body = ''): Promise<RawResponse> {
  const lines = [`${method} ${url} HTTP/1.1`, ...headers];
  if (!headers.some((h) => /^content-length:/i.test(h))) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  lines.push(`Host: 127.0.0.1:${portOf(s)}`);
  return rawRequest(portOf(s), `${lines.join('\r\n')}\r\n\r\n${body}`);
}

const LOCK_BODY = `<?xml version="1.0" encoding="utf-8" ?>
<D:lockinfo xmlns:D="DAV:">
  <D:lockscope><D:exclusive/></D:lockscope>
  <D:locktype><D:write/></D:locktype>
  <D:owner><D:href>DESKTOP-7Q2K\\alice</D:href></D:owner>
</D:lockinfo>`;

const win32Props = (created: string, modified: string, attributes: string) => `<?xml version="1.0" encoding="utf-8" ?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:">
  <D:set><D:prop>
    <Z:Win32CreationTime>${created}</Z:Win32CreationTime>
    <Z:Win32LastAccessTime>${modified}</Z:Win32LastAccessTime>
    <Z:Win32LastModifiedTime>${modified}</Z:Win32LastModifiedTime>
    <Z:Win32FileAttributes>${attributes}</Z:Win32FileAttributes>
  </D:prop></D:set>
</D:propertyupdate>`;

/** [name, status] of every property in a PROPPATCH answer. */
function proppatchResults(res: RawResponse): [string, number][] {
  return multistatus(res.body)[0]!.propstats.flatMap((ps) => ps.props.map((p) => [p.local, ps.status] as [string, number]));
}

async function lockFile(t: Test, s: ClientTarget, url: string): Promise<string> {
  const res = await windows(s, 'LOCK', url, ['Cache-Control: no-cache', 'Connection: Keep-Alive', 'Pragma: no-cache', 'Content-Type: text/xml; charset="utf-8"', `User-Agent: ${UA}`, 'Timeout: Second-3600', 'translate: f'], LOCK_BODY);
  t.ok(res.status === 200 || res.status === 201, `LOCK ${url}: ${res.status}`);
  const m = /^<(urn:uuid:[^>]+)>$/.exec(res.headers['lock-token'] ?? '');
  if (!m) throw new Error(`no Lock-Token: ${JSON.stringify(res.headers)}`);
  return m[1]!;
}

t.test('mount handshake: OPTIONS / then PROPFIND / with an empty body', async (t) => {
  const s = await clientTarget(t);
  const options = await windows(s, 'OPTIONS', '/', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f'], '');
  t.equal(options.status, 200);
  t.equal(options.headers['dav'], '1, 2');
  t.equal(options.headers['ms-author-via'], 'DAV');
  const propfind = await windows(s, 'PROPFIND', '/', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'Depth: 0', 'translate: f', 'Content-Length: 0']);
  t.equal(propfind.status, 207);
  const root = multistatus(propfind.body)[0]!;
  t.equal(root.href, '/');
  t.ok(findProp(root, 'DAV:', 'resourcetype'), 'allprop for an empty body');
  t.ok(findProp(root, 'DAV:', 'getlastmodified'));
});

t.test('new file: PROPFIND 404 → PUT 0 bytes → LOCK → PROPPATCH Win32* → HEAD → PUT → PROPPATCH → UNLOCK', async (t) => {
  const s = await clientTarget(t);
  const url = '/Neues%20Textdokument%20%C3%BC.txt';
  const onDisk = 'Neues Textdokument ü.txt';
  const content = 'Hallo Welt\r\nzweite Zeile\r\n';

  const probe = await windows(s, 'PROPFIND', url, ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'Depth: 0', 'translate: f', 'Content-Length: 0']);
  t.equal(probe.status, 404, '1. PROPFIND: not there yet');

  const create = await windows(s, 'PUT', url, ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f', 'Content-Length: 0']);
  t.equal(create.status, 201, '2. PUT 0 bytes creates the file');
  t.equal((await storedTree(s).readFile(onDisk)).length, 0);

  const token = await lockFile(t, s, url);
  t.pass('3. LOCK');

  const pp1 = await windows(s, 'PROPPATCH', url, ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'Content-Type: text/xml; charset="utf-8"', `If: (<${token}>)`, 'translate: f'],
    win32Props('Sat, 16 Feb 2019 18:24:58 GMT', 'Sat, 16 Feb 2019 18:24:58 GMT', '00000020'));
  t.equal(pp1.status, 207, '4. PROPPATCH Win32* with If: (<token>)');
  t.same(proppatchResults(pp1), [['Win32CreationTime', 200], ['Win32LastAccessTime', 200], ['Win32LastModifiedTime', 200], ['Win32FileAttributes', 200]]);

  const head = await windows(s, 'HEAD', url, ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f']);
  t.equal(head.status, 200, '5. HEAD');
  t.equal(head.headers['content-length'], '0');

  const put = await windows(s, 'PUT', url, ['Connection: Keep-Alive', `User-Agent: ${UA}`, `If: (<${token}>)`, 'translate: f', `Content-Length: ${Buffer.byteLength(content)}`], content);
  t.equal(put.status, 204, '6. PUT the content with the token');

  const pp2 = await windows(s, 'PROPPATCH', url, ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'Content-Type: text/xml; charset="utf-8"', `If: (<${token}>)`, 'translate: f'],
    win32Props('Sat, 16 Feb 2019 18:24:58 GMT', 'Mon, 18 Feb 2019 09:00:01 GMT', '00000020'));
  t.equal(pp2.status, 207, '7. PROPPATCH again');
  t.ok(proppatchResults(pp2).every(([, status]) => status === 200));

  const unlock = await windows(s, 'UNLOCK', url, ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f', `Lock-Token: <${token}>`, 'Content-Length: 0']);
  t.equal(unlock.status, 204, '8. UNLOCK');

  // What is left: the content on disk, the Win32 properties Windows reads back, no lock.
  t.equal(String(await storedTree(s).readFile(onDisk)), content);
  const listing = await windows(s, 'PROPFIND', '/', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'Depth: 1', 'translate: f', 'Content-Length: 0']);
  t.equal(listing.status, 207);
  const file = responseFor(multistatus(listing.body), url);
  t.equal(propText(file, Z, 'Win32CreationTime'), 'Sat, 16 Feb 2019 18:24:58 GMT');
  t.equal(propText(file, Z, 'Win32LastModifiedTime'), 'Mon, 18 Feb 2019 09:00:01 GMT', 'the second PROPPATCH won');
  t.equal(propText(file, Z, 'Win32FileAttributes'), '00000020');
  t.equal(propText(file, 'DAV:', 'getcontentlength'), String(Buffer.byteLength(content)));
  t.same(findProp(file, 'DAV:', 'lockdiscovery')?.el.children, [], 'unlocked');
  const after = await windows(s, 'PUT', url, ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f', 'Content-Length: 1'], 'x');
  t.equal(after.status, 204, 'writable without a token again');
});

t.test('UNLOCK without angle brackets', async (t) => {
  const s = await clientTarget(t);
  await windows(s, 'PUT', '/doc.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f'], 'text');
  const token = await lockFile(t, s, '/doc.txt');
  t.equal((await windows(s, 'PUT', '/doc.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f'], 'no token')).status, 423);
  const unlock = await windows(s, 'UNLOCK', '/doc.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f', `Lock-Token: ${token}`, 'Content-Length: 0']);
  t.equal(unlock.status, 204);
  t.equal((await windows(s, 'PUT', '/doc.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f'], 'free')).status, 204);
  t.equal(String(await storedTree(s).readFile('doc.txt')), 'free');
});

t.test('new folder: MKCOL then PROPPATCH', async (t) => {
  const s = await clientTarget(t);
  const mkcol = await windows(s, 'MKCOL', '/Neuer%20Ordner', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f', 'Content-Length: 0']);
  t.equal(mkcol.status, 201);
  t.ok((await storedTree(s).stat('Neuer Ordner')).isDirectory());
  const pp = await windows(s, 'PROPPATCH', '/Neuer%20Ordner', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'Content-Type: text/xml; charset="utf-8"', 'translate: f'],
    win32Props('Tue, 02 Jan 2024 10:00:00 GMT', 'Tue, 02 Jan 2024 10:00:00 GMT', '00000010'));
  t.equal(pp.status, 207);
  t.ok(proppatchResults(pp).every(([, status]) => status === 200));
  const listing = await windows(s, 'PROPFIND', '/', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'Depth: 1', 'translate: f', 'Content-Length: 0']);
  const folder = responseFor(multistatus(listing.body), '/Neuer%20Ordner/');
  t.ok(findProp(folder, 'DAV:', 'resourcetype')?.el.children.some((c) => typeof c !== 'string' && c.local === 'collection'));
  t.equal(propText(folder, Z, 'Win32FileAttributes'), '00000010');
});

t.test('rename: MOVE with an absolute Destination and Overwrite: F', async (t) => {
  const s = await clientTarget(t);
  await windows(s, 'PUT', '/draft.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f'], 'draft');
  await windows(s, 'PUT', '/taken.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f'], 'taken');
  await windows(s, 'PROPPATCH', '/draft.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'Content-Type: text/xml; charset="utf-8"', 'translate: f'],
    win32Props('Wed, 03 Jan 2024 08:00:00 GMT', 'Wed, 03 Jan 2024 08:00:00 GMT', '00000020'));
  const move = (dest: string) => windows(s, 'MOVE', '/draft.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, `Destination: http://127.0.0.1:${portOf(s)}${dest}`, 'Overwrite: F', 'translate: f', 'Content-Length: 0']);
  t.equal((await move('/taken.txt')).status, 412, 'onto an existing name with Overwrite: F');
  t.equal(String(await storedTree(s).readFile('taken.txt')), 'taken');
  t.equal((await move('/final%20name.txt')).status, 201);
  t.notOk(await isStored(s, 'draft.txt'));
  t.equal(String(await storedTree(s).readFile('final name.txt')), 'draft');
  const props = await windows(s, 'PROPFIND', '/final%20name.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'Depth: 0', 'translate: f', 'Content-Length: 0']);
  t.equal(propText(multistatus(props.body)[0]!, Z, 'Win32CreationTime'), 'Wed, 03 Jan 2024 08:00:00 GMT', 'the Win32 properties moved too');
});

t.test('DELETE of a locked file with an untagged If', async (t) => {
  const s = await clientTarget(t);
  await windows(s, 'PUT', '/locked.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f'], 'x');
  const token = await lockFile(t, s, '/locked.txt');
  t.equal((await windows(s, 'DELETE', '/locked.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, 'translate: f', 'Content-Length: 0'])).status, 423);
  const del = await windows(s, 'DELETE', '/locked.txt', ['Connection: Keep-Alive', `User-Agent: ${UA}`, `If: (<${token}>)`, 'translate: f', 'Content-Length: 0']);
  t.equal(del.status, 204);
  t.notOk(await isStored(s, 'locked.txt'));
});
