/**
 * Issue 12, the folder view, in a real browser (chromium through puppeteer-core): navigation,
 * sorting, filtering, uploads through the file inputs with progress, new folder, rename,
 * delete, the words for a 423, read-only users, hostile names, and a phone-sized window.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { lockBody, startServer, tempDir, type TestServer } from '../helpers/server.js';
import { basic, instantThrottle, writeUsers } from '../security/support.js';
import { browserMissing, launchBrowser, pageAs, type Page } from '../helpers/browser.js';

const skip = browserMissing(t);
const ALICE = { username: 'alice', password: 'alice-pw' };
const CAROL = { username: 'carol', password: 'carol-pw' };

/** alice (everything, rw), bob (everything, rw), carol (everything, read-only). */
async function setup(t: Test): Promise<{ s: TestServer; data: string; dir: string }> {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  mkdirSync(data);
  const users = writeUsers(dir, { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' });
  const access = path.join(dir, 'access');
  writeFileSync(access, 'carol:/:ro\n');
  const s = await startServer(t, { root: data, users, userAccess: access }, { logger: false, loginThrottle: instantThrottle() });
  return { s, data, dir };
}

/** Opens a folder and waits until the script has asked what this user may do. */
async function open(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('body[data-ready]');
}

/** The names as shown, in order, of the rows that are not hidden. */
const shownNames = (page: Page) =>
  page.$$eval('#listing tbody tr[data-name]', (trs) => trs.filter((tr) => !(tr as HTMLElement).hidden).map((tr) => tr.querySelector('.label')!.textContent));

const statusText = (page: Page) => page.$eval('#status', (el) => el.textContent ?? '');

/** Waits until the status line matches. */
async function statusMatches(page: Page, pattern: RegExp): Promise<string> {
  await page.waitForFunction((source: string) => new RegExp(source).test(document.getElementById('status')?.textContent ?? ''), { timeout: 20_000 }, pattern.source);
  return statusText(page);
}

/** Answers the page's prompt/confirm dialogs in order (a string for prompts, true/false for confirms); records their questions. */
function answerDialogs(page: Page): { answers: (string | boolean)[]; questions: string[] } {
  const state = { answers: [] as (string | boolean)[], questions: [] as string[] };
  page.on('dialog', (dialog) => {
    state.questions.push(dialog.message());
    const answer = state.answers.shift();
    void (answer === false || answer === undefined ? dialog.dismiss() : dialog.accept(typeof answer === 'string' ? answer : undefined));
  });
  return state;
}

/** Clicks a row's action button. */
async function clickAction(page: Page, name: string, action: string): Promise<void> {
  const rows = await page.$$('#listing tbody tr[data-name]');
  for (const row of rows) {
    if ((await row.evaluate((tr) => (tr as HTMLElement).dataset['name'])) !== name) continue;
    const buttons = await row.$$('td.actions button');
    for (const b of buttons) if ((await b.evaluate((el) => el.textContent)) === action) return b.click();
  }
  throw new Error(`no ${action} button for ${name}`);
}

t.test('breadcrumbs, natural sort with folders first, sort by size and date, filter, sizes and local dates', { skip }, async (t) => {
  const { s, data } = await setup(t);
  const c = path.join(data, 'a', 'b', 'c');
  mkdirSync(path.join(c, 'zeta'), { recursive: true });
  mkdirSync(path.join(c, 'Alpha'));
  const files: [string, number, number][] = [['file10.txt', 10, 3], ['file2.txt', 300, 1], ['File1.txt', 5, 2]];
  for (const [name, size, day] of files) {
    writeFileSync(path.join(c, name), 'x'.repeat(size));
    utimesSync(path.join(c, name), new Date(Date.UTC(2024, 0, day)), new Date(Date.UTC(2024, 0, day)));
  }
  const browser = await launchBrowser(t);
  const page = await pageAs(browser, ALICE);
  await open(page, `${s.origin}/a/b/c/`);

  t.same(await page.$$eval('.crumbs a, .crumbs [aria-current]', (els) => els.map((e) => e.textContent)), ['/', 'a', 'b', 'c'], 'the path as breadcrumbs');
  t.same(await shownNames(page), ['Alpha/', 'zeta/', 'File1.txt', 'file2.txt', 'file10.txt'], 'folders first, then natural case-insensitive order');

  await page.click('th[data-sort=size] button');
  t.same(await shownNames(page), ['Alpha/', 'zeta/', 'file2.txt', 'file10.txt', 'File1.txt'], 'by size, largest first');
  await page.click('th[data-sort=size] button');
  t.same(await shownNames(page), ['Alpha/', 'zeta/', 'File1.txt', 'file10.txt', 'file2.txt'], 'by size, smallest first');
  t.equal(await page.$eval('th[data-sort=size]', (th) => th.getAttribute('aria-sort')), 'ascending', 'the column says how it is sorted');
  await page.click('th[data-sort=date] button');
  t.same(await shownNames(page), ['Alpha/', 'zeta/', 'file10.txt', 'File1.txt', 'file2.txt'], 'by date, newest first');
  await page.click('th[data-sort=name] button');
  t.same(await shownNames(page), ['Alpha/', 'zeta/', 'File1.txt', 'file2.txt', 'file10.txt'], 'back to names');

  const file2 = await page.$eval('tr[data-name="file2.txt"] td.size', (td) => ({ text: td.textContent, title: (td as HTMLElement).title }));
  t.same(file2, { text: '300 B', title: '300 bytes' }, 'human size, exact bytes on hover');
  const date = await page.$eval('tr[data-name="file2.txt"] time', (el) => el.textContent ?? '');
  t.notMatch(date, /UTC/, `the date is in local time (${date})`);
  t.match(date, /2024/);

  await page.type('#filter', 'FILE1');
  await page.waitForFunction(() => document.querySelectorAll('#listing tbody tr[data-name]:not([hidden])').length === 2);
  t.same(await shownNames(page), ['File1.txt', 'file10.txt'], 'the filter is case-insensitive');
  await page.keyboard.press('Escape');
  t.equal((await shownNames(page)).length, 5, 'Escape clears the filter');

  await Promise.all([page.waitForNavigation(), page.click('.crumbs a:nth-of-type(2)')]);
  t.equal(new URL(page.url()).pathname, '/a/', 'a breadcrumb leads up the path');
  await page.waitForSelector('body[data-ready]');
  t.same(await shownNames(page), ['b/']);
  await Promise.all([page.waitForNavigation(), page.click('tr[data-name="b"] a')]);
  t.equal(new URL(page.url()).pathname, '/a/b/', 'names are links');
});

t.test('upload two files and a folder with progress, new folder, rename, delete, and the words for 423 and a 207', { skip }, async (t) => {
  const { s, data, dir } = await setup(t);
  writeFileSync(path.join(data, 'exists.txt'), 'already here');
  const browser = await launchBrowser(t);
  const page = await pageAs(browser, ALICE);
  const dialogs = answerDialogs(page);
  await open(page, `${s.origin}/`);
  t.equal(await page.$eval('#write-tools', (el) => (el as HTMLElement).hidden), false, 'a writer sees the write tools');

  // Two files through the file picker's input, one big enough for several progress events.
  const local = path.join(dir, 'local');
  mkdirSync(path.join(local, 'album', 'inner'), { recursive: true });
  const big = randomBytes(6 * 1024 * 1024);
  writeFileSync(path.join(local, 'big.bin'), big);
  writeFileSync(path.join(local, 'small note.txt'), 'hello from the browser');
  writeFileSync(path.join(local, 'album', 'one.txt'), 'one');
  writeFileSync(path.join(local, 'album', 'inner', 'two.txt'), 'two');
  const fileInput = (await page.$('input#file-input'))!;
  await fileInput.uploadFile(path.join(local, 'big.bin'), path.join(local, 'small note.txt'));
  t.match(await statusMatches(page, /uploaded/), /^2 files uploaded/);
  t.ok(readFileSync(path.join(data, 'big.bin')).equals(big), 'the big file arrived byte for byte');
  t.equal(readFileSync(path.join(data, 'small note.txt'), 'utf8'), 'hello from the browser');
  t.equal(await page.$eval('#total-progress', (p) => (p as HTMLProgressElement).value), 100, 'the total progress bar reaches 100 %');
  t.match(await page.$eval('#uploads .total .info', (el) => el.textContent), /^100 % /);
  t.same(
    await page.$$eval('#uploads .file .info', (els) => els.map((e) => /^100 % .* done$/.test(e.textContent ?? ''))),
    [true, true],
    'every file shows 100 %',
  );
  t.ok((await shownNames(page)).includes('small note.txt'), 'the listing shows the new files');

  // A whole folder through the folder input (webkitdirectory).
  const folderInput = (await page.$('input#folder-input'))!;
  await folderInput.uploadFile(path.join(local, 'album'));
  await statusMatches(page, /^2 files uploaded/);
  await page.waitForFunction(() => document.querySelector('tr[data-name="album"]') !== null);
  t.equal(readFileSync(path.join(data, 'album', 'one.txt'), 'utf8'), 'one', 'the folder arrived with its files');
  t.equal(readFileSync(path.join(data, 'album', 'inner', 'two.txt'), 'utf8'), 'two', 'and its sub folders');

  // New folder (MKCOL).
  dialogs.answers.push('New stuff');
  await page.click('#new-folder');
  await statusMatches(page, /created/);
  t.ok(statSync(path.join(data, 'New stuff')).isDirectory(), 'MKCOL made the folder');
  await page.waitForFunction(() => document.querySelector('tr[data-name="New stuff"]') !== null);

  // Rename (MOVE, Overwrite F); onto an existing name the page asks first.
  dialogs.answers.push('renamed.txt');
  await clickAction(page, 'small note.txt', 'Rename');
  await statusMatches(page, /is now/);
  t.ok(existsSync(path.join(data, 'renamed.txt')) && !existsSync(path.join(data, 'small note.txt')), 'renamed on disk');
  await page.waitForFunction(() => document.querySelector('tr[data-name="renamed.txt"] td.actions button') !== null);
  dialogs.answers.push('exists.txt', false);
  await clickAction(page, 'renamed.txt', 'Rename');
  await statusMatches(page, /Nothing was moved/);
  t.match(dialogs.questions.at(-1), /“exists.txt” already exists\. Replace it/, 'a clear question when the name exists');
  t.equal(readFileSync(path.join(data, 'exists.txt'), 'utf8'), 'already here', 'declining keeps the existing file');

  // Delete with confirmation.
  dialogs.answers.push(true);
  await clickAction(page, 'renamed.txt', 'Delete');
  await statusMatches(page, /deleted/);
  t.match(dialogs.questions.at(-1), /Delete “renamed.txt”\?/);
  t.notOk(existsSync(path.join(data, 'renamed.txt')), 'deleted on disk');

  // bob holds a lock: alice's delete is refused, and the page says why (423).
  const asBob = { authorization: basic('bob', 'bob-pw') };
  t.equal((await s.request('LOCK', '/exists.txt', { headers: { ...asBob, 'content-type': 'application/xml' }, body: lockBody('exclusive', 'bob') })).status, 200);
  dialogs.answers.push(true);
  await clickAction(page, 'exists.txt', 'Delete');
  t.match(await statusMatches(page, /Could not delete/), /locked by someone else/, '423 in words');
  t.ok(existsSync(path.join(data, 'exists.txt')));

  // A folder with a locked member: the 207 names the member that stayed.
  mkdirSync(path.join(data, 'held'));
  writeFileSync(path.join(data, 'held', 'busy.txt'), 'x');
  writeFileSync(path.join(data, 'held', 'free.txt'), 'x');
  t.equal((await s.request('LOCK', '/held/busy.txt', { headers: { ...asBob, 'content-type': 'application/xml' }, body: lockBody('exclusive', 'bob') })).status, 200);
  dialogs.answers.push('held-folder');
  await page.click('#new-folder'); // any action refreshes the listing, so "held" appears
  await page.waitForFunction(() => document.querySelector('tr[data-name="held"] td.actions button') !== null);
  dialogs.answers.push(true);
  await clickAction(page, 'held', 'Delete');
  const partial = await statusMatches(page, /only in part/);
  t.match(partial, /\/held\/busy\.txt: it is locked by someone else/, `the 207's failed member is listed: ${partial}`);
  t.ok(existsSync(path.join(data, 'held', 'busy.txt')));
});

t.test('a read-only user sees no write controls', { skip }, async (t) => {
  const { s, data } = await setup(t);
  writeFileSync(path.join(data, 'f.txt'), 'x');
  mkdirSync(path.join(data, 'd'));
  const browser = await launchBrowser(t);
  const page = await pageAs(browser, CAROL);
  await open(page, `${s.origin}/`);
  t.equal(await page.$eval('body', (b) => b.dataset['ready']), 'read');
  t.equal(await page.$eval('#write-tools', (el) => (el as HTMLElement).hidden), true, 'no upload or new-folder buttons');
  t.notOk(await page.$eval('#write-tools', (el) => (el as HTMLElement).offsetParent !== null), 'nothing of them is visible');
  const buttons = await page.$$eval('#listing button', (bs) => bs.map((b) => b.textContent));
  t.notOk(buttons.some((b) => b === 'Rename' || b === 'Delete'), `no rename or delete (${buttons.join(', ')})`);
  t.ok(buttons.includes('Copy link'), 'copying a link is still there');
  t.equal(await page.$eval('#toolbar', (el) => (el as HTMLElement).hidden), false, 'the filter is there');
});

t.test('hostile names are shown exactly and never read as HTML', { skip }, async (t) => {
  const { s, data } = await setup(t);
  const names = [
    '<img src=x onerror="document.title=\'pwned\'">.txt',
    '"double" & \'single\' quotes.txt',
    '#hash?query%25.txt',
    '100% sure.txt',
    'emoji 😀🎉.txt',
    'עברית right-to-left.txt',
    '\u202Eexe.txt',
    '   three leading spaces.txt',
    '<b>bold',
  ];
  mkdirSync(path.join(data, 'h'));
  for (const n of names) {
    if (n.startsWith('<b>')) {
      t.equal((await s.request('MKCOL', `/h/${encodeURIComponent(n)}/`, { headers: { authorization: basic('alice', 'alice-pw') } })).status, 201);
    } else writeFileSync(path.join(data, 'h', n.replace(/\//g, '')), 'x');
  }
  const expected = names.map((n) => (n.startsWith('<b>') ? `${n}/` : n)).sort();
  const browser = await launchBrowser(t);
  const page = await pageAs(browser, ALICE);
  const dialogs = answerDialogs(page);
  await open(page, `${s.origin}/h/`);
  const check = async (when: string) => {
    t.same([...(await shownNames(page))].sort(), expected, `${when}: every name exactly as stored`);
    t.equal(await page.$$eval('#listing tbody img, #listing tbody b', (els) => els.length), 0, `${when}: no element made from a name`);
    t.not(await page.title(), 'pwned', `${when}: no script from a name ran`);
  };
  await check('server-rendered');
  // The links lead to the right files.
  for (const n of names.filter((x) => !x.startsWith('<'))) {
    const href = await page.$eval(`tr[data-name="${n.replace(/["\\]/g, '\\$&')}"] a`, (a) => (a as HTMLAnchorElement).href);
    const res = await s.request('GET', new URL(href).pathname, { headers: { authorization: basic('alice', 'alice-pw') } });
    t.equal(res.status, 200, `the link of ${JSON.stringify(n)} works`);
  }
  // After an action the script lists the folder again itself (PROPFIND): the same, exactly.
  dialogs.answers.push('<i>new');
  await page.click('#new-folder');
  await statusMatches(page, /created/);
  expected.push('<i>new/');
  expected.sort();
  await check('script-rendered');
});

t.test('at 400×800 nothing overflows horizontally, in light and dark', { skip }, async (t) => {
  const { s, data } = await setup(t);
  mkdirSync(path.join(data, 'docs'));
  writeFileSync(path.join(data, 'docs', `${'a-very-long-file-name-without-spaces-'.repeat(5)}.txt`), 'x');
  writeFileSync(path.join(data, 'docs', 'report 2024 final version (copy).pdf'), 'x'.repeat(123_456));
  mkdirSync(path.join(data, 'docs', 'Photos from the summer holiday'));
  for (const colorScheme of ['light', 'dark'] as const) {
    const browser = await launchBrowser(t, { width: 400, height: 800 });
    const page = await pageAs(browser, ALICE, { width: 400, height: 800, colorScheme });
    await open(page, `${s.origin}/docs/`);
    const overflow = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    t.ok(overflow.scroll <= overflow.client, `${colorScheme}: page ${overflow.scroll} px wide in a ${overflow.client} px window`);
    const wide = await page.$$eval('body *', (els) => els.filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).map((e) => e.tagName + '.' + e.className));
    t.same(wide, [], `${colorScheme}: no element reaches past the right edge`);
    const colors = await page.evaluate(() => [getComputedStyle(document.body).color, getComputedStyle(document.body).backgroundColor]);
    t.not(colors[0], colors[1], `${colorScheme}: text and background differ (${colors.join(' on ')})`);
    if (colorScheme === 'dark') t.equal(colors[1], 'rgb(15, 20, 25)', 'the dark scheme follows the system setting');
  }
});

t.test('drag and drop of a file and a folder uploads them', { skip }, async (t) => {
  const { s, data, dir } = await setup(t);
  const local = path.join(dir, 'local');
  mkdirSync(path.join(local, 'dropped', 'deep'), { recursive: true });
  writeFileSync(path.join(local, 'one.txt'), 'dropped file');
  writeFileSync(path.join(local, 'dropped', 'deep', 'two.txt'), 'dropped folder');
  const browser = await launchBrowser(t);
  const page = await pageAs(browser, ALICE);
  await open(page, `${s.origin}/`);
  t.equal(await page.$eval('body', (b) => b.dataset['ready']), 'write');
  // What the browser does when files are dragged from the desktop onto the page.
  const cdp = await page.createCDPSession();
  const drag = { items: [], files: [path.join(local, 'one.txt'), path.join(local, 'dropped')], dragOperationsMask: 1 };
  for (const type of ['dragEnter', 'dragOver', 'drop'] as const) await cdp.send('Input.dispatchDragEvent', { type, x: 300, y: 300, data: drag });
  await statusMatches(page, /uploaded/);
  t.equal(readFileSync(path.join(data, 'one.txt'), 'utf8'), 'dropped file');
  t.equal(readFileSync(path.join(data, 'dropped', 'deep', 'two.txt'), 'utf8'), 'dropped folder', 'a dropped folder keeps its tree');
});

t.test('a slow upload shows speed and time left, and Cancel stops it without leaving anything', { skip }, async (t) => {
  const { s, data, dir } = await setup(t);
  const local = path.join(dir, 'slow.bin');
  writeFileSync(local, randomBytes(4 * 1024 * 1024));
  const browser = await launchBrowser(t);
  const page = await pageAs(browser, ALICE);
  await open(page, `${s.origin}/`);
  await page.emulateNetworkConditions({ download: -1, upload: 256 * 1024, latency: 0 });
  await (await page.$('input#file-input'))!.uploadFile(local);
  await page.waitForFunction(() => /s left$/.test(document.querySelector('#uploads .file .info')?.textContent ?? ''), { timeout: 30_000 });
  t.match(await page.$eval('#uploads .file .info', (el) => el.textContent), /^\d+ % of 4\.0 MiB · [\d.]+ (B|KiB|MiB)\/s · .* left$/, 'speed and time left for a big file');
  await page.click('#uploads .file button');
  t.match(await statusMatches(page, /cancelled/), /0 of 1 uploaded; the rest was cancelled/);
  await page.emulateNetworkConditions({ download: -1, upload: -1, latency: 0 });
  // The server notices the cut connection and removes its temporary file.
  const leftovers = () => readdirSync(data).filter((n) => n !== '.fastdav');
  for (let i = 0; i < 50 && leftovers().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.same(leftovers(), [], 'no file and no partial upload left behind');
});
