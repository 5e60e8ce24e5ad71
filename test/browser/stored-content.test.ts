/**
 * Issue 11 item 1, stored cross-user scripting, in a real browser: a page or SVG that one user
 * uploads must never act with the credentials of another user who opens it, while images,
 * video, PDF and text still display as before.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, tempDir } from '../helpers/server.js';
import { basic, instantThrottle, writeUsers } from '../security/support.js';
import { browserMissing, launchBrowser, pageAs, type Page } from '../helpers/browser.js';
import { minimalPdf, recordWebm } from './media.js';

const skip = browserMissing(t);
const ADMIN = { username: 'admin', password: 'admin-pw' };

/** admin (everything, rw), alice (/home/alice), bob (/home/bob) with an important file. */
async function setup(t: Test) {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  mkdirSync(path.join(data, 'home', 'bob'), { recursive: true });
  writeFileSync(path.join(data, 'home', 'bob', 'important.txt'), 'keep me');
  writeFileSync(path.join(data, 'home', 'bob', 'decoy.txt'), 'the control deletes me');
  const users = writeUsers(dir, { admin: 'admin-pw', alice: 'alice-pw', bob: 'bob-pw' });
  const access = path.join(dir, 'access');
  writeFileSync(access, 'alice:/home/alice:rw\nbob:/home/bob:rw\n');
  const s = await startServer(t, { root: data, users, userAccess: access }, { logger: false, loginThrottle: instantThrottle() });
  const asAlice = { authorization: basic('alice', 'alice-pw') };
  return { s, data, asAlice };
}

/** What a hostile upload does: try to delete bob's file with the viewer's credentials. */
const ATTACK = "fetch(location.origin + '/home/bob/important.txt', { method: 'DELETE' }).then((r) => { document.title = 'deleted ' + r.status; })";

/**
 * Waits a moment for anything the page might still do. The wait is the test's own: a timer inside
 * a sandboxed document (scripts off) never fires, so waiting there only ends at the protocol timeout.
 */
const settle = () => new Promise((r) => setTimeout(r, 500));

t.test('an uploaded HTML or SVG file cannot act as the administrator who opens it', { skip }, async (t) => {
  const { s, data, asAlice } = await setup(t);
  const important = path.join(data, 'home', 'bob', 'important.txt');
  const uploads: [string, string][] = [
    ['evil.html', `<!DOCTYPE html><title>evil</title><script>${ATTACK}</script><p>hello</p>`],
    ['evil.svg', `<svg xmlns="http://www.w3.org/2000/svg"><script>${ATTACK}</script><text y="20">hi</text></svg>`],
    ['evil.txt', `<script>${ATTACK}</script>`],
    ['evil.xhtml', `<html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body><script>${ATTACK}</script></body></html>`],
  ];
  for (const [name, body] of uploads) t.equal((await s.request('PUT', `/${name}`, { headers: asAlice, body })).status, 201, `alice uploads ${name}`);

  const browser = await launchBrowser(t);
  const page = await pageAs(browser, ADMIN);
  for (const [name] of uploads) {
    const res = await page.goto(`${s.origin}/home/alice/${name}`);
    t.equal(res?.status(), 200, `the administrator opens ${name}`);
    await settle();
    t.notMatch(await page.title(), /deleted/, `${name}: its script did not run`);
    t.ok(existsSync(important), `${name}: bob's file is still there`);
    // Even a script that did run there (here injected by the test) acts from an opaque origin:
    // its DELETE is cross-origin, needs a preflight, and the preflight is never approved.
    const outcome = await page.evaluate(() =>
      fetch(location.origin + '/home/bob/important.txt', { method: 'DELETE' }).then((r) => `status ${r.status}`, (e: Error) => `refused: ${e.name}`),
    );
    t.match(outcome, /^refused/, `${name}: a DELETE from that document is refused by the browser (${outcome})`);
    t.ok(existsSync(important), `${name}: bob's file is still there after the injected DELETE`);
    t.equal(await page.evaluate(() => origin), 'null', `${name} runs in an opaque origin`);
  }

  // The control: the same request from a page of the server's own origin works with the same
  // browser and credentials, so the refusals above are the defence and not a broken setup.
  await page.goto(`${s.origin}/home/bob/`);
  const control = await page.evaluate(() => fetch(location.origin + '/home/bob/decoy.txt', { method: 'DELETE' }).then((r) => r.status));
  t.equal(control, 204, 'the same browser with the same credentials can delete from a same-origin page');
  t.notOk(existsSync(path.join(data, 'home', 'bob', 'decoy.txt')));
  t.ok(existsSync(important));
});

t.test('images, video, PDF and plain text still display in the browser', { skip }, async (t) => {
  const { s, data } = await setup(t);
  const browser = await launchBrowser(t);
  const page = await pageAs(browser, ADMIN);
  const media = path.join(data, 'media');
  mkdirSync(media);
  writeFileSync(path.join(media, 'clip.webm'), await recordWebm(browser));
  writeFileSync(path.join(media, 'doc.pdf'), minimalPdf('Hello PDF'));
  writeFileSync(path.join(media, 'notes.txt'), 'plain <b>text</b> here');
  await page.goto(`${s.origin}/`);
  // A PNG drawn by the browser itself.
  const png = await page.evaluate(() => {
    const c = document.createElement('canvas');
    c.width = 64;
    c.height = 48;
    c.getContext('2d')!.fillRect(0, 0, 64, 48);
    return c.toDataURL('image/png').split(',')[1]!;
  });
  writeFileSync(path.join(media, 'pic.png'), Buffer.from(png, 'base64'));

  await page.goto(`${s.origin}/media/pic.png`);
  t.same(await page.evaluate(() => document.querySelector('img')?.naturalWidth), 64, 'the image is shown (64 px wide)');

  await page.goto(`${s.origin}/media/clip.webm`);
  // Chromium's video viewer loads the file itself: wait until it knows the frame size.
  const video = await page
    .waitForFunction(() => (document.querySelector('video')?.videoWidth ?? 0) > 0, { timeout: 30_000 })
    .then(() => page.evaluate(() => document.querySelector('video')!.videoWidth))
    .catch(() => page.evaluate(() => document.querySelector('video')?.outerHTML ?? document.documentElement.outerHTML));
  t.equal(video, 64, 'the video plays in the browser viewer (64 px wide)');

  await page.goto(`${s.origin}/media/notes.txt`);
  t.equal(await page.evaluate(() => document.body.innerText.trim()), 'plain <b>text</b> here', 'text shows as text');

  const res = await page.goto(`${s.origin}/media/doc.pdf`);
  t.equal(res?.status(), 200);
  t.match(res?.headers()['content-security-policy'], /^sandbox$/, 'the PDF is sandboxed too');
  // Chromium shows PDFs in its viewer: an inner frame for the document beside the viewer's own page.
  let viewer = false;
  for (let i = 0; i < 50 && !viewer; i++) {
    viewer = browser.targets().some((x) => x.type() === 'other' && x.url() === `${s.origin}/media/doc.pdf`);
    if (!viewer) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(viewer, "the PDF opens in the browser's PDF viewer");
});
